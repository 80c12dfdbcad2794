#include "server/router.h"

#include <algorithm>
#include <cassert>

namespace keytrail::server {
namespace {

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    const size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool IsCapture(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// "{name...}": the rest of the path.
bool IsRestCapture(std::string_view segment) {
  return IsCapture(segment) && segment.ends_with("...}");
}

// Matches `path` against `pattern`; fills `params` on success.
bool MatchPattern(std::string_view pattern, std::string_view path, PathParams* params) {
  const auto want = Segments(pattern);
  const auto got = Segments(path);
  const bool rest = IsRestCapture(want.back());
  if (rest ? got.size() < want.size() : want.size() != got.size()) return false;
  PathParams captured;
  for (size_t i = 0; i < want.size(); ++i) {
    if (rest && i + 1 == want.size()) {
      // The segments from here on, as sent (still percent-encoded), joined by '/'.
      const size_t offset = static_cast<size_t>(got[i].data() - path.data());
      captured.Add(std::string(want[i].substr(1, want[i].size() - 5)),
                   std::string(path.substr(offset)));
    } else if (IsCapture(want[i])) {
      auto value = PercentDecode(got[i]);
      if (!value || value->empty()) return false;
      captured.Add(std::string(want[i].substr(1, want[i].size() - 2)), std::move(*value));
    } else if (want[i] != got[i]) {
      return false;
    }
  }
  *params = std::move(captured);
  return true;
}

}  // namespace

std::string_view PathParams::Get(std::string_view name) const {
  for (const auto& [n, v] : params_) {
    if (n == name) return v;
  }
  return {};
}

std::optional<std::string_view> RoutedRequest::Query(std::string_view name) const {
  for (const auto& [n, v] : query) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

void Router::Add(std::string method, std::string pattern, Handler handler) {
  assert(!pattern.empty() && pattern.front() == '/');
  routes_.push_back({std::move(method), std::move(pattern), std::move(handler)});
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match match;
  for (const Route& route : routes_) {
    PathParams params;
    if (!MatchPattern(route.pattern, path, &params)) continue;
    if (route.method == method || route.method == kAnyMethod) {
      match.kind = Match::Kind::kFound;
      match.route = &route;
      match.params = std::move(params);
      match.allowed.clear();
      return match;
    }
    if (std::find(match.allowed.begin(), match.allowed.end(), route.method) ==
        match.allowed.end()) {
      match.allowed.push_back(route.method);
    }
  }
  match.kind = match.allowed.empty() ? Match::Kind::kNoRoute : Match::Kind::kWrongMethod;
  return match;
}

}  // namespace keytrail::server
