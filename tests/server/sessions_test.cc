// Members sign in (server/member_sessions.h, handlers/sessions.cc) through Api::Handle
// over a real engine, a real credentials stream (a second local log) and a fake clock:
// invitations, passwords, sessions, CSRF, throttling, and what never reaches the events.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/credential_store.h"
#include "events/local_event_log.h"
#include "server/api.h"
#include "server/bootstrap.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

namespace keytrail::server {
namespace {

using nlohmann::json;

constexpr Micros kSecond = testing::kTestSecond;
constexpr char kPassword[] = "correct horse battery staple";

class SessionsTest : public testing::EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    auto boot = Bootstrap(engine(), log(), "default");
    ASSERT_OK(boot);
    admin_key_ = std::string(boot->token->reveal());
    auto opened = events::LocalEventLog::Open({.path = credentials_dir_.path(), .partitions = 2});
    ASSERT_OK(opened);
    credentials_log_ = std::move(opened).value();
    auto store = CredentialStore::Open(*credentials_log_, clock_);
    ASSERT_OK(store);
    credentials_ = std::move(store).value();
    ApiOptions options;
    options.credentials = credentials_.get();
    options.sessions = {
        .idle_timeout = 60 * kSecond, .max_age = 3600 * kSecond, .secure_cookie = true};
    options.public_url = "https://keys.example";
    api_ = std::make_unique<Api>(engine(), clock_, options);
    api_->SetReady(true);
  }

  struct Call {
    std::string method, target, body;
    std::string bearer, cookie, csrf;
    std::string remote = "10.0.0.1:40000";
    std::vector<HttpHeader> headers = {};
  };
  HttpResponse Send(const Call& c) {
    HttpRequest request;
    request.method = c.method;
    request.target = c.target;
    request.body = c.body;
    request.remote = c.remote;
    request.headers = c.headers;
    if (!c.body.empty()) request.headers.push_back({"content-type", "application/json"});
    if (!c.bearer.empty()) request.headers.push_back({"authorization", "Bearer " + c.bearer});
    if (!c.cookie.empty()) {
      request.headers.push_back({"cookie", "theme=dark; __Host-keytrail_session=" + c.cookie});
    }
    if (!c.csrf.empty()) request.headers.push_back({"x-csrf-token", c.csrf});
    return api_->HandleAndWait(request);
  }
  static json Json(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }
  static std::string Code(const HttpResponse& r) {
    json body = Json(r);
    return body.is_object() ? body.value("code", "") : "";
  }
  // The session token a Set-Cookie value carries.
  static std::string CookieValue(const std::string& set_cookie) {
    const size_t start = set_cookie.find('=') + 1;
    return set_cookie.substr(start, set_cookie.find(';') - start);
  }
  static std::string Header(const HttpResponse& r, std::string_view name) {
    for (const auto& h : r.headers) {
      if (h.name == name) return h.value;
    }
    return "";
  }

  // Puts `member` in `groups` (as the bootstrap admin key) and invites it: the token.
  std::string Invite(const std::string& member, const std::string& groups) {
    HttpResponse set = Send(
        {"PUT", "/v1/orgs/default/members/" + member, R"({"groups": )" + groups + "}", admin_key_});
    EXPECT_EQ(set.status, 200) << set.body;
    HttpResponse invited =
        Send({"POST", "/v1/orgs/default/members/" + member + "/invitations", "", admin_key_});
    EXPECT_EQ(invited.status, 201) << invited.body;
    json body = Json(invited);
    const std::string token = body.value("token", "");
    EXPECT_EQ(body.value("url", ""), "https://keys.example/console/invite#" + token);
    return token;
  }
  HttpResponse Accept(const std::string& token, const std::string& password = kPassword) {
    return Send(
        {"POST", "/v1/invitations/accept", json{{"token", token}, {"password", password}}.dump()});
  }
  HttpResponse SignIn(const std::string& member, const std::string& password = kPassword,
                      const std::string& remote = "10.0.0.1:40001") {
    Call c{"POST", "/v1/sessions",
           json{{"org", "default"}, {"member", member}, {"password", password}}.dump()};
    c.remote = remote;
    return Send(c);
  }
  // A member with a password, signed in: its cookie and CSRF token.
  struct Session {
    std::string cookie, csrf;
    json body;
  };
  Session SignedIn(const std::string& member, const std::string& groups) {
    EXPECT_EQ(Accept(Invite(member, groups)).status, 200);
    HttpResponse r = SignIn(member);
    EXPECT_EQ(r.status, 201) << r.body;
    const std::string set_cookie = Header(r, "Set-Cookie");
    const size_t start = set_cookie.find('=') + 1;
    return {set_cookie.substr(start, set_cookie.find(';') - start), Json(r).value("csrf_token", ""),
            Json(r)};
  }

  testing::TempDir credentials_dir_;
  std::unique_ptr<events::LocalEventLog> credentials_log_;
  std::unique_ptr<CredentialStore> credentials_;
  std::unique_ptr<Api> api_;
  std::string admin_key_;
};

TEST_F(SessionsTest, InviteAcceptSignInAndActAsTheMember) {
  const std::string token = Invite("alice", R"(["developer"])");
  HttpResponse accepted = Accept(token);
  ASSERT_EQ(accepted.status, 200) << accepted.body;
  EXPECT_EQ(Json(accepted), (json{{"org", "default"}, {"member", "alice"}}));
  EXPECT_EQ(Code(Accept(token)), "invitation_invalid");  // once

  HttpResponse signed_in = SignIn("alice");
  ASSERT_EQ(signed_in.status, 201) << signed_in.body;
  const std::string set_cookie = Header(signed_in, "Set-Cookie");
  EXPECT_TRUE(set_cookie.starts_with("__Host-keytrail_session=default."));
  for (const char* attribute : {"; HttpOnly", "; SameSite=Strict", "; Secure", "; Path=/"}) {
    EXPECT_NE(set_cookie.find(attribute), std::string::npos) << attribute;
  }
  const json session = Json(signed_in);
  EXPECT_EQ(session["member"], "alice");
  EXPECT_EQ(session["groups"], json::array({"developer"}));
  EXPECT_EQ(session["admin"], false);
  EXPECT_EQ(session["may_grant_scim"], false);
  // A developer mints into groups within its own rights: never admin.
  EXPECT_EQ(session["mint_groups"], json::array({"developer", "viewer"}));
  EXPECT_EQ(session["allowed"]["keys:rotate"], true);  // its own keys
  EXPECT_EQ(session["allowed"]["members:manage"], false);

  const std::string cookie = CookieValue(set_cookie);
  const std::string csrf = session["csrf_token"];
  HttpResponse current =
      Send({.method = "GET", .target = "/v1/sessions/current", .cookie = cookie});
  ASSERT_EQ(current.status, 200) << current.body;
  EXPECT_EQ(Json(current)["csrf_token"], csrf);

  // The session acts as alice: created_by and the audit trail name the member.
  HttpResponse created = Send({.method = "POST",
                               .target = "/v1/orgs/default/keys",
                               .body = R"({"name": "alice ci", "group": "developer"})",
                               .cookie = cookie,
                               .csrf = csrf});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(Json(created)["created_by"], "alice");
  HttpResponse refused = Send({.method = "POST",
                               .target = "/v1/orgs/default/keys",
                               .body = R"({"name": "alice admin", "group": "admin"})",
                               .cookie = cookie,
                               .csrf = csrf});
  EXPECT_EQ(refused.status, 403) << refused.body;

  HttpResponse audit = Send({"GET", "/v1/orgs/default/audit?actor=alice", "", admin_key_});
  ASSERT_EQ(audit.status, 200) << audit.body;
  std::vector<std::string> actions;
  const json trail = Json(audit);
  for (const json& record : trail["records"]) actions.push_back(record["action"]);
  EXPECT_EQ(actions, (std::vector<std::string>{"member.password_set", "member.signed_in",
                                               "api_key.created"}))
      << audit.body;
}

TEST_F(SessionsTest, StateChangingRequestsNeedTheCsrfToken) {
  Session s = SignedIn("alice", R"(["developer"])");
  const std::string body = R"({"name": "no csrf", "group": "developer"})";
  HttpResponse missing =
      Send({.method = "POST", .target = "/v1/orgs/default/keys", .body = body, .cookie = s.cookie});
  EXPECT_EQ(missing.status, 403);
  EXPECT_EQ(Code(missing), "csrf_token_missing");
  HttpResponse wrong = Send({.method = "POST",
                             .target = "/v1/orgs/default/keys",
                             .body = body,
                             .cookie = s.cookie,
                             .csrf = std::string(32, '0')});
  EXPECT_EQ(Code(wrong), "csrf_token_invalid");
  // Reads need none.
  EXPECT_EQ(Send({.method = "GET", .target = "/v1/orgs/default/keys", .cookie = s.cookie}).status,
            200);
}

TEST_F(SessionsTest, WrongPasswordsAreOneGenericErrorAndThrottled) {
  ASSERT_EQ(Accept(Invite("alice", R"(["viewer"])")).status, 200);
  HttpResponse wrong = SignIn("alice", "not the password");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(Code(wrong), "sign_in_failed");
  const std::string detail = Json(wrong)["detail"];
  for (const auto& [member, org] : {std::pair{"nobody", "default"}, {"alice", "other"}}) {
    Call c{"POST", "/v1/sessions",
           json{{"org", org}, {"member", member}, {"password", kPassword}}.dump()};
    c.remote = "10.9.9.9:5000";
    HttpResponse r = Send(c);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(Json(r)["detail"], detail) << "the same words whatever was wrong";
  }
  for (int i = 0; i < 4; ++i) EXPECT_EQ(SignIn("alice", "still wrong").status, 401);
  // Five failures for alice from 10.0.0.1.
  HttpResponse throttled = SignIn("alice");
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(Code(throttled), "too_many_attempts");
  EXPECT_FALSE(Header(throttled, "Retry-After").empty());
  // Per member: another address is throttled for alice too; per address: a new
  // connection (another port) is the same address.
  EXPECT_EQ(SignIn("alice", kPassword, "10.0.0.2:1234").status, 429);
  EXPECT_EQ(SignIn("nobody", "guess one more", "10.0.0.1:50000").status, 429);
  clock_.Advance(MemberSessions::kFailureWindow);
  EXPECT_EQ(SignIn("alice").status, 201);
}

TEST_F(SessionsTest, SessionsEndOnSignOutIdlenessExpiryAndRemoval) {
  Session s = SignedIn("alice", R"(["developer"])");
  auto current = [&](const Session& session) {
    return Send({.method = "GET", .target = "/v1/sessions/current", .cookie = session.cookie});
  };
  ASSERT_EQ(current(s).status, 200);

  // Idle: 60 s in this test. Ended for good, not only for one request, and the audit
  // trail says why.
  clock_.Advance(61 * kSecond);
  EXPECT_EQ(current(s).status, 401);
  EXPECT_EQ(current(s).status, 401);
  EXPECT_EQ(Send({.method = "GET", .target = "/v1/orgs/default/keys", .cookie = s.cookie}).status,
            401);
  engine().WaitIdle();
  HttpResponse audit =
      Send({"GET", "/v1/orgs/default/audit?action=member.signed_out", "", admin_key_});
  ASSERT_EQ(Json(audit)["records"].size(), 1u) << audit.body;
  EXPECT_EQ(Json(audit)["records"][0]["details"]["reason"], "idle");

  // Sign-out needs the CSRF token, clears the cookie and ends the session everywhere.
  s = Session{};
  HttpResponse again = SignIn("alice");
  ASSERT_EQ(again.status, 201);
  Session t{CookieValue(Header(again, "Set-Cookie")), Json(again)["csrf_token"], Json(again)};
  EXPECT_EQ(Send({.method = "DELETE", .target = "/v1/sessions/current", .cookie = t.cookie}).status,
            403);
  HttpResponse out = Send(
      {.method = "DELETE", .target = "/v1/sessions/current", .cookie = t.cookie, .csrf = t.csrf});
  EXPECT_EQ(out.status, 204);
  EXPECT_NE(Header(out, "Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(current(t).status, 401);

  // Absolute expiry: an hour here, however busy the session.
  HttpResponse third = SignIn("alice");
  Session u{CookieValue(Header(third, "Set-Cookie")), Json(third)["csrf_token"], Json(third)};
  for (int i = 0; i < 62; ++i) {
    clock_.Advance(59 * kSecond);
    if (current(u).status != 200) break;
  }
  EXPECT_EQ(current(u).status, 401);

  // Removing the member ends its sessions and forgets its password.
  HttpResponse fourth = SignIn("alice");
  ASSERT_EQ(fourth.status, 201);
  Session v{CookieValue(Header(fourth, "Set-Cookie")), Json(fourth)["csrf_token"], Json(fourth)};
  ASSERT_EQ(Send({"DELETE", "/v1/orgs/default/members/alice", "", admin_key_}).status, 204);
  EXPECT_EQ(current(v).status, 401);
  ASSERT_EQ(
      Send({"PUT", "/v1/orgs/default/members/alice", R"({"groups": ["developer"]})", admin_key_})
          .status,
      200);
  EXPECT_EQ(SignIn("alice").status, 401) << "a re-added member needs a new invitation";
}

// The identity provider deactivates a member (SCIM active: false): its sessions end at
// once and it cannot sign in until it is active again.
TEST_F(SessionsTest, ADeactivatedMemberIsSignedOutAndCannotSignIn) {
  HttpResponse key =
      Send({"POST", "/v1/orgs/default/keys",
            R"({"name": "idp", "group": "viewer", "permissions": ["scim"]})", admin_key_});
  ASSERT_EQ(key.status, 201) << key.body;
  const std::string scim = Json(key)["token"];
  ASSERT_EQ(Send({"POST", "/scim/v2/Users", R"({"userName": "bjensen"})", scim}).status, 201);
  const Session session = SignedIn("bjensen", R"(["developer"])");
  auto set_active = [&](bool active) {
    const json patch = {
        {"schemas", {"urn:ietf:params:scim:api:messages:2.0:PatchOp"}},
        {"Operations", {{{"op", "replace"}, {"path", "active"}, {"value", active}}}}};
    return Send({"PATCH", "/scim/v2/Users/bjensen", patch.dump(), scim}).status;
  };
  auto current = [&](const std::string& cookie) {
    return Send({.method = "GET", .target = "/v1/sessions/current", .cookie = cookie}).status;
  };
  ASSERT_EQ(current(session.cookie), 200);
  ASSERT_EQ(set_active(false), 200);
  EXPECT_EQ(current(session.cookie), 401);
  HttpResponse refused = SignIn("bjensen");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(Code(refused), "sign_in_failed");  // the same answer as a wrong password
  ASSERT_EQ(set_active(true), 200);
  HttpResponse again = SignIn("bjensen");
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(current(CookieValue(Header(again, "Set-Cookie"))), 200);
}

TEST_F(SessionsTest, InvitationsAreCheckedLikeMemberManagement) {
  EXPECT_EQ(Code(Accept("default.00000000000000000000000000000000.short")), "invitation_invalid");
  EXPECT_EQ(Code(Accept(Invite("alice", R"(["viewer"])"), "too short")), "weak_password");
  HttpResponse unknown =
      Send({"POST", "/v1/orgs/default/members/nobody/invitations", "", admin_key_});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(Code(unknown), "member_not_found");

  // An apikey-manager may not invite an admin (the link would make it that admin).
  Session manager = SignedIn("mallory", R"(["apikey-manager"])");
  ASSERT_EQ(
      Send({"PUT", "/v1/orgs/default/members/root", R"({"groups": ["admin"]})", admin_key_}).status,
      200);
  HttpResponse refused = Send({.method = "POST",
                               .target = "/v1/orgs/default/members/root/invitations",
                               .cookie = manager.cookie,
                               .csrf = manager.csrf});
  EXPECT_EQ(refused.status, 403) << refused.body;

  // Expired after 24 h.
  const std::string token = Invite("bob", R"(["viewer"])");
  clock_.Advance(domain::kInvitationLifetime);
  EXPECT_EQ(Accept(token).status, 410);
}

TEST_F(SessionsTest, NoPasswordOrSessionHashReachesTheEvents) {
  Session s = SignedIn("alice", R"(["developer"])");
  const std::string session_secret = s.cookie.substr(s.cookie.rfind('.') + 1);
  for (int32_t p = 0; p < log().PartitionCount(); ++p) {
    auto reader = log().OpenReader(p, 0);
    ASSERT_OK(reader);
    auto end = log().EndOffset(p);
    ASSERT_OK(end);
    int64_t read = 0;
    while (read < *end) {
      auto records = (*reader)->Next(1000, std::chrono::milliseconds(1000));
      ASSERT_OK(records);
      ASSERT_FALSE(records->empty());
      for (const auto& record : *records) {
        read = record.offset + 1;
        EXPECT_EQ(record.value.find("$argon2id$"), std::string::npos);
        EXPECT_EQ(record.value.find(session_secret), std::string::npos);
        EXPECT_EQ(record.value.find(kPassword), std::string::npos);
      }
    }
  }
  // The credentials stream holds the hashes (and never the password itself).
  auto end = credentials_log_->EndOffset(credentials_log_->PartitionFor("default"));
  ASSERT_OK(end);
  EXPECT_GE(*end, 3);  // invitation, password, session
}

TEST_F(SessionsTest, SignInTakesJsonFromThisServerOnlyAndOneSessionCookie) {
  ASSERT_EQ(Accept(Invite("alice", R"(["viewer"])")).status, 200);
  const std::string body =
      json{{"org", "default"}, {"member", "alice"}, {"password", kPassword}}.dump();
  HttpRequest form;
  form.method = "POST";
  form.target = "/v1/sessions";
  form.body = body;
  form.headers = {{"content-type", "text/plain"}};
  EXPECT_EQ(api_->HandleAndWait(form).status, 415) << "a cross-site form posts text/plain";
  HttpResponse cross =
      Send({.method = "POST",
            .target = "/v1/sessions",
            .body = body,
            .headers = {{"host", "keys.example"}, {"origin", "https://evil.example"}}});
  EXPECT_EQ(cross.status, 403);
  EXPECT_EQ(Code(cross), "cross_origin");
  HttpResponse same =
      Send({.method = "POST",
            .target = "/v1/sessions",
            .body = body,
            .headers = {{"host", "keys.example"}, {"origin", "https://keys.example"}}});
  ASSERT_EQ(same.status, 201) << same.body;

  // A second, planted session cookie makes the request unauthenticated.
  const std::string cookie = CookieValue(Header(same, "Set-Cookie"));
  HttpRequest two;
  two.method = "GET";
  two.target = "/v1/sessions/current";
  two.headers = {{"cookie",
                  "keytrail_session=default.00000000000000000000000000000000.x; "
                  "__Host-keytrail_session=" +
                      cookie}};
  EXPECT_EQ(api_->HandleAndWait(two).status, 401);
}

TEST_F(SessionsTest, ANewPasswordEndsSessionsAndVoidsOtherInvitations) {
  Session s = SignedIn("alice", R"(["developer"])");
  const std::string spare = Invite("alice", R"(["developer"])");
  const std::string reset = Invite("alice", R"(["developer"])");
  ASSERT_EQ(Accept(reset, "a brand new passphrase").status, 200);
  EXPECT_EQ(Send({.method = "GET", .target = "/v1/sessions/current", .cookie = s.cookie}).status,
            401)
      << "a session from before the new password";
  EXPECT_EQ(Accept(spare).status, 410) << "the other invitation went with the reset";
  EXPECT_EQ(SignIn("alice").status, 401);
  EXPECT_EQ(SignIn("alice", "a brand new passphrase").status, 201);

  // An invitation is for the member as it was: a change of its groups voids it.
  const std::string before = Invite("bob", R"(["viewer"])");
  ASSERT_EQ(
      Send({"PUT", "/v1/orgs/default/members/bob", R"({"groups": ["admin"]})", admin_key_}).status,
      200);
  EXPECT_EQ(Accept(before).status, 410);
}

TEST_F(SessionsTest, TheOldestSessionMakesRoomAndTheAuditSaysSo) {
  ASSERT_EQ(Accept(Invite("alice", R"(["viewer"])")).status, 200);
  std::vector<std::string> cookies;
  for (size_t i = 0; i <= domain::kMaxSessionsPerMember; ++i) {
    HttpResponse r = SignIn("alice");
    ASSERT_EQ(r.status, 201) << r.body;
    cookies.push_back(CookieValue(Header(r, "Set-Cookie")));
  }
  auto current = [&](const std::string& cookie) {
    return Send({.method = "GET", .target = "/v1/sessions/current", .cookie = cookie}).status;
  };
  EXPECT_EQ(current(cookies.front()), 401);
  EXPECT_EQ(current(cookies[1]), 200);
  EXPECT_EQ(current(cookies.back()), 200);
  HttpResponse audit =
      Send({"GET", "/v1/orgs/default/audit?action=member.signed_out", "", admin_key_});
  const json trail = Json(audit);
  ASSERT_EQ(trail["records"].size(), 1u) << audit.body;
  EXPECT_EQ(trail["records"][0]["details"]["reason"], "replaced");
}

}  // namespace
}  // namespace keytrail::server
