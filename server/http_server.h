// HttpServer: keytrail's HTTP/1.1 transport (Boost.Beast, kept inside server/*.cc).
// It accepts connections on one address and runs every request through one Handler
// on a pool of io threads. The transport knows nothing of the application: it reads a
// request, calls handler(request) -> response, writes the response.
//
// Limits: at most max_connections connections (the oldest idle one is shed for a new
// one). Per connection: request bodies over max_body_bytes get 413 and the connection
// closes; headers over max_header_bytes get 431; a connection idle (or slow to send a
// request, or to take a response) for idle_timeout is closed. Keep-alive and pipelined
// requests are served in order, one at a time per connection.
//
// Handlers run on the io threads and must not block: a response that has to wait (a
// command on its way to the log) is given later (HttpResponse::later), and the io
// thread serves other connections meanwhile. Each io thread runs its own io context and
// the connections dealt to it in turn (the first also accepts), so a handler that takes
// long delays its own thread's connections only, and the other threads go on. The io
// threads run until Shutdown.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "server/http.h"

namespace keytrail::server {

// One listening address and its io threads; see the file comment.
class HttpServer {
 public:
  using RequestHandler = std::function<HttpResponse(const HttpRequest&)>;
  // Builds the response for a request the transport refuses itself (400 unparsable,
  // 413 body too large, 431 headers too large, 500 handler threw). `code` is a stable
  // snake_case word such as "body_too_large".
  using ErrorResponder =
      std::function<HttpResponse(int status, std::string_view code, std::string_view detail)>;

  struct Options {
    std::string listen = "127.0.0.1:8080";  // host:port; IPv6 as [::1]:8080; port 0 = any free
    int threads = 2;
    size_t max_body_bytes = 64 * 1024;
    size_t max_header_bytes = 16 * 1024;
    std::chrono::milliseconds idle_timeout{30'000};
    ErrorResponder error_response;  // empty: a text/plain body
    // Open connections at most. At the limit, a new connection makes the oldest idle one
    // (waiting for its next request) close; if none is idle, the new one is closed at
    // once. 0 = the process's file descriptor limit minus 256 kept for the log, the views
    // and Kafka (at least 64).
    size_t max_connections = 0;
    // Tried before the handler for every HTTP/1.1 request that was read whole; empty:
    // none. It answers the hot requests (verify) without the general path's copies.
    FastHandler fast_handler;
  };

  // Binds, listens and starts the io threads. Errors: kInvalidArgument (bad address or
  // options), kUnavailable (the address cannot be bound, e.g. in use).
  static Result<std::unique_ptr<HttpServer>> Start(Options options, RequestHandler handler);
  ~HttpServer();  // Shutdown(0)
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound address, "127.0.0.1:34567" (the real port when 0 was asked for).
  const std::string& address() const;

  // Stops accepting, closes idle connections, lets requests in flight finish and
  // answers them with "Connection: close", waits up to `grace` for connections to end,
  // then cancels what is left and joins the io threads. Idempotent; not concurrently
  // with itself.
  void Shutdown(std::chrono::milliseconds grace);

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses "host:port" or "[v6]:port" ("localhost" means 127.0.0.1). False if malformed.
bool ParseListenAddress(std::string_view text, std::string* host, uint16_t* port);

}  // namespace keytrail::server
