// Member sign-in in the domain (invitations, passwords, sessions: Decide and Evolve), and
// the secrets it rests on (keys/member_secrets.h).
#include <gtest/gtest.h>

#include "keys/member_secrets.h"
#include "tests/support/status_matchers.h"
#include "tests/unit/domain_fixture.h"

namespace keytrail::domain {
namespace {

constexpr Micros kDay = kMicrosPerDay;

class SignInTest : public DomainTest {
 protected:
  void SetUp() override {
    Given(CreateOrg{"Acme"});
    Given(SetMemberGroups{"alice", {"developer"}});
  }
};

TEST_F(SignInTest, AnInvitationSetsThePasswordOnceBeforeItExpires) {
  ThenRejected(When(InviteMember{"nobody", "inv1", kNow + kDay}), RejectionCode::kMemberNotFound);
  const auto& invited =
      ThenOne<fb::MemberInvitedT>(When(InviteMember{"alice", "inv1", kNow + kDay}));
  EXPECT_EQ(invited.member_id, "alice");
  Given(InviteMember{"alice", "inv1", kNow + kDay});
  Given(InviteMember{"alice", "inv2", kNow + kDay});

  ThenRejected(When(AcceptInvitation{"inv1", "pw1"}, kNow + kDay),
               RejectionCode::kInvitationInvalid);  // expired
  const auto& set = ThenOne<fb::MemberPasswordSetT>(When(AcceptInvitation{"inv1", "pw1"}));
  EXPECT_EQ(set.member_id, "alice");
  EXPECT_EQ(set.credential_id, "pw1");
  Given(AcceptInvitation{"inv1", "pw1"});
  EXPECT_EQ(state_.FindMember("alice")->password_credential, "pw1");
  ThenRejected(When(AcceptInvitation{"inv1", "pw9"}), RejectionCode::kInvitationInvalid);  // used
  ThenRejected(When(AcceptInvitation{"nope", "pw9"}), RejectionCode::kInvitationInvalid);
  // The password voided the member's other invitation.
  ThenRejected(When(AcceptInvitation{"inv2", "pw2"}), RejectionCode::kInvitationInvalid);

  // An invitation is for the member as it was: new groups, or its removal, void it.
  Given(InviteMember{"alice", "inv3", kNow + kDay});
  Given(SetMemberGroups{"alice", {"admin"}});
  ThenRejected(When(AcceptInvitation{"inv3", "pw3"}), RejectionCode::kInvitationInvalid);
  Given(InviteMember{"alice", "inv4", kNow + kDay});
  Given(RemoveMember{"alice"});
  Given(SetMemberGroups{"alice", {"admin"}});
  ThenRejected(When(AcceptInvitation{"inv4", "pw4"}), RejectionCode::kInvitationInvalid);
}

TEST_F(SignInTest, SessionsNeedAPasswordAndEndBySignOutExpiryRemovalOrCount) {
  ThenRejected(When(StartSession{"alice", "s1", kNow + kDay, ""}), RejectionCode::kNoPassword);
  Given(InviteMember{"alice", "inv1", kNow + kDay});
  Given(AcceptInvitation{"inv1", "pw1"});
  ThenRejected(When(StartSession{"alice", "s1", kNow, "pw1"}), RejectionCode::kInvalidExpiration);
  // The password checked must still be the member's.
  ThenRejected(When(StartSession{"alice", "s1", kNow + kDay, "pw0"}), RejectionCode::kNoPassword);
  Given(StartSession{"alice", "s1", kNow + kDay, "pw1"});
  EXPECT_EQ(state_.FindSession("s1", kNow).second, "alice");
  EXPECT_EQ(state_.FindSession("s1", kNow + kDay).first, nullptr);  // expired

  Given(EndSession{"alice", "s1", "signed-out"});
  EXPECT_EQ(state_.FindSession("s1", kNow).first, nullptr);
  ThenRejected(When(EndSession{"alice", "s1", "signed-out"}), RejectionCode::kSessionNotFound);

  // The oldest session ends when one more than kMaxSessionsPerMember starts: the same
  // decision ends it (MemberSignedOut, "replaced").
  for (size_t i = 0; i < kMaxSessionsPerMember; ++i) {
    Given(StartSession{"alice", "t" + std::to_string(i), kNow + kDay, "pw1"});
  }
  const auto& events = ThenEvents(When(StartSession{"alice", "t16", kNow + kDay, "pw1"}));
  ASSERT_EQ(events.size(), 2u);
  ASSERT_EQ(events[0].payload.type, fb::Payload::MemberSignedOut);
  EXPECT_EQ(events[0].payload.AsMemberSignedOut()->session_id, "t0");
  EXPECT_EQ(events[0].payload.AsMemberSignedOut()->reason, "replaced");
  Given(StartSession{"alice", "t16", kNow + kDay, "pw1"});
  EXPECT_EQ(state_.FindSession("t0", kNow).first, nullptr);
  EXPECT_NE(state_.FindSession("t1", kNow).first, nullptr);
  EXPECT_EQ(state_.FindMember("alice")->sessions.size(), kMaxSessionsPerMember);

  // A new password ends every session.
  Given(InviteMember{"alice", "inv2", kNow + kDay});
  Given(AcceptInvitation{"inv2", "pw2"});
  EXPECT_EQ(state_.FindSession("t1", kNow).first, nullptr);
  EXPECT_TRUE(state_.session_members.empty());

  Given(StartSession{"alice", "u1", kNow + kDay, "pw2"});
  Given(RemoveMember{"alice"});
  EXPECT_EQ(state_.FindSession("u1", kNow).first, nullptr);
  EXPECT_TRUE(state_.session_members.empty());
  Given(SetMemberGroups{"alice", {"developer"}});
  EXPECT_TRUE(state_.FindMember("alice")->password_credential.empty());
  ThenRejected(When(StartSession{"alice", "s2", kNow + kDay, "pw2"}), RejectionCode::kNoPassword);
}

TEST(MemberSecretsTest, PasswordsHashWithArgon2idAndVerify) {
  auto hash = HashPassword("correct horse battery staple");
  ASSERT_OK(hash);
  EXPECT_TRUE(hash->starts_with("$argon2id$"));
  EXPECT_EQ(hash->find("correct horse"), std::string::npos);
  EXPECT_TRUE(VerifyPassword("correct horse battery staple", *hash));
  EXPECT_FALSE(VerifyPassword("correct horse battery stapler", *hash));
  EXPECT_FALSE(VerifyPassword("correct horse battery staple", "not a hash"));
  EXPECT_FALSE(VerifyPassword("anything", ""));
  auto again = HashPassword("correct horse battery staple");
  ASSERT_OK(again);
  EXPECT_NE(*again, *hash) << "salted";
}

TEST(MemberSecretsTest, TokensParseStrictlyAndHashTheirSecret) {
  const MemberToken token = IssueMemberToken(SystemRandom(), "acme-1");
  const std::string text(token.text.reveal());
  EXPECT_TRUE(text.starts_with("acme-1." + token.id + "."));
  auto parsed = ParseMemberToken(text);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->org, "acme-1");
  EXPECT_EQ(parsed->id, token.id);
  EXPECT_EQ(parsed->hash, token.hash);
  EXPECT_EQ(text.find(token.hash), std::string::npos);
  const std::string secret = text.substr(text.rfind('.') + 1);
  for (const std::string& bad :
       {std::string(), std::string("acme"), "acme." + token.id, "Acme." + token.id + "." + secret,
        "acme." + token.id.substr(1) + "." + secret, "acme." + token.id + "." + secret + "=",
        "acme." + token.id + "." + secret.substr(1), "acme..." + secret,
        "a.b." + token.id + "." + secret}) {
    EXPECT_FALSE(ParseMemberToken(bad).has_value()) << bad;
  }
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

}  // namespace
}  // namespace keytrail::domain
