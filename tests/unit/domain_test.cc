// Domain tests in Given(events) / When(command) / Then(events or rejection) form.
#include <gtest/gtest.h>
#include "tests/support/status_matchers.h"

#include "tests/unit/domain_fixture.h"

namespace keytrail::domain {
namespace {

// --- orgs and groups ---

TEST_F(DomainTest, CreateOrgOnceOnly) {
  const auto& events = ThenEvents(When(CreateOrg{"Acme"}));
  ASSERT_FALSE(events.empty());
  ASSERT_EQ(events[0].payload.type, fb::Payload::OrgCreated);
  EXPECT_EQ(events[0].payload.AsOrgCreated()->name, "Acme");
  EXPECT_EQ(events[0].aggregate_id, "acme");
  Given(CreateOrg{"Acme"});
  ThenRejected(When(CreateOrg{"Again"}), RejectionCode::kOrgExists);
}

TEST_F(DomainTest, CreateOrgNeedsAName) {
  ThenRejected(When(CreateOrg{""}), RejectionCode::kInvalidName);
}

TEST_F(DomainTest, CreateGroupRules) {
  ThenRejected(When(CreateGroup{"ci", "", ""}), RejectionCode::kOrgNotFound);
  Given(CreateOrg{"Acme"});
  ThenRejected(When(CreateGroup{"Not Valid", "", ""}), RejectionCode::kInvalidGroupId);
  const auto& created = ThenOne<fb::GroupCreatedT>(When(CreateGroup{"ci", "", "d"}));
  EXPECT_EQ(created.name, "ci");
  Given(CreateGroup{"ci", "CI", ""});
  ThenRejected(When(CreateGroup{"ci", "", ""}), RejectionCode::kGroupExists);
}

// --- CreateKey ---

TEST_F(DomainTest, CreateKeyRecordsEverythingButTheSecret) {
  GivenOrgAndGroup();
  CreateKey c = NewKey(1, "deploy bot");
  c.permissions = {"scim", "scim"};
  c.expires = Expiration{Expiration::Kind::k30Days, 0};
  const auto& e = ThenOne<fb::KeyCreatedT>(When(c));
  EXPECT_EQ(e.key_id, FormatKeyId(Id(1)));
  EXPECT_EQ(e.name, "deploy bot");
  EXPECT_EQ(e.group_id, "ci");
  ASSERT_TRUE(e.secret_hash);
  EXPECT_EQ(e.secret_hash->bytes()->Get(0), 1);
  EXPECT_EQ(e.hint, "kt_…abcd");
  EXPECT_EQ(e.expires_at_us, kNow + 30 * kMicrosPerDay);
  EXPECT_EQ(e.permissions, (std::vector<std::string>{"scim"}));
  EXPECT_EQ(e.created_by, "alice");
}

TEST_F(DomainTest, CreateKeyExpirationPresets) {
  GivenOrgAndGroup();
  CreateKey c = NewKey(1, "abc");
  c.expires = Expiration::Never();
  EXPECT_EQ(ThenOne<fb::KeyCreatedT>(When(c)).expires_at_us, 0);
  c.expires = {Expiration::Kind::k6Months, 0};
  EXPECT_EQ(ThenOne<fb::KeyCreatedT>(When(c)).expires_at_us,
            ParseExpiration("2026-07-01T00:00:00Z")->at);
  c.expires = {Expiration::Kind::k1Year, 0};
  EXPECT_EQ(ThenOne<fb::KeyCreatedT>(When(c)).expires_at_us,
            ParseExpiration("2027-01-01T00:00:00Z")->at);
  c.expires = Expiration::At(kNow + 1);
  EXPECT_EQ(ThenOne<fb::KeyCreatedT>(When(c)).expires_at_us, kNow + 1);
}

TEST_F(DomainTest, CreateKeyRejectsPastOrPresentExpiration) {
  GivenOrgAndGroup();
  CreateKey c = NewKey(1, "abc");
  c.expires = Expiration::At(kNow);
  ThenRejected(When(c), RejectionCode::kInvalidExpiration);
  c.expires = Expiration::At(kNow - kHour);
  ThenRejected(When(c), RejectionCode::kInvalidExpiration);
}

TEST_F(DomainTest, CreateKeyNameRules) {
  GivenOrgAndGroup();
  ThenRejected(When(NewKey(1, "ab")), RejectionCode::kInvalidName);
  ThenRejected(When(NewKey(1, std::string(51, 'a'))), RejectionCode::kInvalidName);
  ThenRejected(When(NewKey(1, "bad/name")), RejectionCode::kInvalidName);
  ThenRejected(When(NewKey(1, "tab\tname")), RejectionCode::kInvalidName);
  ThenOne<fb::KeyCreatedT>(When(NewKey(1, "abc")));
  ThenOne<fb::KeyCreatedT>(When(NewKey(1, std::string(50, 'a'))));
  ThenOne<fb::KeyCreatedT>(When(NewKey(1, "A-b_c.d 9")));
}

TEST_F(DomainTest, CreateKeyNameIsUniqueAmongLiveKeysOnly) {
  GivenOrgAndGroup();
  Given(NewKey(1, "deploy"));
  ThenRejected(When(NewKey(2, "deploy")), RejectionCode::kNameTaken);
  Given(RevokeKey{Id(1), "rotated out"});
  ThenOne<fb::KeyCreatedT>(When(NewKey(2, "deploy")));

  CreateKey expiring = NewKey(3, "nightly");
  expiring.expires = Expiration::At(kNow + kHour);
  Given(expiring);
  ThenRejected(When(NewKey(4, "nightly"), kNow + kHour - 1), RejectionCode::kNameTaken);
  ThenOne<fb::KeyCreatedT>(When(NewKey(4, "nightly"), kNow + kHour));  // expired, not yet by event
}

TEST_F(DomainTest, CreateKeyNeedsOrgGroupAndKnownPermissions) {
  ThenRejected(When(NewKey(1, "abc")), RejectionCode::kOrgNotFound);
  GivenOrgAndGroup();
  ThenRejected(When(NewKey(1, "abc", "nope")), RejectionCode::kGroupNotFound);
  CreateKey c = NewKey(1, "abc");
  c.permissions = {"admin"};
  ThenRejected(When(c), RejectionCode::kInvalidPermission);
}

TEST_F(DomainTest, CreateKeyEnforcesTheQuotaOfActiveKeys) {
  options_.max_active_keys = 2;
  GivenOrgAndGroup();
  Given(NewKey(1, "one"));
  CreateKey expiring = NewKey(2, "two");
  expiring.expires = Expiration::At(kNow + kHour);
  Given(expiring);
  ThenRejected(When(NewKey(3, "three")), RejectionCode::kQuotaExceeded);
  ThenOne<fb::KeyCreatedT>(When(NewKey(3, "three"), kNow + kHour));  // "two" has expired
  Given(RevokeKey{Id(1), ""});
  ThenOne<fb::KeyCreatedT>(When(NewKey(3, "three")));
}

TEST_F(DomainTest, CreateKeyRejectsAnIdCollision) {
  GivenOrgAndGroup();
  Given(NewKey(1, "one"));
  ThenRejected(When(NewKey(1, "other")), RejectionCode::kKeyExists);
}

// --- RotateKey ---

TEST_F(DomainTest, RotateKeyKeepsThePreviousSecretForTheGrace) {
  GivenOrgAndGroup();
  Given(NewKey(1, "abc"));
  const auto& e = ThenOne<fb::KeyRotatedT>(When(RotateKey{Id(1), Hash(9), "kt_…wxyz", kHour}));
  EXPECT_EQ(e.key_id, FormatKeyId(Id(1)));
  EXPECT_EQ(e.secret_hash->bytes()->Get(31), 9);
  EXPECT_EQ(e.hint, "kt_…wxyz");
  EXPECT_EQ(e.previous_valid_until_us, kNow + kHour);
  EXPECT_EQ(
      ThenOne<fb::KeyRotatedT>(When(RotateKey{Id(1), Hash(9), "", 0})).previous_valid_until_us, 0);
}

TEST_F(DomainTest, RotateKeyGraceNeverOutlivesTheKey) {
  GivenOrgAndGroup();
  CreateKey c = NewKey(1, "abc");
  c.expires = Expiration::At(kNow + kHour);
  Given(c);
  EXPECT_EQ(ThenOne<fb::KeyRotatedT>(When(RotateKey{Id(1), Hash(9), "", 24 * kHour}))
                .previous_valid_until_us,
            kNow + kHour);
}

TEST_F(DomainTest, RotateKeyRejections) {
  GivenOrgAndGroup();
  ThenRejected(When(RotateKey{Id(1), Hash(9), "", 0}), RejectionCode::kKeyNotFound);
  CreateKey c = NewKey(1, "abc");
  c.expires = Expiration::At(kNow + kHour);
  Given(c);
  ThenRejected(When(RotateKey{Id(1), Hash(9), "", 24 * kHour + 1}), RejectionCode::kInvalidGrace);
  ThenRejected(When(RotateKey{Id(1), Hash(9), "", -1}), RejectionCode::kInvalidGrace);
  ThenRejected(When(RotateKey{Id(1), Hash(9), "", 0}, kNow + kHour), RejectionCode::kKeyExpired);
  Given(RevokeKey{Id(1), ""});
  ThenRejected(When(RotateKey{Id(1), Hash(9), "", 0}), RejectionCode::kKeyRevoked);
}

// --- RevokeKey ---

TEST_F(DomainTest, RevokeKeyOnceWithAReason) {
  GivenOrgAndGroup();
  Given(NewKey(1, "abc"));
  const auto& e = ThenOne<fb::KeyRevokedT>(When(RevokeKey{Id(1), "leaked"}));
  EXPECT_EQ(e.reason, "leaked");
  Given(RevokeKey{Id(1), "leaked"});
  ThenRejected(When(RevokeKey{Id(1), "again"}), RejectionCode::kAlreadyRevoked);
}

TEST_F(DomainTest, RevokeKeyRejections) {
  GivenOrgAndGroup();
  ThenRejected(When(RevokeKey{Id(1), ""}), RejectionCode::kKeyNotFound);
  CreateKey c = NewKey(1, "abc");
  c.expires = Expiration::At(kNow + kHour);
  Given(c);
  ThenRejected(When(RevokeKey{Id(1), std::string(501, 'x')}), RejectionCode::kInvalidReason);
  ThenRejected(When(RevokeKey{Id(1), ""}, kNow + kHour), RejectionCode::kKeyExpired);
}

// Retired keys can be forgotten (writer memory) and recalled (from the key view) with
// the same decisions as if they had stayed; live keys are never forgotten.
TEST_F(DomainTest, ARetiredKeyIsForgottenAtItsTimeAndDecidedAlikeOnceRecalled) {
  GivenOrgAndGroup();
  Given(NewKey(1, "revoked"));
  CreateKey expiring = NewKey(2, "expiring");
  expiring.expires = Expiration::At(kNow + kHour);
  Given(expiring);
  Given(NewKey(3, "live"));
  Given(RevokeKey{Id(1), ""}, kNow + 10);
  Given(ExpireKey{Id(2)}, kNow + kHour);
  const size_t live = state_.ActiveKeyCount(kNow + kHour);

  EXPECT_EQ(ForgetRetiredKeysBefore(state_, kNow + 10), 0u);
  EXPECT_EQ(ForgetRetiredKeysBefore(state_, kNow + 11), 1u);
  EXPECT_EQ(state_.FindKey(Id(1)), nullptr);
  EXPECT_NE(state_.FindKey(Id(2)), nullptr);
  EXPECT_EQ(ForgetRetiredKeysBefore(state_, kNow + 2 * kHour), 1u);
  EXPECT_EQ(state_.keys.size(), 1u);
  EXPECT_EQ(state_.ActiveKeyCount(kNow + kHour), live);
  ThenRejected(When(RevokeKey{Id(1), ""}), RejectionCode::kKeyNotFound);  // unrecalled

  KeyState revoked;
  revoked.id = Id(1);
  revoked.status = KeyStatus::kRevoked;
  revoked.version = 2;
  RecallRetiredKey(state_, revoked, "revoked", "ci", "alice", kNow + 3 * kHour);
  EXPECT_EQ(state_.NameOf(*state_.FindKey(Id(1))), "revoked");
  ThenRejected(When(RevokeKey{Id(1), ""}), RejectionCode::kAlreadyRevoked);
  ThenRejected(When(RotateKey{.key_id = Id(1)}), RejectionCode::kKeyRevoked);
  ThenRejected(When(ExpireKey{Id(1)}, kNow + 4 * kHour), RejectionCode::kKeyRevoked);
  // Its name is still free, and a recalled key leaves again a window after its recall.
  Given(NewKey(4, "revoked"));
  EXPECT_EQ(ForgetRetiredKeysBefore(state_, kNow + 3 * kHour), 0u);
  EXPECT_EQ(ForgetRetiredKeysBefore(state_, kNow + 3 * kHour + 1), 1u);
  EXPECT_EQ(state_.keys.size(), 2u);
}

// --- ExpireKey ---

TEST_F(DomainTest, ExpireKeyOnlyWhenDueAndActive) {
  GivenOrgAndGroup();
  Given(NewKey(1, "forever"));
  ThenRejected(When(ExpireKey{Id(1)}), RejectionCode::kNotDue);
  ThenRejected(When(ExpireKey{Id(2)}), RejectionCode::kKeyNotFound);
  CreateKey c = NewKey(2, "abc");
  c.expires = Expiration::At(kNow + kHour);
  Given(c);
  ThenRejected(When(ExpireKey{Id(2)}, kNow + kHour - 1), RejectionCode::kNotDue);
  const auto& e = ThenOne<fb::KeyExpiredT>(When(ExpireKey{Id(2)}, kNow + kHour));
  EXPECT_EQ(e.expires_at_us, kNow + kHour);
  Given(ExpireKey{Id(2)}, kNow + kHour);
  ThenRejected(When(ExpireKey{Id(2)}, kNow + 2 * kHour), RejectionCode::kKeyExpired);
}

TEST_F(DomainTest, ExpireKeyNeverForARevokedKey) {
  GivenOrgAndGroup();
  CreateKey c = NewKey(1, "abc");
  c.expires = Expiration::At(kNow + kHour);
  Given(c);
  Given(RevokeKey{Id(1), ""});
  ThenRejected(When(ExpireKey{Id(1)}, kNow + kHour), RejectionCode::kKeyRevoked);
}

// --- ChangeKeyGroup ---

TEST_F(DomainTest, ChangeKeyGroup) {
  GivenOrgAndGroup();
  Given(CreateGroup{"ops", "", ""});
  Given(NewKey(1, "abc"));
  const auto& e = ThenOne<fb::KeyGroupChangedT>(When(ChangeKeyGroup{Id(1), "ops"}));
  EXPECT_EQ(e.group_id, "ops");
  EXPECT_EQ(e.previous_group_id, "ci");
  ThenNoEvents(When(ChangeKeyGroup{Id(1), "ci"}));
  ThenRejected(When(ChangeKeyGroup{Id(1), "nope"}), RejectionCode::kGroupNotFound);
  ThenRejected(When(ChangeKeyGroup{Id(2), "ops"}), RejectionCode::kKeyNotFound);
  Given(RevokeKey{Id(1), ""});
  ThenRejected(When(ChangeKeyGroup{Id(1), "ops"}), RejectionCode::kKeyRevoked);
}

TEST_F(DomainTest, VersionsCountEachKeysEvents) {
  GivenOrgAndGroup();
  Given(CreateGroup{"ops", "", ""});
  Given(NewKey(1, "abc"));
  Given(RotateKey{Id(1), Hash(2), "", 0});
  Given(ChangeKeyGroup{Id(1), "ops"});
  auto decision = When(RevokeKey{Id(1), ""});
  ASSERT_TRUE(std::holds_alternative<std::vector<NewEvent>>(decision));
  EXPECT_EQ(std::get<std::vector<NewEvent>>(decision)[0].aggregate_version, 4u);
  EXPECT_EQ(std::get<std::vector<NewEvent>>(decision)[0].aggregate_id, FormatKeyId(Id(1)));
}

// --- Evolve ---

TEST_F(DomainTest, EvolveRefusesAnEventForAnUnknownKey) {
  GivenOrgAndGroup();
  fb::EnvelopeT e;
  e.id = std::make_unique<fb::EventId>(1, 2);
  e.org = "acme";
  e.aggregate_id = FormatKeyId(Id(7));
  fb::KeyRevokedT p;
  p.key_id = FormatKeyId(Id(7));
  e.payload.Set(std::move(p));
  const std::string bytes = events::Encode(e);
  auto decoded = events::Decode(bytes);
  ASSERT_OK(decoded);
  EXPECT_EQ(Evolve(state_, **decoded).code(), StatusCode::kCorruption);
}

// --- Expiration parsing ---

TEST(Expiration, ParsesPresetsAndRfc3339) {
  EXPECT_EQ(ParseExpiration("never")->kind, Expiration::Kind::kNever);
  EXPECT_EQ(ParseExpiration("30d")->kind, Expiration::Kind::k30Days);
  EXPECT_EQ(ParseExpiration("6m")->kind, Expiration::Kind::k6Months);
  EXPECT_EQ(ParseExpiration("1y")->kind, Expiration::Kind::k1Year);
  EXPECT_EQ(ParseExpiration("2026-01-01T00:00:00Z")->at, kNow);
  EXPECT_EQ(ParseExpiration("2026-01-01T00:00:00.5Z")->at, kNow + 500000);
  EXPECT_EQ(ParseExpiration("2026-01-01T00:00:00.000001Z")->at, kNow + 1);
  EXPECT_EQ(ParseExpiration("2026-01-01T01:00:00+01:00")->at, kNow);
  EXPECT_EQ(ParseExpiration("2025-12-31T23:30:00-00:30")->at, kNow);
}

TEST(Expiration, RejectsMalformedTimes) {
  for (const char* bad : {"", "7d", "2026-01-01", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2026-01-01T24:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z",
                          "2026-01-01T00:00:00+1:00", "2026-01-01T00:00:00Zjunk", "never "}) {
    EXPECT_FALSE(ParseExpiration(bad).has_value()) << bad;
  }
  // An offset that moves the instant out of RFC 3339's years (found by fuzzing): it
  // could never be written back.
  EXPECT_FALSE(ParseExpiration("0000-01-01T00:00:00+05:30").has_value());
  EXPECT_FALSE(ParseExpiration("9999-12-31T23:59:59-00:01").has_value());
  EXPECT_TRUE(ParseExpiration("0000-01-01T00:00:00Z").has_value());
  EXPECT_TRUE(ParseExpiration("0000-01-01T05:30:00+05:30").has_value());
  EXPECT_TRUE(ParseExpiration("9999-12-31T23:59:59.999999Z").has_value());
}

TEST(Expiration, MonthsAreCalendarMonthsClampedToTheMonthEnd) {
  const Micros aug31 = ParseExpiration("2025-08-31T10:00:00Z")->at;
  EXPECT_EQ(ResolveExpiration({Expiration::Kind::k6Months, 0}, aug31),
            ParseExpiration("2026-02-28T10:00:00Z")->at);
  const Micros leap = ParseExpiration("2024-02-29T00:00:01Z")->at;
  EXPECT_EQ(ResolveExpiration({Expiration::Kind::k1Year, 0}, leap),
            ParseExpiration("2025-02-28T00:00:01Z")->at);
}

}  // namespace
}  // namespace keytrail::domain

// --- SuspendKey / ResumeKey ---

namespace keytrail::domain {
namespace {

TEST_F(DomainTest, ASuspendedKeyStaysLiveUntilResumedRevokedOrExpired) {
  GivenOrgAndGroup();
  CreateKey c = NewKey(1, "deploy bot");
  c.expires = Expiration::At(kNow + kHour);
  Given(c);
  ThenRejected(When(ResumeKey{Id(1)}), RejectionCode::kKeyNotSuspended);
  ThenRejected(When(SuspendKey{Id(9), "x"}), RejectionCode::kKeyNotFound);
  ThenRejected(When(SuspendKey{Id(1), std::string(501, 'x')}), RejectionCode::kInvalidReason);
  EXPECT_EQ(ThenOne<fb::KeySuspendedT>(When(SuspendKey{Id(1), "leaked"})).reason, "leaked");
  Given(SuspendKey{Id(1), "leaked"});
  const KeyState& key = *state_.FindKey(Id(1));
  EXPECT_TRUE(key.suspended);
  EXPECT_TRUE(key.ActiveAt(kNow));
  EXPECT_FALSE(key.UsableAt(kNow));
  ThenRejected(When(SuspendKey{Id(1), "again"}), RejectionCode::kKeySuspended);
  // Its name stays taken; it can still be rotated and moved.
  ThenRejected(When(NewKey(2, "deploy bot")), RejectionCode::kNameTaken);
  ThenOne<fb::KeyRotatedT>(When(RotateKey{Id(1), Hash(7), "kt_…wxyz", 0}));
  Given(ResumeKey{Id(1)});
  EXPECT_FALSE(state_.FindKey(Id(1))->suspended);
  // Suspended keys still expire.
  Given(SuspendKey{Id(1), "again"});
  ThenOne<fb::KeyExpiredT>(When(ExpireKey{Id(1)}, kNow + kHour));
  Given(ExpireKey{Id(1)}, kNow + kHour);
  ThenRejected(When(ResumeKey{Id(1)}, kNow + kHour), RejectionCode::kKeyExpired);
}

TEST_F(DomainTest, UpdateRenamesRenewsAndDescribesALiveKey) {
  GivenOrgAndGroup();
  CreateKey c = NewKey(1, "deploy bot");
  c.expires = Expiration::At(kNow + kHour);
  Given(c);
  Given(NewKey(2, "other bot"));
  ThenRejected(When(UpdateKey{Id(1), "other bot", {}, {}}), RejectionCode::kNameTaken);
  ThenRejected(When(UpdateKey{Id(1), "x", {}, {}}), RejectionCode::kInvalidName);
  ThenRejected(When(UpdateKey{Id(1), {}, Expiration::At(kNow), {}}),
               RejectionCode::kInvalidExpiration);
  ThenRejected(When(UpdateKey{Id(1), {}, {}, std::string(1001, 'd')}),
               RejectionCode::kInvalidDescription);
  ThenNoEvents(When(UpdateKey{Id(1), "deploy bot", Expiration::At(kNow + kHour), {}}));

  const auto& e = ThenOne<fb::KeyUpdatedT>(
      When(UpdateKey{Id(1), "deploy bot v2", Expiration{Expiration::Kind::k30Days, 0}, "ci"}));
  EXPECT_TRUE(e.name_changed);
  EXPECT_EQ(e.expires_at_us, kNow + 30 * kMicrosPerDay);
  EXPECT_EQ(e.description, "ci");
  Given(UpdateKey{Id(1), "deploy bot v2", Expiration{Expiration::Kind::k30Days, 0}, "ci"});
  const KeyState& key = *state_.FindKey(Id(1));
  EXPECT_EQ(state_.NameOf(key), "deploy bot v2");
  EXPECT_EQ(key.expires_at, kNow + 30 * kMicrosPerDay);
  EXPECT_EQ(state_.keys.Named("deploy bot"), nullptr);
  EXPECT_EQ(state_.keys.Named("deploy bot v2"), &key);
  ThenOne<fb::KeyCreatedT>(When(NewKey(3, "deploy bot")));  // the old name is free
  // Not due at the old expiry any more; due at the new one.
  ThenRejected(When(ExpireKey{Id(1)}, kNow + kHour), RejectionCode::kNotDue);
  ThenOne<fb::KeyExpiredT>(When(ExpireKey{Id(1)}, kNow + 30 * kMicrosPerDay));
  // Never: active for ever.
  const Micros far = kNow + 1000 * kMicrosPerDay;
  const size_t active_far = state_.ActiveKeyCount(far);
  Given(UpdateKey{Id(1), {}, Expiration::Never(), {}});
  EXPECT_EQ(state_.FindKey(Id(1))->expires_at, 0);
  EXPECT_EQ(state_.ActiveKeyCount(far), active_far + 1);
}

TEST_F(DomainTest, ARotationCanRenewTheKeyInTheSameDecision) {
  GivenOrgAndGroup();
  CreateKey c = NewKey(1, "deploy bot");
  c.expires = Expiration::At(kNow + kHour / 2);
  Given(c);
  RotateKey r{Id(1), Hash(9), "kt_…9999", kHour, Expiration{Expiration::Kind::k1Year, 0}};
  const auto& events = ThenEvents(When(r));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].payload.type, fb::Payload::KeyRotated);
  EXPECT_EQ(events[0].aggregate_version, 2u);
  // The grace is bounded by the new expiry, not the old one.
  EXPECT_EQ(events[0].payload.AsKeyRotated()->previous_valid_until_us, kNow + kHour);
  ASSERT_EQ(events[1].payload.type, fb::Payload::KeyUpdated);
  EXPECT_EQ(events[1].aggregate_version, 3u);
  EXPECT_EQ(events[1].payload.AsKeyUpdated()->expires_at_us,
            ParseExpiration("2027-01-01T00:00:00Z")->at);
  r.expires = Expiration::At(kNow - 1);
  ThenRejected(When(r), RejectionCode::kInvalidExpiration);
}

TEST_F(DomainTest, TheKeyPolicyBoundsNewExpiriesNotExistingKeys) {
  GivenOrgAndGroup();
  Given(NewKey(1, "forever bot"));  // before the policy: never expires
  ThenRejected(When(SetKeyPolicy{-1, false}), RejectionCode::kInvalidExpiration);
  const auto& e = ThenOne<fb::OrgPolicyChangedT>(When(SetKeyPolicy{30 * kMicrosPerDay, true}));
  EXPECT_EQ(e.max_lifetime_us, 30 * kMicrosPerDay);
  Given(SetKeyPolicy{30 * kMicrosPerDay, true});
  ThenNoEvents(When(SetKeyPolicy{30 * kMicrosPerDay, true}));

  CreateKey c = NewKey(2, "short bot");
  c.expires = Expiration::Never();
  ThenRejected(When(c), RejectionCode::kPolicyViolation);
  c.expires = Expiration{Expiration::Kind::k6Months, 0};
  ThenRejected(When(c), RejectionCode::kPolicyViolation);
  c.expires = Expiration{Expiration::Kind::k30Days, 0};
  ThenOne<fb::KeyCreatedT>(When(c));
  // The existing key stays as it is, but cannot be renewed beyond the policy.
  EXPECT_EQ(state_.FindKey(Id(1))->expires_at, 0);
  ThenRejected(When(UpdateKey{Id(1), {}, Expiration{Expiration::Kind::k1Year, 0}, {}}),
               RejectionCode::kPolicyViolation);
  ThenOne<fb::KeyUpdatedT>(When(UpdateKey{Id(1), {}, Expiration::At(kNow + kHour), {}}));
  ThenRejected(When(RotateKey{Id(1), Hash(9), "h", 0, Expiration::Never()}),
               RejectionCode::kPolicyViolation);
}

TEST_F(DomainTest, ThePolicyRevokesAKeyUnusedForItsWindowOnlyOnceItIsDue) {
  GivenOrgAndGroup();
  Given(NewKey(1, "idle bot"));
  ThenRejected(When(RevokeUnusedKey{Id(1)}), RejectionCode::kNothingDue);  // no policy
  ThenRejected(When(SetKeyPolicy{0, false, kHour, 0}), RejectionCode::kInvalidExpiration);
  Given(SetKeyPolicy{0, false, 90 * kMicrosPerDay, 0});
  EXPECT_EQ(state_.policy.revoke_unused_after, 90 * kMicrosPerDay);
  const Micros due = kNow + 90 * kMicrosPerDay;
  ThenRejected(When(RevokeUnusedKey{Id(1)}, due - 1), RejectionCode::kNotDue);
  // A use moves the deadline: it counts from the last use.
  Given(RecordKeyUse{{{Id(1), kNow + 10 * kMicrosPerDay}}}, kNow + 10 * kMicrosPerDay);
  EXPECT_EQ(state_.FindKey(Id(1))->idle_since, kNow + 10 * kMicrosPerDay);
  ThenRejected(When(RevokeUnusedKey{Id(1)}, due), RejectionCode::kNotDue);
  // Its deadline: the last use, the window, and the margin for uses on their way.
  const Micros deadline = due + 10 * kMicrosPerDay + kUnusedMargin;
  ThenRejected(When(RevokeUnusedKey{Id(1)}, deadline - 1), RejectionCode::kNotDue);
  const auto& e = ThenOne<fb::KeyRevokedT>(When(RevokeUnusedKey{Id(1)}, deadline));
  EXPECT_EQ(e.reason, "unused");
  Given(RevokeUnusedKey{Id(1)}, deadline);
  ThenRejected(When(RevokeUnusedKey{Id(1)}, due + 11 * kMicrosPerDay), RejectionCode::kKeyRevoked);
}

TEST_F(DomainTest, AnOlderUseNeverMovesTheLastUseBack) {
  GivenOrgAndGroup();
  Given(NewKey(1, "busy bot"));
  Given(RecordKeyUse{{{Id(1), kNow + 5 * kMicrosPerDay}}}, kNow + 5 * kMicrosPerDay);
  // Another node's, late; and one from the future, never believed beyond its report.
  Given(RecordKeyUse{{{Id(1), kNow + 2 * kMicrosPerDay}}}, kNow + 6 * kMicrosPerDay);
  EXPECT_EQ(state_.FindKey(Id(1))->idle_since, kNow + 5 * kMicrosPerDay);
  Given(RecordKeyUse{{{Id(1), kNow + 900 * kMicrosPerDay}}}, kNow + 7 * kMicrosPerDay);
  EXPECT_EQ(state_.FindKey(Id(1))->idle_since, kNow + 7 * kMicrosPerDay);
}

TEST_F(DomainTest, ExpiringSoonIsNotedOncePerKeyAndExpiry) {
  GivenOrgAndGroup();
  CreateKey c = NewKey(1, "nightly");
  c.expires = Expiration::At(kNow + 10 * kMicrosPerDay);
  Given(c);
  ThenRejected(When(NoteExpiringSoon{Id(1)}), RejectionCode::kNothingDue);  // no window
  ThenRejected(When(SetKeyPolicy{0, false, 0, -1}), RejectionCode::kInvalidExpiration);
  Given(SetKeyPolicy{0, false, 0, 7 * kMicrosPerDay});
  const Micros opens = kNow + 3 * kMicrosPerDay;
  ThenRejected(When(NoteExpiringSoon{Id(1)}, opens - 1), RejectionCode::kNotDue);
  const auto& e = ThenOne<fb::KeyExpiringSoonT>(When(NoteExpiringSoon{Id(1)}, opens));
  EXPECT_EQ(e.expires_at_us, kNow + 10 * kMicrosPerDay);
  Given(NoteExpiringSoon{Id(1)}, opens);
  ThenRejected(When(NoteExpiringSoon{Id(1)}, opens + 1), RejectionCode::kNothingDue);
  // A renewal is a new expiry: noted again when its window opens.
  Given(UpdateKey{Id(1), {}, Expiration::At(kNow + 20 * kMicrosPerDay), {}}, opens + 1);
  ThenRejected(When(NoteExpiringSoon{Id(1)}, opens + 2), RejectionCode::kNotDue);
  ThenOne<fb::KeyExpiringSoonT>(When(NoteExpiringSoon{Id(1)}, kNow + 13 * kMicrosPerDay));
  // Never-expiring keys are never noted.
  Given(NewKey(2, "forever"));
  ThenRejected(When(NoteExpiringSoon{Id(2)}), RejectionCode::kNothingDue);
}

TEST_F(DomainTest, RevokeKeysRevokesEveryLiveKeyOfACreatorOrGroupInOneDecision) {
  GivenOrgAndGroup();
  Given(CreateGroup{"ops", "Ops", ""});
  Given(NewKey(1, "one"));
  Given(NewKey(2, "two", "ops"));
  CreateKey other = NewKey(3, "three");
  other.created_by = "bob";
  Given(other);
  Given(NewKey(4, "four"));
  Given(RevokeKey{Id(4), "gone"});
  Given(SuspendKey{Id(1), "looking"});
  ThenRejected(When(RevokeKeys{{}, {}, "x"}), RejectionCode::kInvalidFilter);
  ThenRejected(When(RevokeKeys{"alice", {}, std::string(501, 'x')}), RejectionCode::kInvalidReason);
  const auto& events = ThenEvents(When(RevokeKeys{"alice", {}, "offboarding"}));
  ASSERT_EQ(events.size(), 2u);  // keys 1 (suspended) and 2; 3 is bob's, 4 is revoked
  EXPECT_EQ(events[0].aggregate_id, FormatKeyId(Id(1)));
  EXPECT_EQ(events[1].aggregate_id, FormatKeyId(Id(2)));
  EXPECT_EQ(events[0].payload.AsKeyRevoked()->reason, "offboarding");
  ASSERT_EQ(ThenEvents(When(RevokeKeys{"alice", "ops", "r"})).size(), 1u);
  ASSERT_EQ(ThenEvents(When(RevokeKeys{{}, "ci", "r"})).size(), 2u);  // keys 1 and 3
  ThenNoEvents(When(RevokeKeys{"nobody", {}, "r"}));
}

TEST_F(DomainTest, RemovingAMemberCanRevokeItsKeysInTheSameDecision) {
  GivenOrgAndGroup();
  Given(SetMemberGroups{"alice", {"ci"}});
  Given(NewKey(1, "one"));
  Given(NewKey(2, "two"));
  ASSERT_EQ(ThenEvents(When(RemoveMember{"alice"})).size(), 1u);
  const auto& events = ThenEvents(When(RemoveMember{"alice", true}));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].payload.type, fb::Payload::MemberGroupsChanged);
  EXPECT_EQ(events[1].payload.AsKeyRevoked()->reason, "offboarded");
  EXPECT_EQ(events[2].payload.AsKeyRevoked()->reason, "offboarded");
}

TEST_F(DomainTest, ALeakReportRevokesWithItsSource) {
  GivenOrgAndGroup();
  Given(NewKey(1, "leaky"));
  const auto& e = ThenOne<fb::KeyRevokedT>(
      When(RevokeKey{Id(1), "leaked", LeakSource{"scanner", "https://example.com/x"}}));
  EXPECT_EQ(e.reason, "leaked");
  ASSERT_TRUE(e.leak);
  EXPECT_EQ(e.leak->source, "scanner");
  EXPECT_EQ(e.leak->url, "https://example.com/x");
}

// --- identity provider (SCIM) ---

TEST_F(DomainTest, AProvisionedMemberExistsWithoutGroupsUntilDeprovisioned) {
  GivenOrgAndGroup();
  MemberProfile profile{.external_id = "00u1", .display_name = "Babs", .emails = {"b@x.com"}};
  ThenRejected(When(ProvisionMember{"bad id", profile}), RejectionCode::kInvalidMemberId);
  MemberProfile too_long = profile;
  too_long.given_name = std::string(kMaxProfileFieldLength + 1, 'x');
  ThenRejected(When(ProvisionMember{"bjensen", too_long}), RejectionCode::kInvalidProfile);
  const auto& e =
      ThenOne<fb::MemberProfileChangedT>(When(ProvisionMember{"bjensen", profile, true}));
  EXPECT_TRUE(e.provisioned);
  EXPECT_EQ(e.emails, std::vector<std::string>{"b@x.com"});
  Given(ProvisionMember{"bjensen", profile, true});
  ASSERT_NE(state_.FindMember("bjensen"), nullptr);
  EXPECT_TRUE(state_.FindMember("bjensen")->groups.empty());
  ThenRejected(When(ProvisionMember{"bjensen", profile, true}), RejectionCode::kMemberExists);
  // Names are unique regardless of case.
  ThenRejected(When(ProvisionMember{"BJensen", profile, true}), RejectionCode::kMemberExists);
  ThenNoEvents(When(ProvisionMember{"bjensen", profile}));  // already so
  // A change computed from an older version (If-Match) is refused, not lost.
  const uint64_t version = state_.FindMember("bjensen")->version;
  MemberProfile renamed = profile;
  renamed.display_name = "Barbara";
  ThenRejected(When(ProvisionMember{"bjensen", renamed, false, version - 1}),
               RejectionCode::kStaleVersion);
  ThenOne<fb::MemberProfileChangedT>(When(ProvisionMember{"bjensen", renamed, false, version}));
  // Taking its last group away leaves a provisioned member in place.
  Given(SetMemberGroups{"bjensen", {"ci"}});
  Given(ProvisionGroup{.group_id = "ci", .remove = {"bjensen"}});
  ASSERT_NE(state_.FindMember("bjensen"), nullptr);
  const auto& gone = ThenEvents(When(DeprovisionMember{"bjensen"}));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_FALSE(gone[0].payload.AsMemberProfileChanged()->provisioned);
  // An admin's removal removes it entirely too.
  Given(SetMemberGroups{"bjensen", {"ci"}});
  ASSERT_EQ(ThenEvents(When(RemoveMember{"bjensen"})).size(), 2u);
  Given(DeprovisionMember{"bjensen"});
  EXPECT_EQ(state_.FindMember("bjensen"), nullptr);
  ThenRejected(When(DeprovisionMember{"bjensen"}), RejectionCode::kMemberNotFound);
}

TEST_F(DomainTest, ScimChangesOnlyWhatItProvisioned) {
  GivenOrgAndGroup();
  Given(SetMemberGroups{"admin-made", {"ci"}});  // made in keytrail, e.g. the bootstrap admin
  Given(ProvisionMember{"bjensen", {}});
  ThenRejected(When(ProvisionMember{"admin-made", MemberProfile{.active = false}}),
               RejectionCode::kNotProvisioned);
  ThenRejected(When(DeprovisionMember{"admin-made"}), RejectionCode::kNotProvisioned);
  ThenRejected(When(ProvisionGroup{.group_id = "ci", .remove = {"admin-made"}}),
               RejectionCode::kNotProvisioned);
  // A replace moves SCIM's own members only.
  const auto& replaced = ThenEvents(
      When(ProvisionGroup{.group_id = "ci", .members = std::vector<std::string>{"bjensen"}}));
  ASSERT_EQ(replaced.size(), 1u);
  EXPECT_EQ(replaced[0].aggregate_id, "bjensen");
  ThenRejected(When(DeprovisionGroup{"ci"}), RejectionCode::kGroupBuiltin);  // not SCIM's
  ThenRejected(When(ProvisionGroup{.group_id = "ci",
                                   .add = std::vector<std::string>(kMaxMembersPerChange + 1, "x")}),
               RejectionCode::kInvalidMemberGroups);
}

TEST_F(DomainTest, ADeactivatedMemberCannotStartASession) {
  GivenOrgAndGroup();
  Given(ProvisionMember{"bjensen", {}});
  Given(SetMemberGroups{"bjensen", {"ci"}});
  Given(InviteMember{"bjensen", "inv1", kNow + kHour});
  Given(AcceptInvitation{"inv1", "pw1"});
  Given(StartSession{"bjensen", "s1", kNow + kHour, "pw1"});
  EXPECT_EQ(state_.FindMember("bjensen")->sessions.size(), 1u);
  Given(ProvisionMember{"bjensen", MemberProfile{.active = false}});
  EXPECT_TRUE(state_.FindMember("bjensen")->sessions.empty());  // ended at once
  EXPECT_FALSE(state_.FindSession("s1", kNow).first);
  ThenRejected(When(StartSession{"bjensen", "s2", kNow + kHour, "pw1"}),
               RejectionCode::kMemberInactive);
  Given(ProvisionMember{"bjensen", MemberProfile{.active = true}});
  ThenEvents(When(StartSession{"bjensen", "s2", kNow + kHour, "pw1"}));
}

TEST_F(DomainTest, ProvisionGroupCreatesWithoutRulesAndChangesMembersInOneDecision) {
  GivenOrgAndGroup();
  Given(ProvisionMember{"ann", {}});
  Given(ProvisionMember{"bob", {}});
  ProvisionGroup create{.group_id = "tour-guides",
                        .display_name = "Tour Guides",
                        .create = true,
                        .members = std::vector<std::string>{"ann"}};
  const auto& events = ThenEvents(When(create));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].payload.type, fb::Payload::GroupCreated);
  EXPECT_TRUE(events[0].payload.AsGroupCreated()->rules.empty());
  EXPECT_TRUE(events[0].payload.AsGroupCreated()->provisioned);
  EXPECT_EQ(events[1].payload.AsMemberGroupsChanged()->groups,
            std::vector<std::string>{"tour-guides"});
  Given(create);
  ThenRejected(When(create), RejectionCode::kGroupExists);
  ThenRejected(When(ProvisionGroup{.group_id = "tour-guides", .add = {"ghost"}}),
               RejectionCode::kMemberNotFound);
  // Replace: bob in, ann out.
  const auto& swapped = ThenEvents(
      When(ProvisionGroup{.group_id = "tour-guides", .members = std::vector<std::string>{"bob"}}));
  ASSERT_EQ(swapped.size(), 2u);
  Given(ProvisionGroup{.group_id = "tour-guides", .add = {"bob"}});
  ThenNoEvents(When(ProvisionGroup{.group_id = "tour-guides", .add = {"bob"}}));
  // Deprovisioning takes members out, then deletes; not while it has keys, never a
  // built-in group.
  Given(NewKey(1, "guide key", "tour-guides"));
  ThenRejected(When(DeprovisionGroup{"tour-guides"}), RejectionCode::kGroupInUse);
  Given(RevokeKey{Id(1), ""});
  const auto& deleted = ThenEvents(When(DeprovisionGroup{"tour-guides"}));
  ASSERT_EQ(deleted.size(), 3u);  // ann and bob leave, then it goes
  EXPECT_EQ(deleted.back().payload.type, fb::Payload::GroupDeleted);
  ThenRejected(When(DeprovisionGroup{"admin"}), RejectionCode::kGroupBuiltin);
}

TEST_F(DomainTest, SingleSignOnReplacesOrJoinsPasswords) {
  GivenOrgAndGroup();
  Given(ProvisionMember{"bjensen", {}});
  Given(SetMemberGroups{"bjensen", {"ci"}});
  Given(InviteMember{"bjensen", "inv1", kNow + kHour});
  Given(AcceptInvitation{"inv1", "pw1"});
  SsoConfig sso{
      .issuer = "https://idp.example", .client_id = "keytrail", .client_secret_id = "cs1"};
  ThenRejected(When(SetSso{{.issuer = "https://idp.example"}}), RejectionCode::kInvalidSso);
  SsoConfig bad_claim = sso;
  bad_claim.claim = "name";
  ThenRejected(When(SetSso{bad_claim}), RejectionCode::kInvalidSso);
  SsoConfig admin_jit = sso;
  admin_jit.jit_group = "admin";
  ThenRejected(When(SetSso{admin_jit}), RejectionCode::kInvalidSso);
  const auto& e = ThenOne<fb::OrgSsoChangedT>(When(SetSso{sso}));
  EXPECT_EQ(e.issuer, "https://idp.example");
  EXPECT_EQ(e.claim, "email");
  Given(SetSso{sso});
  ThenNoEvents(When(SetSso{sso}));
  // Through the provider, or (still allowed) with the password.
  StartSession through{"bjensen", "s1", kNow + kHour, ""};
  through.sso_issuer = "https://idp.example";
  ThenEvents(When(through));
  StartSession other = through;
  other.sso_issuer = "https://other.example";
  ThenRejected(When(other), RejectionCode::kNoPassword);
  ThenEvents(When(StartSession{"bjensen", "s2", kNow + kHour, "pw1"}));
  // Passwords off: only the provider.
  sso.password_sign_in = false;
  Given(SetSso{sso});
  ThenRejected(When(StartSession{"bjensen", "s2", kNow + kHour, "pw1"}),
               RejectionCode::kNoPassword);
  ThenEvents(When(through));
  // Off again.
  Given(SetSso{});
  EXPECT_FALSE(state_.sso.enabled());
  ThenRejected(When(through), RejectionCode::kNoPassword);
  ThenEvents(When(StartSession{"bjensen", "s2", kNow + kHour, "pw1"}));
}

}  // namespace
}  // namespace keytrail::domain
