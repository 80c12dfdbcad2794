// HttpClient: a blocking HTTP/1.1 client (Boost.Beast, in the .cc only), for the keytrail
// CLI and for forwarding a command to the node that writes its partition. One request
// per call on a fresh connection, bounded by a timeout from connect to the last byte of
// the response. Plain http:// only; put a TLS-terminating proxy in front of keytrail
// serve for anything but loopback or a private network.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace keytrail::server {

struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // every header, in order
};

class HttpClient {
 public:
  // `server` is "http://host:port" or "host:port". Fails with kInvalidArgument if it is
  // neither. `user_agent` is sent with every request.
  static Result<HttpClient> Create(const std::string& server,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                   std::string user_agent = "keytrail-cli");

  // Sends one request with a JSON body (when non-empty) and the given extra headers
  // (which replace defaults of the same name, e.g. Accept).
  // kUnavailable if the server cannot be reached or the exchange does not complete in
  // time; any HTTP status is a successful exchange.
  Result<HttpReply> Send(const std::string& method, const std::string& target,
                         const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers) const;

  const std::string& origin() const { return origin_; }

 private:
  HttpClient(std::string host, std::string port, std::chrono::milliseconds timeout,
             std::string user_agent)
      : host_(std::move(host)),
        port_(std::move(port)),
        origin_("http://" + host_ + ":" + port_),
        timeout_(timeout),
        user_agent_(std::move(user_agent)) {}

  std::string host_;
  std::string port_;
  std::string origin_;
  std::chrono::milliseconds timeout_;
  std::string user_agent_;
};

// Percent-encodes `text` for a URL path segment or query value (RFC 3986 unreserved
// characters pass through).
std::string UrlEncode(std::string_view text);

}  // namespace keytrail::server
