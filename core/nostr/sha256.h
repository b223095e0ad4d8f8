// SHA-256, HMAC-SHA256 and HKDF on OpenSSL. The one-shot digest and HMAC use OpenSSL's low-level
// SHA256 calls on a context on the stack (EVP allocates on every digest started, dozens of times
// a job); the incremental Sha256 keeps an EVP context, with the implementation fetched once.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/util/bytes.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace fedai {

using Sha256Digest = FixedBytes<32, struct Sha256DigestTag>;

Sha256Digest sha256(std::span<const std::uint8_t> data);
Sha256Digest sha256(std::string_view data);

// Incremental hashing for data that arrives in parts.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::span<const std::uint8_t> data);
  void update(std::string_view data);
  Sha256Digest finish();

 private:
  ::evp_md_ctx_st* ctx_;
};

// HMAC-SHA256 (RFC 2104).
Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data);

// HMAC-SHA256 fed in parts (HKDF-expand's blocks are several inputs). Allocates nothing, and
// wipes its key-derived state when it goes.
class HmacSha256 {
 public:
  explicit HmacSha256(std::span<const std::uint8_t> key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  void update(std::span<const std::uint8_t> data);
  Sha256Digest finish();

  // Room for OpenSSL's SHA256_CTX, kept out of this header (checked in sha256.cpp).
  static constexpr std::size_t kStateSize = 112;

 private:
  alignas(8) unsigned char inner_[kStateSize];
  alignas(8) unsigned char outer_[kStateSize];
};

}  // namespace fedai
