// Building blocks of ordered row keys, shared by the projections. c(x) = len16(x) ‖ x
// (2-byte big-endian length), so distinct tuples of variable-length parts never share a
// key and tuples sharing a first part sort together.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace keytrail::projections {

// Appends c(part). REQUIRES: part.size() <= 65535.
inline void PutComponent(std::string* out, std::string_view part) {
  out->push_back(static_cast<char>(part.size() >> 8));
  out->push_back(static_cast<char>(part.size() & 0xff));
  out->append(part);
}

// Takes c(x) off the front of *in; false if *in does not start with one.
inline bool GetComponent(std::string_view* in, std::string_view* part) {
  if (in->size() < 2) return false;
  const size_t n = static_cast<uint8_t>((*in)[0]) << 8 | static_cast<uint8_t>((*in)[1]);
  if (in->size() < 2 + n) return false;
  *part = in->substr(2, n);
  in->remove_prefix(2 + n);
  return true;
}

// The first key after every key starting with `prefix` ("" if there is none).
inline std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && prefix.back() == '\xff') prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

}  // namespace keytrail::projections
