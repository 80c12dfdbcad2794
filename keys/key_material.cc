#include "keys/key_material.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <zlib.h>

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

uint32_t Crc32(const uint8_t* bytes, size_t n) {
  return static_cast<uint32_t>(crc32(0L, bytes, static_cast<uInt>(n)));
}

// The calling thread's digest context, reused across calls so hashing needs no context
// allocation of its own. (OpenSSL 3.0 still reallocates the 112-byte SHA-256 state inside
// every EVP_DigestInit_ex2; 3.1 and later reuse it.) The context points at the EVP_MD it
// last ran without owning it, so this holds a reference: a TokenCodec may be destroyed
// while threads that used it live on.
class ThreadDigest {
 public:
  ThreadDigest() = default;
  ThreadDigest(const ThreadDigest&) = delete;
  ThreadDigest& operator=(const ThreadDigest&) = delete;
  ~ThreadDigest() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
  }

  // A context ready for EVP_DigestInit_ex2(ctx, md, nullptr).
  EVP_MD_CTX* For(EVP_MD* md) {
    if (ctx_ == nullptr && (ctx_ = EVP_MD_CTX_new()) == nullptr) Die("EVP_MD_CTX_new failed");
    if (md != md_) {
      EVP_MD_CTX_reset(ctx_);  // drops state tied to md_ while md_ is still alive
      if (EVP_MD_up_ref(md) != 1) Die("EVP_MD_up_ref failed");
      EVP_MD_free(md_);
      md_ = md;
    }
    return ctx_;
  }

 private:
  EVP_MD_CTX* ctx_ = nullptr;
  EVP_MD* md_ = nullptr;
};

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

struct TokenCodec::Digest {
  EVP_MD* sha256 = nullptr;
  ~Digest() { EVP_MD_free(sha256); }
};

TokenCodec::TokenCodec(std::string prefix)
    : prefix_(std::move(prefix)), digest_(std::make_unique<Digest>()) {
  if (!ValidPrefix(prefix_)) Die("token prefix must be 1..16 characters of [a-z0-9_]");
  digest_->sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (digest_->sha256 == nullptr) Die("OpenSSL cannot supply SHA-256");
}

TokenCodec::~TokenCodec() = default;

size_t TokenCodec::token_length() const { return prefix_.size() + kTokenChars; }

SecretHash TokenCodec::Hash(const KeyId& id, std::span<const uint8_t> secret) const {
  thread_local ThreadDigest thread_digest;
  EVP_MD_CTX* ctx = thread_digest.For(digest_->sha256);
  SecretHash hash;
  unsigned int size = 0;
  if (EVP_DigestInit_ex2(ctx, digest_->sha256, nullptr) != 1 ||
      EVP_DigestUpdate(ctx, id.bytes.data(), id.bytes.size()) != 1 ||
      EVP_DigestUpdate(ctx, secret.data(), secret.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, hash.data(), &size) != 1 || size != hash.size()) {
    Die("SHA-256 failed");
  }
  return hash;
}

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

  issued.hash = Hash(issued.key_id, std::span<const uint8_t>(bytes + kKeyIdBytes, kSecretBytes));
  issued.hint = prefix_;
  issued.hint.append(kEllipsis);
  issued.hint.append(std::string_view(text).substr(text.size() - kHintChars));
  issued.token = Secret(std::move(text));
  return issued;
}

std::optional<ParsedToken> TokenCodec::Parse(std::string_view token) const {
  if (token.substr(0, prefix_.size()) != prefix_) return std::nullopt;
  if (token.size() != token_length()) return std::nullopt;

  const char* chars = token.data() + prefix_.size();
  TokenBytes buffer;
  uint8_t* bytes = buffer.data;
  uint32_t checksum;
  if (!DecodeChunks(chars, kPayloadBytes, bytes) ||
      !DecodeChunk32(chars + kTokenChars - kChars32, &checksum)) {
    return std::nullopt;
  }
  if (Crc32(bytes, kPayloadBytes) != checksum) return std::nullopt;

  ParsedToken parsed;
  std::memcpy(parsed.key_id.bytes.data(), bytes, kKeyIdBytes);
  parsed.hash = Hash(parsed.key_id, std::span<const uint8_t>(bytes + kKeyIdBytes, kSecretBytes));
  return parsed;
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
