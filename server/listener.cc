#include "server/listener.h"

#include <fmt/format.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "server/log.h"
#include "server/session.h"

namespace keytrail::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Listener::Listener(std::vector<net::io_context*> contexts, std::shared_ptr<ServerShared> shared)
    : contexts_(std::move(contexts)),
      acceptor_(*contexts_.front()),
      backoff_(*contexts_.front()),
      shared_(std::move(shared)) {}

Result<std::shared_ptr<Listener>> Listener::Open(std::vector<net::io_context*> contexts,
                                                 const tcp::endpoint& endpoint,
                                                 std::shared_ptr<ServerShared> shared) {
  auto listener = std::make_shared<Listener>(std::move(contexts), std::move(shared));
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
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->Accept(); });
}

void Listener::Stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->backoff_.cancel();
  });
}

void Listener::Accept() {
  if (!acceptor_.is_open()) return;
  // The connection's handlers all run on the one thread of the context it is given.
  net::io_context& context = *contexts_[next_context_];
  next_context_ = (next_context_ + 1) % contexts_.size();
  acceptor_.async_accept(
      context.get_executor(),
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
