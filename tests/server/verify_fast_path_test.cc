// The verify fast path (Api::HandleFast through the transport's fast_handler) answers
// exactly as the general path does: the same requests sent over real sockets to a server
// with the fast path and to one without it, both over one Api, get the same status,
// headers and body.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "keys/key_material.h"
#include "server/api.h"
#include "server/bootstrap.h"
#include "server/http_server.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"

namespace keytrail::server {
namespace {

using nlohmann::json;

class VerifyFastPathTest : public testing::EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    auto boot = Bootstrap(engine(), log(), "default");
    ASSERT_OK(boot);
    admin_ = std::string(boot->token->reveal());
    api_ = std::make_unique<Api>(engine(), clock_, ApiOptions{});
    api_->SetReady(true);
    HttpServer::Options options{.listen = "127.0.0.1:0", .threads = 2};
    auto general =
        HttpServer::Start(options, [this](const HttpRequest& r) { return api_->Handle(r); });
    ASSERT_OK(general);
    general_ = std::move(general).value();
    options.fast_handler = [this](const FastRequest& r, std::string* out) {
      return api_->HandleFast(r, out);
    };
    auto fast =
        HttpServer::Start(options, [this](const HttpRequest& r) { return api_->Handle(r); });
    ASSERT_OK(fast);
    fast_ = std::move(fast).value();
  }

  void TearDown() override {
    fast_->Shutdown(std::chrono::seconds(5));
    general_->Shutdown(std::chrono::seconds(5));
  }

  // A new key's token, in group `group`.
  std::string NewKey(const std::string& name, const std::string& group = "viewer",
                     json extra = json::object()) {
    testing::HttpClient client(general_->address());
    extra["name"] = name;
    extra["group"] = group;
    auto r = client.Send("POST", "/v1/orgs/default/keys", extra.dump(),
                         {{"Authorization", "Bearer " + admin_}});
    EXPECT_EQ(r.status, 201) << r.body;
    json body = json::parse(r.body);
    created_ids_.push_back(body["id"]);
    return body["token"];
  }

  // Sends the same request to both servers; expects the same answer and returns it.
  testing::HttpClient::Response Both(const std::string& body,
                                     std::vector<std::pair<std::string, std::string>> headers = {},
                                     const std::string& target = "/v1/verify") {
    headers.emplace_back("X-Request-Id", "same-id");
    testing::HttpClient general(general_->address()), fast(fast_->address());
    auto expected = general.Send("POST", target, body, headers);
    auto got = fast.Send("POST", target, body, headers);
    EXPECT_EQ(got.status, expected.status) << body;
    EXPECT_EQ(got.headers, expected.headers) << body;
    EXPECT_EQ(got.body, expected.body) << body;
    return got;
  }

  bool TakesFastPath(const std::string& body, const std::string& authorization = "") {
    std::string out;
    const bool taken = api_->HandleFast(
        FastRequest{
            .method = "POST", .target = "/v1/verify", .body = body, .authorization = authorization},
        &out);
    EXPECT_EQ(taken, !out.empty());
    return taken;
  }

  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> general_, fast_;
  std::string admin_;
  std::vector<std::string> created_ids_;
};

TEST_F(VerifyFastPathTest, SameAnswersAsTheGeneralPath) {
  const std::string valid = NewKey("valid");
  const std::string scim = NewKey("scim", "admin", {{"permissions", {"scim", "on-behalf-of"}}});
  const std::string revoked = NewKey("revoked");
  {
    testing::HttpClient client(general_->address());
    ASSERT_EQ(client
                  .Send("POST", "/v1/orgs/default/keys/" + created_ids_.back() + "/revoke", "{}",
                        {{"Authorization", "Bearer " + admin_}})
                  .status,
              200);
  }
  std::string malformed = valid;
  malformed[5] = malformed[5] == 'A' ? 'B' : 'A';  // a checksum mismatch
  TokenCodec codec;
  const std::string unknown(codec.Issue(SystemRandom()).token.reveal());
  for (const std::string& token : {valid, scim, revoked, admin_, unknown, malformed,
                                   std::string("kt_short"), std::string("")}) {
    Both(R"({"key":")" + token + R"("})");
    Both(" {\n \"key\" : \t\"" + token + "\" } \r\n");
    Both("", {{"Authorization", "Bearer " + token}});
    Both("", {{"Authorization", "bEaReR " + token}});
  }
  auto answer = Both(R"({"key":")" + valid + R"("})");
  EXPECT_EQ(json::parse(answer.body)["valid"], true);
  EXPECT_EQ(json::parse(answer.body)["secret"], "current");
  EXPECT_EQ(json::parse(Both(R"({"key":")" + revoked + R"("})").body)["reason"], "revoked");
  Both(R"({"key":")" + valid + R"("})", {}, "/v1/keys/verify");
  // Bodies the fast path leaves to the general one: the same answers, errors included.
  Both(R"({"key":")" + valid + R"(", "other": 1})");
  Both(R"({"key":"\u006bt_)" + valid.substr(3) + R"("})");
  Both(R"({"key": 42})");
  Both(R"({"key":")" + valid + R"( "})");
  Both(R"({"key":" )" + valid + R"("})");
  Both(R"({"key":")" + valid + R"(")");
  Both("");
  Both("", {{"Authorization", "Basic abc"}});
  Both("", {{"Connection", "close"}, {"Authorization", "Bearer " + valid}});
}

TEST_F(VerifyFastPathTest, TakesOnlyTheSimpleShapes) {
  const std::string valid = NewKey("valid");
  EXPECT_TRUE(TakesFastPath(R"({"key":")" + valid + R"("})"));
  EXPECT_TRUE(TakesFastPath(R"({"key":"anything_of_token_characters"})"));
  EXPECT_TRUE(TakesFastPath("", "Bearer " + valid));
  EXPECT_FALSE(TakesFastPath(""));
  EXPECT_FALSE(TakesFastPath("", "Bearer a b"));
  EXPECT_FALSE(TakesFastPath(R"({"key":"a\"b"})"));
  // A space inside the string is part of the token (found by the http_request fuzzer:
  // the fast path read the token without it).
  EXPECT_FALSE(TakesFastPath(R"({"key":")" + valid + R"( "})"));
  EXPECT_FALSE(TakesFastPath(R"({"key":"x"} trailing)"));
  EXPECT_FALSE(TakesFastPath(R"({"key":"x","key":"y"})"));
  EXPECT_FALSE(TakesFastPath(R"(["key"])"));
  std::string out;
  EXPECT_FALSE(api_->HandleFast({.method = "GET", .target = "/v1/verify"}, &out));
  EXPECT_FALSE(api_->HandleFast(
      {.method = "POST", .target = "/v1/verify?x=1", .body = R"({"key":"x"})"}, &out));
  EXPECT_FALSE(
      api_->HandleFast({.method = "POST", .target = "/v1/keys", .body = R"({"key":"x"})"}, &out));
  EXPECT_TRUE(out.empty());
}

// Sends `bytes` on a new connection and reads until `responses` whole responses (each
// with a Content-Length) have arrived or the server closes.
std::string Exchange(const std::string& address, const std::string& bytes, int responses) {
  const size_t colon = address.rfind(':');
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &peer.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof(peer)), 0);
  EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  std::string in;
  const std::regex length("Content-Length: (\\d+)\r\n");
  auto complete = [&] {
    size_t at = 0;
    for (int i = 0; i < responses; ++i) {
      const size_t end = in.find("\r\n\r\n", at);
      if (end == std::string::npos) return false;
      std::smatch m;
      std::string head = in.substr(at, end - at + 2);
      if (!std::regex_search(head, m, length)) return false;
      at = end + 4 + std::stoul(m[1]);
      if (at > in.size()) return false;
    }
    return true;
  };
  char buffer[4096];
  while (!complete()) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    in.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return in;
}

// Byte for byte, header order included: the same raw request to both servers.
TEST_F(VerifyFastPathTest, SameBytesAsTheGeneralPath) {
  const std::string valid = NewKey("valid");
  for (const std::string& extra : {std::string(), std::string("Connection: close\r\n")}) {
    for (const std::string& body :
         {R"({"key":")" + valid + R"("})", std::string(R"({"key":"kt_x"})")}) {
      const std::string request = "POST /v1/verify HTTP/1.1\r\nHost: x\r\nX-Request-Id: same\r\n" +
                                  extra + "Content-Length: " + std::to_string(body.size()) +
                                  "\r\n\r\n" + body;
      EXPECT_EQ(Exchange(fast_->address(), request, 1), Exchange(general_->address(), request, 1))
          << extra << body;
    }
  }
}

TEST_F(VerifyFastPathTest, PipelinedAndKeptAliveRequests) {
  const std::string valid = NewKey("valid");
  const std::string body = R"({"key":")" + valid + R"("})";
  const std::string request =
      "POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  // Three requests in one write, the last asking to close: three answers in order.
  std::string close_request = request;
  close_request.insert(close_request.find("\r\n\r\n"), "\r\nConnection: close");
  const std::string answers = Exchange(fast_->address(), request + request + close_request, 3);
  size_t count = 0;
  for (size_t at = answers.find("HTTP/1.1 200 OK"); at != std::string::npos;
       at = answers.find("HTTP/1.1 200 OK", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 3u) << answers;
  EXPECT_EQ(answers.find("Connection: close"), answers.rfind("Connection: close"));
  EXPECT_NE(answers.find("Connection: close"), std::string::npos);
  EXPECT_NE(answers.rfind(R"("valid":true)"), answers.find(R"("valid":true)"));

  // Kept alive through many answers, each counted in /metrics.
  testing::HttpClient client(fast_->address());
  for (int i = 0; i < 20; ++i) {
    auto r = client.Send("POST", "/v1/verify", body);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("content-type"), "application/json");
    EXPECT_FALSE(r.Header("x-request-id").empty());
  }
  const std::string metrics = client.Send("GET", "/metrics").body;
  EXPECT_NE(
      metrics.find(
          R"(keytrail_http_requests_total{method="POST",route="/v1/verify",status="200"} 23)"),
      std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(keytrail_verify_total{reason="valid"} 23)"), std::string::npos);
  EXPECT_NE(metrics.find(R"(keytrail_http_request_duration_seconds_count{route="/v1/verify"} 23)"),
            std::string::npos);
}

}  // namespace
}  // namespace keytrail::server
