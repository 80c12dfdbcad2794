#include "events/codec.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>
#include <set>

#include "events/event_id.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_events.h"

namespace keytrail::events {
namespace {

using testing::EncodedKeyCreated;
using testing::MakeEnvelope;

TEST(Codec, RoundTripsEveryHeaderField) {
  fb::EnvelopeT in = MakeEnvelope("acme", "key-1", 42);
  in.actor->kind = fb::ActorKind::Key;
  in.actor->on_behalf_of = "alice";
  fb::KeyRevokedT revoked;
  revoked.key_id = "key-1";
  revoked.reason = "leaked";
  in.payload.Set(std::move(revoked));

  const std::string bytes = Encode(in);
  auto out = DecodeToObject(bytes);
  ASSERT_OK(out);
  EXPECT_EQ(out->id->hi(), in.id->hi());
  EXPECT_EQ(out->id->lo(), in.id->lo());
  EXPECT_EQ(out->org, "acme");
  EXPECT_EQ(out->aggregate_id, "key-1");
  EXPECT_EQ(out->aggregate_version, 42u);
  EXPECT_EQ(out->occurred_at_us, in.occurred_at_us);
  EXPECT_EQ(out->actor->kind, fb::ActorKind::Key);
  EXPECT_EQ(out->actor->on_behalf_of, "alice");
  EXPECT_EQ(out->command_id, "cmd-42");
  EXPECT_EQ(out->correlation_id, "corr-42");
  EXPECT_EQ(out->schema_version, kSchemaVersion);
  ASSERT_EQ(out->payload.type, fb::Payload::KeyRevoked);
  EXPECT_EQ(out->payload.AsKeyRevoked()->reason, "leaked");
}

TEST(Codec, RejectsEmptyAndTinyInput) {
  EXPECT_EQ(Decode("").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(Decode("KTEV").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(Decode(std::string(12, '\0')).status().code(), StatusCode::kCorruption);
}

TEST(Codec, RejectsForeignIdentifier) {
  std::string bytes = EncodedKeyCreated("acme", "k1", 1);
  bytes[8] = 'X';
  auto r = Decode(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("identifier"), std::string::npos);
}

TEST(Codec, RejectsEveryTruncation) {
  const std::string bytes = EncodedKeyCreated("acme", "k1", 1);
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string prefix = bytes.substr(0, n);
    EXPECT_FALSE(Decode(prefix).ok()) << "prefix of " << n << " bytes decoded";
  }
}

TEST(Codec, NeverCrashesOnRandomCorruption) {
  const std::string bytes = EncodedKeyCreated("acme", "k1", 1);
  std::mt19937 rng(7);
  int rejected = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string mutated = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      mutated[rng() % mutated.size()] = static_cast<char>(rng());
    }
    auto r = Decode(mutated);
    if (!r.ok()) {
      ++rejected;
      continue;
    }
    // Whatever verified must be safe to read completely.
    fb::EnvelopeT object;
    (*r)->UnPackTo(&object);
  }
  EXPECT_GT(rejected, 0);
}

TEST(Codec, RejectsUnknownPayloadType) {
  // A union member from a future schema: a type number past the last one we know.
  const auto unknown_type = static_cast<fb::Payload>(static_cast<int>(fb::Payload::MAX) + 1);
  flatbuffers::FlatBufferBuilder builder;
  auto payload = fb::CreateKeyExpired(builder, builder.CreateString("k1"), 5).Union();
  auto org = builder.CreateString("acme");
  auto agg = builder.CreateString("k1");
  fb::EventId id(1, 2);
  fb::EnvelopeBuilder eb(builder);
  eb.add_id(&id);
  eb.add_org(org);
  eb.add_aggregate_id(agg);
  eb.add_payload_type(unknown_type);
  eb.add_payload(payload);
  builder.FinishSizePrefixed(eb.Finish(), fb::EnvelopeIdentifier());
  std::string bytes(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
  auto r = Decode(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown payload type"), std::string::npos);
}

TEST(Codec, RejectsNewerSchemaVersionAndMissingFields) {
  fb::EnvelopeT in = MakeEnvelope("acme", "k1", 1);
  fb::KeyExpiredT expired;
  expired.key_id = "k1";
  in.payload.Set(expired);
  in.schema_version = kSchemaVersion + 1;
  EXPECT_FALSE(Decode(Encode(in)).ok());

  fb::EnvelopeT no_payload = MakeEnvelope("acme", "k1", 1);
  EXPECT_FALSE(Decode(Encode(no_payload)).ok());

  fb::EnvelopeT no_id = MakeEnvelope("acme", "k1", 1);
  no_id.id.reset();
  no_id.payload.Set(expired);
  EXPECT_FALSE(Decode(Encode(no_id)).ok());
}

TEST(Codec, CloudEventTypesAreDistinctAndVersioned) {
  std::set<std::string_view> seen;
  for (int t = 1; t <= static_cast<int>(fb::Payload::MAX); ++t) {
    std::string_view type = CloudEventType(static_cast<fb::Payload>(t));
    EXPECT_TRUE(type.starts_with("io.keytrail.")) << type;
    EXPECT_TRUE(type.ends_with(".v1")) << type;
    EXPECT_TRUE(seen.insert(type).second) << type;
  }
  EXPECT_EQ(CloudEventType(fb::Payload::KeyCreated), "io.keytrail.key.created.v1");
}

TEST(EventId, IsTimeOrderedAndFormatsAsUuidV7) {
  FakeClock clock(1700000000123456);
  EventIdGenerator ids(clock, 1);
  fb::EventId a = ids.Next();
  clock.Advance(1);
  fb::EventId b = ids.Next();
  clock.Advance(1000);
  fb::EventId c = ids.Next();
  EXPECT_LT(a.hi(), b.hi());
  EXPECT_LT(b.hi(), c.hi());
  const std::string s = FormatEventId(a);
  ASSERT_EQ(s.size(), 36u);
  EXPECT_EQ(s[14], '7');                                                      // version nibble
  EXPECT_TRUE(s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');  // variant
  EXPECT_EQ(s.substr(0, 8), fmt::format("{:08x}", (1700000000123ULL << 16) >> 32));
}

}  // namespace
}  // namespace keytrail::events
