// Session: one HTTP/1.1 connection. Reads a request (bounded header, body and time),
// calls ServerShared::handler, writes the response, and repeats while the connection
// is kept alive. Knows nothing of the application. Transport-internal.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "server/connections.h"

namespace keytrail::server {

// Serves `socket` until the connection ends. The socket's executor must be a strand.
void StartSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerShared> shared);

}  // namespace keytrail::server
