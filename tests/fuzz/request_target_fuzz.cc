// libFuzzer harness: splitting a request target into path and query and percent-decoding,
// on any bytes a client can send.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto split = keytrail::server::SplitTarget(text)) {
    if (split->path.size() > text.size()) __builtin_trap();
  }
  if (auto decoded = keytrail::server::PercentDecode(text)) {
    if (decoded->size() > text.size()) __builtin_trap();  // decoding never grows
  }
  return 0;
}
