// A real nginx (Debian's) with the docs' auth_request configuration in front of a tiny
// service, asking a real `keytrail serve` about every request (docs/gateways.md).
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/e2e/api_client.h"
#include "tests/e2e/nginx_process.h"
#include "tests/e2e/serve_process.h"
#include "tests/support/temp_dir.h"

namespace keytrail::testing {
namespace {

using nlohmann::json;

// The protected service's answer: the identity headers it received, by name.
std::map<std::string, std::string> Seen(const std::string& body) {
  std::map<std::string, std::string> seen;
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) seen[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return seen;
}

// An RFC 3339 time `from_now` (whole seconds) from now.
std::string Rfc3339In(std::chrono::seconds from_now) {
  const std::time_t at =
      std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + from_now);
  std::tm utc{};
  gmtime_r(&at, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kNginxBinary, X_OK), 0)
        << kNginxBinary << " is missing: tools/install-deps.sh installs nginx-light";
    server_ = std::make_unique<ServeProcess>(
        dir_.path() + "/data",
        std::vector<std::string>{"--bootstrap-token-file", dir_.path() + "/token"});
    ASSERT_TRUE(server_->started());
    std::ifstream token(dir_.path() + "/token");
    ASSERT_TRUE(std::getline(token, admin_)) << "no bootstrap token file";
    nginx_ = std::make_unique<NginxProcess>(dir_.path() + "/nginx", server_->address());
    ASSERT_TRUE(nginx_->started()) << nginx_->error_log();
  }

  // A new key of `group` (and `extra` fields); its id and token.
  std::pair<std::string, std::string> NewKey(const std::string& name, const std::string& group,
                                             const std::string& extra = "") {
    Api admin(server_->address(), admin_);
    auto [status, key] =
        admin.Call("POST", "/v1/orgs/default/keys",
                   R"({"name": ")" + name + R"(", "group": ")" + group + "\"" + extra + "}");
    EXPECT_EQ(status, 201) << key.dump();
    if (status != 201) return {};
    return {key["id"], key["token"]};
  }

  // A request through nginx with these headers.
  HttpClient::Response Through(const std::string& method, const std::string& path,
                               Headers headers) {
    HttpClient client(nginx_->address());
    return client.Send(method, path, "", headers);
  }
  HttpClient::Response WithKey(const std::string& method, const std::string& path,
                               const std::string& token) {
    return Through(method, path, {{"Authorization", "Bearer " + token}});
  }

  TempDir dir_;
  std::unique_ptr<ServeProcess> server_;
  std::unique_ptr<NginxProcess> nginx_;
  std::string admin_;
};

TEST_F(GatewayTest, ValidKeysPassWithTheirIdentityAndOthersAreRefused) {
  const auto [dev_id, dev] = NewKey("deploy bot", "developer");
  const auto [viewer_id, viewer] = NewKey("dashboard", "viewer");

  // A valid key passes; the service sees who it is, never the secret.
  auto r = WithKey("GET", "/api/orders", dev);
  ASSERT_EQ(r.status, 200) << r.body << nginx_->error_log();
  auto seen = Seen(r.body);
  EXPECT_EQ(seen["key_id"], dev_id);
  EXPECT_EQ(seen["org"], "default");
  EXPECT_EQ(seen["group"], "developer");
  EXPECT_EQ(seen["secret"], "current");
  EXPECT_EQ(seen["authorization"], "");
  // The X-API-Key form; a client's forged identity header does not get through.
  r = Through("GET", "/api/orders", {{"X-API-Key", viewer}, {"X-Keytrail-Key-Id", dev_id}});
  ASSERT_EQ(r.status, 200);
  seen = Seen(r.body);
  EXPECT_EQ(seen["key_id"], viewer_id);
  EXPECT_EQ(seen["api_key"], "");

  // No key, garbage: 401 with the reason, and nothing reaches the service.
  r = Through("GET", "/api/orders", {});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("x-keytrail-reason"), "missing");
  EXPECT_NE(r.Header("www-authenticate").find("Bearer"), std::string::npos);
  EXPECT_EQ(r.body.find("key_id="), std::string::npos);
  r = WithKey("GET", "/api/orders", "kt_garbage");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("x-keytrail-reason"), "malformed");
  r = Through("GET", "/api/orders", {{"Authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}});
  EXPECT_EQ(r.status, 401);

  // The route's action: a viewer reads payments but may not write them; a developer may.
  EXPECT_EQ(WithKey("GET", "/payments/orders", viewer).status, 200);
  r = WithKey("POST", "/payments/orders", viewer);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Header("x-keytrail-reason"), "not-granted");
  // ...and cannot talk nginx into asking a weaker question.
  r = Through("POST", "/payments/orders",
              {{"Authorization", "Bearer " + viewer}, {"X-Keytrail-Action", "graph:read"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(WithKey("POST", "/payments/orders", dev).status, 200);

  // Revocation stops the next request.
  Api admin(server_->address(), admin_);
  ASSERT_EQ(
      admin.Call("POST", "/v1/orgs/default/keys/" + dev_id + "/revoke", R"({"reason": "leak"})")
          .first,
      200);
  r = WithKey("GET", "/api/orders", dev);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("x-keytrail-reason"), "revoked");
}

TEST_F(GatewayTest, ExpiryAndRotationGraceAreEnforcedAtTheGateway) {
  const auto [short_id, short_lived] = NewKey(
      "short lived", "developer", R"(, "expires": ")" + Rfc3339In(std::chrono::seconds(3)) + "\"");
  const auto [id, old_token] = NewKey("rotating", "developer");
  Api admin(server_->address(), admin_);
  auto [status, rotated] =
      admin.Call("POST", "/v1/orgs/default/keys/" + id + "/rotate", R"({"grace": "2s"})");
  ASSERT_EQ(status, 200) << rotated.dump();
  const std::string new_token = rotated["token"];

  auto r = WithKey("GET", "/api/x", old_token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Seen(r.body)["secret"], "previous");
  EXPECT_EQ(WithKey("GET", "/api/x", short_lived).status, 200);

  // Both end on time (within a few seconds of waiting; nothing here times keytrail).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  int old_status = 200, short_status = 200;
  while ((old_status == 200 || short_status == 200) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    old_status = WithKey("GET", "/api/x", old_token).status;
    short_status = WithKey("GET", "/api/x", short_lived).status;
  }
  EXPECT_EQ(old_status, 401);
  EXPECT_EQ(short_status, 401);
  EXPECT_EQ(WithKey("GET", "/api/x", short_lived).Header("x-keytrail-reason"), "expired");
  r = WithKey("GET", "/api/x", new_token);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Seen(r.body)["secret"], "current");
}

TEST_F(GatewayTest, FailsClosedWhenKeytrailIsDown) {
  const auto [id, token] = NewKey("deploy bot", "developer");
  ASSERT_EQ(WithKey("GET", "/api/orders", token).status, 200);
  EXPECT_EQ(Exited(server_->Stop()), 0);
  const auto r = WithKey("GET", "/api/orders", token);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("key_id="), std::string::npos) << "the request got through";
}

}  // namespace
}  // namespace keytrail::testing
