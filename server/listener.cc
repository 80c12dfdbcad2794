#include "server/listener.h"

#include <fmt/format.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "server/log.h"
#include "server/session.h"

namespace keytrail::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Listener::Listener(net::io_context& ioc, std::shared_ptr<ServerShared> shared)
    : ioc_(ioc),
      strand_(net::make_strand(ioc)),
      acceptor_(strand_),
      backoff_(strand_),
      shared_(std::move(shared)) {}

Result<std::shared_ptr<Listener>> Listener::Open(net::io_context& ioc,
                                                 const tcp::endpoint& endpoint,
                                                 std::shared_ptr<ServerShared> shared) {
  auto listener = std::make_shared<Listener>(ioc, std::move(shared));
  boost::system::error_code ec;
  auto fail = [&](std::string_view what) -> Status {
    return Status::Unavailable(fmt::format("cannot {} {}:{}: {}", what,
                                           endpoint.address().to_string(), endpoint.port(),
                                           ec.message()));
  };
  listener->acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  listener->acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("configure");
  listener->acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  listener->acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  listener->endpoint_ = listener->acceptor_.local_endpoint(ec);
  if (ec) return fail("read the address of");
  return listener;
}

void Listener::Run() {
  net::dispatch(strand_, [self = shared_from_this()] { self->Accept(); });
}

void Listener::Stop() {
  net::post(strand_, [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->backoff_.cancel();
  });
}

void Listener::Accept() {
  if (!acceptor_.is_open()) return;
  // Each connection gets its own strand, so its handlers never run concurrently.
  acceptor_.async_accept(
      net::make_strand(ioc_),
      [self = shared_from_this()](boost::system::error_code ec, SessionSocket socket) {
        self->OnAccept(ec, std::move(socket));
      });
}

void Listener::OnAccept(boost::system::error_code ec, SessionSocket socket) {
  if (!acceptor_.is_open() || ec == net::error::operation_aborted) return;
  if (ec) {
    // E.g. out of file descriptors: wait a little rather than spin.
    Log(LogLevel::kWarn, "accept failed", {{"error", ec.message()}});
    backoff_.expires_after(std::chrono::milliseconds(100));
    backoff_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
      if (!wait_ec) self->Accept();
    });
    return;
  }
  boost::system::error_code ignored;
  if (shared_->connections.size() >= shared_->options.max_connections &&
      !shared_->connections.ShedOldestIdle()) {
    // Every connection is busy with a request: no room, and no file descriptor to spare.
    Log(LogLevel::kWarn, "connection limit reached; refusing a connection",
        {{"max_connections", static_cast<int64_t>(shared_->options.max_connections)}});
    socket.close(ignored);
    return Accept();
  }
  socket.set_option(tcp::no_delay(true), ignored);
  StartSession(std::move(socket), shared_);
  Accept();
}

}  // namespace keytrail::server
