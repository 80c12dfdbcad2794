// libFuzzer harness: the event envelope decoder (FlatBuffers verifier, then unpacking)
// on any bytes, as a record read from the log or a topic written by anyone.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "events/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto event = keytrail::events::Decode(bytes);
  auto object = keytrail::events::DecodeToObject(bytes);
  // The two views of one record agree on whether it is an event.
  if (event.ok() != object.ok()) __builtin_trap();
  return 0;
}
