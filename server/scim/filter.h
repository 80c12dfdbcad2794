// SCIM filters (RFC 7644 section 3.4.2.2): `userName eq "bjensen"`, `emails.value co
// "@example.com" and active eq true`, `not (displayName sw "ops")`. Parse once, then ask
// whether a resource matches, given how to read its attributes.
//
// Supported: attribute paths (`a` or `a.b`, names case-insensitive), the operators eq,
// ne, co, sw, ew, gt, ge, lt, le and pr, `and`, `or`, `not (...)` and parentheses, with
// string, boolean and null values. Comparison ignores case unless the attribute is case-
// exact (the resource says which). Value paths (`emails[type eq "work"]`) are refused
// with a clear error.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace keytrail::server::scim {

// The values of one attribute of a resource (none if absent; booleans as "true" /
// "false"), and whether they compare case-exactly.
struct AttributeValues {
  std::vector<std::string> values;
  bool case_exact = false;
};

// `path` is lower-cased ("username", "emails.value", "name.givenname").
using AttributeReader = std::function<AttributeValues(std::string_view path)>;

// `text` with ASCII letters lower-cased (SCIM's names and keywords ignore case).
std::string Lower(std::string_view text);

class Filter {
 public:
  // The parsed filter, or a message saying what is wrong (for scimType invalidFilter).
  static std::variant<Filter, std::string> Parse(std::string_view text);

  bool Matches(const AttributeReader& read) const;

  struct Node;

 private:
  explicit Filter(std::shared_ptr<const Node> root) : root_(std::move(root)) {}
  std::shared_ptr<const Node> root_;
};

}  // namespace keytrail::server::scim
