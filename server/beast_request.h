// A request Beast parsed, as the transport hands it on: to the fast path as views into
// the message (FastRequestOf, nothing copied) and to the handler as an HttpRequest
// (HttpRequestOf). Transport-internal (it includes Beast): server/session.cc and the
// HTTP request fuzz harness use it.
#pragma once

#include <cctype>
#include <string>
#include <string_view>
#include <utility>

#include <boost/beast/http.hpp>

#include "server/http.h"

namespace keytrail::server {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;

inline std::string_view ViewOf(boost::beast::string_view text) {
  return {text.data(), text.size()};
}

// Views into `message`, valid while it is. `keep_alive`: whether the connection stays
// open after the answer.
inline FastRequest FastRequestOf(const BeastRequest& message, std::string_view remote,
                                 bool keep_alive) {
  namespace http = boost::beast::http;
  return FastRequest{.method = ViewOf(message.method_string()),
                     .target = ViewOf(message.target()),
                     .body = message.body(),
                     .authorization = ViewOf(message[http::field::authorization]),
                     .request_id = ViewOf(message["X-Request-Id"]),
                     .remote = remote,
                     .keep_alive = keep_alive};
}

// The request, its header names lower-cased, its body moved out of `message`.
inline HttpRequest HttpRequestOf(BeastRequest&& message, std::string remote) {
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    request.headers.push_back({std::move(name), std::string(field.value())});
  }
  request.body = std::move(message.body());
  request.remote = std::move(remote);
  return request;
}

}  // namespace keytrail::server
