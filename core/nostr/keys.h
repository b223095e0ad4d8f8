// secp256k1 keys and BIP-340 Schnorr signatures (libsecp256k1).
//
// A SecretKey wipes itself on destruction and has no implicit way to be printed: the only ways
// to see its bytes are named reveal*, so a stray log line can't leak one.
#pragma once

#include <secp256k1_extrakeys.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/util/bytes.h"

namespace fedai {

using PublicKey = FixedBytes<32, struct PublicKeyTag>;  // BIP-340 x-only public key
using Signature = FixedBytes<64, struct SignatureTag>;  // BIP-340 signature

// The process-wide libsecp256k1 context, created and randomized once. Safe to share between
// threads for signing and verification.
const secp256k1_context* secp_context();

// 32 bytes from the operating system's CSPRNG (OpenSSL RAND_bytes); throws if it fails.
std::array<std::uint8_t, 32> random_bytes32();

class SecretKey {
 public:
  static SecretKey generate();
  // Valid secret keys are 1 <= k < n; anything else is nullopt.
  static std::optional<SecretKey> from_bytes(std::span<const std::uint8_t, 32> bytes);
  // Exactly 64 hex digits, either case.
  static std::optional<SecretKey> from_hex(std::string_view text);

  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;
  ~SecretKey();

  std::span<const std::uint8_t, 32> reveal() const { return bytes_; }
  std::string reveal_hex() const;
  bool operator==(const SecretKey& other) const;

 private:
  SecretKey() = default;
  std::array<std::uint8_t, 32> bytes_{};
};

class Keypair;

// A BIP-340 nonce made before its message is known: the secret scalar k, already negated so
// that R = k*G has an even y, and R's x coordinate. Making one is the elliptic-curve
// multiplication that is nearly all of a signature's cost (about 20 us here); signing with one
// is a hash and two scalar operations (about 1 us), so an agent can make them while it would
// otherwise be idle. BIP-340 allows any nonce that is fresh, uniformly random and secret (its
// "Alternative signing" section): the signatures are ordinary BIP-340 signatures that any
// verifier accepts. A nonce signs once: Keypair::sign consumes it, and it wipes itself.
class SigningNonce {
 public:
  // A fresh nonce: 32 bytes of the CSPRNG hashed with the signer's secret key and a process-wide
  // counter, so that two nonces of one process differ even if the random source repeated.
  static SigningNonce generate(const Keypair& signer);
  // The nonce of a given scalar k (1 <= k < n), nullopt when out of range. For test vectors
  // (BIP-340's own nonce derivation); production nonces come from generate().
  static std::optional<SigningNonce> from_scalar(std::span<const std::uint8_t, 32> k);

  SigningNonce(SigningNonce&& other) noexcept;
  SigningNonce& operator=(SigningNonce&& other) noexcept;
  SigningNonce(const SigningNonce&) = delete;
  SigningNonce& operator=(const SigningNonce&) = delete;
  ~SigningNonce();

  // R's x coordinate: the first half of the signature it will make.
  std::span<const std::uint8_t, 32> r() const { return rx_; }

 private:
  friend class Keypair;
  SigningNonce() = default;
  void wipe();
  std::array<std::uint8_t, 32> k_{};
  std::array<std::uint8_t, 32> rx_{};
};

// Where Keypair::sign takes its nonces from, when one is attached (agents/runtime/nonce_pool.h
// makes them on a background thread). Thread-safe; take() never blocks.
class NonceSource {
 public:
  virtual ~NonceSource() = default;
  // A nonce never handed out before, or nullopt when none is ready (the signer then computes
  // one itself).
  virtual std::optional<SigningNonce> take() = 0;
};

// A secret key with its public key, precomputed so that signing many messages is cheap.
class Keypair {
 public:
  explicit Keypair(const SecretKey& secret);
  static Keypair generate() { return Keypair(SecretKey::generate()); }
  Keypair(const Keypair&) = default;
  Keypair& operator=(const Keypair&) = default;
  ~Keypair();

  const SecretKey& secret_key() const { return secret_; }
  const PublicKey& public_key() const { return public_; }

  // BIP-340 signature over a 32-byte message with fresh auxiliary randomness.
  Signature sign(std::span<const std::uint8_t, 32> message) const;
  // With caller-supplied auxiliary randomness: deterministic, for test vectors.
  Signature sign(std::span<const std::uint8_t, 32> message,
                 std::span<const std::uint8_t, 32> aux_rand) const;
  // With a nonce made beforehand (consumed): s = k + e*d, e the BIP-340 challenge. Falls back to
  // sign(message) in the cases BIP-340 leaves to chance (e = 0 or e >= n, s = 0: about 2^-128).
  Signature sign(std::span<const std::uint8_t, 32> message, SigningNonce nonce) const;

  // From now on sign(message) takes its nonce from `source` when one is ready. Copies of this
  // Keypair made afterwards share the source.
  void use_nonces(std::shared_ptr<NonceSource> source) { nonces_ = std::move(source); }
  const std::shared_ptr<NonceSource>& nonces() const { return nonces_; }

 private:
  SecretKey secret_;
  PublicKey public_;
  secp256k1_keypair keypair_;
  // The secret scalar of the even-y public key (d, or n - d when d*G has an odd y): what BIP-340
  // multiplies the challenge by.
  std::array<std::uint8_t, 32> even_secret_{};
  std::shared_ptr<NonceSource> nonces_;
};

// BIP-340 verification of a signature over a 32-byte message.
bool verify_signature(const PublicKey& pubkey, std::span<const std::uint8_t, 32> message,
                      const Signature& sig);

// BIP-340 verification over a message of any length (BIP-340 allows it; Nostr signs 32 bytes).
bool verify_signature_message(const PublicKey& pubkey, std::span<const std::uint8_t> message,
                              const Signature& sig);

// True when the x coordinate lies on the curve (the key can verify anything at all).
bool is_valid_public_key(const PublicKey& pubkey);

}  // namespace fedai
