// libFuzzer harness: RFC 3339 times, durations and key expirations as callers write them.
// A time that parses formats back to a text that parses to the same instant.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/domain/commands.h"
#include "server/wire_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto t = keytrail::server::ParseRfc3339Time(text)) {
    const auto again = keytrail::server::ParseRfc3339Time(keytrail::server::FormatRfc3339(*t));
    if (!again || *again != *t) __builtin_trap();
  }
  (void)keytrail::server::ParseDuration(text);
  (void)keytrail::domain::ParseExpiration(text);
  return 0;
}
