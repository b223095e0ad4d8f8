// F-05 payments: PAYMENT_REQUEST (26097, node -> payer) and PAYMENT_RECEIPT (26098, payer ->
// node), over HTTP, in the clear.
#pragma once

#include <string>

#include "core/lightning/bolt11.h"
#include "core/nostr/event.h"
#include "core/nostr/keys.h"
#include "core/nostr/sha256.h"
#include "core/protocol/kinds.h"
#include "core/protocol/units.h"
#include "core/util/result.h"

namespace fedai::protocol {

inline constexpr std::string_view kPaymentsPath = "/fedai/v1/payments";
inline constexpr std::string_view kReceiptsPath = "/fedai/v1/receipts";
// BOLT11 invoices are long but bounded: 7089 characters is the most a QR code holds, the limit
// common Lightning implementations use (core/lightning/bolt11.h).
inline constexpr std::size_t kMaxBolt11Length = bolt11::kMaxLength;

// 26097. Tags e = the METERING (marker "metering"), p = the payer.
struct PaymentRequest {
  EventId metering_id;
  PublicKey payer;
  JobId job_id;
  Msat amount_msat;            // equals the METERING price_msat
  std::string bolt11;          // an invoice for exactly amount_msat
  UnixSeconds expires_at = 0;  // the invoice's timestamp + expiry

  bool operator==(const PaymentRequest&) const = default;
};

// 26098. Tags e = the PAYMENT_REQUEST (marker "payment_request"), p = the node.
struct PaymentReceipt {
  EventId payment_request_id;
  PublicKey node;
  JobId job_id;
  Msat amount_msat;
  Sha256Digest payment_hash;  // the invoice's
  Bytes32 preimage;           // SHA-256(preimage) == payment_hash proves payment

  bool operator==(const PaymentReceipt&) const = default;
};

// The amount a BOLT11 invoice's human-readable part states ("lnbc2500u1..." -> 250,000,000
// msat); nullopt when it states none or the string is not a bech32 invoice with an "ln" prefix.
// This reads the amount only: decoding the tagged fields and checking the signature is the
// payer's Lightning code's job.
std::optional<Msat> bolt11_amount(std::string_view invoice);

// validate() checks the invoice's bech32 form and that its amount equals amount_msat.
Status validate(const PaymentRequest& request);
// validate() checks SHA-256(preimage) == payment_hash.
Status validate(const PaymentReceipt& receipt);

Result<Event> build(const PaymentRequest& request, const Keypair& node, UnixSeconds now);
Result<Event> build(const PaymentReceipt& receipt, const Keypair& payer, UnixSeconds now);

Result<PaymentRequest> parse_payment_request(const Event& e);
Result<PaymentReceipt> parse_payment_receipt(const Event& e);

}  // namespace fedai::protocol
