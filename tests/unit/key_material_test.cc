#include "keys/key_material.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <zlib.h>

namespace keytrail {
namespace {

// Yields 0x00, 0x01, 0x02, ... across calls, so Issue is deterministic.
class SequenceRandom final : public Random {
 public:
  void Fill(std::span<uint8_t> out) override {
    for (uint8_t& b : out) b = next_++;
  }

 private:
  uint8_t next_ = 0;
};

// Issue(SequenceRandom) with the default prefix: key id = bytes 0x00..0x0f, secret =
// 0x10..0x27. Expected values computed independently with Python (zlib.crc32, hashlib,
// a separate base62 encoder) and cross-checked with sha256sum.
constexpr std::string_view kGoldenToken =
    "kt_001IYT0XLWR0glqewhlWlr1NWOlQOzi1H24Gwru6DtGh2l1UyNnS4W70FUpxc";
constexpr std::string_view kGoldenKeyId = "001IYT0XLWR0glqewhlWlr";
constexpr std::string_view kGoldenHashHex =
    "5faa4eec3611556812c2d74b437c8c49add3f910f10063d801441f7d75cd5e3b";
constexpr std::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr size_t kPrefixLength = 3;  // "kt_"

std::string Hex(const SecretHash& hash) {
  std::string out;
  for (uint8_t b : hash) out += fmt::format("{:02x}", b);
  return out;
}

KeyId SequentialKeyId() {
  KeyId id;
  for (size_t i = 0; i < id.bytes.size(); ++i) id.bytes[i] = static_cast<uint8_t>(i);
  return id;
}

TEST(NewKeyId, StartsWithTheTimeInMillisecondsThenRandomBytes) {
  SequenceRandom random;
  const int64_t now_us = 1'767'225'600'123'999;  // 2026-01-01T00:00:00.123999Z
  const KeyId id = NewKeyId(random, now_us);
  const uint64_t ms = 1'767'225'600'123;
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(id.bytes[i], static_cast<uint8_t>(ms >> (8 * (5 - i)))) << i;
  }
  for (size_t i = 6; i < id.bytes.size(); ++i) {
    EXPECT_EQ(id.bytes[i], static_cast<uint8_t>(i - 6)) << "from random: " << i;
  }
  EXPECT_EQ(NewKeyId(random, -5).bytes[0], 0);  // before the epoch: time 0
}

TEST(NewKeyId, IdsSortByCreationTimeAndTheirTextRoundTrips) {
  Random& random = SystemRandom();
  std::vector<KeyId> ids;
  for (int64_t ms = 0; ms < 2000; ++ms) {
    // Two ids per millisecond, a later millisecond's after both of an earlier one's.
    for (int i = 0; i < 2; ++i) ids.push_back(NewKeyId(random, (1'767'225'600'000 + ms) * 1000));
  }
  for (size_t i = 2; i < ids.size(); ++i) EXPECT_LT(ids[i - 2], ids[i]) << i;
  std::set<KeyId> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), ids.size());
  for (const KeyId& id : ids) EXPECT_EQ(ParseKeyId(FormatKeyId(id)), id);
}

// Ids made in the same stretch of time share their first bytes: a hash (and the shard
// choices made from it, e.g. KeyUsage's hash % 16) must still spread them.
TEST(KeyIdHash, SpreadsIdsMadeInTheSameMillisecond) {
  Random& random = SystemRandom();
  std::set<size_t> buckets;
  for (int i = 0; i < 256; ++i) {
    buckets.insert(KeyIdHash{}(NewKeyId(random, 1'767'225'600'000'000)) % 16);
  }
  EXPECT_EQ(buckets.size(), 16u);
}

TEST(TokenCodec, IssueThenParseRoundTrips) {
  TokenCodec codec;
  for (int i = 0; i < 100; ++i) {
    const IssuedToken issued = codec.Issue(SystemRandom());
    const std::string_view token = issued.token.reveal();
    EXPECT_EQ(token.size(), codec.token_length());
    EXPECT_EQ(token.size(), kPrefixLength + 61);
    EXPECT_TRUE(token.starts_with("kt_"));
    const auto parsed = codec.Parse(token);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->key_id, issued.key_id);
    EXPECT_TRUE(HashesEqual(parsed->hash, issued.hash));
  }
}

TEST(TokenCodec, GoldenToken) {
  TokenCodec codec;
  SequenceRandom random;
  const IssuedToken issued = codec.Issue(random);
  EXPECT_EQ(issued.token.reveal(), kGoldenToken);
  EXPECT_EQ(issued.key_id, SequentialKeyId());
  EXPECT_EQ(Hex(issued.hash), kGoldenHashHex);
  EXPECT_EQ(issued.hint, "kt_\xE2\x80\xA6Upxc");

  const auto parsed = codec.Parse(kGoldenToken);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->key_id, SequentialKeyId());
  EXPECT_EQ(Hex(parsed->hash), kGoldenHashHex);
}

TEST(TokenCodec, RejectsWrongPrefix) {
  TokenCodec codec;
  std::string token(kGoldenToken);
  token[1] = 'x';
  EXPECT_FALSE(codec.Parse(token).has_value());
  EXPECT_FALSE(codec.Parse(kGoldenToken.substr(kPrefixLength)).has_value());
  EXPECT_FALSE(codec.Parse("").has_value());
  EXPECT_FALSE(codec.Parse("kt").has_value());
}

TEST(TokenCodec, RejectsWrongLength) {
  TokenCodec codec;
  EXPECT_FALSE(codec.Parse(kGoldenToken.substr(0, kGoldenToken.size() - 1)).has_value());
  EXPECT_FALSE(codec.Parse("kt_").has_value());
  EXPECT_FALSE(codec.Parse(std::string(kGoldenToken) + "0").has_value());
  EXPECT_FALSE(codec.Parse(std::string(kGoldenToken) + std::string(kGoldenToken)).has_value());
}

TEST(TokenCodec, RejectsCharactersOutsideTheAlphabet) {
  TokenCodec codec;
  for (size_t i = kPrefixLength; i < kGoldenToken.size(); ++i) {
    for (char bad : {'-', '_', '+', '/', '=', ' ', '\0', '\xff', '\xe2'}) {
      std::string token(kGoldenToken);
      token[i] = bad;
      EXPECT_FALSE(codec.Parse(token).has_value()) << "position " << i << " char " << int(bad);
    }
  }
}

// Every single-character substitution is caught, by the checksum or by a chunk overflow.
TEST(TokenCodec, RejectsEverySingleCharacterChange) {
  TokenCodec codec;
  for (size_t i = kPrefixLength; i < kGoldenToken.size(); ++i) {
    for (char c : kAlphabet) {
      if (c == kGoldenToken[i]) continue;
      std::string token(kGoldenToken);
      token[i] = c;
      EXPECT_FALSE(codec.Parse(token).has_value()) << token;
    }
  }
}

TEST(TokenCodec, RejectsSwappedCharacters) {
  TokenCodec codec;
  for (size_t i = kPrefixLength; i + 1 < kGoldenToken.size(); ++i) {
    if (kGoldenToken[i] == kGoldenToken[i + 1]) continue;
    std::string token(kGoldenToken);
    std::swap(token[i], token[i + 1]);
    EXPECT_FALSE(codec.Parse(token).has_value()) << token;
  }
}

TEST(TokenCodec, RejectsChunkOverflow) {
  TokenCodec codec;
  std::string token(kGoldenToken);
  token.replace(kPrefixLength, 11, "zzzzzzzzzzz");
  EXPECT_FALSE(codec.Parse(token).has_value());

  // The first chunk's value plus 2^64: a decoder that wrapped modulo 2^64 would read the
  // same bytes, so the checksum would pass. Only the overflow check rejects it.
  token = kGoldenToken;
  token.replace(kPrefixLength, 11, "Lyha8U6hd4h");
  EXPECT_FALSE(codec.Parse(token).has_value());

  // Likewise the checksum's value plus 2^32 in the final 6-character chunk.
  token = kGoldenToken;
  token.replace(token.size() - 6, 6, "4wA59g");
  EXPECT_FALSE(codec.Parse(token).has_value());
  token.replace(token.size() - 6, 6, "zzzzzz");
  EXPECT_FALSE(codec.Parse(token).has_value());
}

TEST(TokenCodec, OtherPrefixIsRejected) {
  TokenCodec kt;
  TokenCodec kx("kx_");
  TokenCodec acme("acme_live_");
  EXPECT_EQ(acme.prefix(), "acme_live_");
  EXPECT_EQ(acme.token_length(), 10 + 61);

  const IssuedToken from_kt = kt.Issue(SystemRandom());
  const IssuedToken from_kx = kx.Issue(SystemRandom());
  const IssuedToken from_acme = acme.Issue(SystemRandom());
  EXPECT_TRUE(kx.Parse(from_kx.token.reveal()).has_value());
  EXPECT_TRUE(acme.Parse(from_acme.token.reveal()).has_value());

  EXPECT_FALSE(kx.Parse(from_kt.token.reveal()).has_value());
  EXPECT_FALSE(acme.Parse(from_kt.token.reveal()).has_value());
  EXPECT_FALSE(kt.Parse(from_kx.token.reveal()).has_value());
  EXPECT_FALSE(kt.Parse(from_acme.token.reveal()).has_value());
  EXPECT_FALSE(kx.Parse(from_acme.token.reveal()).has_value());
}

TEST(TokenCodecDeathTest, InvalidPrefixAborts) {
  EXPECT_DEATH(TokenCodec(""), "prefix");
  EXPECT_DEATH(TokenCodec("KT_"), "prefix");
  EXPECT_DEATH(TokenCodec("kt-"), "prefix");
  EXPECT_DEATH(TokenCodec(std::string(17, 'k')), "prefix");
}

TEST(TokenCodec, IssuedTokensAreDistinct) {
  TokenCodec codec;
  std::set<std::string> tokens;
  std::set<KeyId> ids;
  for (int i = 0; i < 1000; ++i) {
    const IssuedToken issued = codec.Issue(SystemRandom());
    tokens.emplace(issued.token.reveal());
    ids.insert(issued.key_id);
  }
  EXPECT_EQ(tokens.size(), 1000u);
  EXPECT_EQ(ids.size(), 1000u);
}

// The hint is the prefix and the last 4 characters, which lie inside the final 6-character
// chunk: the checksum, not the secret's characters.
TEST(TokenCodec, HintShowsOnlyChecksumCharacters) {
  TokenCodec codec;
  for (int i = 0; i < 100; ++i) {
    const IssuedToken issued = codec.Issue(SystemRandom());
    const std::string_view token = issued.token.reveal();
    const size_t checksum_start = token.size() - 6;
    const std::string_view last4 = token.substr(token.size() - 4);
    ASSERT_GE(token.size() - 4, checksum_start);
    EXPECT_EQ(issued.hint, "kt_\xE2\x80\xA6" + std::string(last4));
    const std::string_view secret_chars = token.substr(kPrefixLength + 22, 33);
    EXPECT_EQ(issued.hint.find(secret_chars), std::string::npos);
  }
}

TEST(TokenCodec, RotationKeepsTheKeyId) {
  TokenCodec codec;
  const IssuedToken first = codec.Issue(SystemRandom());
  const IssuedToken rotated = codec.Issue(SystemRandom(), first.key_id);
  EXPECT_EQ(rotated.key_id, first.key_id);
  EXPECT_NE(rotated.token.reveal(), first.token.reveal());
  EXPECT_FALSE(HashesEqual(rotated.hash, first.hash));
  EXPECT_TRUE(rotated.token.reveal().starts_with("kt_" + FormatKeyId(first.key_id)));

  const auto parsed = codec.Parse(rotated.token.reveal());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->key_id, first.key_id);
  EXPECT_TRUE(HashesEqual(parsed->hash, rotated.hash));

  // With a given id, Issue draws only the secret from `random`.
  SequenceRandom random;
  const IssuedToken given = codec.Issue(random, SequentialKeyId());
  EXPECT_EQ(given.key_id, SequentialKeyId());
  EXPECT_TRUE(given.token.reveal().starts_with("kt_" + std::string(kGoldenKeyId)));
}

// Codecs come and go while threads keep their digest context: each thread's context must
// follow whichever codec it runs for, including after another codec is destroyed.
TEST(TokenCodec, CodecsShareThreadsAcrossLifetimes) {
  auto first = std::make_unique<TokenCodec>("aa_");
  const IssuedToken a = first->Issue(SystemRandom());
  TokenCodec second("bb_");
  const IssuedToken b = second.Issue(SystemRandom());
  ASSERT_TRUE(first->Parse(a.token.reveal()).has_value());
  first.reset();
  TokenCodec third("aa_");
  for (int i = 0; i < 3; ++i) {
    const auto from_third = third.Parse(a.token.reveal());
    ASSERT_TRUE(from_third.has_value());
    EXPECT_TRUE(HashesEqual(from_third->hash, a.hash));
    const auto from_second = second.Parse(b.token.reveal());
    ASSERT_TRUE(from_second.has_value());
    EXPECT_TRUE(HashesEqual(from_second->hash, b.hash));
  }
  std::thread worker([&] {
    const auto parsed = third.Parse(a.token.reveal());
    ASSERT_TRUE(parsed.has_value());
    EXPECT_TRUE(HashesEqual(parsed->hash, a.hash));
  });
  worker.join();
}

TEST(KeyId, FormatAndParseRoundTrip) {
  EXPECT_EQ(FormatKeyId(SequentialKeyId()), kGoldenKeyId);
  EXPECT_EQ(ParseKeyId(kGoldenKeyId), SequentialKeyId());

  KeyId zero;
  EXPECT_EQ(FormatKeyId(zero), std::string(22, '0'));
  EXPECT_EQ(ParseKeyId(std::string(22, '0')), zero);

  KeyId max;
  max.bytes.fill(0xff);
  EXPECT_EQ(FormatKeyId(max), "LygHa16AHYFLygHa16AHYF");
  EXPECT_EQ(ParseKeyId("LygHa16AHYFLygHa16AHYF"), max);

  for (int i = 0; i < 100; ++i) {
    KeyId id;
    SystemRandom().Fill(id.bytes);
    const std::string text = FormatKeyId(id);
    EXPECT_EQ(text.size(), 22u);
    EXPECT_EQ(ParseKeyId(text), id);
  }
}

TEST(KeyId, ParseIsStrict) {
  EXPECT_FALSE(ParseKeyId("").has_value());
  EXPECT_FALSE(ParseKeyId(kGoldenKeyId.substr(1)).has_value());
  EXPECT_FALSE(ParseKeyId(std::string(kGoldenKeyId) + "0").has_value());
  EXPECT_FALSE(ParseKeyId("001IYT0XLWR0glqewhlWl-").has_value());
  EXPECT_FALSE(ParseKeyId("001IYT0XLWR0glqewhlWl ").has_value());
  EXPECT_FALSE(ParseKeyId(" 001IYT0XLWR0glqewhlWl").has_value());
  // 2^64 in either chunk, and the largest 11-character value.
  EXPECT_FALSE(ParseKeyId("LygHa16AHYG00000000000").has_value());
  EXPECT_FALSE(ParseKeyId("00000000000LygHa16AHYG").has_value());
  EXPECT_FALSE(ParseKeyId("zzzzzzzzzzz00000000000").has_value());
  EXPECT_FALSE(ParseKeyId("00000000000zzzzzzzzzzz").has_value());
  // The first chunk plus 2^64: would alias the golden id under wrapping arithmetic.
  EXPECT_FALSE(ParseKeyId("Lyha8U6hd4h0glqewhlWlr").has_value());
}

TEST(KeyMaterial, Crc32IsZlibs) {
  std::mt19937_64 random(7);
  for (size_t n = 0; n < 100; ++n) {
    std::vector<uint8_t> bytes(n);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(random());
    EXPECT_EQ(Crc32(bytes.data(), n), crc32(0L, bytes.data(), static_cast<uInt>(n))) << n;
  }
  const std::string_view check = "123456789";  // the CRC-32 check value
  EXPECT_EQ(Crc32(reinterpret_cast<const uint8_t*>(check.data()), check.size()), 0xCBF43926u);
}

TEST(TokenCodec, DecodeThenFinishIsParse) {
  TokenCodec codec;
  const IssuedToken issued = codec.Issue(SystemRandom());
  DecodedToken decoded;
  ASSERT_TRUE(codec.Decode(issued.token.reveal(), decoded));
  EXPECT_EQ(decoded.key_id(), issued.key_id);
  const ParsedToken parsed = codec.Finish(decoded);
  EXPECT_EQ(parsed.key_id, issued.key_id);
  EXPECT_EQ(parsed.hash, issued.hash);
  std::string typo(issued.token.reveal());
  typo.back() = typo.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(codec.Decode(typo, decoded));
  EXPECT_FALSE(codec.Decode("kt_", decoded));
}

TEST(KeyMaterial, HashesEqual) {
  SecretHash a{};
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 7);
  SecretHash b = a;
  EXPECT_TRUE(HashesEqual(a, b));
  b[0] ^= 1;
  EXPECT_FALSE(HashesEqual(a, b));
  b = a;
  b[31] ^= 0x80;
  EXPECT_FALSE(HashesEqual(a, b));
}

TEST(KeyMaterial, SystemRandomFillsLargeBuffers) {
  std::string a(4096, '\0'), b(4096, '\0');
  SystemRandom().Fill(std::span(reinterpret_cast<uint8_t*>(a.data()), a.size()));
  SystemRandom().Fill(std::span(reinterpret_cast<uint8_t*>(b.data()), b.size()));
  EXPECT_NE(a, b);
  EXPECT_NE(a, std::string(4096, '\0'));
}

TEST(Secret, PrintsRedacted) {
  const Secret secret{std::string(kGoldenToken)};
  EXPECT_EQ(fmt::format("{}", secret), "<redacted>");
  EXPECT_EQ(fmt::format("token={}", secret), "token=<redacted>");
  std::ostringstream out;
  out << secret;
  EXPECT_EQ(out.str(), "<redacted>");
  EXPECT_EQ(secret.reveal(), kGoldenToken);
  EXPECT_FALSE(secret.empty());
  EXPECT_TRUE(Secret().empty());

  TokenCodec codec;
  const IssuedToken issued = codec.Issue(SystemRandom());
  EXPECT_EQ(fmt::format("{}", issued.token), "<redacted>");
}

}  // namespace
}  // namespace keytrail
