// The HTTP transport (server/http_server.h) over real sockets: a streamed response whose
// producer throws cuts only itself, HTTP/1.0 clients get the body streamed, delimited by
// the end of the connection, the connection limit sheds idle connections, and the idle
// timeout closes connections that stall but not those waiting for a slow answer.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "server/http_server.h"
#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"

namespace keytrail::server {
namespace {

// A connected socket to `address`, or -1.
int Connect(const std::string& address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` on a new connection and reads until the server closes it.
std::string Exchange(const std::string& address, const std::string& request) {
  const int fd = Connect(address);
  std::string reply;
  if (fd >= 0 && ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                     static_cast<ssize_t>(request.size())) {
    char chunk[4096];
    ssize_t n;
    while ((n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0)
      reply.append(chunk, static_cast<size_t>(n));
  }
  if (fd >= 0) ::close(fd);
  return reply;
}

// Whether the server closed `fd` (recv sees the end, or a reset) within its timeout.
bool ClosedByServer(int fd) {
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// Sends `request` on `fd` and reads until the reply holds `body_end`; "" if the
// connection ends first.
std::string Roundtrip(int fd, const std::string& request, std::string_view body_end) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return "";
  }
  std::string reply;
  char chunk[4096];
  while (reply.find(body_end) == std::string::npos) {
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return "";
    reply.append(chunk, static_cast<size_t>(n));
  }
  return reply;
}

class TransportTest : public ::testing::Test {
 protected:
  virtual size_t MaxConnections() const { return 0; }
  virtual std::chrono::milliseconds IdleTimeout() const { return std::chrono::seconds(30); }
  void SetUp() override {
    auto http = HttpServer::Start({.listen = "127.0.0.1:0",
                                   .threads = 2,
                                   .idle_timeout = IdleTimeout(),
                                   .max_connections = MaxConnections()},
                                  [this](const HttpRequest& request) { return Handle(request); });
    ASSERT_OK(http);
    http_ = std::move(http).value();
  }
  void TearDown() override {
    http_->Shutdown(std::chrono::seconds(2));
    for (std::thread& t : answerers_) t.join();
  }

  // /ok: "ok"; /later: "later", answered a second after the request; /stream: three
  // lines; /throws: a line, then the producer throws.
  HttpResponse Handle(const HttpRequest& request) {
    HttpResponse response;
    response.content_type = "text/plain";
    if (request.target == "/ok") {
      response.body = "ok";
      return response;
    }
    if (request.target == "/later") {
      response.later = [this](Responder responder) {
        answerers_.emplace_back([responder] {
          std::this_thread::sleep_for(std::chrono::seconds(1));
          responder.post([respond = responder.respond] {
            HttpResponse answer;
            answer.content_type = "text/plain";
            answer.body = "later";
            respond(std::move(answer));
          });
        });
      };
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
  std::vector<std::thread> answerers_;  // one /later request at a time
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
  const std::string chunked =
      Exchange(http_->address(), "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(chunked.find("Transfer-Encoding: chunked"), std::string::npos) << chunked;
  EXPECT_NE(chunked.find("0\r\n\r\n"), std::string::npos) << chunked;
}

class ConnectionLimitTest : public TransportTest {
 protected:
  size_t MaxConnections() const override { return 3; }
};

TEST_F(ConnectionLimitTest, ANewConnectionShedsTheOldestIdleOneAndBusyOnesAreKept) {
  // Three idle connections fill the server.
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(Connect(http_->address()));
    ASSERT_GE(idle.back(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // accepted in this order
  }
  // A fourth is served: the oldest idle one makes room.
  testing::HttpClient fourth(http_->address());
  EXPECT_EQ(fourth.Send("GET", "/ok").status, 200);
  EXPECT_TRUE(ClosedByServer(idle[0])) << "the oldest idle connection was kept";
  for (int fd : idle) ::close(fd);
  fourth.Close();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  // A slowloris (half a request, forever) is shed like an idle one.
  const int slow = Connect(http_->address());
  const std::string half = "GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  ASSERT_EQ(::send(slow, half.data(), half.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(half.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::vector<std::unique_ptr<testing::HttpClient>> others;
  for (int i = 0; i < 3; ++i) {
    others.push_back(std::make_unique<testing::HttpClient>(http_->address()));
    EXPECT_EQ(others.back()->Send("GET", "/ok").status, 200);
  }
  EXPECT_TRUE(ClosedByServer(slow));
  ::close(slow);
}

// The idle timeout: a connection closes when the read or write under way is not done
// in time, whatever else the server does meanwhile.
class IdleTimeoutTest : public TransportTest {
 protected:
  std::chrono::milliseconds IdleTimeout() const override { return std::chrono::milliseconds(500); }
};

TEST_F(IdleTimeoutTest, AConnectionThatSendsNothingOrHalfARequestIsClosed) {
  for (const std::string& sent : {std::string(), std::string("GET /ok HTTP/1.1\r\nHost: x\r\n")}) {
    const int fd = Connect(http_->address());
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, sent.data(), sent.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(sent.size()));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(ClosedByServer(fd)) << "still open after 5 s, having sent: " << sent;
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(450));
    ::close(fd);
  }
}

TEST_F(IdleTimeoutTest, RequestsKeepAConnectionOpenLongerThanTheTimeout) {
  const int fd = Connect(http_->address());
  ASSERT_GE(fd, 0);
  // Ten requests 100 ms apart: a second in all, the connection never idle for 500 ms.
  for (int i = 0; i < 10; ++i) {
    const std::string reply = Roundtrip(fd, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n\r\nok");
    ASSERT_TRUE(reply.starts_with("HTTP/1.1 200")) << "request " << i << ": " << reply;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Then idle: closed.
  EXPECT_TRUE(ClosedByServer(fd));
  ::close(fd);
}

TEST_F(IdleTimeoutTest, AnAnswerSlowerThanTheTimeoutIsStillSent) {
  // The request is read; its answer takes a second (a command on its way to the log).
  const int fd = Connect(http_->address());
  ASSERT_GE(fd, 0);
  const std::string reply =
      Roundtrip(fd, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n\r\nlater");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  // The connection is kept alive and serves the next request.
  EXPECT_TRUE(Roundtrip(fd, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n\r\nok")
                  .starts_with("HTTP/1.1 200"));
  ::close(fd);
}

}  // namespace
}  // namespace keytrail::server
