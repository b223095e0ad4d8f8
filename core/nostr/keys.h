// secp256k1 keys and BIP-340 Schnorr signatures (libsecp256k1).
//
// A SecretKey wipes itself on destruction and has no implicit way to be printed: the only ways
// to see its bytes are named reveal*, so a stray log line can't leak one.
#pragma once

#include <secp256k1_extrakeys.h>

#include <array>
#include <cstdint>
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

 private:
  SecretKey secret_;
  PublicKey public_;
  secp256k1_keypair keypair_;
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
