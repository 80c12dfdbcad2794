// The transport-independent pieces of the HTTP API: router, request targets, wire
// formats, strict JSON bodies, the interim authorization policy.
#include "server/router.h"

#include <gtest/gtest.h>

#include "server/auth.h"
#include "server/http.h"
#include "server/json_io.h"
#include "server/problem.h"
#include "server/wire_format.h"

namespace keytrail::server {
namespace {

Handler Named(std::string name) {
  return [name](const RoutedRequest&) {
    HttpResponse r;
    r.body = name;
    return r;
  };
}

TEST(Router, CapturesDecodedParametersAndSeparates404From405) {
  Router router;
  router.Add("GET", "/v1/orgs/{org}/keys", Named("list"));
  router.Add("POST", "/v1/orgs/{org}/keys", Named("create"));
  router.Add("GET", "/v1/orgs/{org}/keys/{id}", Named("get"));

  auto found = router.Find("GET", "/v1/orgs/ac%2Dme/keys/abc");
  ASSERT_EQ(found.kind, Router::Match::Kind::kFound);
  EXPECT_EQ(found.route->pattern, "/v1/orgs/{org}/keys/{id}");
  EXPECT_EQ(found.params.Get("org"), "ac-me");
  EXPECT_EQ(found.params.Get("id"), "abc");

  EXPECT_EQ(router.Find("POST", "/v1/orgs/acme/keys").route->pattern, "/v1/orgs/{org}/keys");

  auto wrong = router.Find("DELETE", "/v1/orgs/acme/keys");
  EXPECT_EQ(wrong.kind, Router::Match::Kind::kWrongMethod);
  EXPECT_EQ(wrong.allowed, (std::vector<std::string>{"GET", "POST"}));

  EXPECT_EQ(router.Find("GET", "/v1/orgs/acme").kind, Router::Match::Kind::kNoRoute);
  EXPECT_EQ(router.Find("GET", "/v1/orgs//keys").kind, Router::Match::Kind::kNoRoute);
  EXPECT_EQ(router.Find("GET", "/v1/orgs/acme/keys/").kind, Router::Match::Kind::kNoRoute);
  EXPECT_EQ(router.Find("GET", "/v1/orgs/%zz/keys").kind, Router::Match::Kind::kNoRoute);
  EXPECT_EQ(router.Find("GET", "").kind, Router::Match::Kind::kNoRoute);
}

TEST(Router, RestCaptureAndAnyMethod) {
  Router router;
  router.Add("GET", "/v1/check", Named("exact"));
  router.Add(std::string(kAnyMethod), "/v1/check/{path...}", Named("prefixed"));

  auto deep = router.Find("DELETE", "/v1/check/graphs/a%20b/x");
  ASSERT_EQ(deep.kind, Router::Match::Kind::kFound);
  EXPECT_EQ(deep.route->pattern, "/v1/check/{path...}");
  EXPECT_EQ(deep.params.Get("path"), "graphs/a%20b/x");  // as sent
  auto root = router.Find("PATCH", "/v1/check/");
  ASSERT_EQ(root.kind, Router::Match::Kind::kFound);
  EXPECT_EQ(root.params.Get("path"), "");
  // The rest capture needs its segment: the bare path is the exact route's.
  EXPECT_EQ(router.Find("GET", "/v1/check").route->pattern, "/v1/check");
  EXPECT_EQ(router.Find("POST", "/v1/check").kind, Router::Match::Kind::kWrongMethod);
  EXPECT_EQ(router.Find("GET", "/v1/checkx/a").kind, Router::Match::Kind::kNoRoute);
}

TEST(SplitTarget, DecodesTheQuery) {
  auto split = SplitTarget("/v1/x?group=ci%20bots&status=active&flag&a+b=c+d");
  ASSERT_TRUE(split.has_value());
  EXPECT_EQ(split->path, "/v1/x");
  ASSERT_EQ(split->query.size(), 4u);
  EXPECT_EQ(split->query[0], (std::pair<std::string, std::string>{"group", "ci bots"}));
  EXPECT_EQ(split->query[2], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_EQ(split->query[3], (std::pair<std::string, std::string>{"a b", "c d"}));
  EXPECT_FALSE(SplitTarget("/x?a=%4").has_value());
  EXPECT_FALSE(SplitTarget("/x?a=%G0").has_value());
  EXPECT_EQ(SplitTarget("/plain")->path, "/plain");
}

TEST(HttpRequest, HeadersAreCaseInsensitive) {
  HttpRequest request;
  request.headers = {{"authorization", "Bearer x"}};
  EXPECT_EQ(request.Header("Authorization"), "Bearer x");
  EXPECT_FALSE(request.Header("idempotency-key").has_value());
  HttpResponse response;
  response.SetHeader("Allow", "GET");
  response.SetHeader("allow", "POST");
  ASSERT_EQ(response.headers.size(), 1u);
  EXPECT_EQ(response.headers[0].value, "POST");
}

TEST(WireFormat, Rfc3339RoundTrips) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(1'767'225'600'000'000), "2026-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(1'767'225'600'000'042), "2026-01-01T00:00:00.000042Z");
  EXPECT_EQ(FormatRfc3339(-1'000'000), "1969-12-31T23:59:59Z");
  for (Micros t : {Micros{0}, Micros{1'767'225'600'123'456}, Micros{951'782'400'000'000}}) {
    EXPECT_EQ(ParseRfc3339Time(FormatRfc3339(t)), t);
  }
  EXPECT_FALSE(ParseRfc3339Time("30d").has_value());
  EXPECT_FALSE(ParseRfc3339Time("2026-13-01T00:00:00Z").has_value());
}

TEST(WireFormat, Durations) {
  constexpr Micros kS = 1'000'000;
  EXPECT_EQ(ParseDuration("0s"), 0);
  EXPECT_EQ(ParseDuration("90s"), 90 * kS);
  EXPECT_EQ(ParseDuration("15m"), 900 * kS);
  EXPECT_EQ(ParseDuration("1h30m"), 5400 * kS);
  EXPECT_EQ(ParseDuration("24h"), 86400 * kS);
  for (const char* bad : {"", "1", "h", "1d", "-1s", "1.5h", "1h ", " 1h", "99999999999h"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(WireFormat, ExpiredIsShownFromTheExpiryOn) {
  model::KeyRecord key;
  key.expires_at_us = 100;
  EXPECT_EQ(DisplayStatus(key, 99), "active");
  EXPECT_EQ(DisplayStatus(key, 100), "expired");
  key.status = model::KeyStatus::kRevoked;
  EXPECT_EQ(DisplayStatus(key, 100), "revoked");
  key.status = model::KeyStatus::kExpired;
  EXPECT_EQ(DisplayStatus(key, 0), "expired");
  key = {};
  EXPECT_EQ(DisplayStatus(key, 1'000'000'000'000'000), "active");  // never expires
}

TEST(BodyReader, IsStrict) {
  {
    BodyReader body(R"({"name": "x", "permissions": ["scim"]})", {"name", "permissions"});
    EXPECT_EQ(body.String("name", true), "x");
    EXPECT_EQ(body.StringArray("permissions", false), (std::vector<std::string>{"scim"}));
    EXPECT_FALSE(body.String("absent", false).has_value());
    EXPECT_TRUE(body.ok());
  }
  auto error_of = [](std::string_view text) {
    BodyReader body(text, {"name", "permissions"});
    body.String("name", true);
    body.StringArray("permissions", false);
    return body.ok() ? std::string() : body.problem().body;
  };
  EXPECT_NE(error_of("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("[]").find("must be a JSON object"), std::string::npos);
  EXPECT_NE(error_of("").find("must be a JSON object"), std::string::npos);
  EXPECT_NE(error_of(R"({"name": 1})").find("'name' must be a string"), std::string::npos);
  EXPECT_NE(error_of(R"({"name": "x", "extra": 1})").find("unknown field 'extra'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"permissions": []})").find("'name' is required"), std::string::npos);
  EXPECT_NE(error_of(R"({"name": "x", "permissions": [1]})").find("array of strings"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"name": "x"})"), "");
  BodyReader empty("  ", {"grace"}, /*empty_ok=*/true);
  EXPECT_TRUE(empty.ok());
  EXPECT_EQ(BodyReader("{", {}).problem().status, 400);
}

TEST(Problems, RejectionsMapInOnePlace) {
  using C = domain::RejectionCode;
  EXPECT_EQ(StatusForRejection(C::kKeyNotFound), 404);
  EXPECT_EQ(StatusForRejection(C::kGroupNotFound), 404);
  EXPECT_EQ(StatusForRejection(C::kOrgNotFound), 404);
  EXPECT_EQ(StatusForRejection(C::kNameTaken), 409);
  EXPECT_EQ(StatusForRejection(C::kAlreadyRevoked), 409);
  EXPECT_EQ(StatusForRejection(C::kQuotaExceeded), 409);
  EXPECT_EQ(StatusForRejection(C::kInvalidName), 422);
  EXPECT_EQ(StatusForRejection(C::kInvalidExpiration), 422);
  HttpResponse r = RejectionProblem({C::kNameTaken, "a key named 'x' exists"});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_NE(r.body.find(R"("code":"name_taken")"), std::string::npos);
  EXPECT_EQ(StatusProblem(Status::Unavailable("kafka down")).status, 503);
  EXPECT_EQ(StatusProblem(Status::IoError("disk")).status, 500);
}

TEST(Auth, BearerTokenParsing) {
  HttpRequest request;
  EXPECT_FALSE(BearerToken(request).has_value());
  request.headers = {{"authorization", "Bearer kt_abc"}};
  EXPECT_EQ(BearerToken(request), "kt_abc");
  request.headers = {{"authorization", "bearer   kt_abc  "}};
  EXPECT_EQ(BearerToken(request), "kt_abc");
  request.headers = {{"authorization", "Basic a2V5"}};
  EXPECT_FALSE(BearerToken(request).has_value());
  request.headers = {{"authorization", "Bearer "}};
  EXPECT_FALSE(BearerToken(request).has_value());
}

}  // namespace
}  // namespace keytrail::server
