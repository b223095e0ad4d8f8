#include "core/nostr/keys.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_schnorrsig.h>

#include <atomic>
#include <cstring>
#include <stdexcept>

#include "core/nostr/sha256.h"

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
  int odd_y = 0;
  if (secp256k1_keypair_xonly_pub(ctx, &xonly, &odd_y, &keypair_) != 1 ||
      secp256k1_xonly_pubkey_serialize(ctx, public_.data(), &xonly) != 1)
    throw std::runtime_error("secp256k1: public key derivation failed");
  std::copy(secret_.reveal().begin(), secret_.reveal().end(), even_secret_.begin());
  if (odd_y && secp256k1_ec_seckey_negate(ctx, even_secret_.data()) != 1)
    throw std::runtime_error("secp256k1: secret key negation failed");
}

Keypair::~Keypair() {
  OPENSSL_cleanse(&keypair_, sizeof keypair_);
  OPENSSL_cleanse(even_secret_.data(), even_secret_.size());
}

Signature Keypair::sign(std::span<const std::uint8_t, 32> message) const {
  if (nonces_)
    if (auto nonce = nonces_->take()) return sign(message, std::move(*nonce));
  auto aux = random_bytes32();
  return sign(message, aux);
}

namespace {

// BIP-340's tagged hash, SHA256(SHA256(tag) || SHA256(tag) || data), over `N` bytes of data
// that the caller has written after the 64-byte prefix of `buffer`.
template <std::size_t N>
class TaggedHash {
 public:
  explicit TaggedHash(std::string_view tag) {
    auto t = sha256(tag);
    std::copy(t.bytes.begin(), t.bytes.end(), buffer_.begin());
    std::copy(t.bytes.begin(), t.bytes.end(), buffer_.begin() + 32);
  }
  ~TaggedHash() { OPENSSL_cleanse(buffer_.data(), buffer_.size()); }
  std::uint8_t* data() { return buffer_.data() + 64; }
  Sha256Digest digest() const { return sha256(std::span<const std::uint8_t>(buffer_)); }

 private:
  std::array<std::uint8_t, 64 + N> buffer_{};
};

// The tags' own hashes, computed once per thread (a tagged hash object is reused, not rebuilt).
TaggedHash<96>& challenge_hash() {
  thread_local TaggedHash<96> hash("BIP0340/challenge");
  return hash;
}

std::atomic<std::uint64_t> nonce_counter{0};

}  // namespace

Signature Keypair::sign(std::span<const std::uint8_t, 32> message, SigningNonce nonce) const {
  const auto* ctx = secp_context();
  // e = H_challenge(R.x || P || m)
  auto& challenge = challenge_hash();
  std::memcpy(challenge.data(), nonce.rx_.data(), 32);
  std::memcpy(challenge.data() + 32, public_.data(), 32);
  std::memcpy(challenge.data() + 64, message.data(), 32);
  auto e = challenge.digest();
  // s = d*e + k (mod n). tweak_mul refuses e = 0 or e >= n and tweak_add a zero s: BIP-340
  // reduces e mod n instead, so those (about 2^-128) go the library's way with a fresh nonce.
  std::array<std::uint8_t, 32> s = even_secret_;
  bool ok = secp256k1_ec_seckey_tweak_mul(ctx, s.data(), e.data()) == 1 &&
            secp256k1_ec_seckey_tweak_add(ctx, s.data(), nonce.k_.data()) == 1;
  Signature sig;
  if (ok) {
    std::memcpy(sig.data(), nonce.rx_.data(), 32);
    std::memcpy(sig.data() + 32, s.data(), 32);
  }
  OPENSSL_cleanse(s.data(), s.size());
  if (!ok) {
    auto aux = random_bytes32();
    return sign(message, aux);
  }
  return sig;
}

SigningNonce SigningNonce::generate(const Keypair& signer) {
  // k = H("fedai/nonce", d || 32 random bytes || counter), until it is a valid scalar.
  TaggedHash<72> hash("fedai/nonce");
  for (;;) {
    auto random = random_bytes32();
    std::uint64_t count = nonce_counter.fetch_add(1, std::memory_order_relaxed);
    std::memcpy(hash.data(), signer.secret_key().reveal().data(), 32);
    std::memcpy(hash.data() + 32, random.data(), 32);
    std::memcpy(hash.data() + 64, &count, 8);
    OPENSSL_cleanse(random.data(), random.size());
    auto k = hash.digest();
    auto nonce = from_scalar(k.bytes);
    OPENSSL_cleanse(k.data(), k.size);
    if (nonce) return std::move(*nonce);
  }
}

std::optional<SigningNonce> SigningNonce::from_scalar(std::span<const std::uint8_t, 32> k) {
  const auto* ctx = secp_context();
  SigningNonce nonce;
  std::copy(k.begin(), k.end(), nonce.k_.begin());
  secp256k1_pubkey point;
  if (secp256k1_ec_pubkey_create(ctx, &point, nonce.k_.data()) != 1) return std::nullopt;
  std::array<std::uint8_t, 33> compressed{};
  std::size_t length = compressed.size();
  if (secp256k1_ec_pubkey_serialize(ctx, compressed.data(), &length, &point,
                                    SECP256K1_EC_COMPRESSED) != 1)
    return std::nullopt;
  // BIP-340 uses the R with an even y: for an odd one, k becomes n - k (then (n-k)*G = -R).
  if (compressed[0] == 0x03 && secp256k1_ec_seckey_negate(ctx, nonce.k_.data()) != 1)
    return std::nullopt;
  std::memcpy(nonce.rx_.data(), compressed.data() + 1, 32);
  return nonce;
}

SigningNonce::SigningNonce(SigningNonce&& other) noexcept : k_(other.k_), rx_(other.rx_) {
  other.wipe();
}

SigningNonce& SigningNonce::operator=(SigningNonce&& other) noexcept {
  if (this != &other) {
    k_ = other.k_;
    rx_ = other.rx_;
    other.wipe();
  }
  return *this;
}

SigningNonce::~SigningNonce() {
  wipe();
}

void SigningNonce::wipe() {
  OPENSSL_cleanse(k_.data(), k_.size());
  OPENSSL_cleanse(rx_.data(), rx_.size());
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
