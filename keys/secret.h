// Secret: bytes that must never be logged. Prints as "<redacted>" through fmt and
// iostreams, so key material cannot reach a log line by accident; the only way to the
// bytes is the explicit reveal().
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace keytrail {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  ~Secret();  // wipes the bytes
  Secret(const Secret&) = default;
  Secret(Secret&&) noexcept = default;
  // Both wipe the bytes being replaced first.
  Secret& operator=(const Secret& other);
  Secret& operator=(Secret&& other) noexcept;

  // The bytes. Call only where they must leave the process (the one HTTP response that
  // shows a new token) or be hashed.
  std::string_view reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  std::string value_;
};

inline std::ostream& operator<<(std::ostream& out, const Secret&) { return out << "<redacted>"; }

}  // namespace keytrail

template <>
struct fmt::formatter<keytrail::Secret> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const keytrail::Secret&, Context& ctx) const {
    return fmt::formatter<std::string_view>::format("<redacted>", ctx);
  }
};
