#include "core/protocol/payment.h"

#include "core/lightning/bolt11.h"
#include "core/nostr/bech32.h"
#include "core/protocol/codec.h"

namespace fedai::protocol {

using detail::Checker;
using detail::ContentWriter;
using detail::FieldReader;
using detail::TagReader;

namespace {

constexpr std::string_view kRequestName = "PAYMENT_REQUEST";
constexpr std::string_view kReceiptName = "PAYMENT_RECEIPT";

}  // namespace

std::optional<Msat> bolt11_amount(std::string_view invoice) {
  auto decoded = bech32::decode(invoice, bolt11::kMaxLength);
  if (!decoded) return std::nullopt;
  auto amount = bolt11::amount_of_hrp(decoded->hrp, nullptr);
  return amount ? *amount : std::nullopt;
}

// ---- PAYMENT_REQUEST ----------------------------------------------------------------------------

Status validate(const PaymentRequest& r) {
  Checker k(kRequestName);
  k.amount("amount_msat", r.amount_msat);
  k.time("expires_at", r.expires_at);
  auto decoded = bech32::decode(r.bolt11, kMaxBolt11Length);
  k.require(decoded && decoded->hrp.starts_with("ln"),
            "bolt11 must be a BOLT11 invoice (bech32, \"ln\" prefix)");
  k.require(bolt11_amount(r.bolt11) == r.amount_msat, "bolt11 amount must equal amount_msat");
  return k.status();
}

Result<Event> build(const PaymentRequest& r, const Keypair& node, UnixSeconds now) {
  if (auto st = validate(r); !st) return st.error();
  ContentWriter w;
  w.string("job_id", r.job_id.hex());
  w.integer("amount_msat", r.amount_msat.value());
  w.string("bolt11", r.bolt11);
  w.integer("expires_at", static_cast<std::uint64_t>(r.expires_at));
  Tags tags = {detail::e_tag(r.metering_id, "metering"), detail::p_tag(r.payer)};
  return detail::sign_checked({kPaymentRequest, now, std::move(tags), std::move(w).finish()}, node);
}

Result<PaymentRequest> parse_payment_request(const Event& e) {
  auto opened = detail::open_content(e, kPaymentRequest, e.content);
  if (!opened) return opened.error();
  FieldReader& f = *opened;
  PaymentRequest r;
  r.job_id = f.job_id("job_id");
  r.amount_msat = f.msat("amount_msat");
  r.bolt11 = f.string("bolt11");
  r.expires_at = f.seconds("expires_at");
  if (f.error()) return *f.error();
  if (auto st = validate(r); !st) return st.error();

  TagReader t(kRequestName, e);
  auto metering = t.event_ref("metering");
  auto payer = t.pubkey("p");
  if (t.error()) return *t.error();
  r.metering_id = *metering;
  r.payer = *payer;
  return r;
}

// ---- PAYMENT_RECEIPT ----------------------------------------------------------------------------

Status validate(const PaymentReceipt& r) {
  Checker k(kReceiptName);
  k.amount("amount_msat", r.amount_msat);
  k.require(sha256(r.preimage.span()) == r.payment_hash, "preimage does not hash to payment_hash");
  return k.status();
}

Result<Event> build(const PaymentReceipt& r, const Keypair& payer, UnixSeconds now) {
  if (auto st = validate(r); !st) return st.error();
  ContentWriter w;
  w.string("job_id", r.job_id.hex());
  w.integer("amount_msat", r.amount_msat.value());
  w.string("payment_hash", r.payment_hash.hex());
  w.string("preimage", r.preimage.hex());
  Tags tags = {detail::e_tag(r.payment_request_id, "payment_request"), detail::p_tag(r.node)};
  return detail::sign_checked({kPaymentReceipt, now, std::move(tags), std::move(w).finish()},
                              payer);
}

Result<PaymentReceipt> parse_payment_receipt(const Event& e) {
  auto opened = detail::open_content(e, kPaymentReceipt, e.content);
  if (!opened) return opened.error();
  FieldReader& f = *opened;
  PaymentReceipt r;
  r.job_id = f.job_id("job_id");
  r.amount_msat = f.msat("amount_msat");
  r.payment_hash = f.hash("payment_hash");
  r.preimage = f.hex32("preimage");
  if (f.error()) return *f.error();
  if (auto st = validate(r); !st) return st.error();

  TagReader t(kReceiptName, e);
  auto request = t.event_ref("payment_request");
  auto node = t.pubkey("p");
  if (t.error()) return *t.error();
  r.payment_request_id = *request;
  r.node = *node;
  return r;
}

}  // namespace fedai::protocol
