#include "keys/secret.h"

#include <openssl/crypto.h>

namespace keytrail {

Secret::~Secret() { OPENSSL_cleanse(value_.data(), value_.size()); }

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    OPENSSL_cleanse(value_.data(), value_.size());
    value_ = other.value_;
  }
  return *this;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    OPENSSL_cleanse(value_.data(), value_.size());
    value_ = std::move(other.value_);
    OPENSSL_cleanse(other.value_.data(), other.value_.size());
    other.value_.clear();
  }
  return *this;
}

}  // namespace keytrail
