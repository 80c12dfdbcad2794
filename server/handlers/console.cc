// GET /console, /console/, /console/{path...}: the embedded console
// (server/console/console_assets.h). /console/app.js and /console/app.css are files;
// any other path without a dot is a view of the page (/console/invite, /console/keys)
// and gets index.html, which routes on the client. No inline script or style is
// allowed (Content-Security-Policy), and the page may not be framed.
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "server/console/console_assets.h"
#include "server/handlers/handlers.h"
#include "server/problem.h"

namespace keytrail::server {
namespace {

constexpr std::string_view kPolicy =
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const ConsoleAsset* FindAsset(std::string_view name) {
  for (const ConsoleAsset& asset : ConsoleAssets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

// --console-dir (developing the console): the same three files, read from `dir` at each
// request, so a rebuild of web/ shows without rebuilding the binary.
std::optional<std::string> ReadFromDir(const std::string& dir, std::string_view name) {
  if (name != "index.html" && name != "app.js" && name != "app.css") return std::nullopt;
  std::ifstream in(dir + "/" + std::string(name), std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream body;
  body << in.rdbuf();
  return body.str();
}

}  // namespace

HttpResponse ConsoleHandler(ApiContext& ctx, const RoutedRequest& request) {
  const std::string_view path = request.http.target.substr(0, request.http.target.find('?'));
  if (path == "/console") {
    HttpResponse redirect;
    redirect.status = 308;
    redirect.SetHeader("Location", "/console/");
    return redirect;
  }
  std::string_view name = request.Param("path");
  if (name.find('.') == std::string_view::npos) name = "index.html";
  HttpResponse response;
  if (!ctx.options.console_dir.empty()) {
    auto body = ReadFromDir(ctx.options.console_dir, name);
    if (!body) return Problem(404, "not_found", "no such file in --console-dir");
    response.content_type = name.ends_with(".js")    ? "text/javascript; charset=utf-8"
                            : name.ends_with(".css") ? "text/css; charset=utf-8"
                                                     : "text/html; charset=utf-8";
    response.body = std::move(*body);
  } else {
    if (ConsoleAssets().empty()) {
      return Problem(404, "not_found", "this keytrail was built without the console");
    }
    const ConsoleAsset* asset = FindAsset(name);
    if (asset == nullptr) return Problem(404, "not_found", "no such file of the console");
    response.content_type = std::string(asset->content_type);
    response.body = std::string(asset->body);
  }
  response.SetHeader("Content-Security-Policy", std::string(kPolicy));
  response.SetHeader("X-Content-Type-Options", "nosniff");
  response.SetHeader("X-Frame-Options", "DENY");
  response.SetHeader("Referrer-Policy", "no-referrer");
  return response;
}

}  // namespace keytrail::server
