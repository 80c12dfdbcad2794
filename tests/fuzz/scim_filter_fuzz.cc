// libFuzzer harness: SCIM filters as identity providers (or anyone holding a SCIM key)
// write them. Parsing never crashes or recurses without bound; a parsed filter evaluates
// against any attribute values.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/scim/filter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = keytrail::server::scim::Filter::Parse(text);
  if (auto* filter = std::get_if<keytrail::server::scim::Filter>(&parsed)) {
    // Every attribute has the input's first bytes as its value, case-exact or not.
    const std::string value(text.substr(0, 8));
    (void)filter->Matches([&](std::string_view path) {
      return keytrail::server::scim::AttributeValues{{value}, path.size() % 2 == 0};
    });
  }
  return 0;
}
