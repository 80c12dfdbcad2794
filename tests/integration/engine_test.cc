// The key lifecycle end to end inside one process: real local log, real RocksDB views,
// the writers, the key view and the verification index.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include "tests/support/test_time.h"

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "base/hex.h"
#include "events/local_event_log.h"
#include "projections/audit_projection.h"
#include "projections/key_view.h"
#include "projections/projector.h"
#include "projections/view_compare.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/status_matchers.h"

namespace keytrail {
namespace {

using domain::CommandContext;
using Kind = CommandOutcome::Kind;

constexpr Micros kNow = testing::kTestNow;
constexpr Micros kSecond = testing::kTestSecond;

CommandContext As(std::string command_id = "") {
  return testing::AsMember("alice", "acme", std::move(command_id));
}

class EngineTest : public testing::EngineFixture {
 protected:
  void GivenOrgAndGroups() {
    ASSERT_EQ(engine().Execute(As(), domain::CreateOrg{"Acme"})->kind, Kind::kApplied);
    ASSERT_EQ(engine().Execute(As(), domain::CreateGroup{"ci", "", ""})->kind, Kind::kApplied);
    ASSERT_EQ(engine().Execute(As(), domain::CreateGroup{"ops", "", ""})->kind, Kind::kApplied);
  }

  IssuedKey Create(std::string name, domain::Expiration expires = domain::Expiration::Never(),
                   std::string command_id = "") {
    auto issued = engine().CreateKey(As(std::move(command_id)),
                                     {.name = std::move(name), .group = "ci", .expires = expires});
    EXPECT_OK(issued);
    return issued.ok() ? std::move(issued).value() : IssuedKey{};
  }

  // `field` of WriterHealth summed over the partitions.
  size_t WritersTotal(size_t WriterHealth::*field) {
    size_t n = 0;
    for (const WriterHealth& h : engine().writer_health()) n += h.*field;
    return n;
  }
};

TEST_F(EngineTest, CreatedKeyVerifiesAtOnceWithItsGroupAndExpiry) {
  GivenOrgAndGroups();
  IssuedKey key = Create("deploy", domain::Expiration::At(kNow + 60 * kSecond));
  ASSERT_EQ(key.outcome.kind, Kind::kApplied);
  ASSERT_TRUE(key.token.has_value());
  EXPECT_TRUE(key.token->reveal().starts_with("kt_"));
  EXPECT_EQ(key.hint.substr(0, 3), "kt_");
  const VerifyResult r = engine().Verify(key.token->reveal());
  ASSERT_TRUE(r.valid) << ReasonCode(r.reason);
  EXPECT_EQ(FormatKeyId(r.key_id), key.key_id);
  EXPECT_EQ(r.org, "acme");
  EXPECT_EQ(r.group, "ci");
  EXPECT_EQ(r.expires_at_us, kNow + 60 * kSecond);
  auto record = projections::KeyViewProjection::GetKey(views(), "acme", *ParseKeyId(key.key_id));
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((*record)->name, "deploy");
  EXPECT_EQ((*record)->created_by, "alice");
}

TEST_F(EngineTest, AnAppliedCreateCarriesItsEventWhichMakesTheKeyTheViewHolds) {
  GivenOrgAndGroups();
  IssuedKey key = Create("deploy", domain::Expiration::At(kNow + 60 * kSecond), "req-1");
  ASSERT_EQ(key.outcome.kind, Kind::kApplied);
  ASSERT_EQ(key.outcome.events.size(), 1u);
  auto created = Queries::CreatedKey(key.outcome.events[0]);
  ASSERT_OK(created);
  auto stored = engine().queries().GetKey("acme", *ParseKeyId(key.key_id));
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ(*created, **stored);  // the create's answer is the key as GET shows it

  IssuedKey retry = Create("deploy", domain::Expiration::At(kNow + 60 * kSecond), "req-1");
  EXPECT_EQ(retry.outcome.kind, Kind::kReplayed);
  EXPECT_TRUE(retry.outcome.events.empty());  // a replay wrote nothing: read the view
  EXPECT_EQ(Queries::CreatedKey("not an event").status().code(), StatusCode::kInvalidArgument);
  auto group = engine().Execute(As(), domain::CreateGroup{"qa", "", ""});
  ASSERT_OK(group);
  EXPECT_TRUE(group->events.empty()) << "only creates and rotations carry their events";
}

TEST_F(EngineTest, VerifyReasons) {
  GivenOrgAndGroups();
  IssuedKey key = Create("deploy", domain::Expiration::At(kNow + 60 * kSecond));
  const std::string token(key.token->reveal());
  EXPECT_EQ(engine().Verify("kt_nope").reason, VerifyReason::kMalformed);
  EXPECT_EQ(engine().Verify("").reason, VerifyReason::kMalformed);
  std::string tampered = token;
  tampered[10] = tampered[10] == 'a' ? 'b' : 'a';
  EXPECT_EQ(engine().Verify(tampered).reason, VerifyReason::kMalformed);  // checksum
  // A well-formed token of a key that does not exist.
  IssuedToken stranger = engine().tokens().Issue(SystemRandom());
  EXPECT_EQ(engine().Verify(stranger.token.reveal()).reason, VerifyReason::kUnknown);
  // Exact to the microsecond, with no scheduler running.
  EXPECT_TRUE(engine().VerifyAt(token, kNow + 60 * kSecond - 1).valid);
  EXPECT_EQ(engine().VerifyAt(token, kNow + 60 * kSecond).reason, VerifyReason::kExpired);
  ASSERT_EQ(engine().Execute(As(), domain::RevokeKey{*ParseKeyId(key.key_id), "leaked"})->kind,
            Kind::kApplied);
  EXPECT_EQ(engine().Verify(token).reason, VerifyReason::kRevoked);
}

TEST_F(EngineTest, RotationKeepsThePreviousSecretOnlyForTheGrace) {
  GivenOrgAndGroups();
  IssuedKey key = Create("deploy");
  const std::string old_token(key.token->reveal());
  auto rotated = engine().RotateKey(As(), *ParseKeyId(key.key_id), 10 * kSecond);
  ASSERT_OK(rotated);
  ASSERT_EQ(rotated->outcome.kind, Kind::kApplied);
  const std::string new_token(rotated->token->reveal());
  EXPECT_NE(new_token, old_token);
  EXPECT_EQ(rotated->key_id, key.key_id);
  EXPECT_TRUE(engine().VerifyAt(new_token, kNow).valid);
  EXPECT_TRUE(engine().VerifyAt(old_token, kNow + 10 * kSecond - 1).valid);
  EXPECT_EQ(engine().VerifyAt(old_token, kNow + 10 * kSecond).reason, VerifyReason::kUnknown);
  auto again = engine().RotateKey(As(), *ParseKeyId(key.key_id), 0);
  ASSERT_OK(again);
  EXPECT_EQ(engine().VerifyAt(new_token, kNow).reason, VerifyReason::kUnknown);
  EXPECT_TRUE(engine().VerifyAt(again->token->reveal(), kNow).valid);
}

TEST_F(EngineTest, AKeyAfterItsRotationsEventsIsTheKeyTheViewHolds) {
  GivenOrgAndGroups();
  IssuedKey key = Create("deploy", domain::Expiration::At(kNow + 60 * kSecond));
  const KeyId id = *ParseKeyId(key.key_id);
  auto Get = [&] { return engine().queries().GetKey("acme", id).value().value(); };
  const model::KeyRecord before = Get();
  // A rotation that also renews the key: two events, both applied. (Nothing uses the key
  // meanwhile: last_used_at would be as read before.)
  std::promise<Result<IssuedKey>> answered;
  engine().RotateKey(As(), id, 10 * kSecond, domain::Expiration::At(kNow + 3600 * kSecond),
                     [&](Result<IssuedKey> r) { answered.set_value(std::move(r)); });
  Result<IssuedKey> rotated = answered.get_future().get();
  ASSERT_OK(rotated);
  ASSERT_EQ(rotated->outcome.events.size(), 2u);
  EXPECT_EQ(Queries::CreatedKey(rotated->outcome.events[0]).status().code(),
            StatusCode::kInvalidArgument)
      << "a KeyRotated makes no key";
  auto after = Queries::KeyAfter(before, rotated->outcome.events);
  ASSERT_OK(after);
  ASSERT_TRUE(after->has_value());
  EXPECT_EQ(**after, Get());
  EXPECT_EQ((*after)->expires_at_us, kNow + 3600 * kSecond);
  EXPECT_EQ((*after)->previous_valid_until_us, kNow + 10 * kSecond);

  // The key changed between the read and the rotation: not derived, read it back.
  auto again = engine().RotateKey(As(), id, 0);
  ASSERT_OK(again);
  auto stale = Queries::KeyAfter(before, again->outcome.events);
  ASSERT_OK(stale);
  EXPECT_FALSE(stale->has_value());
  // Events of another key, or events that are no change of a key row, are refused.
  IssuedKey other = Create("other");
  EXPECT_EQ(Queries::KeyAfter(Get(), other.outcome.events).status().code(),
            StatusCode::kInvalidArgument);
  model::KeyRecord other_before =
      engine().queries().GetKey("acme", *ParseKeyId(other.key_id)).value().value();
  other_before.version = 0;  // its KeyCreated is version 1: the next after 0
  EXPECT_EQ(Queries::KeyAfter(other_before, other.outcome.events).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, GroupChangeShowsInVerify) {
  GivenOrgAndGroups();
  IssuedKey key = Create("deploy");
  ASSERT_EQ(engine().Execute(As(), domain::ChangeKeyGroup{*ParseKeyId(key.key_id), "ops"})->kind,
            Kind::kApplied);
  EXPECT_EQ(engine().Verify(key.token->reveal()).group, "ops");
}

// The writer authorizes commands that ask for it (CommandContext::authorize) against the
// state Decide sees, and publishes the group directory before answering.
TEST_F(EngineTest, WriterAuthorizesCommandsAndPublishesGroupsBeforeAnswering) {
  GivenOrgAndGroups();
  auto dev = engine().CreateKey(As(), {.name = "dev", .group = "developer"});
  ASSERT_TRUE(dev.ok() && dev->outcome.kind == Kind::kApplied);
  CommandContext as_dev{
      .org = "acme", .actor_kind = fb::ActorKind::Key, .actor_id = dev->key_id, .authorize = true};
  // A developer may not mint an admin key, nor manage groups.
  auto admin_key = engine().CreateKey(as_dev, {.name = "root", .group = "admin"});
  ASSERT_OK(admin_key);
  ASSERT_EQ(admin_key->outcome.kind, Kind::kRejected);
  EXPECT_EQ(admin_key->outcome.rejection->code, domain::RejectionCode::kForbidden);
  auto group = engine().Execute(as_dev, domain::CreateGroup{"mine", "", "", {}});
  ASSERT_OK(group);
  EXPECT_EQ(group->kind, Kind::kRejected);
  // The same command without `authorize` is trusted (the caller authorized it).
  as_dev.authorize = false;
  EXPECT_EQ(engine().Execute(as_dev, domain::CreateGroup{"mine", "", "", {}})->kind,
            Kind::kApplied);

  // A rule change is visible through Engine::Authorize once answered.
  const auto principal = domain::Principal::Key(dev->key_id, "developer");
  EXPECT_TRUE(engine()
                  .Authorize("acme", domain::Principal::Key("k", "ci"), domain::Action::kGraphRead,
                             domain::Resource::Org())
                  .decision.allowed == false);
  ASSERT_EQ(engine()
                .Execute(As(), domain::ChangeGroupRules{"ci", {{"organization-viewer", {}}}, {}})
                ->kind,
            Kind::kApplied);
  const Authorization now = engine().Authorize("acme", domain::Principal::Key("k", "ci"),
                                               domain::Action::kGraphRead, domain::Resource::Org());
  EXPECT_TRUE(now.decision.allowed);
  EXPECT_EQ(now.decision.grant.group, "ci");
  EXPECT_TRUE(
      engine()
          .Authorize("acme", principal, domain::Action::kKeysCreate, domain::Resource::Org())
          .decision.allowed);
  EXPECT_TRUE(engine().Groups("nowhere")->groups.empty());
  // And survives a restart (the directory is rebuilt from the log).
  Restart();
  EXPECT_TRUE(engine()
                  .Authorize("acme", domain::Principal::Key("k", "ci"), domain::Action::kGraphRead,
                             domain::Resource::Org())
                  .decision.allowed);
}

TEST_F(EngineTest, RetriedCreateReturnsTheKeyButNoSecret) {
  GivenOrgAndGroups();
  IssuedKey first = Create("deploy", domain::Expiration::Never(), "req-1");
  IssuedKey retry = Create("deploy", domain::Expiration::Never(), "req-1");
  EXPECT_EQ(retry.outcome.kind, Kind::kReplayed);
  EXPECT_EQ(retry.key_id, first.key_id);
  EXPECT_FALSE(retry.token.has_value());
  EXPECT_TRUE(engine().Verify(first.token->reveal()).valid);
}

TEST_F(EngineTest, RestartRebuildsTheIndexFromTheViews) {
  GivenOrgAndGroups();
  IssuedKey live = Create("live");
  IssuedKey revoked = Create("revoked");
  ASSERT_EQ(engine().Execute(As(), domain::RevokeKey{*ParseKeyId(revoked.key_id), ""})->kind,
            Kind::kApplied);
  const std::string live_token(live.token->reveal()), revoked_token(revoked.token->reveal());
  Restart();
  EXPECT_TRUE(engine().Verify(live_token).valid);
  EXPECT_EQ(engine().Verify(revoked_token).reason, VerifyReason::kRevoked);
  EXPECT_EQ(engine().index().size(), 2u);
  // The writer's state came back too.
  auto dup = engine().CreateKey(As(), {.name = "live", .group = "ci"});
  ASSERT_OK(dup);
  EXPECT_EQ(dup->outcome.rejection->code, domain::RejectionCode::kNameTaken);
}

TEST_F(EngineTest, RebuiltViewsEqualTheLiveViews) {
  GivenOrgAndGroups();
  for (int i = 0; i < 30; ++i) Create("key-" + std::to_string(i));
  testing::TempDir other;
  auto fresh = projections::OpenRocksViewStore(other.path());
  ASSERT_OK(fresh);
  projections::KeyViewProjection key_view;
  projections::AuditProjection audit;
  projections::Projector rebuild(log(), **fresh, {&key_view, &audit});
  ASSERT_OK(rebuild.CatchUpAll());
  EXPECT_EQ(projections::DumpViews(**fresh), projections::DumpViews(views()));
}

std::string Hex(std::string_view s) { return HexEncode(s); }

std::string Base64(std::string_view s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(n);
  return out;
}

TEST_F(EngineTest, NoIssuedSecretReachesTheLogOrTheViews) {
  GivenOrgAndGroups();
  std::vector<std::string> needles;
  for (int i = 0; i < 20; ++i) {
    IssuedKey key = Create("key-" + std::to_string(i));
    auto rotated = engine().RotateKey(As(), *ParseKeyId(key.key_id), kSecond);
    for (std::string_view token : {key.token->reveal(), rotated->token->reveal()}) {
      const std::string body(token.substr(3));  // without the prefix
      needles.push_back(std::string(token));
      needles.push_back(body.substr(22, 33));  // the base62 of the secret's chunks
      needles.push_back(Hex(token));
      needles.push_back(Base64(token));
    }
  }
  // Decoded contents first (files may be compressed): every log record and view row.
  std::string decoded;
  for (int32_t p = 0; p < log().PartitionCount(); ++p) {
    auto reader = log().OpenReader(p, 0);
    ASSERT_OK(reader);
    auto records = (*reader)->Next(100000, std::chrono::milliseconds(0));
    ASSERT_OK(records);
    for (const auto& r : *records) decoded += r.key + r.value;
  }
  ASSERT_OK(views().Scan("", "", [&](std::string_view k, std::string_view v) {
    decoded.append(k).append(v);
    return true;
  }));
  for (const std::string& needle : needles) {
    ASSERT_EQ(decoded.find(needle), std::string::npos) << "a secret is in a record or row";
  }
  EXPECT_GT(decoded.size(), 10000u);

  world_->Close();  // flush and close, so everything is on disk
  size_t scanned = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(world_->dir())) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string content = bytes.str();
    scanned += content.size();
    for (const std::string& needle : needles) {
      ASSERT_EQ(content.find(needle), std::string::npos)
          << "a secret is in " << entry.path() << " (" << needle.size() << "-byte form)";
    }
  }
  EXPECT_GT(scanned, 10000u);
}

// Readiness: the log answers, and the views are current and within the allowed lag.
TEST_F(EngineTest, ReadyUntilTheViewsFallBehindOrHalt) {
  GivenOrgAndGroups();
  ASSERT_OK(engine().CheckReady(0)) << engine().CheckReady(0).ToString();
  const int32_t partition = log().PartitionFor("acme");

  // Three events written past the writer (copies of the org's first event): the views
  // are three behind until the writer catches up before its next command.
  auto reader = log().OpenReader(partition, 0);
  ASSERT_OK(reader);
  auto first = (*reader)->Next(1, std::chrono::milliseconds(0));
  ASSERT_TRUE(first.ok() && !first->empty());
  const std::string org_created = (*first)[0].value;
  const std::vector<std::string> copies(3, org_created);
  ASSERT_OK(log().Append("acme", copies));
  Status behind = engine().CheckReady(2);
  EXPECT_EQ(behind.code(), StatusCode::kUnavailable);
  EXPECT_NE(behind.message().find("3 events behind"), std::string::npos) << behind.ToString();
  EXPECT_OK(engine().CheckReady(3));
  std::vector<WriterHealth> health = engine().writer_health();
  EXPECT_EQ(health[partition].log_end_seen - health[partition].applied_offset, 3);

  // A poison record: the views halt at it, and readiness says so.
  const std::vector<std::string> poison = {"not an event"};
  ASSERT_OK(log().Append("acme", poison));
  EXPECT_FALSE(engine().Execute(As(), domain::CreateGroup{"qa", "", ""}).ok());
  Status halted = engine().CheckReady(1000);
  EXPECT_EQ(halted.code(), StatusCode::kUnavailable);
  EXPECT_NE(halted.message().find("halted"), std::string::npos) << halted.ToString();
  EXPECT_FALSE(engine().writer_health()[partition].views_current);
}

TEST_F(EngineTest, HealthCountsCommandsAndAppends) {
  GivenOrgAndGroups();
  Create("one");
  Create("two");
  LatencySnapshot commands, appends;
  for (const WriterHealth& health : engine().writer_health()) {
    commands.Add(health.command_latency);
    appends.Add(health.append_latency);
    EXPECT_TRUE(health.views_current);
    EXPECT_TRUE(health.log_ok);
    EXPECT_EQ(health.applied_offset, *log().EndOffset(health.partition));
  }
  EXPECT_EQ(commands.count, 5u);  // org, two groups, two keys
  EXPECT_GE(appends.count, 1u);
  EXPECT_LE(appends.count, 5u);
  EXPECT_GT(commands.Quantile(1.0), 0);
}

// Command ids are remembered for the idempotency window (24 h by default), then
// forgotten, so idempotency costs bounded memory; the scheduler's own ids are never kept.
TEST_F(EngineTest, CommandIdsAreForgottenAfterTheIdempotencyWindow) {
  GivenOrgAndGroups();
  auto records = [&] { return WritersTotal(&WriterHealth::command_records); };
  const size_t before = records();
  IssuedKey first = Create("deploy", domain::Expiration::At(kNow + 60 * kSecond), "retry-me");
  ASSERT_EQ(first.outcome.kind, Kind::kApplied);
  EXPECT_EQ(records(), before + 1);
  // Within the window, a retry is answered, not applied.
  EXPECT_EQ(Create("deploy", domain::Expiration::Never(), "retry-me").outcome.kind,
            Kind::kReplayed);

  // The scheduler expires the key: its command id ("expire:...") is not recorded.
  clock_.Set(kNow + 61 * kSecond);
  engine().WaitIdle();
  EXPECT_EQ(engine().Verify(first.token->reveal()).reason, VerifyReason::kExpired);
  EXPECT_EQ(records(), before + 1);

  // A day and a minute later (the pass runs once a minute), the id is forgotten: the
  // retry is a new command.
  clock_.Set(kNow + 24 * 3600 * kSecond + 2 * 60 * kSecond);
  Create("tick", domain::Expiration::Never());  // a batch runs the pass
  EXPECT_EQ(records(), before);
  IssuedKey again = Create("deploy", domain::Expiration::Never(), "retry-me");
  EXPECT_EQ(again.outcome.kind, Kind::kApplied) << "decided anew: the old key expired";
  EXPECT_NE(again.key_id, first.key_id);

  // A restart folds the log again, and forgets the same way.
  Restart();
  EXPECT_EQ(records(), before + 1) << "only the new retry-me is within the window";
}

// Revoked and expired keys leave memory a retired-key window (24 h by default) after
// their KeyRevoked / KeyExpired: the writers' state and the verify index then hold the
// live keys. A command on a forgotten key is answered as before (read back from the key
// view), verify answers it as unknown, the key view keeps it, and a restart does not
// bring it back.
TEST_F(EngineTest, RetiredKeysLeaveMemoryAfterTheRetiredKeyWindow) {
  GivenOrgAndGroups();
  auto writer_keys = [&] { return WritersTotal(&WriterHealth::keys_in_memory); };
  auto verify = [&](const IssuedKey& key) { return engine().Verify(key.token->reveal()); };
  IssuedKey live = Create("live");
  IssuedKey revoked = Create("revoked");
  IssuedKey expiring = Create("expiring", domain::Expiration::At(kNow + 60 * kSecond));
  const KeyId revoked_id = *ParseKeyId(revoked.key_id);
  const KeyId expired_id = *ParseKeyId(expiring.key_id);
  ASSERT_EQ(engine().Execute(As(), domain::RevokeKey{revoked_id, "done"})->kind, Kind::kApplied);
  clock_.Set(kNow + 61 * kSecond);
  engine().WaitIdle();  // the scheduler expires "expiring"
  ASSERT_EQ(verify(expiring).reason, VerifyReason::kExpired);

  // Within the window they stay, and verify says why they fail.
  clock_.Set(kNow + 24 * 3600 * kSecond - kSecond);
  Create("tick");  // a batch runs the writers' pass
  EXPECT_EQ(writer_keys(), 4u);
  EXPECT_EQ(engine().ForgetRetiredKeys(), 0u);
  EXPECT_EQ(engine().index().size(), 4u);
  EXPECT_EQ(verify(revoked).reason, VerifyReason::kRevoked);

  // Past it, the revoked key leaves the index; the expired one (retired a minute later)
  // follows.
  clock_.Set(kNow + 24 * 3600 * kSecond + 30 * kSecond);
  Create("tock");
  EXPECT_EQ(engine().ForgetRetiredKeys(), 1u);
  EXPECT_EQ(verify(revoked).reason, VerifyReason::kUnknown);
  EXPECT_EQ(verify(expiring).reason, VerifyReason::kExpired);
  // The writers' pass (once a minute) has forgotten both.
  clock_.Set(kNow + 24 * 3600 * kSecond + 2 * 60 * kSecond);
  Create("later");
  EXPECT_EQ(writer_keys(), 4u) << "live, tick, tock, later";
  EXPECT_EQ(engine().ForgetRetiredKeys(), 1u);
  EXPECT_EQ(engine().index().size(), 4u);
  EXPECT_EQ(verify(expiring).reason, VerifyReason::kUnknown);
  EXPECT_TRUE(verify(live).valid);

  // Commands on forgotten keys are answered as they were before.
  auto again = engine().Execute(As(), domain::RevokeKey{revoked_id, "again"});
  ASSERT_OK(again);
  ASSERT_EQ(again->kind, Kind::kRejected);
  EXPECT_EQ(again->rejection->code, domain::RejectionCode::kAlreadyRevoked);
  auto rotate = engine().RotateKey(As(), expired_id, 0);
  ASSERT_OK(rotate);
  ASSERT_EQ(rotate->outcome.kind, Kind::kRejected);
  EXPECT_EQ(rotate->outcome.rejection->code, domain::RejectionCode::kKeyExpired);
  EXPECT_FALSE(rotate->token.has_value());
  auto expire = engine().Execute(As(), domain::ExpireKey{revoked_id});
  ASSERT_OK(expire);
  ASSERT_EQ(expire->kind, Kind::kRejected);
  EXPECT_EQ(expire->rejection->code, domain::RejectionCode::kKeyRevoked);
  KeyId unknown = revoked_id;
  unknown.bytes[15] ^= 1;
  auto missing = engine().Execute(As(), domain::RevokeKey{unknown, ""});
  ASSERT_OK(missing);
  ASSERT_EQ(missing->kind, Kind::kRejected);
  EXPECT_EQ(missing->rejection->code, domain::RejectionCode::kKeyNotFound);

  // The key view keeps them, with when they retired.
  auto record = projections::KeyViewProjection::GetKey(views(), "acme", revoked_id);
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((*record)->status, model::KeyStatus::kRevoked);
  EXPECT_EQ((*record)->retired_at_us, kNow);
  record = projections::KeyViewProjection::GetKey(views(), "acme", expired_id);
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((*record)->status, model::KeyStatus::kExpired);
  EXPECT_EQ((*record)->retired_at_us, kNow + 61 * kSecond);

  // A restart folds the log and rebuilds the index without them.
  Restart();
  EXPECT_EQ(writer_keys(), 4u);
  EXPECT_EQ(engine().index().size(), 4u);
  EXPECT_EQ(verify(revoked).reason, VerifyReason::kUnknown);
  EXPECT_TRUE(verify(live).valid);
  again = engine().Execute(As(), domain::RevokeKey{revoked_id, "after restart"});
  ASSERT_OK(again);
  ASSERT_EQ(again->kind, Kind::kRejected);
  EXPECT_EQ(again->rejection->code, domain::RejectionCode::kAlreadyRevoked);
}

// Authorization is the default: a context that does not turn it off is checked, so a
// caller that forgets to authorize fails closed.
TEST_F(EngineTest, CommandsAreAuthorizedUnlessTheCallerTurnsItOff) {
  GivenOrgAndGroups();
  const CommandContext stranger{
      .org = "acme", .actor_kind = fb::ActorKind::Member, .actor_id = "mallory"};
  auto refused = engine().Execute(stranger, domain::CreateGroup{"backdoor", "", ""});
  ASSERT_OK(refused);
  EXPECT_EQ(refused->kind, Kind::kRejected);
  EXPECT_EQ(refused->rejection->code, domain::RejectionCode::kForbidden);
  auto issued = engine().CreateKey(stranger, {.name = "sneaky", .group = "ci"});
  ASSERT_OK(issued);
  EXPECT_EQ(issued->outcome.kind, Kind::kRejected);
  EXPECT_FALSE(issued->token.has_value());
}

}  // namespace
}  // namespace keytrail
