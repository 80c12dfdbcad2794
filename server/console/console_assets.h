// The console's files (web/, bundled by web/build.mjs), embedded in the binary at build
// time so that `keytrail serve` needs nothing on disk and fetches nothing at run time.
// Built with -DKEYTRAIL_CONSOLE=OFF, there are none.
#pragma once

#include <span>
#include <string_view>

namespace keytrail::server {

struct ConsoleAsset {
  std::string_view name;          // "index.html", "app.js", "app.css"
  std::string_view content_type;  // with charset for text
  std::string_view body;
};

// Every embedded file; empty when the build has no console.
std::span<const ConsoleAsset> ConsoleAssets();

}  // namespace keytrail::server
