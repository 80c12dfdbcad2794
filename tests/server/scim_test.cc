// The SCIM 2.0 service provider (server/handlers/scim.cc) through Api::Handle over a
// real engine: the request and response examples of RFC 7644 (users, groups, PATCH,
// filters, errors), the sequence an identity provider really sends, and who may call.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/api.h"
#include "server/bootstrap.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/status_matchers.h"

namespace keytrail::server {
namespace {

using nlohmann::json;

constexpr char kUserSchema[] = "urn:ietf:params:scim:schemas:core:2.0:User";
constexpr char kErrorSchema[] = "urn:ietf:params:scim:api:messages:2.0:Error";
constexpr char kPatchOp[] = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

class ScimTest : public testing::EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    auto boot = Bootstrap(engine(), log(), "default");
    ASSERT_OK(boot);
    admin_ = std::string(boot->token->reveal());
    ApiOptions options;
    options.public_url = "https://keys.example";
    api_ = std::make_unique<Api>(engine(), clock_, options);
    api_->SetReady(true);
    HttpResponse key =
        Call("POST", "/v1/orgs/default/keys",
             R"({"name": "okta", "group": "viewer", "permissions": ["scim"]})", admin_);
    ASSERT_EQ(key.status, 201) << key.body;
    scim_ = Json(key)["token"];
    scim_id_ = Json(key)["id"];
  }

  // A SCIM call (path under /scim/v2) as the SCIM key unless another token is given.
  HttpResponse Scim(const std::string& method, const std::string& path, const json& body = {},
                    std::optional<std::string> token = std::nullopt,
                    std::vector<HttpHeader> headers = {}) {
    return Call(method, path, body.is_null() ? "" : body.dump(), token.value_or(scim_), "/scim/v2",
                std::move(headers));
  }
  HttpResponse Call(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& token, const std::string& prefix = "",
                    std::vector<HttpHeader> headers = {}) {
    HttpRequest request;
    request.method = method;
    request.target = prefix + path;
    request.body = body;
    request.remote = "10.0.0.1:40000";
    request.headers = std::move(headers);
    if (!body.empty()) request.headers.push_back({"content-type", "application/scim+json"});
    if (!token.empty()) request.headers.push_back({"authorization", "Bearer " + token});
    return api_->HandleAndWait(request);
  }
  static json Json(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }
  static std::string Header(const HttpResponse& r, std::string_view name) {
    for (const auto& h : r.headers) {
      if (h.name == name) return h.value;
    }
    return "";
  }
  // RFC 7644 3.12: the error's schema, status as a string, and scimType when given.
  static void ExpectError(const HttpResponse& r, int status, const std::string& scim_type = "") {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.content_type, "application/scim+json");
    const json body = Json(r);
    EXPECT_EQ(body["schemas"], json::array({kErrorSchema}));
    EXPECT_EQ(body["status"], std::to_string(status));
    if (!scim_type.empty()) EXPECT_EQ(body["scimType"], scim_type) << r.body;
  }
  // The ids a list answered, in order.
  static std::vector<std::string> Ids(const HttpResponse& r) {
    std::vector<std::string> ids;
    const json body = Json(r);
    for (const json& resource : body["Resources"]) ids.push_back(resource["id"]);
    return ids;
  }

  // RFC 7644 3.3's example user.
  static json Barbara() {
    return json{
        {"schemas", {kUserSchema}},
        {"userName", "bjensen"},
        {"externalId", "bjensen"},
        {"name",
         {{"formatted", "Ms. Barbara J Jensen III"},
          {"familyName", "Jensen"},
          {"givenName", "Barbara"}}},
        {"emails", {{{"value", "bjensen@example.com"}, {"type", "work"}, {"primary", true}}}}};
  }
  static json Patch(json operations) {
    return json{{"schemas", {kPatchOp}}, {"Operations", std::move(operations)}};
  }

  std::unique_ptr<Api> api_;
  std::string admin_, scim_, scim_id_;
};

TEST_F(ScimTest, CreateAUserAsInRfc7644AndReadItBack) {
  HttpResponse created = Scim("POST", "/Users", Barbara());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.content_type, "application/scim+json");
  EXPECT_EQ(Header(created, "Location"), "https://keys.example/scim/v2/Users/bjensen");
  const json user = Json(created);
  EXPECT_EQ(user["schemas"], json::array({kUserSchema}));
  EXPECT_EQ(user["id"], "bjensen");
  EXPECT_EQ(user["userName"], "bjensen");
  EXPECT_EQ(user["externalId"], "bjensen");
  EXPECT_EQ(user["name"]["givenName"], "Barbara");
  EXPECT_EQ(user["name"]["familyName"], "Jensen");
  EXPECT_EQ(user["emails"][0]["value"], "bjensen@example.com");
  EXPECT_EQ(user["active"], true);
  EXPECT_EQ(user["groups"], json::array());
  EXPECT_EQ(user["meta"]["resourceType"], "User");
  EXPECT_EQ(user["meta"]["location"], "https://keys.example/scim/v2/Users/bjensen");
  EXPECT_EQ(Header(created, "ETag"), user["meta"]["version"]);

  HttpResponse read = Scim("GET", "/Users/bjensen");
  ASSERT_EQ(read.status, 200);
  EXPECT_EQ(Json(read), user);
  // A member like any other: listed by the API, even without groups.
  const json members = Json(Call("GET", "/v1/orgs/default/members", "", admin_));
  bool listed = false;
  for (const json& m : members["members"]) listed |= m["id"] == "bjensen";
  EXPECT_TRUE(listed) << members;

  ExpectError(Scim("POST", "/Users", Barbara()), 409, "uniqueness");
  ExpectError(Scim("GET", "/Users/nobody"), 404);
  ExpectError(Scim("POST", "/Users", json{{"schemas", {kUserSchema}}}), 400, "invalidValue");
  ExpectError(Scim("POST", "/Users", json{{"userName", "has space"}}), 400, "invalidValue");
  json too_long = Barbara();
  too_long["userName"] = "other";
  too_long["displayName"] = std::string(300, 'x');
  ExpectError(Scim("POST", "/Users", too_long), 400, "invalidValue");
  HttpResponse bad_json = Call("POST", "/Users", "{not json", scim_, "/scim/v2");
  ExpectError(bad_json, 400, "invalidSyntax");
}

TEST_F(ScimTest, FiltersAndPaging) {
  for (const char* id : {"alice", "bob", "carol"}) {
    json user = {{"userName", id},
                 {"externalId", std::string("ext-") + id},
                 {"emails", {{{"value", std::string(id) + "@example.com"}}}}};
    ASSERT_EQ(Scim("POST", "/Users", user).status, 201);
  }
  ASSERT_EQ(Scim("POST", "/Users", Barbara()).status, 201);
  auto list = [&](const std::string& query) { return Scim("GET", "/Users?" + query); };
  // The filters IdPs send (URL-encoded as they send them).
  EXPECT_EQ(Ids(list("filter=userName%20eq%20%22bjensen%22")), std::vector<std::string>{"bjensen"});
  EXPECT_EQ(Ids(list("filter=userName%20eq%20%22BJensen%22")), std::vector<std::string>{"bjensen"});
  EXPECT_EQ(Ids(list("filter=externalId%20eq%20%22ext-bob%22")), std::vector<std::string>{"bob"});
  EXPECT_TRUE(Ids(list("filter=externalId%20eq%20%22EXT-bob%22")).empty());  // case-exact
  EXPECT_EQ(Ids(list("filter=emails.value%20eq%20%22carol%40example.com%22")),
            std::vector<std::string>{"carol"});
  EXPECT_EQ(Ids(list("filter=userName%20eq%20%22alice%22%20or%20externalId%20eq%20%22bjensen%22")),
            (std::vector<std::string>{"alice", "bjensen"}));
  EXPECT_EQ(Ids(list("filter=name.familyName%20co%20%22ens%22%20and%20active%20eq%20true")),
            std::vector<std::string>{"bjensen"});
  EXPECT_EQ(Ids(list("filter=not%20(userName%20sw%20%22b%22)")),
            (std::vector<std::string>{"alice", "carol"}));
  HttpResponse page = list("startIndex=2&count=2");
  ASSERT_EQ(page.status, 200);
  const json body = Json(page);
  EXPECT_EQ(body["schemas"], json::array({"urn:ietf:params:scim:api:messages:2.0:ListResponse"}));
  EXPECT_EQ(body["totalResults"], 4);
  EXPECT_EQ(body["startIndex"], 2);
  EXPECT_EQ(body["itemsPerPage"], 2);
  EXPECT_EQ(Ids(page), (std::vector<std::string>{"bjensen", "bob"}));

  ExpectError(list("filter=userName%20zz%20%22x%22"), 400, "invalidFilter");
  ExpectError(list("filter=userName%20eq"), 400, "invalidFilter");
  ExpectError(list("filter=emails%5Btype%20eq%20%22work%22%5D"), 400, "invalidFilter");
  ExpectError(list("count=many"), 400, "invalidValue");
}

TEST_F(ScimTest, PatchAndPutAUser) {
  ASSERT_EQ(Scim("POST", "/Users", Barbara()).status, 201);
  const std::string version = Json(Scim("GET", "/Users/bjensen"))["meta"]["version"];
  // RFC 7644 3.5.2.1: add to a multi-valued attribute.
  HttpResponse added = Scim(
      "PATCH", "/Users/bjensen",
      Patch({{{"op", "add"}, {"path", "emails"}, {"value", {{{"value", "babs@jensen.org"}}}}}}));
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(Json(added)["emails"].size(), 2u);
  EXPECT_EQ(Json(added)["emails"][0]["value"], "bjensen@example.com");  // still primary
  EXPECT_NE(Json(added)["meta"]["version"], version);
  // Entra ID's shape: a capitalised op, a string boolean, a value path.
  HttpResponse replaced = Scim("PATCH", "/Users/bjensen",
                               Patch({{{"op", "Replace"}, {"path", "active"}, {"value", "False"}},
                                      {{"op", "replace"},
                                       {"path", "emails[type eq \"work\"].value"},
                                       {"value", "barbara@example.com"}}}));
  ASSERT_EQ(replaced.status, 200) << replaced.body;
  EXPECT_EQ(Json(replaced)["active"], false);
  EXPECT_EQ(Json(replaced)["emails"][0]["value"], "barbara@example.com");
  // No path: the value's attributes. Then remove one.
  ASSERT_EQ(Scim("PATCH", "/Users/bjensen",
                 Patch({{{"op", "replace"}, {"value", {{"active", true}, {"displayName", "Babs"}}}},
                        {{"op", "remove"}, {"path", "name.givenName"}}}))
                .status,
            200);
  const json now = Json(Scim("GET", "/Users/bjensen"));
  EXPECT_EQ(now["active"], true);
  EXPECT_EQ(now["displayName"], "Babs");
  EXPECT_EQ(now["name"]["givenName"], "");

  ExpectError(Scim("PATCH", "/Users/bjensen",
                   Patch({{{"op", "replace"}, {"path", "userName"}, {"value", "other"}}})),
              400, "mutability");
  ExpectError(Scim("PATCH", "/Users/bjensen", Patch({{{"op", "move"}, {"path", "active"}}})), 400,
              "invalidSyntax");
  ExpectError(Scim("PATCH", "/Users/bjensen", json{{"schemas", {kPatchOp}}}), 400, "invalidSyntax");
  ExpectError(Scim("PATCH", "/Users/bjensen", Patch({{{"op", "remove"}}})), 400, "noTarget");
  ExpectError(Scim("PATCH", "/Users/bjensen",
                   Patch({{{"op", "replace"}, {"path", "nickName"}, {"value", "Babs"}}})),
              400, "invalidPath");
  // RFC 7644 3.5.2.2: remove by a value filter (every address here is "work").
  HttpResponse no_emails = Scim("PATCH", "/Users/bjensen",
                                Patch({{{"op", "remove"}, {"path", "emails[type eq \"work\"]"}}}));
  ASSERT_EQ(no_emails.status, 200) << no_emails.body;
  EXPECT_FALSE(Json(no_emails).contains("emails"));
  ExpectError(Scim("PATCH", "/Users/nobody", Patch({{{"op", "remove"}, {"path", "emails"}}})), 404);
  // If-Match with an old version: 412, nothing changed.
  ExpectError(Scim("PATCH", "/Users/bjensen",
                   Patch({{{"op", "replace"}, {"path", "active"}, {"value", false}}}), std::nullopt,
                   {{"if-match", version}}),
              412);
  EXPECT_EQ(Json(Scim("GET", "/Users/bjensen"))["active"], true);

  // PUT replaces the whole profile: what it leaves out is gone.
  HttpResponse put =
      Scim("PUT", "/Users/bjensen",
           json{{"schemas", {kUserSchema}}, {"userName", "bjensen"}, {"active", true}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_FALSE(Json(put).contains("externalId"));
  EXPECT_FALSE(Json(put).contains("emails"));
  ExpectError(Scim("PUT", "/Users/bjensen", json{{"userName", "someone-else"}}), 400, "mutability");
}

TEST_F(ScimTest, GroupsAsInRfc7644) {
  ASSERT_EQ(Scim("POST", "/Users", Barbara()).status, 201);
  ASSERT_EQ(Scim("POST", "/Users", json{{"userName", "jsmith"}}).status, 201);
  HttpResponse created = Scim("POST", "/Groups",
                              json{{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:Group"}},
                                   {"displayName", "Tour Guides"},
                                   {"members", {{{"value", "bjensen"}}}}});
  ASSERT_EQ(created.status, 201) << created.body;
  const json group = Json(created);
  EXPECT_EQ(group["id"], "tour-guides");
  EXPECT_EQ(group["displayName"], "Tour Guides");
  EXPECT_EQ(group["members"].size(), 1u);
  EXPECT_EQ(group["members"][0]["value"], "bjensen");
  EXPECT_EQ(Header(created, "Location"), "https://keys.example/scim/v2/Groups/tour-guides");
  // A keytrail group with no rules: it grants nothing until an admin gives it some.
  const json kt = Json(Call("GET", "/v1/orgs/default/groups/tour-guides", "", admin_));
  EXPECT_EQ(kt["rules"], json::array());
  EXPECT_EQ(Json(Scim("GET", "/Users/bjensen"))["groups"][0]["value"], "tour-guides");
  ExpectError(Scim("POST", "/Groups", json{{"displayName", "Tour Guides"}}), 409, "uniqueness");

  EXPECT_EQ(Ids(Scim("GET", "/Groups?filter=displayName%20eq%20%22Tour%20Guides%22")),
            std::vector<std::string>{"tour-guides"});
  // RFC 7644 3.5.2.1 and 3.5.2.2: add a member, remove one by a value filter.
  ASSERT_EQ(Scim("PATCH", "/Groups/tour-guides",
                 Patch({{{"op", "add"}, {"path", "members"}, {"value", {{{"value", "jsmith"}}}}}}))
                .status,
            200);
  EXPECT_EQ(Json(Scim("GET", "/Groups/tour-guides"))["members"].size(), 2u);
  HttpResponse removed =
      Scim("PATCH", "/Groups/tour-guides",
           Patch({{{"op", "remove"}, {"path", "members[value eq \"bjensen\"]"}}}));
  ASSERT_EQ(removed.status, 200) << removed.body;
  EXPECT_EQ(Json(removed)["members"],
            json::array({{{"value", "jsmith"},
                          {"display", "jsmith"},
                          {"$ref", "https://keys.example/scim/v2/Users/jsmith"}}}));
  // PUT: the members become exactly these.
  HttpResponse put =
      Scim("PUT", "/Groups/tour-guides",
           json{{"displayName", "Tour Guides"}, {"members", {{{"value", "bjensen"}}}}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(Json(put)["members"].size(), 1u);
  EXPECT_TRUE(Json(Scim("GET", "/Users/jsmith"))["groups"].empty());
  ExpectError(
      Scim("PATCH", "/Groups/tour-guides",
           Patch({{{"op", "add"}, {"path", "members"}, {"value", {{{"value", "ghost"}}}}}})),
      404);
  ExpectError(Scim("PUT", "/Groups/tour-guides", json{{"displayName", "Renamed"}}), 400,
              "mutability");
  // The excludedAttributes IdPs send on large groups.
  EXPECT_FALSE(
      Json(Scim("GET", "/Groups?excludedAttributes=members"))["Resources"][0].contains("members"));

  ASSERT_EQ(Scim("DELETE", "/Groups/tour-guides").status, 204);
  ExpectError(Scim("GET", "/Groups/tour-guides"), 404);
  EXPECT_TRUE(Json(Scim("GET", "/Users/bjensen"))["groups"].empty());
  ExpectError(Scim("DELETE", "/Groups/admin"), 400, "mutability");  // built-in
}

// SCIM may take people out of the admin group, never put them in.
TEST_F(ScimTest, ScimCannotMakeAnAdmin) {
  ASSERT_EQ(Scim("POST", "/Users", Barbara()).status, 201);
  ExpectError(
      Scim("PATCH", "/Groups/admin",
           Patch({{{"op", "add"}, {"path", "members"}, {"value", {{{"value", "bjensen"}}}}}})),
      403);
  ASSERT_EQ(Scim("PATCH", "/Groups/developer",
                 Patch({{{"op", "add"}, {"path", "members"}, {"value", {{{"value", "bjensen"}}}}}}))
                .status,
            200);
  ASSERT_EQ(
      Call("PUT", "/v1/orgs/default/members/bjensen", R"({"groups": ["admin"]})", admin_).status,
      200);
  HttpResponse out = Scim("PATCH", "/Groups/admin",
                          Patch({{{"op", "remove"}, {"path", "members[value eq \"bjensen\"]"}}}));
  EXPECT_EQ(out.status, 200) << out.body;
}

// Members and groups made in keytrail (the bootstrap admin among them) are an admin's:
// SCIM may not deactivate, delete or move them, nor delete such a group.
TEST_F(ScimTest, ScimChangesOnlyWhatItProvisioned) {
  ASSERT_EQ(
      Call("PUT", "/v1/orgs/default/members/carol", R"({"groups": ["developer"]})", admin_).status,
      200);
  ExpectError(Scim("PATCH", "/Users/carol",
                   Patch({{{"op", "replace"}, {"path", "active"}, {"value", false}}})),
              403);
  ExpectError(Scim("DELETE", "/Users/carol"), 403);
  ExpectError(Scim("PATCH", "/Groups/developer",
                   Patch({{{"op", "remove"}, {"path", "members[value eq \"carol\"]"}}})),
              403);
  ExpectError(Scim("DELETE", "/Groups/developer"), 400, "mutability");
  ExpectError(Scim("POST", "/Users", json{{"userName", "Carol"}}), 409, "uniqueness");
  // An admin's removal of a provisioned member removes it entirely.
  ASSERT_EQ(Scim("POST", "/Users", Barbara()).status, 201);
  ASSERT_EQ(Call("DELETE", "/v1/orgs/default/members/bjensen", "", admin_).status, 204);
  ExpectError(Scim("GET", "/Users/bjensen"), 404);
}

TEST_F(ScimTest, OnlyAKeyWithTheScimPermissionMayCall) {
  ExpectError(Scim("GET", "/Users", {}, std::string()), 401);
  ExpectError(Scim("GET", "/Users", {}, std::string("kt_not_a_key")), 401);
  ExpectError(Scim("GET", "/Users", {}, admin_), 403);  // an admin, but no scim permission
  ExpectError(Scim("POST", "/Users", Barbara(), admin_), 403);
  // Revoked, the SCIM key is nobody.
  ASSERT_EQ(Call("POST", "/v1/orgs/default/keys/" + scim_id_ + "/revoke", "{}", admin_).status,
            200);
  ExpectError(Scim("GET", "/Users"), 401);
}

TEST_F(ScimTest, DiscoveryEndpoints) {
  HttpResponse config = Scim("GET", "/ServiceProviderConfig");
  ASSERT_EQ(config.status, 200);
  EXPECT_EQ(config.content_type, "application/scim+json");
  EXPECT_EQ(Json(config)["patch"]["supported"], true);
  EXPECT_EQ(Json(config)["filter"]["supported"], true);
  EXPECT_EQ(Json(config)["etag"]["supported"], true);
  EXPECT_EQ(Ids(Scim("GET", "/ResourceTypes")), (std::vector<std::string>{"User", "Group"}));
  EXPECT_EQ(Ids(Scim("GET", "/Schemas")),
            (std::vector<std::string>{kUserSchema, "urn:ietf:params:scim:schemas:core:2.0:Group"}));
}

// What an identity provider really sends, start to end; the audit trail names the SCIM
// key for every change.
TEST_F(ScimTest, AnIdentityProvidersLifecycle) {
  // 1. Create the user (after looking it up by userName, as Okta does).
  EXPECT_EQ(Json(Scim("GET", "/Users?filter=userName%20eq%20%22bjensen%22"))["totalResults"], 0);
  ASSERT_EQ(Scim("POST", "/Users", Barbara()).status, 201);
  // 2. Push a group with the user in it.
  ASSERT_EQ(Scim("POST", "/Groups", json{{"displayName", "Engineering"}}).status, 201);
  ASSERT_EQ(Scim("PATCH", "/Groups/engineering",
                 Patch({{{"op", "add"}, {"path", "members"}, {"value", {{{"value", "bjensen"}}}}}}))
                .status,
            200);
  // 3. Deactivate, 4. reactivate.
  ASSERT_EQ(Scim("PATCH", "/Users/bjensen",
                 Patch({{{"op", "replace"}, {"path", "active"}, {"value", false}}}))
                .status,
            200);
  EXPECT_EQ(Json(Scim("GET", "/Users?filter=active%20eq%20false"))["totalResults"], 1);
  ASSERT_EQ(Scim("PATCH", "/Users/bjensen",
                 Patch({{{"op", "replace"}, {"path", "active"}, {"value", true}}}))
                .status,
            200);
  // 5. Remove from the group, 6. delete.
  ASSERT_EQ(
      Scim("PATCH", "/Groups/engineering",
           Patch({{{"op", "remove"}, {"path", "members"}, {"value", {{{"value", "bjensen"}}}}}}))
          .status,
      200);
  EXPECT_TRUE(Json(Scim("GET", "/Groups/engineering"))["members"].empty());
  ASSERT_EQ(Scim("DELETE", "/Users/bjensen").status, 204);
  ExpectError(Scim("GET", "/Users/bjensen"), 404);
  ExpectError(Scim("DELETE", "/Users/bjensen"), 404);

  const json trail =
      Json(Call("GET", "/v1/orgs/default/audit?actor=" + scim_id_ + "&page_size=100", "", admin_));
  std::vector<std::string> actions;
  for (const json& record : trail["records"]) actions.push_back(record["action"]);
  EXPECT_EQ(actions, (std::vector<std::string>{"member.profile_updated", "group.created",
                                               "member.groups_updated", "member.profile_updated",
                                               "member.profile_updated", "member.groups_updated",
                                               "member.deprovisioned"}));
}

}  // namespace
}  // namespace keytrail::server
