// HttpClient: a blocking HTTP/1.1 client (Boost.Beast, in the .cc only), for the keytrail
// CLI, for forwarding a command to the node that writes its partition, and for OpenID
// providers. One request per call on a fresh connection, bounded by a timeout from
// connect to the last byte of the response. http:// or https:// (TLS 1.2+, the peer
// verified against the system's CA store for the host name asked for, with SNI).
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
  // `server` is "http://host:port", "host:port" or "https://host[:port]" (443 by
  // default). Fails with kInvalidArgument otherwise. `user_agent` is sent with every
  // request.
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
  HttpClient(std::string host, std::string port, bool tls, std::chrono::milliseconds timeout,
             std::string user_agent)
      : host_(std::move(host)),
        port_(std::move(port)),
        tls_(tls),
        origin_((tls ? "https://" : "http://") + host_ + ":" + port_),
        timeout_(timeout),
        user_agent_(std::move(user_agent)) {}

  std::string host_;
  std::string port_;
  bool tls_ = false;
  std::string origin_;
  std::chrono::milliseconds timeout_;
  std::string user_agent_;
};

// Percent-encodes `text` for a URL path segment or query value (RFC 3986 unreserved
// characters pass through).
std::string UrlEncode(std::string_view text);

}  // namespace keytrail::server
