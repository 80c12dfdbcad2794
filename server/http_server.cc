#include "server/http_server.h"

#include <sys/resource.h>

#include <charconv>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include "base/thread_name.h"
#include "server/connections.h"
#include "server/listener.h"
#include "server/log.h"

namespace keytrail::server {

namespace net = boost::asio;

// One io context per io thread, its thread and what the listener and sessions share.
// A connection lives on one context (the listener deals them out in turn), so its
// handlers run on one thread without a strand, and a request never wakes another thread
// to be answered.
struct HttpServer::Impl {
  struct IoThread {
    // Concurrency hint 1: one thread runs it (others only post to it).
    net::io_context ioc{1};
    // Keeps the thread running while nothing is pending on its context, e.g. during
    // shutdown while a response waits for a command (HttpResponse::later).
    net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
    std::thread thread;
  };

  explicit Impl(int count) {
    for (int i = 0; i < count; ++i) io.push_back(std::make_unique<IoThread>());
  }

  std::vector<std::unique_ptr<IoThread>> io;
  std::shared_ptr<ServerShared> shared;
  std::shared_ptr<Listener> listener;
  std::string address;
  bool shut_down = false;
};

bool ParseListenAddress(std::string_view text, std::string* host, uint16_t* port) {
  std::string_view host_part, port_part;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    host_part = text.substr(1, close - 1);
    port_part = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host_part = text.substr(0, colon);
    port_part = text.substr(colon + 1);
    if (host_part.find(':') != std::string_view::npos) return false;  // v6 needs brackets
  }
  if (host_part.empty() || port_part.empty()) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
  if (ec != std::errc() || end != port_part.data() + port_part.size() || value > 65535) {
    return false;
  }
  *host = host_part == "localhost" ? "127.0.0.1" : std::string(host_part);
  *port = static_cast<uint16_t>(value);
  return true;
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(Options options, RequestHandler handler) {
  if (options.max_connections == 0) {
    // Leave file descriptors for the log, the views' files and Kafka's sockets.
    rlimit limit{};
    const rlim_t soft = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
    const rlim_t usable = soft == RLIM_INFINITY ? 1'000'000 : soft;
    options.max_connections = usable > 256 + 64 ? static_cast<size_t>(usable - 256) : 64;
  }
  if (options.threads < 1 || options.threads > 256) {
    return Status::InvalidArgument("threads must be 1..256");
  }
  if (options.max_body_bytes == 0 || options.max_header_bytes < 1024) {
    return Status::InvalidArgument("body and header limits are too small");
  }
  std::string host;
  uint16_t port = 0;
  if (!ParseListenAddress(options.listen, &host, &port)) {
    return Status::InvalidArgument(
        fmt::format("listen address '{}' is not host:port (e.g. 127.0.0.1:8080)", options.listen));
  }
  boost::system::error_code ec;
  const net::ip::address address = net::ip::make_address(host, ec);
  if (ec) {
    return Status::InvalidArgument(fmt::format("'{}' is not an IP address", host));
  }

  auto impl = std::make_unique<Impl>(options.threads);
  impl->shared = std::make_shared<ServerShared>();
  impl->shared->options = std::move(options);
  impl->shared->handler = std::move(handler);
  std::vector<net::io_context*> contexts;
  for (auto& io : impl->io) contexts.push_back(&io->ioc);
  auto listener =
      Listener::Open(std::move(contexts), net::ip::tcp::endpoint(address, port), impl->shared);
  if (!listener.ok()) return listener.status();
  impl->listener = std::move(listener).value();
  const auto& bound = impl->listener->endpoint();
  impl->address = bound.address().is_v6()
                      ? fmt::format("[{}]:{}", bound.address().to_string(), bound.port())
                      : fmt::format("{}:{}", bound.address().to_string(), bound.port());
  impl->listener->Run();
  for (size_t i = 0; i < impl->io.size(); ++i) {
    auto& io = impl->io[i];
    // Handlers that throw are answered with 500 by the session, and Asio and Beast are
    // used through their error_code overloads, so nothing is expected to escape run().
    io->thread = std::thread([ioc = &io->ioc, i] {
      NameThisThread(fmt::format("kt-io-{}", i));
      ioc->run();
    });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

const std::string& HttpServer::address() const { return impl_->address; }

void HttpServer::Shutdown(std::chrono::milliseconds grace) {
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  impl_->listener->Stop();
  impl_->shared->connections.StopAll();
  if (!impl_->shared->connections.WaitEmpty(grace)) {
    Log(LogLevel::kWarn, "connections still open after the shutdown grace; closing them",
        {{"grace_ms", static_cast<int64_t>(grace.count())}});
  }
  for (auto& io : impl_->io) io->ioc.stop();
  for (auto& io : impl_->io) {
    if (io->thread.joinable()) io->thread.join();
  }
}

}  // namespace keytrail::server
