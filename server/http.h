// HttpRequest / HttpResponse: the plain data a handler sees and returns. The transport
// (server/session.cc, Boost.Beast) converts to and from them, so handlers and the router
// are tested without sockets.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keytrail::server {

// One header field.
struct HttpHeader {
  std::string name;  // lower case in requests; as written in responses
  std::string value;
};

// One request as received. `target` is the raw request target ("/v1/x?a=b"); the API
// layer splits it with SplitTarget.
struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent
  std::string target;
  std::vector<HttpHeader> headers;  // names lower-cased; order kept
  std::string body;
  std::string remote;  // peer address, for logs

  // The first header with this name (case-insensitive), or nullopt.
  std::optional<std::string_view> Header(std::string_view name) const;
};

struct HttpResponse;

// How a response that was not ready comes back (HttpResponse::later): `post(fn)` runs fn
// on the connection's io thread and may be called from any thread; `respond(response)`
// answers the request, on that io thread, exactly once.
struct Responder {
  std::function<void(std::function<void()>)> post;
  std::function<void(HttpResponse)> respond;
};

// One response. The transport adds the Server, Content-Length and Connection headers.
struct HttpResponse {
  int status = 200;
  std::string content_type;  // empty: no body type (e.g. 204)
  std::vector<HttpHeader> headers;
  std::string body;
  bool close = false;  // close the connection after writing this response
  // If set, the body is produced piece by piece instead (`body` is ignored) and sent with
  // chunked transfer encoding, so an export never sits in memory whole. Each call
  // appends the next piece to *out and returns true while more may follow. Called on
  // the connection's io thread, one call at a time, after the handler returned.
  std::function<bool(std::string* out)> stream;
  // If set, the response is not ready (e.g. a command on its way to the log) and the rest
  // of this object is ignored: the transport calls later(responder) once, on the io
  // thread, and the real response comes through the Responder. The connection reads
  // nothing else meanwhile, and no thread waits.
  std::function<void(Responder)> later;

  void SetHeader(std::string name, std::string value);
};

// A request as a transport's fast path offers it (HttpServer::Options::fast_handler):
// views into the transport's own buffers, valid during the call, nothing copied. Only
// HTTP/1.1 requests are offered.
struct FastRequest {
  std::string_view method;
  std::string_view target;
  std::string_view body;
  std::string_view authorization;  // the Authorization header, empty if none
  std::string_view request_id;     // the X-Request-Id header, empty if none
  std::string_view remote;         // the peer's address, for logs
  bool keep_alive = true;          // the connection stays open after the response
};

// Appends a whole HTTP/1.1 response (status line, headers, body) for `request` to *out and
// returns true; or returns false, having written nothing, and the request takes the
// general path (HttpRequest, the handler). Runs on an io thread; must not block.
using FastHandler = std::function<bool(const FastRequest& request, std::string* out)>;

// The presented bearer token of `request`, or nullopt if there is no
// "Authorization: Bearer <token>" header.
std::optional<std::string_view> BearerToken(const HttpRequest& request);

// The verify fast path's readers (Api::HandleFast), for the two shapes gateways send: the
// token of a body that is exactly {"key": "<token characters>"} (JSON whitespace between
// tokens), and of "Bearer <token characters>" (the scheme in any case). nullopt for
// anything else, which takes the general path (BodyReader, BearerToken); whatever these
// accept, those read as the same token (tests/fuzz/http_request_fuzz.cc checks it).
std::optional<std::string_view> SimpleVerifyBodyKey(std::string_view body);
std::optional<std::string_view> SimpleBearerToken(std::string_view authorization);

// A request target split into its path (still percent-encoded) and its decoded query
// parameters, in order.
struct SplitTargetResult {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
};

// Splits "/a/b?x=1&y=%20" into its path and decoded query ('+' is a space). nullopt if
// the query holds a malformed percent escape.
std::optional<SplitTargetResult> SplitTarget(std::string_view target);

// Decodes %XX escapes (not '+'). nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text);

// The standard reason phrase of a status code ("Not Found"); "Unknown" if none.
std::string_view ReasonPhrase(int status);

}  // namespace keytrail::server
