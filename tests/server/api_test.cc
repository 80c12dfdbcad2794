// The HTTP API without sockets: Api::Handle over a real engine (local log, RocksDB
// views, a fake clock), exactly as the transport calls it.
#include "server/api.h"

#include <gtest/gtest.h>

#include "tests/support/test_time.h"

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "events/local_event_log.h"
#include "projections/view_store.h"
#include "server/bootstrap.h"
#include "server/wire_format.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/status_matchers.h"

namespace keytrail::server {
namespace {

using nlohmann::json;

constexpr Micros kNow = testing::kTestNow;
constexpr Micros kSecond = testing::kTestSecond;

class ApiTest : public testing::EngineFixture {
 protected:
  testing::EngineWorldOptions WorldOptions() const override {
    testing::EngineWorldOptions options;
    options.engine.domain.max_active_keys = 20;
    return options;
  }

  void SetUp() override {
    EngineFixture::SetUp();
    auto boot = Bootstrap(engine(), log(), "default");
    ASSERT_OK(boot);
    ASSERT_EQ(boot->kind, BootstrapResult::Kind::kCreated);
    admin_ = std::string(boot->token->reveal());
    admin_id_ = boot->key_id;
    api_ = std::make_unique<Api>(engine(), clock_, ApiOptions{});
    api_->SetReady(true);
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& token = "",
                    std::vector<HttpHeader> headers = {}) {
    HttpRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    request.headers = std::move(headers);
    if (!token.empty()) request.headers.push_back({"authorization", "Bearer " + token});
    return api_->HandleAndWait(request);
  }

  static json Json(const HttpResponse& response) {
    return json::parse(response.body, nullptr, false);
  }
  static std::string Code(const HttpResponse& response) {
    json body = Json(response);
    return body.is_object() && body.contains("code") ? body["code"].get<std::string>() : "";
  }

  // Creates a key through the API as `token`; returns the 201 body.
  json CreateKey(const std::string& name, const std::string& group, const std::string& token,
                 const std::string& org = "default", const std::string& extra = "") {
    HttpResponse r =
        Call("POST", "/v1/orgs/" + org + "/keys",
             R"({"name": ")" + name + R"(", "group": ")" + group + "\"" + extra + "}", token);
    EXPECT_EQ(r.status, 201) << r.body;
    return Json(r);
  }

  std::unique_ptr<Api> api_;
  std::string admin_, admin_id_;
};

TEST_F(ApiTest, HealthReadinessAndMetrics) {
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  api_->SetReady(false);
  HttpResponse not_ready = Call("GET", "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(Code(not_ready), "not_ready");
  api_->SetReady(true);
  Call("POST", "/v1/verify", R"({"key": "nope"})");
  HttpResponse metrics = Call("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.content_type.find("text/plain"), std::string::npos);
  for (const char* line :
       {"keytrail_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"503\"} 1",
        "keytrail_verify_total{reason=\"malformed\"} 1", "keytrail_scheduler_pending_timers 0",
        "keytrail_verify_index_keys 1", "keytrail_http_request_duration_seconds_bucket"}) {
    EXPECT_NE(metrics.body.find(line), std::string::npos) << line;
  }
}

TEST_F(ApiTest, UnknownRoutesAndMethods) {
  HttpResponse r = Call("GET", "/v2/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Code(r), "not_found");
  r = Call("DELETE", "/v1/orgs/default/keys");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Code(r), "method_not_allowed");
  bool has_allow = false;
  for (const auto& h : r.headers) has_allow |= h.name == "Allow" && h.value == "POST, GET";
  EXPECT_TRUE(has_allow);
  EXPECT_EQ(Call("GET", "/v1/orgs/default/keys?x=%zz", "", admin_).status, 400);
}

TEST_F(ApiTest, CreateShowsTheTokenOnceAndTheKeyVerifies) {
  clock_.Set(kNow + 5 * kSecond);
  HttpResponse r = Call("POST", "/v1/orgs/default/keys",
                        R"({"name": "deploy bot", "group": "developer", "expires": "30d",
                            "permissions": ["scim"]})",
                        admin_);
  ASSERT_EQ(r.status, 201) << r.body;
  json key = Json(r);
  EXPECT_EQ(key["name"], "deploy bot");
  EXPECT_EQ(key["group"], "developer");
  EXPECT_EQ(key["created_by"], admin_id_);
  EXPECT_EQ(key["created_at"], "2026-01-01T00:00:05Z");
  EXPECT_EQ(key["expires_at"], "2026-01-31T00:00:05Z");
  EXPECT_EQ(key["permissions"], json::array({"scim"}));
  EXPECT_EQ(key["status"], "active");
  EXPECT_TRUE(key["last_rotated_at"].is_null());
  const std::string token = key["token"];
  EXPECT_TRUE(token.starts_with("kt_"));
  EXPECT_EQ(key["hint"].get<std::string>().substr(0, 3), "kt_");
  bool located = false;
  for (const auto& h : r.headers) {
    located |=
        h.name == "Location" && h.value == "/v1/orgs/default/keys/" + key["id"].get<std::string>();
  }
  EXPECT_TRUE(located);

  HttpResponse verified = Call("POST", "/v1/verify", json{{"key", token}}.dump());
  ASSERT_EQ(verified.status, 200);
  json v = Json(verified);
  EXPECT_EQ(v["valid"], true);
  EXPECT_EQ(v["key_id"], key["id"]);
  EXPECT_EQ(v["org"], "default");
  EXPECT_EQ(v["group"], "developer");
  EXPECT_EQ(v["permissions"], json::array({"scim"}));
  EXPECT_EQ(v["expires_at"], "2026-01-31T00:00:05Z");
  // The bearer form, and the DESIGN.md alias.
  EXPECT_EQ(Json(Call("POST", "/v1/keys/verify", "", token))["valid"], true);

  // GET never shows the token again.
  HttpResponse got =
      Call("GET", "/v1/orgs/default/keys/" + key["id"].get<std::string>(), "", admin_);
  ASSERT_EQ(got.status, 200);
  EXPECT_FALSE(Json(got).contains("token"));
  EXPECT_EQ(got.body.find(token), std::string::npos);
  // The create's answer is the key GET shows (Queries::CreatedKey; engine_test checks it
  // is built from the event).
  json created = key;
  created.erase("token");
  EXPECT_EQ(created, Json(got));
}

TEST_F(ApiTest, BadInputOnCreateGets4xxWithItsCode) {
  struct Case {
    std::string body;
    int status;
    std::string code;
  };
  const std::string long_name(51, 'x');
  const std::vector<Case> cases = {
      {"{", 400, "invalid_request"},
      {"[1]", 400, "invalid_request"},
      {"", 400, "invalid_request"},
      {R"({"name": 42, "group": "developer"})", 400, "invalid_request"},
      {R"({"name": "abc", "group": ["developer"]})", 400, "invalid_request"},
      {R"({"name": "abc", "group": "developer", "permissions": "scim"})", 400, "invalid_request"},
      {R"({"name": "abc", "group": "developer", "color": "red"})", 400, "invalid_request"},
      {R"({"group": "developer"})", 400, "invalid_request"},
      {R"({"name": "abc", "group": "nope"})", 404, "group_not_found"},
      {R"({"name": "abc", "group": "developer", "expires": "2020-01-01T00:00:00Z"})", 422,
       "invalid_expiration"},
      {R"({"name": "abc", "group": "developer", "expires": "tomorrow"})", 422,
       "invalid_expiration"},
      {R"({"name": "ab", "group": "developer"})", 422, "invalid_name"},
      {R"({"name": ")" + long_name + R"(", "group": "developer"})", 422, "invalid_name"},
      {R"({"name": "bad/name", "group": "developer"})", 422, "invalid_name"},
      {R"({"name": "bootstrap-admin", "group": "developer"})", 409, "name_taken"},
      {R"({"name": "abc", "group": "developer", "permissions": ["root"]})", 422,
       "invalid_permission"},
  };
  for (const Case& c : cases) {
    HttpResponse r = Call("POST", "/v1/orgs/default/keys", c.body, admin_);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    EXPECT_EQ(Code(r), c.code) << c.body;
    EXPECT_EQ(r.content_type, "application/problem+json");
  }
  EXPECT_EQ(engine().index().size(), 1u);  // only the bootstrap key
}

TEST_F(ApiTest, AuthenticationFailures) {
  HttpResponse r = Call("GET", "/v1/orgs/default/keys");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Code(r), "unauthenticated");
  bool challenge = false;
  for (const auto& h : r.headers) challenge |= h.name == "WWW-Authenticate";
  EXPECT_TRUE(challenge);
  EXPECT_EQ(Code(Call("GET", "/v1/orgs/default/keys", "", "kt_garbage")), "malformed");
  std::string tampered = admin_;
  tampered.back() = tampered.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(Call("GET", "/v1/orgs/default/keys", "", tampered).status, 401);

  json dev = CreateKey("dev one", "developer", admin_);
  ASSERT_EQ(
      Call("POST", "/v1/orgs/default/keys/" + dev["id"].get<std::string>() + "/revoke", "", admin_)
          .status,
      200);
  r = Call("GET", "/v1/orgs/default/keys", "", dev["token"]);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Code(r), "revoked");
  EXPECT_NE(Call("GET", "/metrics").body.find("keytrail_auth_failures_total{reason=\"revoked\"} 1"),
            std::string::npos);
}

TEST_F(ApiTest, OrgsAreIsolated) {
  HttpResponse created = Call("POST", "/v1/orgs", R"({"id": "acme", "name": "Acme"})", admin_);
  ASSERT_EQ(created.status, 201) << created.body;
  json org = Json(created);
  EXPECT_EQ(org["id"], "acme");
  EXPECT_EQ(org["groups"], json::array({"admin", "developer", "apikey-manager", "viewer"}));
  const std::string acme_admin = org["admin_key"]["token"];
  EXPECT_EQ(org["admin_key"]["group"], "admin");
  EXPECT_EQ(org["admin_key"]["created_by"], admin_id_);
  json v = Json(Call("POST", "/v1/verify", "", acme_admin));
  EXPECT_EQ(v["org"], "acme");

  json mine = CreateKey("acme key", "developer", acme_admin, "acme");
  // acme's admin sees nothing of default, and default's admin nothing of acme.
  for (const auto& [token, other_org, other_key] :
       {std::tuple{acme_admin, std::string("default"), admin_id_},
        std::tuple{admin_, std::string("acme"), mine["id"].get<std::string>()}}) {
    for (const auto& [method, target, body] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"GET", "/v1/orgs/" + other_org + "/keys", ""},
             {"GET", "/v1/orgs/" + other_org + "/keys/" + other_key, ""},
             {"POST", "/v1/orgs/" + other_org + "/keys", R"({"name": "x1x", "group": "admin"})"},
             {"POST", "/v1/orgs/" + other_org + "/keys/" + other_key + "/revoke", ""},
             {"POST", "/v1/orgs/" + other_org + "/keys/" + other_key + "/rotate", ""},
             {"PUT", "/v1/orgs/" + other_org + "/keys/" + other_key + "/group",
              R"({"group": "viewer"})"},
             {"GET", "/v1/orgs/nowhere/keys", ""}}) {
      HttpResponse r = Call(method, target, body, token);
      EXPECT_EQ(r.status, 404) << method << " " << target;
      EXPECT_EQ(Code(r), "org_not_found") << method << " " << target;
    }
  }
  // Another org's key id under one's own org is simply not there.
  HttpResponse r = Call("GET", "/v1/orgs/acme/keys/" + admin_id_, "", acme_admin);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Code(r), "key_not_found");
  r = Call("POST", "/v1/orgs/acme/keys/" + admin_id_ + "/revoke", "", acme_admin);
  EXPECT_EQ(Code(r), "key_not_found");
  EXPECT_TRUE(Json(Call("POST", "/v1/verify", "", admin_))["valid"]);

  // Only the bootstrap org's admins create orgs.
  r = Call("POST", "/v1/orgs", R"({"id": "other", "name": "Other"})", acme_admin);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Code(r), "forbidden");
  EXPECT_EQ(Code(Call("POST", "/v1/orgs", R"({"id": "acme", "name": "Again"})", admin_)),
            "org_exists");
  EXPECT_EQ(Code(Call("POST", "/v1/orgs", R"({"id": "Bad Id", "name": "x"})", admin_)),
            "invalid_org_id");
  EXPECT_EQ(Code(Call("POST", "/v1/orgs", R"({"id": "x"})", admin_)), "invalid_request");
}

TEST_F(ApiTest, RolesFollowTheCallersGroup) {
  json manager = CreateKey("manager", "apikey-manager", admin_);
  json dev = CreateKey("dev", "developer", admin_);
  json viewer = CreateKey("viewer", "viewer", admin_);
  const std::string m = manager["token"], d = dev["token"], v = viewer["token"];

  // A developer creates keys, but not admin ones or scim ones.
  json dev_key = CreateKey("dev made", "developer", d);
  EXPECT_EQ(dev_key["created_by"], dev["id"]);
  EXPECT_EQ(Code(Call("POST", "/v1/orgs/default/keys", R"({"name": "x1x", "group": "admin"})", d)),
            "forbidden");
  EXPECT_EQ(Code(Call("POST", "/v1/orgs/default/keys",
                      R"({"name": "x1x", "group": "viewer", "permissions": ["scim"]})", m)),
            "forbidden");
  // It rotates and revokes only what it created.
  const std::string own = "/v1/orgs/default/keys/" + dev_key["id"].get<std::string>();
  const std::string others = "/v1/orgs/default/keys/" + viewer["id"].get<std::string>();
  EXPECT_EQ(Call("POST", own + "/rotate", "", d).status, 200);
  EXPECT_EQ(Code(Call("POST", others + "/rotate", "", d)), "forbidden");
  EXPECT_EQ(Code(Call("POST", others + "/revoke", "", d)), "forbidden");
  EXPECT_EQ(Code(Call("PUT", own + "/group", R"({"group": "viewer"})", d)), "forbidden");
  // A viewer only reads.
  EXPECT_EQ(Call("GET", "/v1/orgs/default/keys", "", v).status, 200);
  EXPECT_EQ(Call("GET", own, "", v).status, 200);
  EXPECT_EQ(Code(Call("POST", "/v1/orgs/default/keys", R"({"name": "x1x", "group": "viewer"})", v)),
            "forbidden");
  EXPECT_EQ(Code(Call("POST", own + "/revoke", "", v)), "forbidden");
  // A manager manages keys of groups within its own rights (least privilege), and never
  // hands itself an admin secret: a developer key may write graphs, which it may not.
  const std::string admin_path = "/v1/orgs/default/keys/" + admin_id_;
  EXPECT_EQ(Code(Call("POST", admin_path + "/rotate", "", m)), "forbidden");
  EXPECT_EQ(Code(Call("PUT", own + "/group", R"({"group": "admin"})", m)), "forbidden");
  EXPECT_EQ(Code(Call("PUT", own + "/group", R"({"group": "viewer"})", m)), "forbidden");
  EXPECT_EQ(Code(Call("POST", own + "/revoke", "", m)), "forbidden");
  HttpResponse moved = Call("PUT", others + "/group", R"({"group": "apikey-manager"})", m);
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(Json(moved)["group"], "apikey-manager");
  EXPECT_EQ(Call("POST", others + "/revoke", R"({"reason": "done"})", m).status, 200);
  EXPECT_EQ(Code(Call("POST", "/v1/orgs", R"({"id": "nope", "name": "Nope"})", m)), "forbidden");
}

TEST_F(ApiTest, GroupsAndMembersOverHttp) {
  const std::string groups = "/v1/orgs/default/groups";
  HttpResponse created = Call("POST", groups, R"({"id": "payments-ci", "description": "CI",
      "rules": [{"role": "namespace-admin", "resources": ["payments"]},
                {"role": "subgraph-publisher", "resources": ["sg-ledger"]}]})",
                              admin_);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(Json(created)["rules"][0]["role"], "namespace-admin");
  EXPECT_EQ(Json(created)["rules"][0]["resources"], json::array({"payments"}));
  EXPECT_EQ(Json(Call("GET", groups + "/payments-ci", "", admin_))["description"], "CI");
  EXPECT_EQ(Json(Call("GET", groups, "", admin_))["groups"].size(), 5u);  // 4 built in
  EXPECT_EQ(Code(Call("POST", groups, R"({"id": "x", "rules": [{"role": "root"}]})", admin_)),
            "unknown_role");
  EXPECT_EQ(Code(Call("POST", groups, R"({"id": "x", "rules": [{"rol": "viewer"}]})", admin_)),
            "invalid_request");
  EXPECT_EQ(Code(Call("GET", groups + "/nope", "", admin_)), "group_not_found");
  EXPECT_EQ(Code(Call("PUT", groups + "/admin", R"({"rules": []})", admin_)), "group_builtin");

  // A key of the group: verify shows its rules, and a rule change applies at once.
  json ci = CreateKey("ci bot", "payments-ci", admin_);
  const std::string ci_id = ci["id"];
  json v = Json(Call("POST", "/v1/verify", "", ci["token"]));
  ASSERT_EQ(v["rules"].size(), 2u);
  const std::string authorize = R"({"key": ")" + ci_id + R"(", "action": "graph:write",
      "resource": {"kind": "graph", "id": "checkout", "namespace": "payments"}})";
  json allowed = Json(Call("POST", "/v1/authorize", authorize, admin_));
  EXPECT_EQ(allowed["allowed"], true) << allowed;
  EXPECT_EQ(allowed["group"], "payments-ci");
  EXPECT_EQ(allowed["rule"]["role"], "namespace-admin");
  HttpResponse changed =
      Call("PUT", groups + "/payments-ci",
           R"({"rules": [{"role": "namespace-viewer", "resources": ["payments"]}]})", admin_);
  ASSERT_EQ(changed.status, 200) << changed.body;
  json denied = Json(Call("POST", "/v1/authorize", authorize, admin_));
  EXPECT_EQ(denied["allowed"], false);
  EXPECT_EQ(denied["reason"], "not-granted");
  v = Json(Call("POST", "/v1/verify", "", ci["token"]));
  ASSERT_EQ(v["rules"].size(), 1u);
  EXPECT_EQ(v["rules"][0]["role"], "namespace-viewer");

  // Members.
  HttpResponse alice =
      Call("PUT", "/v1/orgs/default/members/alice", R"({"groups": ["developer"]})", admin_);
  ASSERT_EQ(alice.status, 200) << alice.body;
  EXPECT_EQ(Json(alice)["groups"], json::array({"developer"}));
  EXPECT_EQ(Json(Call("GET", "/v1/orgs/default/members", "", admin_))["members"].size(), 1u);
  EXPECT_EQ(Json(Call("GET", "/v1/orgs/default/members/alice", "", admin_))["id"], "alice");
  EXPECT_EQ(
      Json(Call("POST", "/v1/authorize",
                R"({"member": "alice", "action": "keys:create", "resource": {"kind": "org"}})",
                admin_))["allowed"],
      true);
  EXPECT_EQ(Code(Call("PUT", "/v1/orgs/default/members/bob", R"({"groups": ["nope"]})", admin_)),
            "group_not_found");

  // A group in use is not deleted; an empty one is.
  HttpResponse in_use = Call("DELETE", groups + "/payments-ci", "", admin_);
  EXPECT_EQ(in_use.status, 409);
  EXPECT_EQ(Code(in_use), "group_in_use");
  ASSERT_EQ(Call("POST", "/v1/orgs/default/keys/" + ci_id + "/revoke", "", admin_).status, 200);
  EXPECT_EQ(Call("DELETE", groups + "/payments-ci", "", admin_).status, 204);
  EXPECT_EQ(Code(Call("GET", groups + "/payments-ci", "", admin_)), "group_not_found");
  EXPECT_EQ(Call("DELETE", "/v1/orgs/default/members/alice", "", admin_).status, 204);
  EXPECT_EQ(Code(Call("GET", "/v1/orgs/default/members/alice", "", admin_)), "member_not_found");
  EXPECT_EQ(Code(Call("DELETE", "/v1/orgs/default/members/alice", "", admin_)), "member_not_found");
}

TEST_F(ApiTest, EscalationAttemptsAreForbidden) {
  json dev = CreateKey("dev", "developer", admin_);
  json manager = CreateKey("manager", "apikey-manager", admin_);
  json viewer = CreateKey("viewer", "viewer", admin_);
  const std::string d = dev["token"], m = manager["token"], v = viewer["token"];
  auto forbidden = [&](const HttpResponse& r) {
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(Code(r), "forbidden") << r.body;
    EXPECT_FALSE(Json(r).value("detail", "").empty());
  };
  // A developer mints no admin key and no apikey-manager key (which may rotate any key).
  forbidden(Call("POST", "/v1/orgs/default/keys", R"({"name": "x1x", "group": "admin"})", d));
  forbidden(
      Call("POST", "/v1/orgs/default/keys", R"({"name": "x1x", "group": "apikey-manager"})", d));
  // It makes no group with more than it has, and manages no groups at all.
  forbidden(Call("POST", "/v1/orgs/default/groups",
                 R"({"id": "mine", "rules": [{"role": "organization-admin"}]})", d));
  // An apikey-manager moves no key into admin, nor puts itself there.
  const std::string viewer_path = "/v1/orgs/default/keys/" + viewer["id"].get<std::string>();
  forbidden(Call("PUT", viewer_path + "/group", R"({"group": "admin"})", m));
  forbidden(Call("PUT", "/v1/orgs/default/keys/" + manager["id"].get<std::string>() + "/group",
                 R"({"group": "admin"})", m));
  // Nor makes a member an admin.
  forbidden(Call("PUT", "/v1/orgs/default/members/mallory", R"({"groups": ["admin"]})", m));
  // A viewer reads keys and groups but not the audit trail, and changes nothing.
  EXPECT_EQ(Call("GET", "/v1/orgs/default/groups", "", v).status, 200);
  forbidden(Call("GET", "/v1/orgs/default/audit", "", v));
  forbidden(Call("PUT", "/v1/orgs/default/groups/developer", R"({"rules": []})", v));

  // On behalf of a member: only a key with the admin-granted "on-behalf-of" permission
  // may name one; any other key (even an admin's) is refused, so created_by and the
  // audit trail cannot be forged.
  ASSERT_EQ(
      Call("PUT", "/v1/orgs/default/members/vera", R"({"groups": ["viewer"]})", admin_).status,
      200);
  const std::vector<HttpHeader> as_vera = {{"x-keytrail-on-behalf-of", "vera"}};
  HttpResponse plain = Call("GET", "/v1/orgs/default/keys", "", admin_, as_vera);
  EXPECT_EQ(plain.status, 403);
  EXPECT_NE(plain.body.find("on-behalf-of"), std::string::npos) << plain.body;
  forbidden(Call("POST", "/v1/orgs/default/keys",
                 R"({"name": "proxy two", "group": "admin", "permissions": ["on-behalf-of"]})", m));
  const std::string proxy = CreateKey("console proxy", "admin", admin_, "default",
                                      R"(, "permissions": ["on-behalf-of"])")["token"];
  EXPECT_EQ(Json(Call("POST", "/v1/verify", "", proxy))["permissions"],
            json::array({"on-behalf-of"}));
  // The intersection: an admin key acting for a viewer member is a viewer.
  forbidden(Call("POST", "/v1/orgs/default/keys", R"({"name": "x2x", "group": "viewer"})", proxy,
                 as_vera));
  forbidden(Call("POST", viewer_path + "/revoke", "", proxy, as_vera));
  EXPECT_EQ(Call("GET", "/v1/orgs/default/keys", "", proxy, as_vera).status, 200);
  forbidden(
      Call("GET", "/v1/orgs/default/keys", "", proxy, {{"x-keytrail-on-behalf-of", "nobody"}}));
  // Acting for a developer member: keys it creates are the member's own.
  ASSERT_EQ(
      Call("PUT", "/v1/orgs/default/members/dana", R"({"groups": ["developer"]})", admin_).status,
      200);
  HttpResponse made =
      Call("POST", "/v1/orgs/default/keys", R"({"name": "dana bot", "group": "viewer"})", proxy,
           {{"x-keytrail-on-behalf-of", "dana"}});
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(Json(made)["created_by"], "dana");

  // Cross-org: another org's groups and members are not there.
  HttpResponse org = Call("POST", "/v1/orgs", R"({"id": "acme", "name": "Acme"})", admin_);
  ASSERT_EQ(org.status, 201);
  const std::string acme_admin = Json(org)["admin_key"]["token"];
  for (const auto& [method, target, body] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", "/v1/orgs/default/groups", ""},
           {"POST", "/v1/orgs/default/groups", R"({"id": "x"})"},
           {"PUT", "/v1/orgs/default/members/eve", R"({"groups": ["admin"]})"},
           {"DELETE", "/v1/orgs/default/groups/developer", ""}}) {
    EXPECT_EQ(Code(Call(method, target, body, acme_admin)), "org_not_found") << target;
  }
  // Asking about another org's key finds nothing.
  EXPECT_EQ(Code(Call("POST", "/v1/authorize",
                      R"({"key": ")" + dev["id"].get<std::string>() +
                          R"(", "action": "keys:read", "resource": {"kind": "org"}})",
                      acme_admin)),
            "key_not_found");
}

// POST /v1/authorize with as_of answers from the audit trail: the key, its group's rules
// and the members as they were at that instant, across a rotation, a rule change and a
// revocation.
TEST_F(ApiTest, AuthorizeAsOfAnswersAsThingsWereThen) {
  auto at = [&] { return FormatRfc3339(clock_.NowMicros()); };
  clock_.Advance(kSecond);
  const std::string before_key = at();
  clock_.Advance(kSecond);
  ASSERT_EQ(
      Call("POST", "/v1/orgs/default/groups",
           R"({"id": "ci", "rules": [{"role": "namespace-admin", "resources": ["payments"]}]})",
           admin_)
          .status,
      201);
  json ci = CreateKey("ci bot", "ci", admin_);
  const std::string key_path = "/v1/orgs/default/keys/" + ci["id"].get<std::string>();
  const std::string created = at();
  clock_.Advance(kSecond);
  ASSERT_EQ(Call("POST", key_path + "/rotate", "", admin_).status, 200);
  const std::string rotated = at();
  clock_.Advance(kSecond);
  ASSERT_EQ(Call("PUT", "/v1/orgs/default/groups/ci",
                 R"({"rules": [{"role": "namespace-viewer", "resources": ["payments"]}]})", admin_)
                .status,
            200);
  const std::string narrowed = at();
  clock_.Advance(kSecond);
  ASSERT_EQ(Call("POST", key_path + "/revoke", "", admin_).status, 200);
  const std::string revoked = at();
  clock_.Advance(kSecond);

  auto ask = [&](const std::string& who, const std::string& action, const std::string& when) {
    return Call(
        "POST", "/v1/authorize",
        "{" + who + R"(, "action": ")" + action +
            R"(", "resource": {"kind": "graph", "id": "checkout", "namespace": "payments"})" +
            (when.empty() ? "" : R"(, "as_of": ")" + when + "\"") + "}",
        admin_);
  };
  const std::string key = R"("key": ")" + ci["id"].get<std::string>() + "\"";
  HttpResponse then = ask(key, "graph:write", created);
  ASSERT_EQ(then.status, 200) << then.body;
  EXPECT_EQ(Json(then)["allowed"], true);
  EXPECT_EQ(Json(then)["group"], "ci");
  EXPECT_EQ(Json(then)["rule"]["role"], "namespace-admin");
  EXPECT_EQ(Json(then)["as_of"], created);
  EXPECT_EQ(Json(ask(key, "graph:write", rotated))["allowed"], true);
  json after_change = Json(ask(key, "graph:write", narrowed));
  EXPECT_EQ(after_change["allowed"], false);
  EXPECT_EQ(after_change["reason"], "not-granted");
  EXPECT_EQ(Json(ask(key, "graph:read", narrowed))["allowed"], true);
  json after_revoke = Json(ask(key, "graph:read", revoked));
  EXPECT_EQ(after_revoke["allowed"], false);
  EXPECT_EQ(after_revoke["reason"], "no-group");
  EXPECT_EQ(Json(ask(key, "graph:read", ""))["reason"], "no-group");  // now
  EXPECT_EQ(Code(ask(key, "graph:read", before_key)), "key_not_found");

  // Members: in a group, then removed.
  ASSERT_EQ(
      Call("PUT", "/v1/orgs/default/members/alice", R"({"groups": ["developer"]})", admin_).status,
      200);
  const std::string member_added = at();
  clock_.Advance(kSecond);
  ASSERT_EQ(Call("DELETE", "/v1/orgs/default/members/alice", "", admin_).status, 204);
  const std::string alice = R"("member": "alice")";
  EXPECT_EQ(Json(ask(alice, "graph:write", member_added))["allowed"], true);
  EXPECT_EQ(Json(ask(alice, "graph:write", revoked))["reason"], "not-a-member");
  EXPECT_EQ(Json(ask(alice, "graph:write", ""))["reason"], "not-a-member");

  // The caller itself, and a group that was deleted since.
  EXPECT_EQ(Json(Call("POST", "/v1/authorize",
                      R"({"action": "keys:create", "resource": {"kind": "org"}, "as_of": ")" +
                          created + "\"}",
                      admin_))["allowed"],
            true);
  ASSERT_EQ(Call("DELETE", "/v1/orgs/default/groups/ci", "", admin_).status, 204);
  EXPECT_EQ(Json(ask(key, "graph:write", created))["allowed"], true);
  HttpResponse as_it_was = Call("GET", key_path + "?as_of=" + narrowed, "", admin_);
  ASSERT_EQ(as_it_was.status, 200) << as_it_was.body;
  EXPECT_EQ(Json(as_it_was)["group_rules"][0]["role"], "namespace-viewer");
  EXPECT_TRUE(Json(Call("GET", key_path + "?as_of=" + at(), "", admin_))["group_rules"].is_null());

  // Bad times.
  EXPECT_EQ(Code(ask(key, "graph:read", "yesterday")), "invalid_request");
  EXPECT_EQ(Code(ask(key, "graph:read", FormatRfc3339(clock_.NowMicros() + kSecond))),
            "invalid_request");
  EXPECT_EQ(Code(Call("GET", key_path + "?as_of=2999-01-01T00:00:00Z", "", admin_)),
            "invalid_request");
  // Before 1970 is refused, not answered as of now.
  for (const char* early : {"1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z"}) {
    EXPECT_EQ(Code(ask(key, "graph:read", early)), "invalid_request") << early;
    EXPECT_EQ(Code(Call("GET", key_path + "?as_of=" + early, "", admin_)), "invalid_request");
  }
  // The past folds the org's history: it needs audit:read, as the history of a key does.
  const std::string dev = CreateKey("dev reader", "developer", admin_)["token"];
  EXPECT_EQ(Code(Call("POST", "/v1/authorize",
                      R"({"action": "keys:read", "resource": {"kind": "org"}, "as_of": ")" +
                          created + "\"}",
                      dev)),
            "forbidden");
  EXPECT_EQ(
      Call("POST", "/v1/authorize", R"({"action": "keys:read", "resource": {"kind": "org"}})", dev)
          .status,
      200);
  EXPECT_EQ(Code(Call("GET", key_path + "/history", "", dev)), "forbidden");
  EXPECT_EQ(Call("GET", key_path + "/history", "", admin_).status, 200);
  // Another parameter next to as_of, or as_of twice, is refused, not ignored.
  EXPECT_EQ(Code(Call("GET", key_path + "?as_of=" + narrowed + "&foo=1", "", admin_)),
            "invalid_request");
  EXPECT_EQ(Code(Call("GET", key_path + "?as_of=" + narrowed + "&as_of=" + narrowed, "", admin_)),
            "invalid_request");
}

TEST_F(ApiTest, RotateKeepsTheOldTokenForTheGrace) {
  json key = CreateKey("rotating", "developer", admin_);
  const std::string path = "/v1/orgs/default/keys/" + key["id"].get<std::string>();
  const std::string old_token = key["token"];
  HttpResponse r = Call("POST", path + "/rotate", R"({"grace": "1h"})", admin_);
  ASSERT_EQ(r.status, 200) << r.body;
  json rotated = Json(r);
  const std::string new_token = rotated["token"];
  EXPECT_NE(new_token, old_token);
  EXPECT_EQ(rotated["id"], key["id"]);
  EXPECT_EQ(rotated["previous_valid_until"], "2026-01-01T01:00:00Z");
  {  // what GET shows (Queries::KeyAfter; engine_test checks it is built from the events)
    json got = Json(Call("GET", path, "", admin_));
    for (const char* field : {"hint", "expires_at"}) {
      EXPECT_EQ(rotated[field], got[field]) << field;
    }
  }
  EXPECT_TRUE(Json(Call("POST", "/v1/verify", json{{"key", old_token}}.dump()))["valid"]);
  EXPECT_TRUE(Json(Call("POST", "/v1/verify", json{{"key", new_token}}.dump()))["valid"]);
  clock_.Advance(3600 * kSecond);
  json old_verdict = Json(Call("POST", "/v1/verify", json{{"key", old_token}}.dump()));
  EXPECT_FALSE(old_verdict["valid"]);
  EXPECT_EQ(old_verdict["reason"], "unknown");
  EXPECT_NE(Json(Call("GET", path, "", admin_))["last_rotated_at"], nullptr);

  EXPECT_EQ(Code(Call("POST", path + "/rotate", R"({"grace": "25h"})", admin_)), "invalid_grace");
  EXPECT_EQ(Code(Call("POST", path + "/rotate", R"({"grace": "soon"})", admin_)), "invalid_grace");
  EXPECT_EQ(Code(Call("POST", path + "/rotate", R"({"grace": 60})", admin_)), "invalid_request");
  EXPECT_EQ(Code(Call("POST", path + "/rotate", R"({"grace": "1h", "x": 1})", admin_)),
            "invalid_request");
  EXPECT_EQ(Code(Call("POST", "/v1/orgs/default/keys/not-a-key/rotate", "", admin_)),
            "key_not_found");
  EXPECT_EQ(Code(Call("POST", "/v1/orgs/default/keys/AAAAAAAAAAAAAAAAAAAAAA/rotate", "", admin_)),
            "key_not_found");
}

TEST_F(ApiTest, APreviousSecretVerifiesAndReadsButCannotManageKeys) {
  // An admin key rotates itself with a grace; a thief holding the old secret must not be
  // able to rotate it again (grace 0s) or revoke it and lock the owner out.
  json key = CreateKey("ops admin", "admin", admin_);
  const std::string id = key["id"], old_token = key["token"];
  const std::string path = "/v1/orgs/default/keys/" + id;
  HttpResponse r = Call("POST", path + "/rotate", R"({"grace": "1h"})", old_token);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string new_token = Json(r)["token"];
  EXPECT_TRUE(Json(Call("POST", "/v1/verify", "", old_token))["valid"]);
  EXPECT_EQ(Call("GET", path, "", old_token).status, 200) << "reads are allowed";
  for (const auto& [method, target, body] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"POST", path + "/rotate", R"({"grace": "0s"})"},
           {"POST", path + "/revoke", R"({"reason": "mine now"})"},
           {"PUT", path + "/group", R"({"group": "viewer"})"},
           {"POST", "/v1/orgs/default/keys", R"({"name": "backdoor", "group": "admin"})"},
           {"PUT", "/v1/orgs/default/members/eve", R"({"groups": ["admin"]})"},
           {"DELETE", "/v1/orgs/default/groups/developer", ""}}) {
    HttpResponse refused = Call(method, target, body, old_token);
    EXPECT_EQ(refused.status, 403) << method << " " << target;
    EXPECT_EQ(Code(refused), "previous_secret") << method << " " << target;
  }
  // The owner, with the current secret, still manages the key.
  EXPECT_TRUE(Json(Call("POST", "/v1/verify", "", new_token))["valid"]);
  EXPECT_EQ(Call("POST", path + "/rotate", R"({"grace": "0s"})", new_token).status, 200);
}

TEST_F(ApiTest, RevokeAndMove) {
  json key = CreateKey("short lived", "developer", admin_);
  const std::string path = "/v1/orgs/default/keys/" + key["id"].get<std::string>();
  EXPECT_EQ(Code(Call("PUT", path + "/group", R"({"group": "nope"})", admin_)), "group_not_found");
  EXPECT_EQ(Code(Call("PUT", path + "/group", R"({})", admin_)), "invalid_request");
  EXPECT_EQ(Code(Call("POST", path + "/revoke", R"({"reason": 5})", admin_)), "invalid_request");
  EXPECT_EQ(
      Code(Call("POST", path + "/revoke", json{{"reason", std::string(501, 'r')}}.dump(), admin_)),
      "invalid_reason");
  HttpResponse r = Call("POST", path + "/revoke", R"({"reason": "leaked"})", admin_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["status"], "revoked");
  EXPECT_EQ(Code(Call("POST", path + "/revoke", "", admin_)), "already_revoked");
  EXPECT_EQ(Call("POST", path + "/revoke", "", admin_).status, 409);
  EXPECT_EQ(Code(Call("POST", path + "/rotate", "", admin_)), "key_revoked");
  json v = Json(Call("POST", "/v1/verify", json{{"key", key["token"]}}.dump()));
  EXPECT_FALSE(v["valid"]);
  EXPECT_EQ(v["reason"], "revoked");
  EXPECT_FALSE(v.contains("org"));
  // The name is free again.
  CreateKey("short lived", "developer", admin_);
}

// A revoked key leaves memory a day (the retired-key window) after its revocation:
// verify then answers "unknown", while the API still shows it and answers commands on it
// as before; keytrail_writer_keys and keytrail_verify_index_keys follow.
TEST_F(ApiTest, RevokedKeysLeaveMemoryAfterADay) {
  json key = CreateKey("short lived", "developer", admin_);
  const std::string path = "/v1/orgs/default/keys/" + key["id"].get<std::string>();
  ASSERT_EQ(Call("POST", path + "/revoke", R"({"reason": "done"})", admin_).status, 200);
  auto metric = [&](const std::string& name) {
    const std::string body = Call("GET", "/metrics").body;
    const size_t at = body.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stol(body.substr(at + name.size() + 2));
  };
  EXPECT_EQ(metric("keytrail_writer_keys"), 2) << "the admin key and the revoked one";
  EXPECT_EQ(Json(Call("POST", "/v1/verify", json{{"key", key["token"]}}.dump()))["reason"],
            "revoked");

  clock_.Advance(24 * 3600 * kSecond + 2 * 60 * kSecond);
  CreateKey("tick", "developer", admin_);  // a command runs the writer's pass
  EXPECT_EQ(engine().ForgetRetiredKeys(), 1u);
  EXPECT_EQ(metric("keytrail_writer_keys"), 2) << "the admin key and tick";
  EXPECT_EQ(metric("keytrail_verify_index_keys"), 2);
  json v = Json(Call("POST", "/v1/verify", json{{"key", key["token"]}}.dump()));
  EXPECT_FALSE(v["valid"]);
  EXPECT_EQ(v["reason"], "unknown");

  HttpResponse shown = Call("GET", path, "", admin_);
  ASSERT_EQ(shown.status, 200) << shown.body;
  EXPECT_EQ(Json(shown)["status"], "revoked");
  EXPECT_EQ(Code(Call("POST", path + "/revoke", "", admin_)), "already_revoked");
  EXPECT_EQ(Code(Call("POST", path + "/rotate", "", admin_)), "key_revoked");
}

TEST_F(ApiTest, IdempotencyKeyAnswersRetriesWithoutTheSecret) {
  const std::vector<HttpHeader> idem = {{"idempotency-key", "req-1"}};
  const std::string body = R"({"name": "once", "group": "developer"})";
  HttpResponse first = Call("POST", "/v1/orgs/default/keys", body, admin_, idem);
  ASSERT_EQ(first.status, 201);
  HttpResponse retry = Call("POST", "/v1/orgs/default/keys", body, admin_, idem);
  ASSERT_EQ(retry.status, 200) << retry.body;
  json again = Json(retry);
  EXPECT_EQ(again["id"], Json(first)["id"]);
  EXPECT_TRUE(again["token"].is_null());
  EXPECT_EQ(again["secret_already_shown"], true);

  // Another caller's identical Idempotency-Key is its own: its command is decided anew.
  json developer = CreateKey("developer", "developer", admin_);
  HttpResponse other = Call("POST", "/v1/orgs/default/keys", body, developer["token"], idem);
  EXPECT_EQ(Code(other), "name_taken");

  // Reusing a key for another kind of request is refused.
  const std::string path = "/v1/orgs/default/keys/" + Json(first)["id"].get<std::string>();
  EXPECT_EQ(Code(Call("POST", path + "/rotate", "", admin_, idem)), "idempotency_key_reused");
  // A rotation retried.
  const std::vector<HttpHeader> rot = {{"idempotency-key", "rot-1"}};
  HttpResponse rotated = Call("POST", path + "/rotate", "", admin_, rot);
  ASSERT_EQ(rotated.status, 200);
  EXPECT_FALSE(Json(rotated)["token"].is_null());
  json rotated_again = Json(Call("POST", path + "/rotate", "", admin_, rot));
  EXPECT_TRUE(rotated_again["token"].is_null());
  EXPECT_EQ(rotated_again["secret_already_shown"], true);

  EXPECT_EQ(Code(Call("POST", "/v1/orgs/default/keys", body, admin_,
                      {{"idempotency-key", std::string(129, 'k')}})),
            "invalid_request");
  // An org creation retried answers without the new admin's secret.
  const std::vector<HttpHeader> org_idem = {{"idempotency-key", "org-1"}};
  ASSERT_EQ(Call("POST", "/v1/orgs", R"({"id": "beta", "name": "Beta"})", admin_, org_idem).status,
            201);
  HttpResponse org_retry =
      Call("POST", "/v1/orgs", R"({"id": "beta", "name": "Beta"})", admin_, org_idem);
  ASSERT_EQ(org_retry.status, 200) << org_retry.body;
  EXPECT_TRUE(Json(org_retry)["admin_key"]["token"].is_null());
  // Idempotency-Keys are scoped to the org a command acts on: for another org the same
  // key is another command.
  EXPECT_EQ(
      Call("POST", "/v1/orgs", R"({"id": "gamma", "name": "Gamma"})", admin_, org_idem).status,
      201);
}

TEST_F(ApiTest, AnIdempotencyKeyReusedForAnotherRequestIsRefusedNotReplayed) {
  // Same kind of command, other target: the second is refused and does nothing.
  for (const char* member : {"bob", "eve"}) {
    ASSERT_EQ(Call("PUT", std::string("/v1/orgs/default/members/") + member,
                   R"({"groups": ["viewer"]})", admin_)
                  .status,
              200);
  }
  const std::vector<HttpHeader> idem = {{"idempotency-key", "offboard-1"}};
  EXPECT_EQ(Call("DELETE", "/v1/orgs/default/members/eve", "", admin_, idem).status, 204);
  HttpResponse reused = Call("DELETE", "/v1/orgs/default/members/bob", "", admin_, idem);
  EXPECT_EQ(reused.status, 422);
  EXPECT_EQ(Code(reused), "idempotency_key_reused");
  EXPECT_EQ(Call("GET", "/v1/orgs/default/members/bob", "", admin_).status, 200) << "bob stays";
  EXPECT_EQ(Call("DELETE", "/v1/orgs/default/members/eve", "", admin_, idem).status, 204)
      << "the true retry is still answered";

  // Same route, other body: refused; the same body written differently is a retry.
  const std::vector<HttpHeader> create = {{"idempotency-key", "create-1"}};
  ASSERT_EQ(Call("POST", "/v1/orgs/default/keys", R"({"name": "alpha", "group": "viewer"})", admin_,
                 create)
                .status,
            201);
  EXPECT_EQ(Code(Call("POST", "/v1/orgs/default/keys", R"({"name": "beta", "group": "viewer"})",
                      admin_, create)),
            "idempotency_key_reused");
  EXPECT_EQ(Call("POST", "/v1/orgs/default/keys", R"({ "group":"viewer",  "name":"alpha" })",
                 admin_, create)
                .status,
            200);

  // The fingerprint is in the log: it holds across a restart.
  api_.reset();
  Restart();
  api_ = std::make_unique<Api>(engine(), clock_, ApiOptions{});
  api_->SetReady(true);
  EXPECT_EQ(Code(Call("POST", "/v1/orgs/default/keys", R"({"name": "gamma", "group": "viewer"})",
                      admin_, create)),
            "idempotency_key_reused");
  EXPECT_EQ(Call("DELETE", "/v1/orgs/default/members/bob", "", admin_, idem).status, 422);
}

// Verification notes use in memory; a flush writes it down (one KeysUsed per org), so a
// key shows when it was last used, to the minute, and lists find unused keys.
TEST_F(ApiTest, LastUsedIsNotedByVerificationAndWrittenDownByTheFlush) {
  clock_.Set(kNow + 5 * kSecond);
  const json used = CreateKey("used key", "developer", admin_);
  const json idle = CreateKey("idle key", "developer", admin_);
  ASSERT_EQ(
      Call("GET", "/v1/orgs/default/keys/" + used["id"].get<std::string>(), "", admin_).status,
      200);
  EXPECT_TRUE(Json(Call("GET", "/v1/orgs/default/keys/" + used["id"].get<std::string>(), "",
                        admin_))["last_used_at"]
                  .is_null())
      << "nothing written down before a flush";

  clock_.Set(kNow + 125 * kSecond);  // minute 2
  ASSERT_EQ(Json(Call("POST", "/v1/verify", json{{"key", used["token"]}}.dump()))["valid"], true);
  Call("POST", "/v1/verify", R"({"key": "kt_not_a_key"})");
  engine().FlushKeyUse();
  const json shown =
      Json(Call("GET", "/v1/orgs/default/keys/" + used["id"].get<std::string>(), "", admin_));
  EXPECT_EQ(shown["last_used_at"], FormatRfc3339(kNow + 120 * kSecond)) << shown.dump();

  auto names = [&](const std::string& query) {
    std::set<std::string> out;
    const json page = Json(Call("GET", "/v1/orgs/default/keys?" + query, "", admin_));
    for (const json& k : page["keys"]) out.insert(k["name"].get<std::string>());
    return out;
  };
  EXPECT_EQ(names("never_used=true"), (std::set<std::string>{"idle key"}));
  // The admin key that made these calls was used too.
  EXPECT_EQ(names("never_used=false"), (std::set<std::string>{"used key", "bootstrap-admin"}));
  // The admin key's calls before the flush were in minute 0.
  EXPECT_EQ(names("used_before=" + FormatRfc3339(kNow + 120 * kSecond)),
            (std::set<std::string>{"idle key", "bootstrap-admin"}));
  EXPECT_EQ(names("used_before=" + FormatRfc3339(kNow + 121 * kSecond)),
            (std::set<std::string>{"idle key", "used key", "bootstrap-admin"}));
  EXPECT_EQ(Call("GET", "/v1/orgs/default/keys?never_used=maybe", "", admin_).status, 400);

  // A later use moves it on; the same minute again writes nothing new.
  clock_.Set(kNow + 250 * kSecond);
  Call("POST", "/v1/verify", json{{"key", used["token"]}}.dump());
  engine().FlushKeyUse();
  EXPECT_EQ(Json(Call("GET", "/v1/orgs/default/keys/" + used["id"].get<std::string>(), "",
                      admin_))["last_used_at"],
            FormatRfc3339(kNow + 240 * kSecond));
  // Not an audit record: telemetry, not a change.
  const json audit = Json(Call("GET", "/v1/orgs/default/audit?page_size=1000", "", admin_));
  for (const json& r : audit["records"]) EXPECT_NE(r["action"], "api_key.used");
  (void)idle;
}

std::string HeaderOf(const HttpResponse& response, std::string_view name);  // below

// A suspended key is refused everywhere a key is presented (verify, check, the API)
// with reason "suspended", stays in the list as suspended, and works again once resumed.
TEST_F(ApiTest, SuspendAndResume) {
  const json key = CreateKey("ci deploy", "developer", admin_);
  const std::string id = key["id"], token = key["token"];
  const std::string path = "/v1/orgs/default/keys/" + id;
  HttpResponse suspended =
      Call("POST", path + "/suspend", R"({"reason": "leaked in a log"})", admin_);
  ASSERT_EQ(suspended.status, 200) << suspended.body;
  EXPECT_EQ(Json(suspended)["status"], "suspended");
  EXPECT_EQ(Code(Call("POST", path + "/suspend", "", admin_)), "key_suspended");

  const json verdict = Json(Call("POST", "/v1/verify", json{{"key", token}}.dump()));
  EXPECT_EQ(verdict["valid"], false);
  EXPECT_EQ(verdict["reason"], "suspended");
  HttpResponse check = Call("GET", "/v1/check", "", token);
  EXPECT_EQ(check.status, 401);
  EXPECT_EQ(HeaderOf(check, "X-Keytrail-Reason"), "suspended");
  EXPECT_EQ(Code(Call("GET", "/v1/orgs/default/keys", "", token)), "suspended");
  const json listed = Json(Call("GET", "/v1/orgs/default/keys?status=suspended", "", admin_));
  ASSERT_EQ(listed["keys"].size(), 1u);
  EXPECT_EQ(listed["keys"][0]["id"], id);

  HttpResponse resumed = Call("POST", path + "/resume", "", admin_);
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  EXPECT_EQ(Json(resumed)["status"], "active");
  EXPECT_EQ(Json(Call("POST", "/v1/verify", json{{"key", token}}.dump()))["valid"], true);
  EXPECT_EQ(Code(Call("POST", path + "/resume", "", admin_)), "key_not_suspended");
  const json trail = Json(Call("GET", "/v1/orgs/default/audit?key=" + id, "", admin_));
  std::vector<std::string> actions;
  for (const json& r : trail["records"]) actions.push_back(r["action"]);
  EXPECT_EQ(actions,
            (std::vector<std::string>{"api_key.created", "api_key.suspended", "api_key.resumed"}));

  // As revoking: a viewer may not suspend a key.
  const json viewer = CreateKey("just looking", "viewer", admin_);
  EXPECT_EQ(Call("POST", path + "/suspend", "", viewer["token"]).status, 403);
}

// PATCH renames, renews and describes a key; a rotation may renew it too; the expiry
// scheduler follows the new expiry.
TEST_F(ApiTest, UpdateAndRenew) {
  const json key = CreateKey("ci deploy", "developer", admin_, "default", R"(, "expires": "30d")");
  const std::string path = "/v1/orgs/default/keys/" + key["id"].get<std::string>();
  HttpResponse r =
      Call("PATCH", path, R"({"name": "ci deploy v2", "expires": "1y", "description": "the CI"})",
           admin_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["name"], "ci deploy v2");
  EXPECT_EQ(Json(r)["description"], "the CI");
  EXPECT_EQ(Json(r)["expires_at"], "2027-01-01T00:00:00Z");
  EXPECT_EQ(Call("PATCH", path, "{}", admin_).status, 400);
  EXPECT_EQ(Code(Call("PATCH", path, R"({"expires": "soon"})", admin_)), "invalid_expiration");
  EXPECT_EQ(Code(Call("PATCH", path, R"({"expires": "2020-01-01T00:00:00Z"})", admin_)),
            "invalid_expiration");
  EXPECT_EQ(Code(Call("PATCH", path, R"({"color": "red"})", admin_)), "invalid_request");
  // Same values again: 200, nothing written.
  EXPECT_EQ(Call("PATCH", path, R"({"name": "ci deploy v2"})", admin_).status, 200);

  // Renew with a rotation: a new secret and a new expiry in one call.
  HttpResponse rotated = Call("POST", path + "/rotate",
                              R"({"grace": "0s", "expires": "2026-02-01T00:00:00Z"})", admin_);
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  EXPECT_EQ(Json(rotated)["expires_at"], "2026-02-01T00:00:00Z");
  const std::string token = Json(rotated)["token"];
  EXPECT_EQ(Json(Call("POST", "/v1/verify", json{{"key", token}}.dump()))["valid"], true);

  // The scheduler expires the key at its new expiry.
  clock_.Set(*ParseRfc3339Time("2026-02-01T00:00:01Z"));
  engine().WakeSchedulers();
  engine().WaitIdle();
  EXPECT_EQ(Json(Call("GET", path, "", admin_))["status"], "expired");
  const json trail =
      Json(Call("GET", "/v1/orgs/default/audit?key=" + key["id"].get<std::string>(), "", admin_));
  std::vector<std::string> actions;
  for (const json& rec : trail["records"]) actions.push_back(rec["action"]);
  EXPECT_EQ(actions,
            (std::vector<std::string>{"api_key.created", "api_key.updated", "api_key.rotated",
                                      "api_key.updated", "api_key.expired"}));
}

// The org's key policy: admins set it, every create and renewal keeps to it.
TEST_F(ApiTest, KeyPolicy) {
  EXPECT_EQ(Json(Call("GET", "/v1/orgs/default/policy", "", admin_)),
            (json{{"max_lifetime", nullptr},
                  {"require_expiry", false},
                  {"revoke_unused_after", nullptr},
                  {"expiring_soon", nullptr}}));
  const json viewer = CreateKey("just looking", "viewer", admin_);
  EXPECT_EQ(
      Call("PUT", "/v1/orgs/default/policy", R"({"require_expiry": true})", viewer["token"]).status,
      403);
  EXPECT_EQ(Call("PUT", "/v1/orgs/default/policy", R"({"max_lifetime": "forever"})", admin_).status,
            400);
  HttpResponse set = Call("PUT", "/v1/orgs/default/policy",
                          R"({"max_lifetime": "366d", "require_expiry": true})", admin_);
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(Json(set), (json{{"max_lifetime", "366d"},
                             {"require_expiry", true},
                             {"revoke_unused_after", nullptr},
                             {"expiring_soon", nullptr}}));

  HttpResponse never =
      Call("POST", "/v1/orgs/default/keys", R"({"name": "forever", "group": "developer"})", admin_);
  EXPECT_EQ(never.status, 422);
  EXPECT_EQ(Code(never), "policy_violation");
  EXPECT_NE(Json(never)["detail"].get<std::string>().find("require_expiry"), std::string::npos);
  HttpResponse too_long = Call(
      "POST", "/v1/orgs/default/keys",
      R"({"name": "too long", "group": "developer", "expires": "2028-01-01T00:00:00Z"})", admin_);
  EXPECT_NE(Json(too_long)["detail"].get<std::string>().find("max_lifetime"), std::string::npos);
  EXPECT_EQ(Call("POST", "/v1/orgs/default/keys",
                 R"({"name": "within", "group": "developer", "expires": "1y"})", admin_)
                .status,
            201);
  // The keys made before the policy that break it: the never-expiring ones here.
  std::set<std::string> breaking;
  const json listed = Json(Call("GET", "/v1/orgs/default/keys?breaks_policy=true", "", admin_));
  for (const json& k : listed["keys"]) breaking.insert(k["name"].get<std::string>());
  EXPECT_EQ(breaking, (std::set<std::string>{"bootstrap-admin", "just looking"}));
  const json trail =
      Json(Call("GET", "/v1/orgs/default/audit?action=org.policy_changed", "", admin_));
  ASSERT_EQ(trail["records"].size(), 1u);
  EXPECT_EQ(trail["records"][0]["details"]["require_expiry"], true);
}

// The policy's scheduler rules: durations in days, shown back, bad ones refused.
TEST_F(ApiTest, KeyPolicyUnusedAndExpiringSoonRules) {
  for (const char* bad : {R"({"revoke_unused_after": "0d"})", R"({"expiring_soon": "7h"})",
                          R"({"revoke_unused_after": 90})", R"({"unknown": "1d"})"}) {
    EXPECT_EQ(Call("PUT", "/v1/orgs/default/policy", bad, admin_).status, 400) << bad;
  }
  HttpResponse set = Call("PUT", "/v1/orgs/default/policy",
                          R"({"revoke_unused_after": "90d", "expiring_soon": "7d"})", admin_);
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(Json(Call("GET", "/v1/orgs/default/policy", "", admin_)),
            (json{{"max_lifetime", nullptr},
                  {"require_expiry", false},
                  {"revoke_unused_after", "90d"},
                  {"expiring_soon", "7d"}}));
  const json trail =
      Json(Call("GET", "/v1/orgs/default/audit?action=org.policy_changed", "", admin_));
  ASSERT_EQ(trail["records"].size(), 1u);
  EXPECT_EQ(trail["records"][0]["details"]["revoke_unused_after_us"], 90 * domain::kMicrosPerDay);
}

// A leak report needs no credential, revokes every live key among its tokens, records
// its source, and answers the same whatever the tokens were.
TEST_F(ApiTest, LeakReportsRevokeLiveKeysAndRevealNothing) {
  const json leaked = CreateKey("leaky bot", "developer", admin_);
  const json suspended = CreateKey("paused bot", "developer", admin_);
  const std::string suspended_path = "/v1/orgs/default/keys/" + suspended["id"].get<std::string>();
  ASSERT_EQ(Call("POST", suspended_path + "/suspend", "{}", admin_).status, 200);
  const json kept = CreateKey("careful bot", "developer", admin_);

  HttpResponse nothing = Call("POST", "/v1/leaks", R"({"tokens": ["kt_not_a_token"]})");
  ASSERT_EQ(nothing.status, 202) << nothing.body;
  const json report = {{"tokens", {leaked["token"], suspended["token"], "garbage", ""}},
                       {"source", "scanner"},
                       {"url", "https://example.com/paste/1"}};
  HttpResponse found = Call("POST", "/v1/leaks", report.dump());
  ASSERT_EQ(found.status, 202) << found.body;
  EXPECT_EQ(Json(found), (json{{"received", 4}}));
  EXPECT_EQ(Json(nothing), (json{{"received", 1}}));

  for (const json* key : {&leaked, &suspended}) {
    const json now =
        Json(Call("GET", "/v1/orgs/default/keys/" + (*key)["id"].get<std::string>(), "", admin_));
    EXPECT_EQ(now["status"], "revoked") << (*key)["name"];
  }
  EXPECT_EQ(Json(Call("POST", "/v1/verify", json{{"key", leaked["token"]}}.dump()))["reason"],
            "revoked");
  EXPECT_TRUE(Json(Call("POST", "/v1/verify", json{{"key", kept["token"]}}.dump()))["valid"]);
  const json trail = Json(
      Call("GET", "/v1/orgs/default/audit?key=" + leaked["id"].get<std::string>(), "", admin_));
  const json& revoked = trail["records"].back();
  EXPECT_EQ(revoked["action"], "api_key.revoked");
  EXPECT_EQ(revoked["details"]["reason"], "leaked");
  EXPECT_EQ(revoked["details"]["leak"]["source"], "scanner");
  EXPECT_EQ(revoked["details"]["leak"]["url"], "https://example.com/paste/1");
  EXPECT_EQ(revoked["actor"]["id"], "leak-report");
  // Reported again: already revoked, the same answer.
  EXPECT_EQ(Call("POST", "/v1/leaks", report.dump()).status, 202);

  EXPECT_EQ(Call("POST", "/v1/leaks", R"({"tokens": []})").status, 400);
  EXPECT_EQ(
      Call("POST", "/v1/leaks", json{{"tokens", std::vector<std::string>(101, "x")}}.dump()).status,
      400);
  EXPECT_EQ(Call("POST", "/v1/leaks", R"({"tokens": "kt_x"})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/leaks", R"({"tokens": ["x"], "source": 5})").status, 400);
}

TEST_F(ApiTest, LeakReportsAreRateLimitedPerAddress) {
  int accepted = 0;
  HttpResponse last;
  for (int i = 0; i < 40; ++i) {
    // A single node believes no Keytrail-Forwarded-By: it cannot lift the limit.
    last = Call("POST", "/v1/leaks", R"({"tokens": ["nothing"]})", "",
                {{"keytrail-forwarded-by", "node-b"}});
    if (last.status == 202) ++accepted;
  }
  EXPECT_EQ(accepted, 30);
  EXPECT_EQ(last.status, 429);
  EXPECT_FALSE(HeaderOf(last, "Retry-After").empty());
  clock_.Advance(61 * kSecond);
  EXPECT_EQ(Call("POST", "/v1/leaks", R"({"tokens": ["nothing"]})").status, 202);
}

// Offboarding: an admin revokes every live key of a member (or a group) in one command,
// or with the member's removal.
TEST_F(ApiTest, OffboardingRevokesAMembersKeysInOneCommand) {
  ASSERT_EQ(
      Call("PUT", "/v1/orgs/default/members/alice", R"({"groups": ["developer"]})", admin_).status,
      200);
  const json by_alice_1 = CreateKey("alice one", "developer", admin_, "default");
  const json viewer = CreateKey("viewer bot", "viewer", admin_);
  // Keys created on alice's behalf are hers: made here through a key of her group.
  const json dev = CreateKey("dev bot", "developer", admin_);
  EXPECT_EQ(Call("POST", "/v1/orgs/default/keys:revoke", R"({"reason": "x"})", admin_).status, 422);
  EXPECT_EQ(Call("POST", "/v1/orgs/default/keys:revoke", R"({"group": "viewer"})", admin_).status,
            400);  // a reason is required
  HttpResponse refused = Call("POST", "/v1/orgs/default/keys:revoke",
                              R"({"group": "viewer", "reason": "x"})", dev["token"]);
  EXPECT_EQ(refused.status, 403);
  HttpResponse swept = Call("POST", "/v1/orgs/default/keys:revoke",
                            R"({"group": "viewer", "reason": "team left"})", admin_);
  ASSERT_EQ(swept.status, 200) << swept.body;
  EXPECT_EQ(Json(swept), (json{{"revoked", 1}}));
  EXPECT_EQ(Json(Call("GET", "/v1/orgs/default/keys/" + viewer["id"].get<std::string>(), "",
                      admin_))["status"],
            "revoked");
  // The keys the dev key created go when their creator is named.
  const json made = CreateKey("made by dev", "developer", dev["token"]);
  HttpResponse by_creator =
      Call("POST", "/v1/orgs/default/keys:revoke",
           json{{"created_by", dev["id"]}, {"reason", "rotating the team"}}.dump(), admin_);
  EXPECT_EQ(Json(by_creator), (json{{"revoked", 1}}));
  EXPECT_EQ(Json(Call("POST", "/v1/verify", json{{"key", made["token"]}}.dump()))["reason"],
            "revoked");
  EXPECT_TRUE(Json(Call("POST", "/v1/verify", json{{"key", by_alice_1["token"]}}.dump()))["valid"]);

  EXPECT_EQ(Call("DELETE", "/v1/orgs/default/members/alice?revoke_keys=maybe", "", admin_).status,
            400);
  HttpResponse removed =
      Call("DELETE", "/v1/orgs/default/members/alice?revoke_keys=true", "", admin_);
  ASSERT_EQ(removed.status, 200) << removed.body;
  EXPECT_EQ(Json(removed), (json{{"revoked_keys", 0}}));  // alice created none herself
}

// Search by name and sort by any column, with page tokens that hold their place.
TEST_F(ApiTest, KeyListSearchAndSort) {
  for (const char* name : {"Deploy prod", "deploy staging", "backup", "Zeta deploy", "alpha"}) {
    CreateKey(name, "developer", admin_);
    clock_.Advance(kSecond);
  }
  auto names = [&](const std::string& query) {
    std::vector<std::string> out;
    std::string token;
    for (int pages = 0; pages < 20; ++pages) {
      const json page = Json(Call("GET",
                                  "/v1/orgs/default/keys?page_size=2&" + query +
                                      (token.empty() ? "" : "&page_token=" + token),
                                  "", admin_));
      for (const json& k : page["keys"]) out.push_back(k["name"]);
      if (!page["next_page_token"].is_string()) break;
      token = page["next_page_token"];
    }
    return out;
  };
  // Names sort ignoring case.
  EXPECT_EQ(names("q=DEPLOY&sort=name"),
            (std::vector<std::string>{"Deploy prod", "deploy staging", "Zeta deploy"}));
  EXPECT_EQ(names("sort=created_at&order=desc&q=a"),
            (std::vector<std::string>{"alpha", "Zeta deploy", "backup", "deploy staging",
                                      "bootstrap-admin"}));
  EXPECT_EQ(names("sort=name&order=desc").front(), "Zeta deploy");
  EXPECT_EQ(names("sort=name&order=desc").size(), 6u);
  for (const char* bad : {"sort=color", "order=up", "q=", "sort=name&page_token=kt_nope"}) {
    EXPECT_EQ(Call("GET", std::string("/v1/orgs/default/keys?") + bad, "", admin_).status, 400)
        << bad;
  }
  // A token of one order is not one of another.
  const json first = Json(Call("GET", "/v1/orgs/default/keys?page_size=1&sort=name", "", admin_));
  ASSERT_TRUE(first["next_page_token"].is_string());
  EXPECT_EQ(Call("GET",
                 "/v1/orgs/default/keys?sort=created_at&page_token=" +
                     first["next_page_token"].get<std::string>(),
                 "", admin_)
                .status,
            400);
}

TEST_F(ApiTest, ListFiltersAndPages) {
  json a =
      CreateKey("key-a", "developer", admin_, "default", R"(, "expires": "2026-01-01T00:00:10Z")");
  json b = CreateKey("key-b", "viewer", admin_);
  json c = CreateKey("key-c", "developer", admin_, "default", R"(, "expires": "1y")");
  ASSERT_EQ(
      Call("POST", "/v1/orgs/default/keys/" + b["id"].get<std::string>() + "/revoke", "", admin_)
          .status,
      200);
  auto ids = [&](const std::string& query) {
    HttpResponse r = Call("GET", "/v1/orgs/default/keys" + query, "", admin_);
    EXPECT_EQ(r.status, 200) << query << " " << r.body;
    std::set<std::string> out;
    const json body = Json(r);
    for (const auto& key : body["keys"]) out.insert(key["id"]);
    return out;
  };
  const std::string ia = a["id"], ib = b["id"], ic = c["id"];
  EXPECT_EQ(ids(""), (std::set<std::string>{admin_id_, ia, ib, ic}));
  EXPECT_EQ(ids("?group=developer"), (std::set<std::string>{ia, ic}));
  EXPECT_EQ(ids("?created_by=bootstrap"), (std::set<std::string>{admin_id_}));
  EXPECT_EQ(ids("?created_by=" + admin_id_), (std::set<std::string>{ia, ib, ic}));
  EXPECT_EQ(ids("?status=revoked"), (std::set<std::string>{ib}));
  EXPECT_EQ(ids("?status=active"), (std::set<std::string>{admin_id_, ia, ic}));
  EXPECT_EQ(ids("?expires_before=2026-02-01T00:00:00Z"), (std::set<std::string>{ia}));
  // Expired as soon as the expiry passes, before any scheduler has run.
  clock_.Set(kNow + 10 * kSecond);
  EXPECT_EQ(ids("?status=expired"), (std::set<std::string>{ia}));
  EXPECT_EQ(ids("?status=active&group=developer"), (std::set<std::string>{ic}));

  // Pages of one, following next_page_token to the end.
  std::set<std::string> seen;
  std::string token;
  for (int page = 0; page < 10; ++page) {
    HttpResponse r = Call(
        "GET", "/v1/orgs/default/keys?page_size=1" + (token.empty() ? "" : "&page_token=" + token),
        "", admin_);
    ASSERT_EQ(r.status, 200);
    json body = Json(r);
    ASSERT_EQ(body["keys"].size(), 1u);
    seen.insert(body["keys"][0]["id"].get<std::string>());
    if (body["next_page_token"].is_null()) break;
    token = body["next_page_token"];
  }
  EXPECT_EQ(seen.size(), 4u);

  for (const char* bad :
       {"?page_size=0", "?page_size=1001", "?page_size=x", "?status=gone", "?expires_before=soon",
        "?page_token=nope", "?colour=red", "?group=a&group=b"}) {
    HttpResponse r = Call("GET", std::string("/v1/orgs/default/keys") + bad, "", admin_);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(Code(r), "invalid_request") << bad;
  }
}

TEST_F(ApiTest, VerifyNeedsAKey) {
  EXPECT_EQ(Code(Call("POST", "/v1/verify", "")), "invalid_request");
  EXPECT_EQ(Code(Call("POST", "/v1/verify", R"({"key": 1})")), "invalid_request");
  EXPECT_EQ(Code(Call("POST", "/v1/verify", R"({"token": "x"})")), "invalid_request");
  json v = Json(Call("POST", "/v1/verify", R"({"key": "kt_x"})"));
  EXPECT_EQ(v, (json{{"valid", false}, {"reason", "malformed"}}));
}

TEST_F(ApiTest, QuotaIsAConflict) {
  // The fixture's quota is 20 active keys; the bootstrap key is one.
  for (int i = 1; i < 20; ++i) CreateKey("bulk-" + std::to_string(i), "viewer", admin_);
  HttpResponse r = Call("POST", "/v1/orgs/default/keys",
                        R"({"name": "one too many", "group": "viewer"})", admin_);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Code(r), "quota_exceeded");
}

TEST_F(ApiTest, BootstrapRunsOnceAndFinishesAnInterruptedOne) {
  auto again = Bootstrap(engine(), log(), "default");
  ASSERT_OK(again);
  EXPECT_EQ(again->kind, BootstrapResult::Kind::kAlreadyDone);
  EXPECT_FALSE(again->token.has_value());
  EXPECT_EQ(again->key_id, admin_id_);
  // A non-empty log without the named org is left alone.
  auto other = Bootstrap(engine(), log(), "renamed");
  ASSERT_OK(other);
  EXPECT_EQ(other->kind, BootstrapResult::Kind::kSkipped);
  // An org whose setup stopped after CreateOrg is finished by the next bootstrap.
  domain::CommandContext context{.org = "half",
                                 .actor_kind = fb::ActorKind::System,
                                 .actor_id = "bootstrap",
                                 .command_id = "bootstrap:org",
                                 .authorize = false};
  ASSERT_EQ(engine().Execute(context, domain::CreateOrg{"half"})->kind,
            CommandOutcome::Kind::kApplied);
  auto finished = Bootstrap(engine(), log(), "half");
  ASSERT_OK(finished);
  EXPECT_EQ(finished->kind, BootstrapResult::Kind::kCreated);
  EXPECT_TRUE(engine().Verify(finished->token->reveal()).valid);
}

// On Kafka a fresh reader may take seconds before its first records: the bootstrap's
// look at the log waits for them (a CI run failed a start that gave them one second),
// and fails, naming the partition, only if they never come.
TEST_F(ApiTest, BootstrapWaitsForASlowReaderButNotForever) {
  log().DelayNewReaders(5);
  auto slow = Bootstrap(engine(), log(), "default");
  ASSERT_OK(slow);
  EXPECT_EQ(slow->kind, BootstrapResult::Kind::kAlreadyDone);
  log().DelayNewReaders(1000);
  auto never = Bootstrap(engine(), log(), "default");
  log().DelayNewReaders(0);
  ASSERT_FALSE(never.ok());
  EXPECT_EQ(never.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(never.status().message().find("never arrived"), std::string::npos)
      << never.status().ToString();
}

// docs/openapi.yaml must describe every route the router serves: each pattern under
// `paths:` with each of its methods.
TEST_F(ApiTest, OpenApiDocumentsEveryRoute) {
  std::ifstream in(KEYTRAIL_OPENAPI);
  ASSERT_TRUE(in.good()) << KEYTRAIL_OPENAPI;
  std::set<std::pair<std::string, std::string>> documented;  // (method, path)
  std::string line, path;
  bool in_paths = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ') {
      in_paths = line == "paths:";
      continue;
    }
    if (!in_paths) continue;
    if (line.size() > 3 && line.starts_with("  /") && line.back() == ':') {
      path = line.substr(2, line.size() - 3);
    } else if (line.starts_with("    ") && !line.starts_with("     ") && line.back() == ':') {
      std::string method = line.substr(4, line.size() - 5);
      for (char& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      documented.insert({method, path});
    }
  }
  // The router's "{rest...}" is OpenAPI's "{rest}"; an any-method route documents GET.
  auto openapi_path = [](std::string pattern) {
    if (const size_t dots = pattern.find("...}"); dots != std::string::npos) {
      pattern.erase(dots, 3);
    }
    return pattern;
  };
  ASSERT_FALSE(api_->router().routes().empty());
  for (const Route& route : api_->router().routes()) {
    if (route.pattern.starts_with("/console")) continue;  // the page's files, not the API
    const std::string method = route.method == kAnyMethod ? "GET" : route.method;
    EXPECT_TRUE(documented.contains({method, openapi_path(route.pattern)}))
        << route.method << " " << route.pattern << " is not in docs/openapi.yaml";
  }
  // And nothing documented that is not served.
  for (const auto& [method, documented_path] : documented) {
    if (method == "PARAMETERS") continue;
    bool served = false;
    for (const Route& route : api_->router().routes()) {
      served |= (route.method == method || route.method == kAnyMethod) &&
                openapi_path(route.pattern) == documented_path;
    }
    EXPECT_TRUE(served) << method << " " << documented_path << " is documented but not served";
  }
}

// The header `name` of a response, or "" (names compare case-sensitively, as written).
std::string HeaderOf(const HttpResponse& response, std::string_view name) {
  for (const HttpHeader& h : response.headers) {
    if (h.name == name) return h.value;
  }
  return "";
}

TEST_F(ApiTest, CheckAnswersGatewaysWithStatusAndHeadersOnly) {
  const json dev = CreateKey("ci bot", "developer", admin_);
  const json viewer = CreateKey("dash", "viewer", admin_);
  const std::string dev_token = dev["token"], viewer_token = viewer["token"];

  // Valid, no question: 204, the identity, no body, and never the token.
  HttpResponse r = Call("GET", "/v1/check", "", dev_token);
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(HeaderOf(r, "X-Keytrail-Key-Id"), dev["id"]);
  EXPECT_EQ(HeaderOf(r, "X-Keytrail-Org"), "default");
  EXPECT_EQ(HeaderOf(r, "X-Keytrail-Group"), "developer");
  EXPECT_EQ(HeaderOf(r, "X-Keytrail-Secret"), "current");
  EXPECT_EQ(HeaderOf(r, "X-Keytrail-Rule"), "");
  for (const HttpHeader& h : r.headers) EXPECT_EQ(h.value.find(dev_token), std::string::npos);
  // X-API-Key works as well as Bearer; POST without a body too (Envoy).
  EXPECT_EQ(Call("POST", "/v1/check", "", "", {{"x-api-key", dev_token}}).status, 204);

  // An action (and resource) in the query or in headers.
  r = Call("GET", "/v1/check?action=graph:write&resource=namespace:payments", "", dev_token);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(HeaderOf(r, "X-Keytrail-Rule"), "organization-developer");
  r = Call(
      "GET", "/v1/check", "", viewer_token,
      {{"x-keytrail-action", "graph:write"}, {"x-keytrail-resource", "graph:payments/checkout"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(HeaderOf(r, "X-Keytrail-Reason"), "not-granted");
  EXPECT_EQ(HeaderOf(r, "X-Keytrail-Key-Id"), viewer["id"]) << "who was refused";
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(
      Call("GET", "/v1/check?action=graph:read&resource=subgraph:p/s", "", viewer_token).status,
      204);

  // No key, or one that does not verify: 401 with the reason and RFC 6750's header.
  r = Call("GET", "/v1/check");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(HeaderOf(r, "X-Keytrail-Reason"), "missing");
  EXPECT_EQ(HeaderOf(r, "WWW-Authenticate"), "Bearer realm=\"keytrail\"");
  r = Call("GET", "/v1/check", "", "kt_not-a-key");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(HeaderOf(r, "X-Keytrail-Reason"), "malformed");
  EXPECT_EQ(HeaderOf(r, "WWW-Authenticate"), "Bearer realm=\"keytrail\", error=\"invalid_token\"");
  EXPECT_TRUE(r.body.empty());

  // A malformed question is 400 (nginx makes it a 500: fail closed), before the key.
  for (const std::string target :
       {"/v1/check?action=graph:fly", "/v1/check?action=graph:read&resource=planet:mars",
        "/v1/check?resource=namespace:payments", "/v1/check?action=graph:read&resource=graph:a/b/c",
        "/v1/check?action=graph:read&resource=namespace:"}) {
    EXPECT_EQ(Call("GET", target, "", dev_token).status, 400) << target;
  }
  // A client cannot weaken the gateway's question by adding its own.
  r = Call("GET", "/v1/check?action=graph:write", "", viewer_token,
           {{"x-keytrail-action", "graph:read"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(HeaderOf(r, "X-Keytrail-Reason"), "conflicting-question");
  EXPECT_EQ(Call("GET", "/v1/check?action=graph:write&action=graph:read", "", viewer_token).status,
            400);

  // Behind Envoy's path_prefix: any method, the protected path after /v1/check/, and its
  // query is not a question (only the headers ask).
  r = Call("DELETE", "/v1/check/payments/orders/7?action=graph:read", "", viewer_token,
           {{"x-keytrail-action", "graph:write"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Call("PATCH", "/v1/check/?action=nonsense", "", viewer_token).status, 204);
  // Check is a question, never a command a follower forwards, and never logs the token:
  // metrics count it by result.
  const std::string metrics = Call("GET", "/metrics").body;
  for (const char* line :
       {"keytrail_check_total{result=\"allowed\",reason=\"\"} 5",
        "keytrail_check_total{result=\"denied\",reason=\"not-granted\"} 2",
        "keytrail_check_total{result=\"unauthenticated\",reason=\"missing\"} 1",
        "keytrail_check_total{result=\"invalid\",reason=\"conflicting-question\"} 2"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << "\n" << metrics;
  }
}

TEST_F(ApiTest, CheckFollowsRevocationExpiryAndRotationToTheInstant) {
  const json key = CreateKey("ci bot", "developer", admin_, "default",
                             R"(, "expires": ")" + FormatRfc3339(kNow + 60 * kSecond) + "\"");
  const std::string id = key["id"], old_token = key["token"];
  // Rotation with a 10 s grace: the old secret passes and says so, until the grace ends.
  HttpResponse rotated =
      Call("POST", "/v1/orgs/default/keys/" + id + "/rotate", R"({"grace": "10s"})", admin_);
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  const std::string new_token = Json(rotated)["token"];
  EXPECT_EQ(HeaderOf(Call("GET", "/v1/check", "", old_token), "X-Keytrail-Secret"), "previous");
  EXPECT_EQ(HeaderOf(Call("GET", "/v1/check", "", new_token), "X-Keytrail-Secret"), "current");
  EXPECT_EQ(Json(Call("POST", "/v1/verify", "", old_token))["secret"], "previous");
  clock_.Set(kNow + 10 * kSecond);
  EXPECT_EQ(HeaderOf(Call("GET", "/v1/check", "", old_token), "X-Keytrail-Reason"), "unknown");
  // Expiry, to the microsecond.
  clock_.Set(kNow + 60 * kSecond - 1);
  EXPECT_EQ(Call("GET", "/v1/check", "", new_token).status, 204);
  clock_.Set(kNow + 60 * kSecond);
  HttpResponse expired = Call("GET", "/v1/check", "", new_token);
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(HeaderOf(expired, "X-Keytrail-Reason"), "expired");
  // Revocation: the next check refuses.
  const json other = CreateKey("other", "developer", admin_);
  ASSERT_EQ(Call("GET", "/v1/check", "", other["token"]).status, 204);
  ASSERT_EQ(Call("POST", "/v1/orgs/default/keys/" + other["id"].get<std::string>() + "/revoke",
                 R"({"reason": "leaked"})", admin_)
                .status,
            200);
  EXPECT_EQ(HeaderOf(Call("GET", "/v1/check", "", other["token"]), "X-Keytrail-Reason"), "revoked");
}

TEST_F(ApiTest, MetricsMethodLabelsAreBounded) {
  Call("BREW", "/coffee");
  Call("GET", "/coffee");
  const std::string metrics = Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("method=\"OTHER\",route=\"unmatched\",status=\"404\"} 1"),
            std::string::npos);
  EXPECT_EQ(metrics.find("BREW"), std::string::npos);
}

TEST_F(ApiTest, WhileTheLogIsUnreachableCommandsFailFastAndVerifySaysHowStale) {
  const std::string viewer = CreateKey("dash board", "viewer", admin_)["token"];
  log().SetReachable(false, "kafka: every broker of k1:9092 is down");
  // /readyz answers from the probe's last check, refreshed every second.
  auto readyz_status = [&](int want) {
    int status = 0;
    for (int i = 0; i < 50 && status != want; ++i) {
      status = Call("GET", "/readyz").status;
      if (status != want) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return status;
  };
  ASSERT_EQ(readyz_status(503), 503);
  // Why, only to an admin: the broker list is nobody else's business.
  EXPECT_EQ(Call("GET", "/readyz").body.find("k1:9092"), std::string::npos);
  EXPECT_EQ(Call("GET", "/readyz", "", viewer).body.find("k1:9092"), std::string::npos);
  EXPECT_NE(Call("GET", "/readyz", "", admin_).body.find("k1:9092"), std::string::npos);

  HttpResponse created =
      Call("POST", "/v1/orgs/default/keys", R"({"name": "while down", "group": "viewer"})", admin_);
  EXPECT_EQ(created.status, 503);
  EXPECT_EQ(HeaderOf(created, "Retry-After"), "1");
  HttpResponse verified = Call("POST", "/v1/verify", "", viewer);
  EXPECT_EQ(Json(verified)["valid"], true);
  EXPECT_NE(HeaderOf(verified, "X-Keytrail-Stale-Seconds"), "");
  EXPECT_NE(HeaderOf(Call("GET", "/v1/check", "", viewer), "X-Keytrail-Stale-Seconds"), "");
  EXPECT_NE(Call("GET", "/metrics").body.find("keytrail_log_reachable 0"), std::string::npos);

  log().SetReachable(true);
  EXPECT_EQ(
      Call("POST", "/v1/orgs/default/keys", R"({"name": "while down", "group": "viewer"})", admin_)
          .status,
      201);
  EXPECT_EQ(HeaderOf(Call("POST", "/v1/verify", "", viewer), "X-Keytrail-Stale-Seconds"), "");
  EXPECT_EQ(readyz_status(200), 200);
  EXPECT_NE(Call("GET", "/metrics").body.find("keytrail_log_reachable 1"), std::string::npos);
}

TEST_F(ApiTest, CsvExportNeutralizesCellsASpreadsheetWouldRun) {
  // Member ids are any visible ASCII: one can look like a formula.
  ASSERT_EQ(Call("PUT", "/v1/orgs/default/members/=HYPERLINK(%22http:%2F%2Fx%22)",
                 R"({"groups": ["viewer"]})", admin_)
                .status,
            200);
  ASSERT_EQ(
      Call("PUT", "/v1/orgs/default/members/@SUM", R"({"groups": ["viewer"]})", admin_).status,
      200);
  HttpResponse csv = Call("GET", "/v1/orgs/default/audit", "", admin_, {{"accept", "text/csv"}});
  ASSERT_EQ(csv.status, 200);
  std::string body = csv.body;
  if (csv.stream) {
    while (csv.stream(&body)) {
    }
  }
  EXPECT_NE(body.find("\"'=HYPERLINK(\"\"http://x\"\")\""), std::string::npos) << body;
  EXPECT_NE(body.find(",'@SUM,"), std::string::npos) << body;
  EXPECT_EQ(body.find(",=HYPERLINK"), std::string::npos);
  EXPECT_EQ(body.find(",\"=HYPERLINK"), std::string::npos);
}

// POST /v1/orgs whose set-up was cut short is finished by the next POST, with or
// without an Idempotency-Key: no retry leaves an org without its groups or admin key.
TEST_F(ApiTest, AnOrgCreationCutShortIsFinishedByAnyRetry) {
  auto groups_of = [&](const std::string& token) {
    std::set<std::string> ids;
    const json listed = Json(Call("GET", "/v1/orgs/cut/groups", "", token));
    for (const json& g : listed["groups"]) ids.insert(g["id"].get<std::string>());
    return ids;
  };
  // The log keeps OrgCreated and the admin group only (as Kafka may keep a prefix).
  log().FailAppend(1, /*keep_prefix=*/2);
  HttpResponse cut = Call("POST", "/v1/orgs", R"({"id": "cut", "name": "Cut"})", admin_);
  EXPECT_EQ(cut.status, 503) << cut.body;
  // A plain retry (no Idempotency-Key): the missing groups and the admin key are made.
  HttpResponse retried = Call("POST", "/v1/orgs", R"({"id": "cut", "name": "Cut"})", admin_);
  ASSERT_EQ(retried.status, 201) << retried.body;
  const std::string cut_admin = Json(retried)["admin_key"]["token"];
  EXPECT_EQ(groups_of(cut_admin),
            (std::set<std::string>{"admin", "apikey-manager", "developer", "viewer"}));
  // Finished: the next one is a plain org_exists, and makes no second admin key.
  EXPECT_EQ(Code(Call("POST", "/v1/orgs", R"({"id": "cut", "name": "Cut"})", admin_)),
            "org_exists");

  // Cut after the org, before its admin key: the same.
  log().FailAppend(2);
  EXPECT_EQ(Call("POST", "/v1/orgs", R"({"id": "keyless", "name": "K"})", admin_).status, 503);
  HttpResponse finished = Call("POST", "/v1/orgs", R"({"id": "keyless", "name": "K"})", admin_);
  ASSERT_EQ(finished.status, 201) << finished.body;
  EXPECT_TRUE(Json(Call("POST", "/v1/verify", "", Json(finished)["admin_key"]["token"]))["valid"]);
  EXPECT_EQ(Code(Call("POST", "/v1/orgs", R"({"id": "keyless", "name": "K"})", admin_)),
            "org_exists");
}

}  // namespace
}  // namespace keytrail::server
