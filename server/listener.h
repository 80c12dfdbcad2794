// Listener: accepts connections on one endpoint and hands each to a new session
// (session.h). Transport-internal: includes Asio, so only server/*.cc include it.
#pragma once

#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/status.h"
#include "server/connections.h"
#include "server/session.h"

namespace keytrail::server {

// The accept loop of one HttpServer. Lives as long as an accept is pending.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Opens, binds and listens. Accepts on the first of `contexts` and deals the
  // connections out to all of them in turn. Errors: kUnavailable (e.g. the address is in
  // use). REQUIRES: `contexts` is not empty; each is run by one thread and outlives the
  // listener.
  static Result<std::shared_ptr<Listener>> Open(std::vector<boost::asio::io_context*> contexts,
                                                const boost::asio::ip::tcp::endpoint& endpoint,
                                                std::shared_ptr<ServerShared> shared);
  Listener(std::vector<boost::asio::io_context*> contexts, std::shared_ptr<ServerShared> shared);

  // Starts accepting. Call once.
  void Run();
  // Closes the acceptor; connections already accepted are not touched. Thread-safe.
  void Stop();

  const boost::asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }

 private:
  void Accept();
  void OnAccept(boost::system::error_code ec, SessionSocket socket);

  std::vector<boost::asio::io_context*> contexts_;
  size_t next_context_ = 0;                  // the context of the next connection
  boost::asio::ip::tcp::acceptor acceptor_;  // on contexts_[0]
  boost::asio::steady_timer backoff_;        // after an accept error such as EMFILE
  boost::asio::ip::tcp::endpoint endpoint_;
  std::shared_ptr<ServerShared> shared_;
};

}  // namespace keytrail::server
