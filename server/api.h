// Api: keytrail's HTTP API over an Engine — the routes, authentication, problem
// responses, metrics and the access log. Api::Handle is the RequestHandler the
// transport (http_server.h) calls; it is a plain function of the request, so the whole
// API is tested without sockets.
//
// Routes (docs/openapi.yaml describes them; a test keeps the two in step):
//   GET  /healthz  /readyz  /metrics
//   POST /v1/verify                       (alias: POST /v1/keys/verify)
//   GET|POST /v1/check, any /v1/check/{path...}  (gateways, docs/gateways.md)
//   POST /v1/orgs
//   GET  /v1/orgs/{org}/keys              POST /v1/orgs/{org}/keys
//   GET  /v1/orgs/{org}/keys/{id}         PATCH /v1/orgs/{org}/keys/{id} (name, expires, ...)
//   POST /v1/orgs/{org}/keys/{id}/rotate  POST /v1/orgs/{org}/keys/{id}/revoke
//   POST /v1/orgs/{org}/keys/{id}/suspend POST /v1/orgs/{org}/keys/{id}/resume
//   PUT  /v1/orgs/{org}/keys/{id}/group
//   groups, members, audit, authorize (docs/openapi.yaml)
//   POST /v1/sessions  GET|DELETE /v1/sessions/current  POST /v1/invitations/accept
//   POST /v1/orgs/{org}/members/{member}/invitations  (members sign in: docs/console.md)
//   GET  /console/...                     the console, embedded in the binary
//
// Thread-safe: Handle may run on any number of threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "engine/engine.h"
#include "server/forward.h"
#include "server/http.h"
#include "server/member_sessions.h"
#include "server/metrics.h"
#include "server/router.h"

namespace keytrail::server {

// What the API needs to know beyond the engine.
struct ApiOptions {
  // The org whose admin keys may create further orgs (POST /v1/orgs).
  std::string bootstrap_org = "default";
  // /readyz fails while any partition's views are more than this many events behind.
  int64_t max_projector_lag = 1000;
  // Commands for partitions another node writes go there (server/forward.h).
  ForwardOptions forward;
  // Members' sign-in: the credentials stream (borrowed; nullptr = members cannot sign
  // in) and the session settings (server/member_sessions.h).
  CredentialStore* credentials = nullptr;
  SessionOptions sessions;
  // The URL people reach this server at, for invitation links ("http://host:port");
  // empty = from the request's Host header.
  std::string public_url;
  // Serve the console from this directory (web/build.mjs --out DIR) instead of the
  // files embedded at build time: for developing the console.
  std::string console_dir;
};

struct ApiContext;

// The API as one request handler; see the file comment.
class Api {
 public:
  // Borrows engine and clock; both must outlive the Api. Not ready until SetReady(true).
  Api(Engine& engine, const Clock& clock, ApiOptions options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // The response; for a command (or other work that waits), one with `later` set
  // (HttpResponse::later): no thread waits for it.
  HttpResponse Handle(const HttpRequest& request);
  // The transport's fast path (HttpServer::Options::fast_handler): answers verify
  // requests of the shapes gateways send (see VerifyFast) straight into *out, with the
  // status, headers, body, metrics and log line Handle would give; false for anything
  // else (then Handle).
  bool HandleFast(const FastRequest& request, std::string* out);
  // Handle, then waits for a later response (tests, tools).
  HttpResponse HandleAndWait(const HttpRequest& request);

  // /readyz answers 200 only while ready.
  void SetReady(bool ready);
  // The URL invitation links start with, unless ApiOptions::public_url gave one (keytrail
  // serve: http:// and the address it bound).
  void SetPublicUrl(std::string url);
  // Finishes the work queued off the io threads (org set-ups, forwards, password hashes)
  // and takes no more, and ends the readiness checks (which read the engine): call after
  // the transport stopped, before the engine goes.
  void Stop();
  // Sets `org`'s single sign-on as the system (serve's --oidc-* flags); the provider is
  // not asked (it may start later). kFailedPrecondition without a credentials stream.
  Result<CommandOutcome> ConfigureSso(const std::string& org, domain::SsoConfig sso,
                                      const Secret& client_secret);

  const Router& router() const { return router_; }
  Metrics& metrics();

  // The problem+json answer for a request the transport refuses itself; plug into
  // HttpServer::Options::error_response.
  static HttpResponse TransportError(int status, std::string_view code, std::string_view detail);

 private:
  // What the access log and metrics need of a request, kept until it is answered.
  struct RequestRecord {
    std::string method;
    std::string_view route;  // a router pattern (lives as long as the Api) or a literal
    std::string request_id;
    std::string principal;
    std::string remote;
    std::chrono::steady_clock::time_point start;
  };
  // Adds X-Request-Id and Cache-Control, counts the request, writes the access log line.
  void Finish(const RequestRecord& record, HttpResponse& response);

  std::unique_ptr<ApiContext> context_;
  Router router_;
};

}  // namespace keytrail::server
