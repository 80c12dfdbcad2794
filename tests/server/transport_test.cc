// The HTTP transport (server/http_server.h) with streamed responses, over real sockets:
// a producer that throws cuts only its own response, and HTTP/1.0 clients get the body
// streamed, delimited by the end of the connection.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include "server/http_server.h"
#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"

namespace keytrail::server {
namespace {

// Sends `request` on a new connection and reads until the server closes it.
std::string Exchange(const std::string& address, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char chunk[4096];
    ssize_t n;
    while ((n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0) reply.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply;
}

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto http = HttpServer::Start({.listen = "127.0.0.1:0", .threads = 2},
                                  [this](const HttpRequest& request) { return Handle(request); });
    ASSERT_OK(http);
    http_ = std::move(http).value();
  }
  void TearDown() override { http_->Shutdown(std::chrono::seconds(2)); }

  // /ok: "ok"; /stream: three lines; /throws: a line, then the producer throws.
  HttpResponse Handle(const HttpRequest& request) {
    HttpResponse response;
    response.content_type = "text/plain";
    if (request.target == "/ok") {
      response.body = "ok";
      return response;
    }
    auto calls = std::make_shared<int>(0);
    const bool throws = request.target == "/throws";
    response.stream = [calls, throws](std::string* out) {
      ++*calls;
      if (throws && *calls == 2) throw std::runtime_error("a page could not be read");
      out->append("line " + std::to_string(*calls) + "\n");
      return *calls < 3;
    };
    return response;
  }

  std::unique_ptr<HttpServer> http_;
};

TEST_F(TransportTest, AProducerThatThrowsCutsItsResponseAndTheServerGoesOn) {
  const std::string reply = Exchange(http_->address(), "GET /throws HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  EXPECT_NE(reply.find("line 1"), std::string::npos);
  EXPECT_EQ(reply.find("0\r\n\r\n"), std::string::npos) << "cut, so no last chunk: " << reply;
  // The process and its io threads are fine.
  testing::HttpClient client(http_->address());
  EXPECT_EQ(client.Send("GET", "/ok").status, 200);
}

TEST_F(TransportTest, Http10ClientsGetTheBodyStreamedUntilTheConnectionCloses) {
  const std::string reply = Exchange(http_->address(), "GET /stream HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(reply.starts_with("HTTP/1.0 200")) << reply;
  const std::string head = reply.substr(0, reply.find("\r\n\r\n"));
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << "built in memory: " << head;
  EXPECT_EQ(head.find("chunked"), std::string::npos) << head;
  EXPECT_EQ(reply.substr(reply.find("\r\n\r\n") + 4), "line 1\nline 2\nline 3\n");
  // HTTP/1.1 gets chunks.
  const std::string chunked = Exchange(http_->address(),
                                       "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(chunked.find("Transfer-Encoding: chunked"), std::string::npos) << chunked;
  EXPECT_NE(chunked.find("0\r\n\r\n"), std::string::npos) << chunked;
}

}  // namespace
}  // namespace keytrail::server
