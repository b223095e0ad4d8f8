#include "core/nostr/keys.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_schnorrsig.h>

#include <cstring>
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

namespace {

// OpenSSL's DRBG costs a few microseconds a call (locks, reseed checks) whatever the size asked,
// and an agent draws 32 bytes several times a job (signing aux, NIP-44 nonces, ids). Each thread
// draws 1 KiB at once and hands it out 32 bytes at a time, wiping what it handed out. (A fork
// would share a buffer with its child; fedai forks only to exec.)
class RandomPool {
 public:
  ~RandomPool() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }
  std::array<std::uint8_t, 32> take() {
    if (next_ == bytes_.size()) {
      if (RAND_bytes(bytes_.data(), static_cast<int>(bytes_.size())) != 1)
        throw std::runtime_error("OpenSSL RAND_bytes failed");
      next_ = 0;
    }
    std::array<std::uint8_t, 32> out;
    std::memcpy(out.data(), bytes_.data() + next_, out.size());
    OPENSSL_cleanse(bytes_.data() + next_, out.size());
    next_ += out.size();
    return out;
  }

 private:
  std::array<std::uint8_t, 1024> bytes_{};
  std::size_t next_ = bytes_.size();
};

}  // namespace

std::array<std::uint8_t, 32> random_bytes32() {
  thread_local RandomPool pool;
  return pool.take();
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

namespace {

// Parsing an x-only key is a square root, a tenth of a verification; an agent verifies the same
// few peers all day. Each thread keeps the last parsed key per slot (slots by the key's first two
// bytes, which are uniform): a miss costs one comparison more than no cache.
class ParsedKeys {
 public:
  const secp256k1_xonly_pubkey* get(const PublicKey& pubkey) {
    Slot& slot = slots_[(std::size_t{pubkey.bytes[0]} << 8 | pubkey.bytes[1]) % slots_.size()];
    if (slot.filled && slot.key == pubkey) return &slot.parsed;
    if (secp256k1_xonly_pubkey_parse(secp_context(), &slot.parsed, pubkey.data()) != 1) {
      slot.filled = false;
      return nullptr;
    }
    slot.key = pubkey;
    slot.filled = true;
    return &slot.parsed;
  }

 private:
  struct Slot {
    PublicKey key;
    secp256k1_xonly_pubkey parsed;
    bool filled = false;
  };
  std::array<Slot, 256> slots_{};
};

}  // namespace

bool verify_signature_message(const PublicKey& pubkey, std::span<const std::uint8_t> message,
                              const Signature& sig) {
  thread_local ParsedKeys parsed;
  const secp256k1_xonly_pubkey* xonly = parsed.get(pubkey);
  if (xonly == nullptr) return false;
  return secp256k1_schnorrsig_verify(secp_context(), sig.data(), message.data(), message.size(),
                                     xonly) == 1;
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
