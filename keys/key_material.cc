#include "keys/key_material.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "keys/sha256.h"

namespace keytrail {
namespace {

constexpr std::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr size_t kBase = 62;

// 62^11 > 2^64 > 62^10 and 62^6 > 2^32 > 62^5: the fewest characters that hold every value.
constexpr size_t kChars64 = 11;
constexpr size_t kChars32 = 6;

constexpr size_t kKeyIdBytes = sizeof(KeyId::bytes);
constexpr size_t kChecksumBytes = 4;
constexpr size_t kPayloadBytes = kKeyIdBytes + kSecretBytes;  // what the CRC covers
constexpr size_t kTokenBytes = kPayloadBytes + kChecksumBytes;
static_assert(kPayloadBytes % 8 == 0, "the payload must split into 8-byte chunks");

constexpr size_t kKeyIdChars = kKeyIdBytes / 8 * kChars64;
constexpr size_t kTokenChars = kPayloadBytes / 8 * kChars64 + kChars32;

constexpr size_t kHintChars = 4;
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026 in UTF-8

// Digit value of each byte, or -1 outside the alphabet.
constexpr std::array<int8_t, 256> kDigitOf = [] {
  std::array<int8_t, 256> table{};
  table.fill(-1);
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}();

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "keytrail: key material: %s\n", what);
  std::abort();
}

uint64_t LoadBigEndian(const uint8_t* in, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | in[i];
  return v;
}

void StoreBigEndian(uint64_t v, uint8_t* out, size_t n) {
  for (size_t i = n; i-- > 0; v >>= 8) out[i] = static_cast<uint8_t>(v);
}

// Writes `chars` base62 digits of v, most significant first.
void EncodeChunk(uint64_t v, size_t chars, char* out) {
  for (size_t i = chars; i-- > 0; v /= kBase) out[i] = kAlphabet[v % kBase];
}

// The value of n <= 10 base62 digits: below 62^10 < 2^64, so it cannot overflow. A
// character outside the alphabet makes *invalid negative (the value is then meaningless);
// checking once per chunk keeps the loop free of branches.
uint64_t DecodeDigits(const char* in, size_t n, int* invalid) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    const int8_t digit = kDigitOf[static_cast<uint8_t>(in[i])];
    *invalid |= digit;
    v = v * kBase + static_cast<uint64_t>(digit);
  }
  return v;
}

// An 11-character chunk, decoded as two independent halves (shorter dependency chains)
// joined with overflow checks. Values of 2^64 and above are rejected, so every 8 bytes
// have exactly one text form.
bool DecodeChunk64(const char* in, uint64_t* out) {
  constexpr uint64_t k62Pow6 = 56'800'235'584;
  int invalid = 0;
  const uint64_t high = DecodeDigits(in, kChars64 - 6, &invalid);
  const uint64_t low = DecodeDigits(in + kChars64 - 6, 6, &invalid);
  uint64_t scaled;
  return invalid >= 0 && !__builtin_mul_overflow(high, k62Pow6, &scaled) &&
         !__builtin_add_overflow(scaled, low, out);
}

// The 6-character checksum chunk; values of 2^32 and above are rejected.
bool DecodeChunk32(const char* in, uint32_t* out) {
  int invalid = 0;
  const uint64_t v = DecodeDigits(in, kChars32, &invalid);
  if (invalid < 0 || v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// 8-byte chunks of `bytes` (a multiple of 8) -> 11 characters each.
void EncodeChunks(const uint8_t* bytes, size_t n, char* out) {
  for (size_t i = 0; i < n; i += 8, out += kChars64) {
    EncodeChunk(LoadBigEndian(bytes + i, 8), kChars64, out);
  }
}

bool DecodeChunks(const char* in, size_t n, uint8_t* bytes) {
  for (size_t i = 0; i < n; i += 8, in += kChars64) {
    uint64_t v;
    if (!DecodeChunk64(in, &v)) return false;
    StoreBigEndian(v, bytes + i, 8);
  }
  return true;
}

// CRC-32 (zlib's: reflected polynomial 0xEDB88320), eight bytes per step (slicing-by-8).
// zlib's crc32() costs ~40 ns on a 40-byte payload, a sixth of the verify budget, where
// this costs ~12 ns; the unit tests check it against zlib on random inputs.
constexpr auto kCrcTables = [] {
  std::array<std::array<uint32_t, 256>, 8> tables{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    tables[0][i] = c;
  }
  for (size_t i = 0; i < 256; ++i) {
    for (size_t t = 1; t < 8; ++t) {
      tables[t][i] = (tables[t - 1][i] >> 8) ^ tables[0][tables[t - 1][i] & 0xff];
    }
  }
  return tables;
}();

uint32_t LoadLittleEndian32(const uint8_t* in) {
  return uint32_t{in[0]} | uint32_t{in[1]} << 8 | uint32_t{in[2]} << 16 | uint32_t{in[3]} << 24;
}

}  // namespace

uint32_t Crc32(const uint8_t* bytes, size_t n) {
  const auto& t = kCrcTables;
  uint32_t crc = 0xFFFFFFFFu;
  for (; n >= 8; bytes += 8, n -= 8) {
    const uint32_t lo = crc ^ LoadLittleEndian32(bytes);
    const uint32_t hi = LoadLittleEndian32(bytes + 4);
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
          t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
  }
  for (; n > 0; --n) crc = t[0][(crc ^ *bytes++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

namespace {

class SystemRandomImpl final : public Random {
 public:
  void Fill(std::span<uint8_t> out) override {
    uint8_t* p = out.data();
    size_t left = out.size();
    while (left > 0) {
      const ssize_t n = getrandom(p, left, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        Die("getrandom failed");
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
};

// Raw token bytes on the stack, wiped however the scope is left: they hold a secret.
struct TokenBytes {
  uint8_t data[kTokenBytes];
  ~TokenBytes() { OPENSSL_cleanse(data, sizeof(data)); }
};

bool ValidPrefix(std::string_view prefix) {
  if (prefix.empty() || prefix.size() > 16) return false;
  for (char c : prefix) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

std::string FormatKeyId(const KeyId& id) {
  std::string text(kKeyIdChars, '\0');
  EncodeChunks(id.bytes.data(), kKeyIdBytes, text.data());
  return text;
}

void AppendKeyId(const KeyId& id, std::string* out) {
  char text[kKeyIdChars];
  EncodeChunks(id.bytes.data(), kKeyIdBytes, text);
  out->append(text, kKeyIdChars);
}

std::optional<KeyId> ParseKeyId(std::string_view text) {
  if (text.size() != kKeyIdChars) return std::nullopt;
  KeyId id;
  if (!DecodeChunks(text.data(), kKeyIdBytes, id.bytes.data())) return std::nullopt;
  return id;
}

Random& SystemRandom() {
  static auto* random = new SystemRandomImpl;  // never destroyed
  return *random;
}

bool HashesEqual(const SecretHash& a, const SecretHash& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {

// SHA-256(key id ‖ secret).
SecretHash HashSecret(const KeyId& id, std::span<const uint8_t> secret) {
  SecretHash hash;
  keys::Sha256Concat(id.bytes, secret, hash.data());
  return hash;
}

}  // namespace

DecodedToken::~DecodedToken() { OPENSSL_cleanse(secret_.data(), secret_.size()); }

TokenCodec::TokenCodec(std::string prefix) : prefix_(std::move(prefix)) {
  if (!ValidPrefix(prefix_)) Die("token prefix must be 1..16 characters of [a-z0-9_]");
}

KeyId NewKeyId(Random& random, int64_t now_us) {
  constexpr size_t kTimeBytes = 6;
  KeyId id;
  const uint64_t ms = static_cast<uint64_t>(now_us < 0 ? 0 : now_us / 1000);
  StoreBigEndian(ms, id.bytes.data(), kTimeBytes);
  random.Fill(std::span<uint8_t>(id.bytes.data() + kTimeBytes, id.bytes.size() - kTimeBytes));
  return id;
}

TokenCodec::~TokenCodec() = default;

size_t TokenCodec::token_length() const { return prefix_.size() + kTokenChars; }

IssuedToken TokenCodec::Issue(Random& random, std::optional<KeyId> key_id) const {
  IssuedToken issued;
  if (key_id.has_value()) {
    issued.key_id = *key_id;
  } else {
    random.Fill(issued.key_id.bytes);
  }

  TokenBytes buffer;
  uint8_t* bytes = buffer.data;
  std::memcpy(bytes, issued.key_id.bytes.data(), kKeyIdBytes);
  random.Fill(std::span<uint8_t>(bytes + kKeyIdBytes, kSecretBytes));
  StoreBigEndian(Crc32(bytes, kPayloadBytes), bytes + kPayloadBytes, kChecksumBytes);

  // Sized once, so no reallocation leaves an unwiped copy of the secret on the heap.
  std::string text(token_length(), '\0');
  std::memcpy(text.data(), prefix_.data(), prefix_.size());
  char* chars = text.data() + prefix_.size();
  EncodeChunks(bytes, kPayloadBytes, chars);
  EncodeChunk(LoadBigEndian(bytes + kPayloadBytes, kChecksumBytes), kChars32,
              chars + kTokenChars - kChars32);

  issued.hash =
      HashSecret(issued.key_id, std::span<const uint8_t>(bytes + kKeyIdBytes, kSecretBytes));
  issued.hint = prefix_;
  issued.hint.append(kEllipsis);
  issued.hint.append(std::string_view(text).substr(text.size() - kHintChars));
  issued.token = Secret(std::move(text));
  return issued;
}

bool TokenCodec::Decode(std::string_view token, DecodedToken& out) const {
  if (token.substr(0, prefix_.size()) != prefix_) return false;
  if (token.size() != token_length()) return false;

  const char* chars = token.data() + prefix_.size();
  TokenBytes buffer;
  uint8_t* bytes = buffer.data;
  uint32_t checksum;
  if (!DecodeChunks(chars, kPayloadBytes, bytes) ||
      !DecodeChunk32(chars + kTokenChars - kChars32, &checksum)) {
    return false;
  }
  if (Crc32(bytes, kPayloadBytes) != checksum) return false;
  std::memcpy(out.key_id_.bytes.data(), bytes, kKeyIdBytes);
  std::memcpy(out.secret_.data(), bytes + kKeyIdBytes, kSecretBytes);
  return true;
}

ParsedToken TokenCodec::Finish(const DecodedToken& decoded) const {
  return {decoded.key_id_, HashSecret(decoded.key_id_, decoded.secret_)};
}

std::optional<ParsedToken> TokenCodec::Parse(std::string_view token) const {
  DecodedToken decoded;
  if (!Decode(token, decoded)) return std::nullopt;
  return Finish(decoded);
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    Die("EVP_Digest(SHA-256) failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace keytrail
