#include "core/nostr/sha256.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

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

namespace {

struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// OpenSSL's one-shot HMAC() fetches the HMAC and SHA-256 implementations by name on every call
// (locks and hash lookups: about half its time on a 1 KiB NIP-44 payload, see core_bench). Each
// thread keeps a context with the digest set once; EVP_MAC_init with a new key resets it.
EVP_MAC_CTX* hmac_ctx() {
  static EVP_MAC* mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (m == nullptr) throw std::runtime_error("OpenSSL: HMAC unavailable");
    return m;
  }();
  thread_local std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx = [] {
    std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> c(EVP_MAC_CTX_new(mac));
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!c || EVP_MAC_CTX_set_params(c.get(), params) != 1)
      throw std::runtime_error("OpenSSL: HMAC-SHA256 setup failed");
    return c;
  }();
  return ctx.get();
}

}  // namespace

Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
  EVP_MAC_CTX* ctx = hmac_ctx();
  Sha256Digest out;
  std::size_t len = 0;
  if (EVP_MAC_init(ctx, key.data(), key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx, data.data(), data.size()) != 1 ||
      EVP_MAC_final(ctx, out.data(), &len, Sha256Digest::size) != 1 || len != Sha256Digest::size)
    throw std::runtime_error("OpenSSL: HMAC-SHA256 failed");
  return out;
}

}  // namespace fedai
