// Router: maps (method, path) to a handler. Patterns are literal segments and
// "{name}" captures, e.g. "/v1/orgs/{org}/keys/{id}"; a last segment "{name...}" captures
// the rest of the path (zero or more segments, as sent, not decoded), and the method
// kAnyMethod matches every method. A path that matches no pattern is
// kNoRoute (404); one that matches a pattern only for other methods is kWrongMethod
// (405, with the methods that would have matched).
//
// Thread-safety: build it (Add) before serving; Match is then safe from any thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/http.h"

namespace keytrail::server {

// Captured path parameters, percent-decoded, in pattern order.
class PathParams {
 public:
  void Add(std::string name, std::string value) {
    params_.emplace_back(std::move(name), std::move(value));
  }
  // The value captured for "{name}"; empty if the pattern has no such capture.
  std::string_view Get(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// A request as a handler sees it: the raw request plus what routing found.
struct RoutedRequest {
  const HttpRequest& http;
  PathParams params;
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::string request_id;  // X-Request-Id (the client's, or one made up); correlation id
  // The key id behind the request, once a handler knows it; for the access log only.
  mutable std::string principal;

  std::string_view Param(std::string_view name) const { return params.Get(name); }
  // The first query parameter with this name, or nullopt.
  std::optional<std::string_view> Query(std::string_view name) const;
};

using Handler = std::function<HttpResponse(const RoutedRequest&)>;

// A route's method that matches every request method.
inline constexpr std::string_view kAnyMethod = "*";

// One route: requests with this method whose path matches this pattern go to `handler`.
struct Route {
  std::string method;   // "GET", "POST", "PUT", ...
  std::string pattern;  // also the route's label in metrics and logs
  Handler handler;
};

// The route table; see the file comment.
class Router {
 public:
  Router() = default;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // REQUIRES: pattern starts with '/'; no other route has the same method and pattern.
  void Add(std::string method, std::string pattern, Handler handler);

  struct Match {
    enum class Kind { kFound, kNoRoute, kWrongMethod };
    Kind kind = Kind::kNoRoute;
    const Route* route = nullptr;      // kFound
    PathParams params;                 // kFound
    std::vector<std::string> allowed;  // kWrongMethod: the methods the path has
  };
  // `path` is percent-encoded, without the query. A capture whose escape is malformed
  // or that decodes to an empty string does not match.
  Match Find(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace keytrail::server
