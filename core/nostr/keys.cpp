#include "core/nostr/keys.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_schnorrsig.h>

#include <stdexcept>

namespace fedai {

const secp256k1_context* secp_context() {
  static secp256k1_context* ctx = [] {
    secp256k1_context* c =
        secp256k1_context_create(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY);
    auto seed = random_bytes32();
    // Randomization blinds signing against side channels; it can only fail on a broken context.
    if (secp256k1_context_randomize(c, seed.data()) != 1)
      throw std::runtime_error("secp256k1: context randomization failed");
    OPENSSL_cleanse(seed.data(), seed.size());
    return c;
  }();
  return ctx;
}

std::array<std::uint8_t, 32> random_bytes32() {
  std::array<std::uint8_t, 32> out;
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  return out;
}

SecretKey SecretKey::generate() {
  for (;;) {
    auto candidate = random_bytes32();
    auto key = from_bytes(candidate);
    OPENSSL_cleanse(candidate.data(), candidate.size());
    if (key) return *key;
  }
}

std::optional<SecretKey> SecretKey::from_bytes(std::span<const std::uint8_t, 32> bytes) {
  if (secp256k1_ec_seckey_verify(secp_context(), bytes.data()) != 1) return std::nullopt;
  SecretKey key;
  std::copy(bytes.begin(), bytes.end(), key.bytes_.begin());
  return key;
}

std::optional<SecretKey> SecretKey::from_hex(std::string_view text) {
  std::array<std::uint8_t, 32> raw{};
  if (!hex::decode(text, raw, /*allow_upper=*/true)) return std::nullopt;
  auto key = from_bytes(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  return key;
}

SecretKey::~SecretKey() {
  OPENSSL_cleanse(bytes_.data(), bytes_.size());
}

std::string SecretKey::reveal_hex() const {
  return hex::encode(bytes_);
}

bool SecretKey::operator==(const SecretKey& other) const {
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), bytes_.size()) == 0;
}

Keypair::Keypair(const SecretKey& secret) : secret_(secret) {
  const auto* ctx = secp_context();
  if (secp256k1_keypair_create(ctx, &keypair_, secret_.reveal().data()) != 1)
    throw std::invalid_argument("invalid secret key");
  secp256k1_xonly_pubkey xonly;
  if (secp256k1_keypair_xonly_pub(ctx, &xonly, nullptr, &keypair_) != 1 ||
      secp256k1_xonly_pubkey_serialize(ctx, public_.data(), &xonly) != 1)
    throw std::runtime_error("secp256k1: public key derivation failed");
}

Keypair::~Keypair() {
  OPENSSL_cleanse(&keypair_, sizeof keypair_);
}

Signature Keypair::sign(std::span<const std::uint8_t, 32> message) const {
  auto aux = random_bytes32();
  return sign(message, aux);
}

Signature Keypair::sign(std::span<const std::uint8_t, 32> message,
                        std::span<const std::uint8_t, 32> aux_rand) const {
  Signature sig;
  if (secp256k1_schnorrsig_sign32(secp_context(), sig.data(), message.data(), &keypair_,
                                  aux_rand.data()) != 1)
    throw std::runtime_error("secp256k1: signing failed");
  return sig;
}

bool verify_signature_message(const PublicKey& pubkey, std::span<const std::uint8_t> message,
                              const Signature& sig) {
  const auto* ctx = secp_context();
  secp256k1_xonly_pubkey xonly;
  if (secp256k1_xonly_pubkey_parse(ctx, &xonly, pubkey.data()) != 1) return false;
  return secp256k1_schnorrsig_verify(ctx, sig.data(), message.data(), message.size(), &xonly) == 1;
}

bool verify_signature(const PublicKey& pubkey, std::span<const std::uint8_t, 32> message,
                      const Signature& sig) {
  return verify_signature_message(pubkey, message, sig);
}

bool is_valid_public_key(const PublicKey& pubkey) {
  secp256k1_xonly_pubkey xonly;
  return secp256k1_xonly_pubkey_parse(secp_context(), &xonly, pubkey.data()) == 1;
}

}  // namespace fedai
