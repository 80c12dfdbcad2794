#include "keys/member_secrets.h"

#include <sodium.h>

#include <array>
#include <cstdlib>

namespace keytrail {
namespace {

constexpr size_t kMemberSecretBytes = 32;
constexpr size_t kMemberSecretChars = 43;  // unpadded base64url of 32 bytes
constexpr size_t kMemberIdBytes = 16;

// sodium_init is idempotent and thread-safe; a failure means no usable randomness or
// CPU features check, which keytrail cannot run without.
void EnsureSodium() {
  static const bool ready = [] {
    if (sodium_init() < 0) std::abort();
    return true;
  }();
  (void)ready;
}

std::string Hex(const uint8_t* data, size_t size) {
  std::string out(size * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, size);
  out.pop_back();
  return out;
}

std::string SecretHashHex(std::string_view secret) {
  std::array<uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const uint8_t*>(secret.data()), secret.size());
  return Hex(digest.data(), digest.size());
}

bool ValidOrg(std::string_view org) {
  if (org.empty() || org.size() > 64) return false;
  for (char c : org) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  }
  return true;
}

bool AllOf(std::string_view text, bool (*pred)(char)) {
  for (char c : text) {
    if (!pred(c)) return false;
  }
  return true;
}

bool LowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool Base64Url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

Result<std::string> HashPassword(std::string_view password) {
  EnsureSodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::Internal("cannot hash the password (out of memory)");
  }
  return std::string(out.data());
}

bool VerifyPassword(std::string_view password, std::string_view hash) {
  EnsureSodium();
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  const std::string terminated(hash);  // libsodium reads a C string
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

bool AcceptablePasswordLength(std::string_view password) {
  if (password.size() > kMaxPasswordLength * 4) return false;
  size_t characters = 0;
  for (char c : password) characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return characters >= kMinPasswordLength && characters <= kMaxPasswordLength;
}

std::string RandomId(Random& random) {
  std::array<uint8_t, kMemberIdBytes> id{};
  random.Fill(id);
  return Hex(id.data(), id.size());
}

MemberToken IssueMemberToken(Random& random, std::string_view org) {
  EnsureSodium();
  std::array<uint8_t, kMemberSecretBytes> secret{};
  random.Fill(secret);
  std::array<char, kMemberSecretChars + 1> encoded{};
  sodium_bin2base64(encoded.data(), encoded.size(), secret.data(), secret.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(secret.data(), secret.size());
  const std::string_view secret_text(encoded.data(), kMemberSecretChars);
  MemberToken token;
  token.id = RandomId(random);
  token.hash = SecretHashHex(secret_text);
  std::string text;
  text.reserve(org.size() + token.id.size() + kMemberSecretChars + 2);
  text.append(org).append(".").append(token.id).append(".").append(secret_text);
  token.text = Secret(std::move(text));
  sodium_memzero(encoded.data(), encoded.size());
  return token;
}

std::optional<ParsedMemberToken> ParseMemberToken(std::string_view text) {
  const size_t first = text.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const size_t second = text.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  const std::string_view org = text.substr(0, first);
  const std::string_view id = text.substr(first + 1, second - first - 1);
  const std::string_view secret = text.substr(second + 1);
  if (!ValidOrg(org) || id.size() != kMemberIdBytes * 2 || !AllOf(id, LowerHex) ||
      secret.size() != kMemberSecretChars || !AllOf(secret, Base64Url)) {
    return std::nullopt;
  }
  return ParsedMemberToken{std::string(org), std::string(id), SecretHashHex(secret)};
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  EnsureSodium();
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace keytrail
