#include "server/node_proof.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

#include "keys/key_material.h"
#include "server/oidc/provider.h"

namespace keytrail::server {
namespace {

constexpr std::string_view kOrg = "keytrail.cluster";
constexpr std::string_view kId = "keytrail.cluster.forwarding";
constexpr int64_t kWindowSeconds = 60;

}  // namespace

Result<std::unique_ptr<NodeProof>> NodeProof::Open(CredentialStore& credentials,
                                                   const Clock& clock) {
  if (!credentials.Find(kOrg, kId)) {
    // Two nodes starting together may both write one: every node keeps the last in the
    // stream's order, so they agree within moments.
    KT_RETURN_IF_ERROR(credentials.Put({.id = std::string(kId),
                                        .org = std::string(kOrg),
                                        .member_id = "-",
                                        .kind = CredentialKind::kClusterSecret,
                                        .hash = oidc::RandomToken(32)}));
  }
  return std::unique_ptr<NodeProof>(new NodeProof(credentials, clock));
}

std::string NodeProof::Mac(std::string_view secret, std::string_view node, std::string_view method,
                           std::string_view target, int64_t seconds, std::string_view body) const {
  const std::string message =
      fmt::format("{}\n{}\n{}\n{}\n{}", node, method, target, seconds, Sha256Hex(body));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &size);
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) hex += fmt::format("{:02x}", mac[i]);
  return hex;
}

std::string NodeProof::Sign(std::string_view node, std::string_view method, std::string_view target,
                            std::string_view body) const {
  const auto secret = credentials_.Find(kOrg, kId);
  if (!secret) return "";  // not readable yet: the receiver treats the request as a client's
  const int64_t seconds = clock_.NowMicros() / 1'000'000;
  return fmt::format("{}.{}", seconds, Mac(secret->hash, node, method, target, seconds, body));
}

bool NodeProof::Verify(const HttpRequest& request) const {
  const auto node = request.Header("keytrail-forwarded-by");
  const auto proof = request.Header(kForwardedProofHeader);
  const auto secret = credentials_.Find(kOrg, kId);
  if (!node || !proof || !secret) return false;
  const size_t dot = proof->find('.');
  if (dot == std::string_view::npos) return false;
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(proof->data(), proof->data() + dot, seconds);
  if (ec != std::errc() || end != proof->data() + dot) return false;
  if (std::llabs(clock_.NowMicros() / 1'000'000 - seconds) > kWindowSeconds) return false;
  const std::string want =
      Mac(secret->hash, *node, request.method, request.target, seconds, request.body);
  const std::string_view got = proof->substr(dot + 1);
  return got.size() == want.size() && CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0;
}

}  // namespace keytrail::server
