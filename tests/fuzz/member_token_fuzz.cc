// libFuzzer harness: the member token parser (invitation links, session cookies) on any
// bytes. It must never crash, and a token it accepts must have the documented shape:
// "<org>.<32 hex digits>.<43 base64url characters>", with the secret's SHA-256 in hex.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "keys/member_secrets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = keytrail::ParseMemberToken(text)) {
    if (parsed->org.empty() || parsed->org.size() > 64 || parsed->id.size() != 32 ||
        parsed->hash.size() != 64 || text.size() != parsed->org.size() + 32 + 43 + 2 ||
        !text.starts_with(parsed->org + "." + parsed->id + ".")) {
      __builtin_trap();
    }
  }
  return 0;
}
