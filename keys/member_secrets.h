// Member secrets: passwords (Argon2id through libsodium) and the opaque tokens of
// invitations and sign-in sessions.
//
// A member token is "<org>.<id>.<secret>": the org says where to look, the id names the
// credential (invitation or session) in the org's events, and the secret is 32 random
// bytes in unpadded base64url. Only SHA-256 of the secret is stored (on the credentials
// stream, never on the events topic).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "keys/key_material.h"
#include "keys/secret.h"

namespace keytrail {

inline constexpr size_t kMinPasswordLength = 12;    // characters (Unicode code points)
inline constexpr size_t kMaxPasswordLength = 1024;  // characters

// Whether `password` (UTF-8) has kMinPasswordLength..kMaxPasswordLength characters.
bool AcceptablePasswordLength(std::string_view password);

// The Argon2id hash of `password` in libsodium's self-describing string form
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash), with libsodium's "interactive" limits
// (64 MiB, 2 passes). Takes ~0.1 s of one core: call it off io threads. Errors:
// kInternal if the memory cannot be had.
Result<std::string> HashPassword(std::string_view password);
// Whether `password` matches `hash` (from HashPassword). False for a malformed hash.
bool VerifyPassword(std::string_view password, std::string_view hash);

// A freshly minted member token: the text is shown once (an invitation link, a cookie).
struct MemberToken {
  std::string id;    // 32 lower-case hex digits
  Secret text;       // "<org>.<id>.<secret>"
  std::string hash;  // SHA-256 of the secret, hex
};
MemberToken IssueMemberToken(Random& random, std::string_view org);

// A new random id (32 lower-case hex digits), e.g. for a password credential.
std::string RandomId(Random& random);

// The parts of a presented member token.
struct ParsedMemberToken {
  std::string org;
  std::string id;
  std::string hash;  // SHA-256 of the secret, hex
};
// Strict: an org id (1-64 of [a-z0-9-_]), a 32-hex-digit id and a 43-character
// base64url secret. nullopt otherwise.
std::optional<ParsedMemberToken> ParseMemberToken(std::string_view text);

// Constant-time equality of two equal-length strings (false if the lengths differ).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace keytrail
