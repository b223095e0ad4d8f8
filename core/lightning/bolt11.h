// BOLT 11 payment requests (Lightning invoices): decoding, with the signature checked.
//
// An invoice is bech32 (no 90-character limit; all upper or all lower case): the human-readable
// part is "ln" + the network's prefix + an optional amount, the data part a 35-bit timestamp,
// tagged fields, and a 65-byte recoverable secp256k1 signature over SHA-256(hrp bytes || data
// bits, zero-padded to a byte). With an `n` field the signature is verified against it (a high-S
// signature is refused); without, the payee is the key the signature recovers to.
//
// Refused, with a reason: bad bech32, an unknown network or amount multiplier, a `p` amount not
// a whole millisatoshi, no payment hash (`p`) or secret (`s`), neither or both of `d` and `h`,
// an unknown even feature bit, a signature that does not verify or recover. Fields of the wrong
// length (p, h, s 52 words; n 53) and unknown fields are skipped, as BOLT 11 says.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/nostr/sha256.h"
#include "core/protocol/units.h"
#include "core/util/result.h"

namespace fedai::bolt11 {

// BOLT 11 allows invoices longer than a QR code holds; fedai reads up to this many characters.
inline constexpr std::size_t kMaxLength = 7089;

using Bytes32 = std::array<std::uint8_t, 32>;
using Pubkey33 = std::array<std::uint8_t, 33>;  // compressed secp256k1 point

struct RouteHop {  // one hop of an `r` field
  Pubkey33 pubkey{};
  std::uint64_t short_channel_id = 0;
  std::uint32_t fee_base_msat = 0;
  std::uint32_t fee_proportional_millionths = 0;
  std::uint16_t cltv_expiry_delta = 0;
};

struct Fallback {  // an `f` field: 17 P2PKH, 18 P2SH, 0..16 a witness version
  std::uint8_t version = 0;
  std::vector<std::uint8_t> program;
};

struct Invoice {
  std::string network;  // "bc", "tb", "tbs" or "bcrt"
  std::optional<protocol::Msat> amount;
  std::uint64_t timestamp = 0;  // seconds since the epoch
  Bytes32 payment_hash{};
  Bytes32 payment_secret{};
  std::optional<std::string> description;                     // d
  std::optional<Bytes32> description_hash;                    // h
  std::uint64_t expiry_seconds = 3600;                        // x
  std::optional<std::uint64_t> min_final_cltv_expiry_delta;   // c (readers use at least 18)
  std::vector<unsigned> feature_bits;                         // 9, ascending
  std::optional<std::vector<std::uint8_t>> payment_metadata;  // m
  std::vector<Fallback> fallbacks;
  std::vector<std::vector<RouteHop>> route_hints;
  Pubkey33 payee{};
  bool payee_in_invoice = false;  // the `n` field named it (else it was recovered)
  Bytes32 signing_hash{};
  std::array<std::uint8_t, 64> signature{};  // r || s
  int recovery_id = 0;

  std::uint64_t expires_at() const { return timestamp + expiry_seconds; }
};

// The invoice's fields; its signature verified (against `n`) or its payee recovered.
Result<Invoice> decode(std::string_view text);

// An invoice for `inv`'s fields, signed with `node_secret` (32 bytes) by RFC 6979, so the same
// fields and key give the same string. Writes s, p, d or h, x (when not 3600), c, 9, m, n (when
// payee_in_invoice) in that order; the amount with the largest multiplier that states it
// exactly. inv.payee, signature and signing_hash are outputs: filled in from the key.
Result<std::string> encode(Invoice& inv, const std::array<std::uint8_t, 32>& node_secret);

// The amount a human-readable part states ("lnbc2500u" -> 250,000,000 msat), nullopt when it
// states none; an error for an unknown network, multiplier, or a `p` amount below a msat.
Result<std::optional<protocol::Msat>> amount_of_hrp(std::string_view hrp, std::string* network);

}  // namespace fedai::bolt11
