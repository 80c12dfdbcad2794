// Key material: key ids, tokens, secret hashes.
//
// A token is  prefix ‖ base62(key id [16 bytes] ‖ secret [24 bytes] ‖ CRC32 [4 bytes]).
// The 44 bytes are base62-encoded in fixed-width chunks (each 8-byte chunk as 11
// characters, the final 4-byte chunk as 6), so every token of a prefix has the same
// length and decoding needs no big-number arithmetic. The CRC32 (zlib polynomial, over
// the 40 bytes before it) lets the verifier and secret scanners reject mistyped or
// foreign strings without a lookup; the embedded key id makes the lookup O(1).
//
// Only SHA-256(key id ‖ secret) is ever stored. Comparison is constant-time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "keys/secret.h"

namespace keytrail {

inline constexpr std::string_view kDefaultTokenPrefix = "kt_";
inline constexpr size_t kSecretBytes = 24;  // 192 bits of CSPRNG output

// A key's id: 16 bytes. Text form: 22 base62 characters. Ids keytrail makes (NewKeyId)
// start with their creation time, so a later id sorts after (to the millisecond); ids made before
// that (16 random bytes) are as valid. Nothing may rely on an id's time: it is not checked.
struct KeyId {
  std::array<uint8_t, 16> bytes{};
  friend bool operator==(const KeyId&, const KeyId&) = default;
  friend auto operator<=>(const KeyId&, const KeyId&) = default;
};
// Hash for unordered containers and shard choices: both halves mixed, since an id's first
// bytes are a time that most ids of a period share.
struct KeyIdHash {
  size_t operator()(const KeyId& id) const noexcept {
    uint64_t head, tail;
    std::memcpy(&head, id.bytes.data(), sizeof(head));
    std::memcpy(&tail, id.bytes.data() + 8, sizeof(tail));
    const uint64_t h = (head ^ tail) * 0x9E3779B97F4A7C15ULL;
    return static_cast<size_t>(h ^ (h >> 32));
  }
};

std::string FormatKeyId(const KeyId& id);
// Appends the 22 characters of FormatKeyId(id) to *out.
void AppendKeyId(const KeyId& id, std::string* out);
// Strict: exactly 22 base62 characters that decode to 16 bytes.
std::optional<KeyId> ParseKeyId(std::string_view text);

using SecretHash = std::array<uint8_t, 32>;

// Source of cryptographically secure random bytes. Thread-safe.
class Random {
 public:
  virtual ~Random() = default;
  virtual void Fill(std::span<uint8_t> out) = 0;
};
// getrandom(2); aborts the process if the kernel cannot supply randomness.
Random& SystemRandom();

// A freshly minted token. `token` is shown to the user once and never stored.
struct IssuedToken {
  KeyId key_id;
  Secret token;      // the full token text
  SecretHash hash;   // SHA-256(key id ‖ secret)
  std::string hint;  // prefix + "…" + the token's last 4 characters (checksum only)
};

// The parts of a well-formed token.
struct ParsedToken {
  KeyId key_id;
  SecretHash hash;  // SHA-256(key id ‖ secret)
};

// A token whose prefix, length, alphabet and checksum passed, its secret not yet hashed:
// TokenCodec::Parse is Decode then Finish, split so a verifier can start fetching the
// key's index entry while the secret is hashed. Holds the secret: wiped when destroyed,
// never copied.
class DecodedToken {
 public:
  DecodedToken() = default;
  ~DecodedToken();
  DecodedToken(const DecodedToken&) = delete;
  DecodedToken& operator=(const DecodedToken&) = delete;

  const KeyId& key_id() const { return key_id_; }

 private:
  friend class TokenCodec;
  KeyId key_id_;
  std::array<uint8_t, kSecretBytes> secret_{};
};

// A new key's id: `now_us` in whole milliseconds since the epoch (6 bytes, big-endian;
// a negative time counts as 0), then 10 bytes from `random` (80 bits: ids made in the
// same millisecond do not collide). Ids so made sort by creation time, so the rows the
// views keep per key (the key row, its group and creator index rows, its audit index
// rows) are appended where the last new key's went, not inserted at random places in
// RocksDB's memtable and files.
KeyId NewKeyId(Random& random, int64_t now_us);

// Mints tokens and parses them. Thread-safe; Parse takes no locks and makes no
// allocation.
class TokenCodec {
 public:
  // REQUIRES: prefix is 1..16 characters of [a-z0-9_] (aborts otherwise).
  explicit TokenCodec(std::string prefix = std::string(kDefaultTokenPrefix));
  ~TokenCodec();
  TokenCodec(const TokenCodec&) = delete;
  TokenCodec& operator=(const TokenCodec&) = delete;

  // A new token for a new key (key_id = nullopt: a random id drawn from `random`) or a
  // rotation (the key's id, kept).
  IssuedToken Issue(Random& random, std::optional<KeyId> key_id = std::nullopt) const;

  // Strict parse: wrong prefix, length, alphabet or checksum -> nullopt (malformed).
  // Hashes the secret on success.
  std::optional<ParsedToken> Parse(std::string_view token) const;
  // Parse in two steps: Decode checks the text (false: malformed, `out` unspecified);
  // Finish hashes the secret.
  bool Decode(std::string_view token, DecodedToken& out) const;
  ParsedToken Finish(const DecodedToken& decoded) const;

  const std::string& prefix() const { return prefix_; }
  size_t token_length() const;

 private:
  std::string prefix_;
};

// Constant-time equality of two hashes.
bool HashesEqual(const SecretHash& a, const SecretHash& b);

// CRC-32 with zlib's polynomial (the token checksum).
uint32_t Crc32(const uint8_t* bytes, size_t n);

// SHA-256 of `data`, as 64 lower-case hex digits (fingerprints, not secrets).
std::string Sha256Hex(std::string_view data);

}  // namespace keytrail
