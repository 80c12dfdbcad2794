#include "server/http.h"

#include <algorithm>
#include <cctype>

namespace keytrail::server {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> DecodeQueryComponent(std::string_view text) {
  std::string plus_as_space(text);
  std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
  return PercentDecode(plus_as_space);
}

bool TokenCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool JsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Whether an Authorization value starts with "Bearer " (the scheme in any case).
bool HasBearerScheme(std::string_view value) {
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string_view> HttpRequest::Header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

void HttpResponse::SetHeader(std::string name, std::string value) {
  for (HttpHeader& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) {
      h.value = std::move(value);
      return;
    }
  }
  headers.push_back({std::move(name), std::move(value)});
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::optional<SplitTargetResult> SplitTarget(std::string_view target) {
  SplitTargetResult out;
  const size_t q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    auto name = DecodeQueryComponent(part.substr(0, eq));
    auto value = DecodeQueryComponent(eq == std::string_view::npos ? std::string_view()
                                                                   : part.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    out.query.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
  }
  return "Unknown";
}

std::optional<std::string_view> BearerToken(const HttpRequest& request) {
  auto header = request.Header("authorization");
  if (!header) return std::nullopt;
  std::string_view value = *header;
  if (!HasBearerScheme(value)) return std::nullopt;
  value.remove_prefix(std::string_view("bearer ").size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  return value;
}

std::optional<std::string_view> SimpleVerifyBodyKey(std::string_view body) {
  size_t i = 0;
  auto skip = [&] {
    while (i < body.size() && JsonSpace(body[i])) ++i;
  };
  auto take = [&](std::string_view literal) {
    skip();
    if (body.substr(i, literal.size()) != literal) return false;
    i += literal.size();
    return true;
  };
  if (!take("{") || !take(R"("key")") || !take(":") || !take(R"(")")) return std::nullopt;
  const size_t begin = i;
  while (i < body.size() && TokenCharacter(body[i])) ++i;
  const std::string_view token = body.substr(begin, i - begin);
  // The closing quote right after the token: a space there is part of the string.
  if (i >= body.size() || body[i] != '"') return std::nullopt;
  ++i;
  if (!take("}")) return std::nullopt;
  skip();
  if (i != body.size()) return std::nullopt;
  return token;
}

std::optional<std::string_view> SimpleBearerToken(std::string_view authorization) {
  if (!HasBearerScheme(authorization)) return std::nullopt;
  const std::string_view token = authorization.substr(std::string_view("bearer ").size());
  if (token.empty()) return std::nullopt;  // BearerToken finds none either
  for (char c : token) {
    if (!TokenCharacter(c)) return std::nullopt;
  }
  return token;
}

}  // namespace keytrail::server
