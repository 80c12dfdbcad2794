#include "server/scim/filter.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include <fmt/format.h>

namespace keytrail::server::scim {

struct Filter::Node {
  enum class Kind { kAnd, kOr, kNot, kCompare, kPresent };
  Kind kind = Kind::kCompare;
  std::string op;                    // kCompare: eq, ne, co, sw, ew, gt, ge, lt, le
  std::string path;                  // lower-cased
  std::optional<std::string> value;  // nullopt: null
  std::vector<std::shared_ptr<const Node>> children;
};

namespace {

using Node = Filter::Node;
using NodePtr = std::shared_ptr<const Node>;

constexpr size_t kMaxFilterLength = 4096;
constexpr int kMaxDepth = 32;

bool IsCompareOp(std::string_view op) {
  for (std::string_view known : {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"}) {
    if (op == known) return true;
  }
  return false;
}

// A recursive-descent parser over the filter text; the first error wins.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::variant<NodePtr, std::string> Run() {
    NodePtr root = Or(0);
    SkipSpace();
    if (error_.empty() && pos_ != text_.size()) Fail(fmt::format("unexpected '{}'", Rest()));
    if (!error_.empty()) return error_;
    return root;
  }

 private:
  NodePtr Or(int depth) {
    NodePtr left = And(depth);
    while (error_.empty() && Keyword("or")) {
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kOr;
      node->children = {left, And(depth)};
      left = node;
    }
    return left;
  }

  NodePtr And(int depth) {
    NodePtr left = Unary(depth);
    while (error_.empty() && Keyword("and")) {
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kAnd;
      node->children = {left, Unary(depth)};
      left = node;
    }
    return left;
  }

  NodePtr Unary(int depth) {
    if (depth > kMaxDepth) return Fail("the filter nests too deeply");
    SkipSpace();
    if (Keyword("not")) {
      SkipSpace();
      if (!Take('(')) return Fail("'not' must be followed by '('");
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kNot;
      node->children = {Or(depth + 1)};
      if (!Take(')')) return Fail("missing ')'");
      return node;
    }
    if (Take('(')) {
      NodePtr inner = Or(depth + 1);
      if (!Take(')')) return Fail("missing ')'");
      return inner;
    }
    return Comparison();
  }

  NodePtr Comparison() {
    SkipSpace();
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
            text_[pos_] == '_' || text_[pos_] == '-' || text_[pos_] == ':' || text_[pos_] == '$')) {
      ++pos_;
    }
    if (pos_ == start) return Fail(fmt::format("expected an attribute at '{}'", Rest()));
    std::string path = Lower(text_.substr(start, pos_ - start));
    // A URN-qualified core attribute ("urn:...:User:userName") is the attribute itself.
    if (const size_t colon = path.rfind(':'); colon != std::string::npos) {
      path = path.substr(colon + 1);
    }
    if (pos_ < text_.size() && text_[pos_] == '[') {
      return Fail("value filters ('attr[...]') are not supported; use 'attr.sub op value'");
    }
    SkipSpace();
    const std::string op = Lower(Word());
    auto node = std::make_shared<Node>();
    node->path = std::move(path);
    if (op == "pr") {
      node->kind = Node::Kind::kPresent;
      return node;
    }
    if (!IsCompareOp(op)) return Fail(fmt::format("unknown operator '{}'", op));
    node->op = op;
    SkipSpace();
    if (!Value(node.get())) return nullptr;
    return node;
  }

  bool Value(Node* node) {
    if (Take('"')) {
      std::string value;
      while (pos_ < text_.size() && text_[pos_] != '"') {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
        value.push_back(text_[pos_++]);
      }
      if (!Take('"')) {
        Fail("unterminated string");
        return false;
      }
      node->value = std::move(value);
      return true;
    }
    const std::string word = Lower(Word());
    if (word == "true" || word == "false") {
      node->value = word;
    } else if (word == "null") {
      node->value = std::nullopt;
    } else if (!word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
                 return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-';
               })) {
      node->value = word;
    } else {
      Fail(fmt::format("expected a value at '{}'", Rest()));
      return false;
    }
    return true;
  }

  std::string Word() {
    const size_t start = pos_;
    while (pos_ < text_.size() && !std::isspace(static_cast<unsigned char>(text_[pos_])) &&
           text_[pos_] != '(' && text_[pos_] != ')' && text_[pos_] != '"') {
      ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  // The keyword `word` (any case) followed by a space or '(' : consumed.
  bool Keyword(std::string_view word) {
    SkipSpace();
    if (text_.size() - pos_ < word.size() + 1) return false;
    if (Lower(text_.substr(pos_, word.size())) != word) return false;
    const char next = text_[pos_ + word.size()];
    if (!std::isspace(static_cast<unsigned char>(next)) && next != '(') return false;
    pos_ += word.size();
    return true;
  }

  bool Take(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  std::string Rest() const { return std::string(text_.substr(pos_, 20)); }

  NodePtr Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    pos_ = text_.size();
    return nullptr;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

bool Compare(const std::string& op, std::string_view actual, std::string_view wanted) {
  if (op == "eq") return actual == wanted;
  if (op == "ne") return actual != wanted;
  if (op == "co") return actual.find(wanted) != std::string_view::npos;
  if (op == "sw") return actual.starts_with(wanted);
  if (op == "ew") return actual.ends_with(wanted);
  if (op == "gt") return actual > wanted;
  if (op == "ge") return actual >= wanted;
  if (op == "lt") return actual < wanted;
  if (op == "le") return actual <= wanted;
  return false;
}

bool Evaluate(const Node& node, const AttributeReader& read) {
  switch (node.kind) {
    case Node::Kind::kAnd:
      return Evaluate(*node.children[0], read) && Evaluate(*node.children[1], read);
    case Node::Kind::kOr:
      return Evaluate(*node.children[0], read) || Evaluate(*node.children[1], read);
    case Node::Kind::kNot:
      return !Evaluate(*node.children[0], read);
    case Node::Kind::kPresent: {
      const AttributeValues values = read(node.path);
      return std::any_of(values.values.begin(), values.values.end(),
                         [](const std::string& v) { return !v.empty(); });
    }
    case Node::Kind::kCompare:
      break;
  }
  const AttributeValues values = read(node.path);
  if (!node.value) {  // null: "eq null" is absent, "ne null" present
    const bool absent = values.values.empty();
    return node.op == "eq" ? absent : node.op == "ne" ? !absent : false;
  }
  const std::string wanted = values.case_exact ? *node.value : Lower(*node.value);
  if (node.op == "ne") {  // no value equals it
    return std::none_of(values.values.begin(), values.values.end(), [&](const std::string& v) {
      return (values.case_exact ? v : Lower(v)) == wanted;
    });
  }
  return std::any_of(values.values.begin(), values.values.end(), [&](const std::string& v) {
    return Compare(node.op, values.case_exact ? v : Lower(v), wanted);
  });
}

}  // namespace

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::variant<Filter, std::string> Filter::Parse(std::string_view text) {
  if (text.size() > kMaxFilterLength) {
    return fmt::format("a filter is at most {} characters", kMaxFilterLength);
  }
  auto parsed = Parser(text).Run();
  if (auto* error = std::get_if<std::string>(&parsed)) return std::move(*error);
  return Filter(std::get<NodePtr>(parsed));
}

bool Filter::Matches(const AttributeReader& read) const { return Evaluate(*root_, read); }

}  // namespace keytrail::server::scim
