// SHA-256 through OpenSSL's EVP interface, with the digest implementation fetched once and a
// context reused per thread: fetching per call costs about as much as hashing a small event.
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

}  // namespace fedai
