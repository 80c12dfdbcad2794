// ID token checks (server/oidc/id_token.h) against tokens this test signs with libcjose:
// a good token, then each way one can be wrong (tampered, another key, another audience,
// expired, issued in the future, wrong nonce or issuer, alg none or HMAC).
#include "server/oidc/id_token.h"

#include <cjose/cjose.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/oidc/provider.h"
#include "tests/support/status_matchers.h"

namespace keytrail::server::oidc {
namespace {

using nlohmann::json;

constexpr Micros kNow = 1'800'000'000'000'000;  // 2027-01-15
constexpr int64_t kNowSeconds = kNow / 1'000'000;

// An RSA signing key with its kid, and its public JWK Set.
class Signer {
 public:
  explicit Signer(const char* kid) {
    static const uint8_t kE[] = {0x01, 0x00, 0x01};
    cjose_err err;
    jwk_ = cjose_jwk_create_RSA_random(2048, kE, sizeof(kE), &err);
    EXPECT_NE(jwk_, nullptr);
    EXPECT_TRUE(cjose_jwk_set_kid(jwk_, kid, strlen(kid), &err));
    kid_ = kid;
  }
  ~Signer() { cjose_jwk_release(jwk_); }

  std::string Jwks() const {
    cjose_err err;
    char* text = cjose_jwk_to_json(jwk_, false, &err);
    json set = {{"keys", {json::parse(text)}}};
    free(text);
    return set.dump();
  }

  std::string Sign(const json& claims, const char* alg = "RS256") const {
    cjose_err err;
    cjose_header_t* header = cjose_header_new(&err);
    cjose_header_set(header, CJOSE_HDR_ALG, alg, &err);
    cjose_header_set(header, CJOSE_HDR_KID, kid_.c_str(), &err);
    const std::string payload = claims.dump();
    cjose_jws_t* jws = cjose_jws_sign(
        jwk_, header, reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), &err);
    cjose_header_release(header);
    EXPECT_NE(jws, nullptr);
    const char* compact = nullptr;
    cjose_jws_export(jws, &compact, &err);
    std::string out(compact);
    cjose_jws_release(jws);
    return out;
  }

 private:
  cjose_jwk_t* jwk_ = nullptr;
  std::string kid_;
};

json Claims() {
  return json{{"iss", "https://idp.example"},
              {"sub", "00u1abcd"},
              {"aud", "keytrail"},
              {"exp", kNowSeconds + 300},
              {"iat", kNowSeconds - 10},
              {"nonce", "n-0S6_WzA2Mj"},
              {"email", "bjensen@example.com"},
              {"email_verified", true},
              {"preferred_username", "bjensen"}};
}

const IdTokenExpectations kWant{"https://idp.example", "keytrail", "n-0S6_WzA2Mj"};

class IdTokenTest : public ::testing::Test {
 protected:
  Status Check(const std::string& token) {
    return VerifyIdToken(token, signer_.Jwks(), kWant, kNow).status();
  }
  static void ExpectRefused(const Status& s, std::string_view why) {
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(why), std::string::npos) << s.ToString();
  }
  Signer signer_{"key-1"};
};

TEST_F(IdTokenTest, AGoodTokenGivesItsClaims) {
  auto claims = VerifyIdToken(signer_.Sign(Claims()), signer_.Jwks(), kWant, kNow);
  ASSERT_OK(claims);
  EXPECT_EQ(claims->subject, "00u1abcd");
  EXPECT_EQ(claims->email, "bjensen@example.com");
  EXPECT_TRUE(claims->email_verified);
  EXPECT_EQ(claims->preferred_username, "bjensen");
  EXPECT_EQ(KeyIdOf(signer_.Sign(Claims())), "key-1");
  // Several audiences: azp must name this client.
  json several = Claims();
  several["aud"] = {"other", "keytrail"};
  ExpectRefused(Check(signer_.Sign(several)), "azp");
  several["azp"] = "keytrail";
  EXPECT_OK(Check(signer_.Sign(several)));
}

TEST_F(IdTokenTest, ATamperedOrForeignTokenIsRefused) {
  std::string token = signer_.Sign(Claims());
  const size_t payload = token.find('.') + 5;
  token[payload] = token[payload] == 'A' ? 'B' : 'A';
  ExpectRefused(Check(token), "");
  const Signer other("key-1");  // the same kid, another key
  ExpectRefused(Check(other.Sign(Claims())), "no key of the provider signed it");
  ExpectRefused(Check("not.a.token"), "");
  ExpectRefused(Check(""), "missing");
}

TEST_F(IdTokenTest, ClaimsMustBeWhatTheSignInAsked) {
  auto with = [&](const char* name, json value) {
    json claims = Claims();
    if (value.is_null()) {
      claims.erase(name);
    } else {
      claims[name] = value;
    }
    return Check(signer_.Sign(claims));
  };
  ExpectRefused(with("aud", "another-client"), "aud");
  ExpectRefused(with("iss", "https://evil.example"), "issued by");
  ExpectRefused(with("exp", kNowSeconds - 61), "expired");
  EXPECT_OK(with("exp", kNowSeconds - 30));  // within the clock skew
  ExpectRefused(with("iat", kNowSeconds + 120), "future");
  ExpectRefused(with("nonce", "replayed"), "nonce");
  ExpectRefused(with("nonce", nullptr), "nonce");
  ExpectRefused(with("sub", nullptr), "subject");
}

TEST_F(IdTokenTest, OnlyAsymmetricAlgorithmsAreAccepted) {
  // alg "none": an unsigned token built by hand.
  const std::string header = "eyJhbGciOiJub25lIn0";  // {"alg":"none"}
  std::string token = signer_.Sign(Claims());
  const std::string payload =
      token.substr(token.find('.') + 1, token.rfind('.') - token.find('.') - 1);
  ExpectRefused(Check(header + "." + payload + "."), "");
  ExpectRefused(Check("eyJhbGciOiJIUzI1NiJ9." + payload + ".c2lnbmF0dXJl"), "");  // HS256
}

TEST(Oidc, PkceChallengeIsRfc7636s) {
  // RFC 7636 appendix B.
  EXPECT_EQ(CodeChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  EXPECT_NE(RandomToken(24), RandomToken(24));
  EXPECT_EQ(RandomToken(24).size(), 32u);
}

TEST(Oidc, ProviderUrlsAreHttpsOrLoopback) {
  EXPECT_OK(CheckProviderUrl("https://idp.example/"));
  EXPECT_OK(CheckProviderUrl("http://127.0.0.1:9000/"));
  EXPECT_OK(CheckProviderUrl("http://localhost:9000/authorize"));
  EXPECT_FALSE(CheckProviderUrl("http://idp.example/").ok());
  EXPECT_FALSE(CheckProviderUrl("http://127.0.0.1.evil.example/").ok());
  EXPECT_FALSE(CheckProviderUrl("ftp://idp.example/").ok());
}

}  // namespace
}  // namespace keytrail::server::oidc
