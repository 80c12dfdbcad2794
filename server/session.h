// Session: one HTTP/1.1 connection. Reads a request (bounded header, body and time),
// calls ServerShared::handler, writes the response, and repeats while the connection
// is kept alive. Knows nothing of the application. Transport-internal.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server/connections.h"

namespace keytrail::server {

// A connection's socket, on the io context of the one thread that serves it. The
// executor's type is spelled out (not Asio's type-erased any_io_executor), so no I/O step
// copies or destroys an erased executor.
using SessionSocket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// Serves `socket` until the connection ends.
void StartSession(SessionSocket socket, std::shared_ptr<ServerShared> shared);

}  // namespace keytrail::server
