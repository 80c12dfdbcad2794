// libFuzzer harness: the strict JSON body reader every handler uses (BodyReader) on any
// bytes, asked for members the way handlers ask. It must never crash or throw, and it
// either accepts the body or answers a 400 problem.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/json_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  keytrail::server::BodyReader reader(body, {"name", "group", "expires", "permissions", "reason"},
                                      /*empty_ok=*/size % 2 == 0);
  (void)reader.String("name", true);
  (void)reader.String("expires", false);
  (void)reader.StringArray("permissions", false);
  (void)reader.Member("reason", false);
  if (!reader.ok() && reader.problem().status != 400) __builtin_trap();
  return 0;
}
