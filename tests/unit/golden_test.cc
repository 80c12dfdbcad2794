// Golden fixtures: one checked-in binary per event kind (schemas/golden/*.ktev), and one
// per later shape of a kind (<Kind>.<variant>.ktev, e.g. fields added since). Each must
// decode forever, with every field as written here. To add a fixture for a new kind, run
// with KEYTRAIL_WRITE_GOLDEN=1 once and commit the new file; never rewrite an existing one.
#include <gtest/gtest.h>
#include "tests/support/status_matchers.h"

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "events/codec.h"

namespace keytrail::events {
namespace {

constexpr int64_t kOccurredAt = 1767225600123456;  // 2026-01-01T00:00:00.123456Z
constexpr int64_t kExpiresAt = 1798761600000000;   // 2027-01-01T00:00:00Z

std::unique_ptr<fb::Sha256> HashOf(uint8_t seed) {
  std::array<uint8_t, 32> bytes;
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<uint8_t>(seed + i);
  return std::make_unique<fb::Sha256>(flatbuffers::span<const uint8_t, 32>(bytes));
}

std::unique_ptr<fb::RuleT> MakeRule(std::string role, std::vector<std::string> resources) {
  auto rule = std::make_unique<fb::RuleT>();
  rule->role = std::move(role);
  rule->resources = std::move(resources);
  return rule;
}

fb::EnvelopeT Header(const std::string& aggregate_id, uint64_t version) {
  fb::EnvelopeT e;
  e.id = std::make_unique<fb::EventId>(0x0194a8f3c1e07abcULL, 0x9def0123456789abULL);
  e.org = "acme";
  e.aggregate_id = aggregate_id;
  e.aggregate_version = version;
  e.occurred_at_us = kOccurredAt;
  e.actor = std::make_unique<fb::ActorT>();
  e.actor->kind = fb::ActorKind::Member;
  e.actor->id = "alice";
  e.actor->on_behalf_of = "bob";
  e.command_id = "cmd-1";
  e.correlation_id = "corr-1";
  return e;
}

std::map<std::string, fb::EnvelopeT> GoldenEvents() {
  std::map<std::string, fb::EnvelopeT> out;
  {
    auto e = Header("acme", 1);
    fb::OrgCreatedT p;
    p.name = "Acme Inc.";
    e.payload.Set(std::move(p));
    out["OrgCreated"] = std::move(e);
  }
  {
    auto e = Header("ci", 1);
    fb::GroupCreatedT p;
    p.group_id = "ci";
    p.name = "CI pipelines";
    p.description = "keys for CI";
    p.rules.push_back(MakeRule("graph-admin", {"graph-a", "graph-b"}));
    p.rules.push_back(MakeRule("organization-viewer", {}));
    p.builtin = true;
    e.payload.Set(std::move(p));
    out["GroupCreated"] = std::move(e);
  }
  {
    auto e = Header("ci", 2);
    fb::GroupRulesChangedT p;
    p.group_id = "ci";
    p.rules.push_back(MakeRule("subgraph-publisher", {"sg-1"}));
    p.description = "publish only";
    e.payload.Set(std::move(p));
    out["GroupRulesChanged"] = std::move(e);
  }
  {
    auto e = Header("ci", 3);
    fb::GroupDeletedT p;
    p.group_id = "ci";
    e.payload.Set(std::move(p));
    out["GroupDeleted"] = std::move(e);
  }
  {
    auto e = Header("carol", 1);
    fb::MemberGroupsChangedT p;
    p.member_id = "carol";
    p.groups = {"developer", "viewer"};
    e.payload.Set(std::move(p));
    out["MemberGroupsChanged"] = std::move(e);
  }
  {
    auto e = Header("k1", 1);
    fb::KeyCreatedT p;
    p.key_id = "k1";
    p.name = "deploy bot";
    p.group_id = "ci";
    p.secret_hash = HashOf(1);
    p.hint = "kt_...W3xZ";
    p.expires_at_us = kExpiresAt;
    p.permissions = {"scim"};
    p.created_by = "alice";
    e.payload.Set(std::move(p));
    out["KeyCreated"] = std::move(e);
  }
  {
    auto e = Header("k1", 2);
    fb::KeyGroupChangedT p;
    p.key_id = "k1";
    p.group_id = "viewer";
    p.previous_group_id = "ci";
    e.payload.Set(std::move(p));
    out["KeyGroupChanged"] = std::move(e);
  }
  {
    auto e = Header("k1", 3);
    fb::KeyRotatedT p;
    p.key_id = "k1";
    p.secret_hash = HashOf(2);
    p.hint = "kt_...Q9rT";
    p.previous_valid_until_us = kOccurredAt + 3600000000;
    e.payload.Set(std::move(p));
    out["KeyRotated"] = std::move(e);
  }
  {
    auto e = Header("k1", 4);
    fb::KeyRevokedT p;
    p.key_id = "k1";
    p.reason = "leaked in a build log";
    e.payload.Set(std::move(p));
    out["KeyRevoked"] = std::move(e);
  }
  {
    auto e = Header("k2", 2);
    fb::KeyExpiredT p;
    p.key_id = "k2";
    p.expires_at_us = kExpiresAt;
    e.payload.Set(std::move(p));
    out["KeyExpired"] = std::move(e);
  }
  {
    // Written after writer epochs arrived: it also fixes the envelope's writer_epoch.
    auto e = Header("keytrail.writer.3.0", 1);
    e.writer_epoch = 7;
    fb::WriterClaimedT p;
    p.partition = 3;
    p.node_id = "node-a";
    p.advertise_url = "http://10.0.0.1:8080";
    p.epoch = 7;
    e.payload.Set(std::move(p));
    out["WriterClaimed"] = std::move(e);
  }
  // Written after command hashes arrived: they also fix the envelope's command_hash.
  {
    auto e = Header("inv1", 1);
    e.command_hash = "h1";
    fb::MemberInvitedT p;
    p.member_id = "dave";
    p.invitation_id = "inv1";
    p.expires_at_us = kExpiresAt;
    e.payload.Set(std::move(p));
    out["MemberInvited"] = std::move(e);
  }
  {
    auto e = Header("inv1", 2);
    fb::MemberPasswordSetT p;
    p.member_id = "dave";
    p.invitation_id = "inv1";
    p.credential_id = "cred1";
    e.payload.Set(std::move(p));
    out["MemberPasswordSet"] = std::move(e);
  }
  {
    auto e = Header("sess1", 1);
    fb::MemberSignedInT p;
    p.member_id = "dave";
    p.session_id = "sess1";
    p.expires_at_us = kExpiresAt;
    e.payload.Set(std::move(p));
    out["MemberSignedIn"] = std::move(e);
  }
  {
    auto e = Header("sess1", 2);
    fb::MemberSignedOutT p;
    p.member_id = "dave";
    p.session_id = "sess1";
    p.reason = "signed-out";
    e.payload.Set(std::move(p));
    out["MemberSignedOut"] = std::move(e);
  }
  {
    auto e = Header("acme", 3);
    fb::KeysUsedT p;
    auto use = std::make_unique<fb::KeyUsedT>();
    use->key_id = "k1";
    use->used_at_us = kExpiresAt;
    p.uses.push_back(std::move(use));
    e.payload.Set(std::move(p));
    out["KeysUsed"] = std::move(e);
  }
  {
    auto e = Header("k1", 4);
    fb::KeySuspendedT p;
    p.key_id = "k1";
    p.reason = "leaked in a CI log";
    e.payload.Set(std::move(p));
    out["KeySuspended"] = std::move(e);
  }
  {
    auto e = Header("k1", 5);
    fb::KeyResumedT p;
    p.key_id = "k1";
    e.payload.Set(std::move(p));
    out["KeyResumed"] = std::move(e);
  }
  {
    auto e = Header("k1", 6);
    fb::KeyUpdatedT p;
    p.key_id = "k1";
    p.name_changed = true;
    p.name = "deploy bot v2";
    p.expires_changed = true;
    p.expires_at_us = kExpiresAt;
    e.payload.Set(std::move(p));
    out["KeyUpdated"] = std::move(e);
  }
  {
    auto e = Header("acme", 2);
    fb::OrgPolicyChangedT p;
    p.max_lifetime_us = 366LL * 86'400'000'000;
    p.require_expiry = true;
    e.payload.Set(std::move(p));
    out["OrgPolicyChanged"] = std::move(e);
  }
  {
    auto e = Header("acme", 3);
    fb::OrgPolicyChangedT p;
    p.revoke_unused_after_us = 90LL * 86'400'000'000;
    p.expiring_soon_us = 7LL * 86'400'000'000;
    e.payload.Set(std::move(p));
    out["OrgPolicyChanged.hygiene"] = std::move(e);
  }
  {
    auto e = Header("k1", 5);
    fb::KeyExpiringSoonT p;
    p.key_id = "k1";
    p.expires_at_us = kExpiresAt;
    e.payload.Set(std::move(p));
    out["KeyExpiringSoon"] = std::move(e);
  }
  {
    auto e = Header("k1", 6);
    fb::KeyRevokedT p;
    p.key_id = "k1";
    p.reason = "leaked";
    p.leak = std::make_unique<fb::LeakReportT>();
    p.leak->source = "scanner";
    p.leak->url = "https://example.com/paste/1";
    e.payload.Set(std::move(p));
    out["KeyRevoked.leaked"] = std::move(e);
  }
  {
    auto e = Header("m1", 3);
    fb::MemberProfileChangedT p;
    p.member_id = "m1";
    p.provisioned = true;
    p.active = false;
    p.external_id = "00u1abcd";
    p.display_name = "Babs";
    p.given_name = "Barbara";
    p.family_name = "Jensen";
    p.emails = {"bjensen@example.com", "babs@jensen.org"};
    e.payload.Set(std::move(p));
    out["MemberProfileChanged"] = std::move(e);
  }
  {
    auto e = Header("acme", 4);
    fb::OrgSsoChangedT p;
    p.issuer = "https://idp.example";
    p.client_id = "keytrail";
    p.client_secret_id = "cs1";
    p.claim = "email";
    p.jit_group = "developer";
    p.password_sign_in = false;
    e.payload.Set(std::move(p));
    out["OrgSsoChanged"] = std::move(e);
  }
  return out;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Path(const std::string& kind) {
  return std::string(KEYTRAIL_GOLDEN_DIR) + "/" + kind + ".ktev";
}

class Golden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::getenv("KEYTRAIL_WRITE_GOLDEN") == nullptr) return;
    for (const auto& [kind, event] : GoldenEvents()) {
      if (std::filesystem::exists(Path(kind))) continue;  // never rewrite a shipped fixture
      std::ofstream(Path(kind), std::ios::binary) << Encode(event);
    }
  }

  fb::EnvelopeT Load(const std::string& kind) {
    const std::string bytes = ReadFile(Path(kind));
    auto decoded = DecodeToObject(bytes);
    EXPECT_OK(decoded) << kind << ": " << decoded.status().ToString();
    if (!decoded.ok()) return {};
    ExpectHeader(*decoded);
    EXPECT_EQ(PayloadName(decoded->payload.type), kind.substr(0, kind.find('.')));  // .variant
    return std::move(decoded).value();
  }

  static void ExpectHeader(const fb::EnvelopeT& e) {
    ASSERT_TRUE(e.id);
    EXPECT_EQ(e.id->hi(), 0x0194a8f3c1e07abcULL);
    EXPECT_EQ(e.id->lo(), 0x9def0123456789abULL);
    EXPECT_EQ(e.org, "acme");
    EXPECT_EQ(e.occurred_at_us, kOccurredAt);
    ASSERT_TRUE(e.actor);
    EXPECT_EQ(e.actor->kind, fb::ActorKind::Member);
    EXPECT_EQ(e.actor->id, "alice");
    EXPECT_EQ(e.actor->on_behalf_of, "bob");
    EXPECT_EQ(e.command_id, "cmd-1");
    EXPECT_EQ(e.correlation_id, "corr-1");
    EXPECT_EQ(e.schema_version, 1);
  }

  static void ExpectHash(const fb::Sha256* hash, uint8_t seed) {
    ASSERT_NE(hash, nullptr);
    for (int i = 0; i < 32; ++i) EXPECT_EQ(hash->bytes()->Get(i), seed + i);
  }
};

TEST_F(Golden, EveryPayloadKindHasAFixture) {
  for (int t = 1; t <= static_cast<int>(fb::Payload::MAX); ++t) {
    const std::string kind(PayloadName(static_cast<fb::Payload>(t)));
    EXPECT_TRUE(std::filesystem::exists(Path(kind))) << "no golden fixture for " << kind;
  }
}

TEST_F(Golden, WriterClaimed) {
  auto e = Load("WriterClaimed");
  const auto* p = e.payload.AsWriterClaimed();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(e.writer_epoch, 7);
  EXPECT_EQ(p->partition, 3);
  EXPECT_EQ(p->node_id, "node-a");
  EXPECT_EQ(p->advertise_url, "http://10.0.0.1:8080");
  EXPECT_EQ(p->epoch, 7);
}

TEST_F(Golden, MemberSignIn) {
  auto invited = Load("MemberInvited");
  EXPECT_EQ(invited.command_hash, "h1");
  ASSERT_NE(invited.payload.AsMemberInvited(), nullptr);
  EXPECT_EQ(invited.payload.AsMemberInvited()->member_id, "dave");
  EXPECT_EQ(invited.payload.AsMemberInvited()->invitation_id, "inv1");
  EXPECT_EQ(invited.payload.AsMemberInvited()->expires_at_us, kExpiresAt);
  auto set = Load("MemberPasswordSet");
  ASSERT_NE(set.payload.AsMemberPasswordSet(), nullptr);
  EXPECT_EQ(set.aggregate_version, 2u);
  EXPECT_EQ(set.payload.AsMemberPasswordSet()->credential_id, "cred1");
  auto in = Load("MemberSignedIn");
  ASSERT_NE(in.payload.AsMemberSignedIn(), nullptr);
  EXPECT_EQ(in.payload.AsMemberSignedIn()->session_id, "sess1");
  EXPECT_EQ(in.payload.AsMemberSignedIn()->expires_at_us, kExpiresAt);
  auto out = Load("MemberSignedOut");
  ASSERT_NE(out.payload.AsMemberSignedOut(), nullptr);
  EXPECT_EQ(out.payload.AsMemberSignedOut()->reason, "signed-out");
}

TEST_F(Golden, KeysUsed) {
  auto e = Load("KeysUsed");
  const auto* p = e.payload.AsKeysUsed();
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->uses.size(), 1u);
  EXPECT_EQ(p->uses[0]->key_id, "k1");
  EXPECT_EQ(p->uses[0]->used_at_us, kExpiresAt);
}

TEST_F(Golden, OrgPolicyChanged) {
  auto e = Load("OrgPolicyChanged");
  const auto* p = e.payload.AsOrgPolicyChanged();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->max_lifetime_us, 366LL * 86'400'000'000);
  EXPECT_TRUE(p->require_expiry);
}

TEST_F(Golden, OrgPolicyChangedHygiene) {
  auto e = Load("OrgPolicyChanged.hygiene");
  const auto* p = e.payload.AsOrgPolicyChanged();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->revoke_unused_after_us, 90LL * 86'400'000'000);
  EXPECT_EQ(p->expiring_soon_us, 7LL * 86'400'000'000);
  EXPECT_EQ(p->max_lifetime_us, 0);
}

TEST_F(Golden, KeyExpiringSoonAndLeakedRevocation) {
  auto soon = Load("KeyExpiringSoon");
  ASSERT_NE(soon.payload.AsKeyExpiringSoon(), nullptr);
  EXPECT_EQ(soon.payload.AsKeyExpiringSoon()->expires_at_us, kExpiresAt);
  auto leaked = Load("KeyRevoked.leaked");
  const auto* p = leaked.payload.AsKeyRevoked();
  ASSERT_NE(p, nullptr);
  ASSERT_NE(p->leak, nullptr);
  EXPECT_EQ(p->leak->source, "scanner");
  // The fixture from before leak reports decodes without one.
  ASSERT_EQ(Load("KeyRevoked").payload.AsKeyRevoked()->leak, nullptr);
}

TEST_F(Golden, MemberProfileChanged) {
  auto e = Load("MemberProfileChanged");
  const auto* p = e.payload.AsMemberProfileChanged();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->member_id, "m1");
  EXPECT_TRUE(p->provisioned);
  EXPECT_FALSE(p->active);
  EXPECT_EQ(p->external_id, "00u1abcd");
  EXPECT_EQ(p->given_name, "Barbara");
  EXPECT_EQ(p->emails, (std::vector<std::string>{"bjensen@example.com", "babs@jensen.org"}));
}

TEST_F(Golden, OrgSsoChanged) {
  auto e = Load("OrgSsoChanged");
  const auto* p = e.payload.AsOrgSsoChanged();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->issuer, "https://idp.example");
  EXPECT_EQ(p->client_secret_id, "cs1");
  EXPECT_EQ(p->jit_group, "developer");
  EXPECT_FALSE(p->password_sign_in);
}

TEST_F(Golden, KeyUpdated) {
  auto e = Load("KeyUpdated");
  const auto* p = e.payload.AsKeyUpdated();
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->name_changed);
  EXPECT_EQ(p->name, "deploy bot v2");
  EXPECT_TRUE(p->expires_changed);
  EXPECT_EQ(p->expires_at_us, kExpiresAt);
  EXPECT_FALSE(p->description_changed);
}

TEST_F(Golden, KeySuspendedAndResumed) {
  auto suspended = Load("KeySuspended");
  ASSERT_NE(suspended.payload.AsKeySuspended(), nullptr);
  EXPECT_EQ(suspended.payload.AsKeySuspended()->key_id, "k1");
  EXPECT_EQ(suspended.payload.AsKeySuspended()->reason, "leaked in a CI log");
  auto resumed = Load("KeyResumed");
  ASSERT_NE(resumed.payload.AsKeyResumed(), nullptr);
  EXPECT_EQ(resumed.aggregate_version, 5u);
}

// Fixtures written before writer epochs existed read as epoch 0.
TEST_F(Golden, OlderFixturesHaveWriterEpochZero) {
  EXPECT_EQ(Load("KeyCreated").writer_epoch, 0);
  EXPECT_EQ(Load("OrgCreated").writer_epoch, 0);
}

TEST_F(Golden, OrgCreated) {
  auto e = Load("OrgCreated");
  EXPECT_EQ(e.aggregate_id, "acme");
  EXPECT_EQ(e.aggregate_version, 1u);
  EXPECT_EQ(e.payload.AsOrgCreated()->name, "Acme Inc.");
}

TEST_F(Golden, GroupCreated) {
  auto e = Load("GroupCreated");
  const auto* p = e.payload.AsGroupCreated();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(e.aggregate_id, "ci");
  EXPECT_EQ(p->group_id, "ci");
  EXPECT_EQ(p->name, "CI pipelines");
  EXPECT_EQ(p->description, "keys for CI");
  ASSERT_EQ(p->rules.size(), 2u);
  EXPECT_EQ(p->rules[0]->role, "graph-admin");
  EXPECT_EQ(p->rules[0]->resources, (std::vector<std::string>{"graph-a", "graph-b"}));
  EXPECT_EQ(p->rules[1]->role, "organization-viewer");
  EXPECT_TRUE(p->rules[1]->resources.empty());
  EXPECT_TRUE(p->builtin);
}

TEST_F(Golden, GroupRulesChanged) {
  auto e = Load("GroupRulesChanged");
  const auto* p = e.payload.AsGroupRulesChanged();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(e.aggregate_version, 2u);
  EXPECT_EQ(p->group_id, "ci");
  ASSERT_EQ(p->rules.size(), 1u);
  EXPECT_EQ(p->rules[0]->role, "subgraph-publisher");
  EXPECT_EQ(p->rules[0]->resources, (std::vector<std::string>{"sg-1"}));
  EXPECT_EQ(p->description, "publish only");
}

TEST_F(Golden, GroupDeleted) {
  auto e = Load("GroupDeleted");
  EXPECT_EQ(e.aggregate_version, 3u);
  EXPECT_EQ(e.payload.AsGroupDeleted()->group_id, "ci");
}

TEST_F(Golden, MemberGroupsChanged) {
  auto e = Load("MemberGroupsChanged");
  const auto* p = e.payload.AsMemberGroupsChanged();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(e.aggregate_id, "carol");
  EXPECT_EQ(p->member_id, "carol");
  EXPECT_EQ(p->groups, (std::vector<std::string>{"developer", "viewer"}));
}

TEST_F(Golden, KeyCreated) {
  auto e = Load("KeyCreated");
  const auto* p = e.payload.AsKeyCreated();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(e.aggregate_id, "k1");
  EXPECT_EQ(e.aggregate_version, 1u);
  EXPECT_EQ(p->key_id, "k1");
  EXPECT_EQ(p->name, "deploy bot");
  EXPECT_EQ(p->group_id, "ci");
  ExpectHash(p->secret_hash.get(), 1);
  EXPECT_EQ(p->hint, "kt_...W3xZ");
  EXPECT_EQ(p->expires_at_us, kExpiresAt);
  EXPECT_EQ(p->permissions, (std::vector<std::string>{"scim"}));
  EXPECT_EQ(p->created_by, "alice");
}

TEST_F(Golden, KeyGroupChanged) {
  auto e = Load("KeyGroupChanged");
  const auto* p = e.payload.AsKeyGroupChanged();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(e.aggregate_version, 2u);
  EXPECT_EQ(p->key_id, "k1");
  EXPECT_EQ(p->group_id, "viewer");
  EXPECT_EQ(p->previous_group_id, "ci");
}

TEST_F(Golden, KeyRotated) {
  auto e = Load("KeyRotated");
  const auto* p = e.payload.AsKeyRotated();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(e.aggregate_version, 3u);
  EXPECT_EQ(p->key_id, "k1");
  ExpectHash(p->secret_hash.get(), 2);
  EXPECT_EQ(p->hint, "kt_...Q9rT");
  EXPECT_EQ(p->previous_valid_until_us, kOccurredAt + 3600000000);
}

TEST_F(Golden, KeyRevoked) {
  auto e = Load("KeyRevoked");
  const auto* p = e.payload.AsKeyRevoked();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(e.aggregate_version, 4u);
  EXPECT_EQ(p->key_id, "k1");
  EXPECT_EQ(p->reason, "leaked in a build log");
}

TEST_F(Golden, KeyExpired) {
  auto e = Load("KeyExpired");
  const auto* p = e.payload.AsKeyExpired();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(e.aggregate_id, "k2");
  EXPECT_EQ(p->key_id, "k2");
  EXPECT_EQ(p->expires_at_us, kExpiresAt);
}

}  // namespace
}  // namespace keytrail::events
