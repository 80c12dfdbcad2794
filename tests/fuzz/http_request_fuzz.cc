// libFuzzer harness: the HTTP request path up to the handler, and the verify fast path's
// readers against the general path's. The first byte picks what the rest is:
//   0: a request body: whenever SimpleVerifyBodyKey reads a token from it, BodyReader
//      (the general path's JSON reader) must accept the body and read the same "key";
//   1: an Authorization header value: whenever SimpleBearerToken reads a token,
//      BearerToken must read the same one;
//   2: raw bytes on a connection: Beast's parser with the server's limits, then what the
//      transport hands on (FastRequestOf, HttpRequestOf), SplitTarget, and both checks on
//      the parsed body and header.
// A disagreement traps: the fast path must never answer a request the general path
// would read differently.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include "server/beast_request.h"
#include "server/http.h"
#include "server/json_io.h"

namespace {

using namespace keytrail::server;

void CheckBody(std::string_view body) {
  const auto fast = SimpleVerifyBodyKey(body);
  if (!fast) return;
  BodyReader reader(body, {"key"}, /*empty_ok=*/true);
  const auto key = reader.String("key", false);
  if (!reader.ok() || !key || *key != *fast) __builtin_trap();
}

void CheckAuthorization(std::string_view value) {
  const auto fast = SimpleBearerToken(value);
  if (!fast) return;
  HttpRequest request;
  request.headers.push_back({"authorization", std::string(value)});
  const auto general = BearerToken(request);
  if (!general || *general != *fast) __builtin_trap();
}

void CheckRequest(std::string_view bytes) {
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);  // HttpServer::Options' defaults
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  while (!bytes.empty() && !parser.is_done()) {
    const size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec) return;  // the session answers 400 / 413 / 431, or waits for more
    if (used == 0) return;
    bytes.remove_prefix(used);
  }
  if (!parser.is_done()) return;
  BeastRequest message = parser.release();
  const FastRequest fast = FastRequestOf(message, "fuzz", message.keep_alive());
  (void)SplitTarget(fast.target);
  CheckBody(fast.body);
  CheckAuthorization(fast.authorization);
  const HttpRequest request = HttpRequestOf(std::move(message), "fuzz");
  if (request.Header("authorization").value_or("") != fast.authorization) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      CheckBody(rest);
      break;
    case 1:
      CheckAuthorization(rest);
      break;
    default:
      CheckRequest(rest);
  }
  return 0;
}
