#include "core/nostr/sha256.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

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

struct CtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

EVP_MD_CTX* thread_ctx() {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx(EVP_MD_CTX_new());
  return ctx.get();
}

void check(int rc) {
  if (rc != 1) throw std::runtime_error("OpenSSL: SHA256 failed");
}

}  // namespace

Sha256Digest sha256(std::span<const std::uint8_t> data) {
  EVP_MD_CTX* ctx = thread_ctx();
  Sha256Digest out;
  unsigned int len = 0;
  check(EVP_DigestInit_ex2(ctx, sha256_md(), nullptr));
  check(EVP_DigestUpdate(ctx, data.data(), data.size()));
  check(EVP_DigestFinal_ex(ctx, out.data(), &len));
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

Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
  Sha256Digest out;
  unsigned int len = 0;
  if (HMAC(sha256_md(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
           out.data(), &len) == nullptr)
    throw std::runtime_error("OpenSSL: HMAC-SHA256 failed");
  return out;
}

}  // namespace fedai
