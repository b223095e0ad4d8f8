#include "core/nostr/sha256.h"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but EVP allocates on
// every digest started (and every context copied), which an agent does dozens of times a job
// for event ids and NIP-44's HMAC and HKDF. The low-level calls run the same implementation
// (SHA-NI where the CPU has it) on a context on the stack.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace fedai {
namespace {

const EVP_MD* sha256_md() {
  static EVP_MD* md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (m == nullptr) throw std::runtime_error("OpenSSL: SHA256 unavailable");
    return m;
  }();
  return md;
}

void check(int rc) {
  if (rc != 1) throw std::runtime_error("OpenSSL: SHA256 failed");
}

}  // namespace

Sha256Digest sha256(std::span<const std::uint8_t> data) {
  SHA256_CTX ctx;
  Sha256Digest out;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(out.data(), &ctx);
  return out;
}

Sha256Digest sha256(std::string_view data) {
  return sha256(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) throw std::bad_alloc();
  check(EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr));
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
}

void Sha256::update(std::span<const std::uint8_t> data) {
  check(EVP_DigestUpdate(ctx_, data.data(), data.size()));
}

void Sha256::update(std::string_view data) {
  check(EVP_DigestUpdate(ctx_, data.data(), data.size()));
}

Sha256Digest Sha256::finish() {
  Sha256Digest out;
  unsigned int len = 0;
  check(EVP_DigestFinal_ex(ctx_, out.data(), &len));
  return out;
}

static_assert(sizeof(SHA256_CTX) <= HmacSha256::kStateSize);

namespace {

SHA256_CTX* state(unsigned char* storage) {
  return reinterpret_cast<SHA256_CTX*>(storage);
}

constexpr std::size_t kBlock = 64;

}  // namespace

HmacSha256::HmacSha256(std::span<const std::uint8_t> key) {
  // RFC 2104: a key longer than a block is hashed first; then H((K ^ opad) || H((K ^ ipad) || m)),
  // both pads absorbed here.
  std::array<std::uint8_t, kBlock> block{};
  if (key.size() > kBlock) {
    auto hashed = sha256(key);
    std::memcpy(block.data(), hashed.data(), hashed.size);
    OPENSSL_cleanse(hashed.data(), hashed.size);
  } else {
    std::memcpy(block.data(), key.data(), key.size());
  }
  for (auto& b : block) b ^= 0x36;
  SHA256_Init(state(inner_));
  SHA256_Update(state(inner_), block.data(), block.size());
  for (auto& b : block) b ^= 0x36 ^ 0x5c;
  SHA256_Init(state(outer_));
  SHA256_Update(state(outer_), block.data(), block.size());
  OPENSSL_cleanse(block.data(), block.size());
}

HmacSha256::~HmacSha256() {
  OPENSSL_cleanse(inner_, sizeof inner_);
  OPENSSL_cleanse(outer_, sizeof outer_);
}

void HmacSha256::update(std::span<const std::uint8_t> data) {
  SHA256_Update(state(inner_), data.data(), data.size());
}

Sha256Digest HmacSha256::finish() {
  Sha256Digest inner;
  SHA256_Final(inner.data(), state(inner_));
  SHA256_Update(state(outer_), inner.data(), inner.size);
  Sha256Digest out;
  SHA256_Final(out.data(), state(outer_));
  return out;
}

Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
  HmacSha256 mac(key);
  mac.update(data);
  return mac.finish();
}

}  // namespace fedai
