// libFuzzer harness: the token parser (TokenCodec::Parse) on any bytes. It must never
// crash, and a token it accepts must carry the checksum-verified id it names.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "keys/key_material.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const keytrail::TokenCodec codec;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = codec.Parse(text)) {
    // An accepted token's id round-trips through its text form.
    const std::string id = keytrail::FormatKeyId(parsed->key_id);
    if (!keytrail::ParseKeyId(id)) __builtin_trap();
  }
  return 0;
}
