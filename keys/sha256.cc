// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, which is slower
// for one-block messages (see sha256.h); this file alone opts into them.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "keys/sha256.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cstdio>
#include <cstdlib>

namespace keytrail::keys {

void Sha256Concat(std::span<const uint8_t> first, std::span<const uint8_t> second, uint8_t* out) {
  SHA256_CTX ctx;
  if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, first.data(), first.size()) != 1 ||
      SHA256_Update(&ctx, second.data(), second.size()) != 1 || SHA256_Final(out, &ctx) != 1) {
    std::fprintf(stderr, "keytrail: SHA-256 failed\n");
    std::abort();
  }
  OPENSSL_cleanse(&ctx, sizeof(ctx));  // it held the secret's block
}

}  // namespace keytrail::keys
