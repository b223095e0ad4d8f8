#include "tests/tools/nip_examples.h"

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <optional>
#include <stdexcept>

#include "core/nostr/bech32.h"
#include "core/nostr/nip44.h"
#include "core/nostr/sha256.h"

namespace fedai::test {
namespace {

using namespace fedai::protocol;

SecretKey secret(int n) {
  static const char* digits = "0123456789abcdef";
  std::string hex(62, '0');
  hex += digits[n / 16];
  hex += digits[n % 16];
  return *SecretKey::from_hex(hex);
}

template <std::size_t N, class Tag>
FixedBytes<N, Tag> derived(std::string_view label) {
  auto digest = sha256(label);
  return FixedBytes<N, Tag>::from_span(std::span<const std::uint8_t, N>(digest.data(), N));
}

template <class T>
T must(Result<T> r, std::string_view what) {
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().to_string());
  return std::move(*r);
}

// Reproducible bytes: re-seal with a nonce derived from the file name, re-sign with zero
// auxiliary randomness. The plaintext, tags and everything else are the builder's.
Event deterministic(Event e, const Keypair& signer, const std::optional<PublicKey>& sealed_to,
                    std::string_view name) {
  if (sealed_to) {
    auto key = must(nip44::conversation_key(signer.secret_key(), *sealed_to), "conversation key");
    std::string plain = must(nip44::decrypt(e.content, key), "decrypt");
    auto nonce = derived<32, Bytes32Tag>("fedai example nonce " + std::string(name));
    e.content = must(nip44::encrypt(plain, key, nonce), "encrypt");
  }
  e.id = compute_event_id(e);
  std::array<std::uint8_t, 32> zero_aux{};
  e.sig = signer.sign(e.id.span(), zero_aux);
  return e;
}

// NIP-01 field order, one tag per line: readable in the nips, and any JSON reader takes it.
std::string pretty(const Event& e) {
  std::string out = "{\n  \"id\": \"" + e.id.hex() + "\",\n  \"pubkey\": \"" + e.pubkey.hex() +
                    "\",\n  \"created_at\": " + std::to_string(e.created_at) +
                    ",\n  \"kind\": " + std::to_string(e.kind) + ",\n  \"tags\": [";
  for (std::size_t i = 0; i < e.tags.size(); ++i) {
    out += i == 0 ? "\n    [" : ",\n    [";
    for (std::size_t j = 0; j < e.tags[i].size(); ++j) {
      if (j > 0) out += ", ";
      append_json_string(out, e.tags[i][j]);
    }
    out += ']';
  }
  out += e.tags.empty() ? "],\n  \"content\": " : "\n  ],\n  \"content\": ";
  append_json_string(out, e.content);
  out += ",\n  \"sig\": \"" + e.sig.hex() + "\"\n}\n";
  return out;
}

// Packs 5-bit words into bytes, zero-padding the last byte (BOLT11's signing data).
std::vector<std::uint8_t> pack_words(std::span<const std::uint8_t> words) {
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t w : words) {
    acc = (acc << 5) | w;
    bits += 5;
    while (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0) out.push_back(static_cast<std::uint8_t>((acc << (8 - bits)) & 0xff));
  return out;
}

// The story the examples tell: node A and node B announce; a router auctions a PL1 chat job,
// both bid, A wins, runs it and is paid; a PL0 job at A's posted price; a cancelled auction.
class Story {
 public:
  Story() : k_(example_keys()) {}

  std::vector<ExampleFile> run();

 private:
  void add(std::string name, Result<Event> built, const Keypair& signer,
           std::optional<PublicKey> sealed_to = std::nullopt);
  const Event& last() const { return events_.back(); }

  const ExampleKeys& k_;
  std::vector<ExampleFile> files_;
  std::vector<Event> events_;
};

void Story::add(std::string name, Result<Event> built, const Keypair& signer,
                std::optional<PublicKey> sealed_to) {
  Event e = deterministic(must(std::move(built), name), signer, sealed_to, name);
  files_.push_back({name, pretty(e)});
  events_.push_back(std::move(e));
}

std::vector<ExampleFile> Story::run() {
  const UnixSeconds t = kExampleTime;
  const std::string model = "llama-3.1-8b-instruct";
  const std::string endpoint_a = "https://node-a.example";
  const std::string endpoint_b = "https://node-b.example:8443";

  // ---- Announcements (F-02)
  CapsAnnounce caps;
  caps.instance = "node";
  caps.role = Role::node;
  caps.model = model;
  caps.job_types = {"chat", "completion"};
  caps.context_tokens = 8192;
  caps.max_output_tokens = 2048;
  caps.endpoint = endpoint_a;
  caps.privacy_max = PrivacyLevel::pl2;
  caps.streaming = true;
  caps.max_concurrency = 4;
  caps.max_body_bytes = 1 << 20;
  caps.software = "fedai/0.1.0";
  add("36090-caps.json", build(caps, k_.node, t), k_.node);

  CapsAnnounce resold = caps;  // the router resells the model to its peers (federation)
  resold.instance = "router";
  resold.role = Role::router;
  resold.job_types = {"chat"};
  resold.endpoint = "https://router.example";
  resold.privacy_max = PrivacyLevel::pl1;
  resold.max_concurrency = 16;
  add("36090-caps-router.json", build(resold, k_.router, t), k_.router);

  PriceAnnounce price;
  price.instance = "node";
  price.model = model;
  price.job_type = "chat";
  price.in_per_1k_msat = Msat{2000};
  price.out_per_1k_msat = Msat{6000};
  price.min_msat = Msat{1000};
  price.surge = Surge::from_milli(1250);
  add("36091-price.json", build(price, k_.node, t), k_.node);
  const EventId price_id = last().id;

  StatusAnnounce status;
  status.instance = "node";
  status.state = Backpressure::normal;
  status.queue_depth = 1;
  status.active_jobs = 2;
  status.p95_latency_ms = Millis{850};
  add("36092-status.json", build(status, k_.node, t), k_.node);

  // ---- The auction (F-03)
  Rfb rfb;
  rfb.job_id = derived<16, JobIdTag>("fedai example job 1");
  rfb.model = model;
  rfb.job_type = "chat";
  rfb.privacy = PrivacyLevel::pl1;
  rfb.input_tokens = 420;
  rfb.max_output_tokens = 256;
  rfb.max_price_msat = Msat{5000};
  rfb.bid_window_ms = Millis{500};
  rfb.deadline_ms = Millis{30'000};
  rfb.stream = false;
  add("26090-rfb.json", build(rfb, k_.router, t + 10), k_.router);
  const EventId rfb_id = last().id;

  // Node A bids its posted price with the surge in force; its rates are the surged rates.
  Bid bid_a;
  bid_a.rfb_id = rfb_id;
  bid_a.router = k_.router.public_key();
  bid_a.job_id = rfb.job_id;
  bid_a.price_msat = must(price_for_job(price.in_per_1k_msat, price.out_per_1k_msat, price.min_msat,
                                        price.surge, rfb.input_tokens, rfb.max_output_tokens),
                          "price");
  bid_a.in_per_1k_msat = Msat{2500};
  bid_a.out_per_1k_msat = Msat{7500};
  bid_a.min_msat = price.min_msat;
  bid_a.eta_ms = Millis{4000};
  bid_a.endpoint = endpoint_a;
  bid_a.capacity_token = derived<16, CapacityTokenTag>("fedai example capacity token a");
  bid_a.valid_until = t + 40;
  add("26091-bid.json", build(bid_a, k_.node, t + 10), k_.node, k_.router.public_key());
  const EventId bid_a_id = last().id;

  Bid bid_b = bid_a;
  bid_b.price_msat = must(price_for_job(Msat{3000}, Msat{8000}, Msat{0}, Surge::one(),
                                        rfb.input_tokens, rfb.max_output_tokens),
                          "price");
  bid_b.in_per_1k_msat = Msat{3000};
  bid_b.out_per_1k_msat = Msat{8000};
  bid_b.min_msat = Msat{0};
  bid_b.eta_ms = Millis{3000};
  bid_b.endpoint = endpoint_b;
  bid_b.capacity_token = derived<16, CapacityTokenTag>("fedai example capacity token b");
  add("26091-bid-b.json", build(bid_b, k_.node_b, t + 10), k_.node_b, k_.router.public_key());

  Award award;
  award.node = k_.node.public_key();
  award.basis = AuctionBasis{rfb_id, bid_a_id, bid_a.capacity_token};
  award.job_id = rfb.job_id;
  award.price_msat = bid_a.price_msat;
  award.submit_by = t + 41;
  award.deadline_ms = rfb.deadline_ms;
  add("26092-award.json", build(award, k_.router, t + 11), k_.router, k_.node.public_key());
  const Event award_event = last();

  // ---- The data plane (F-04): the PL1 job, its body sealed to node A
  const std::string body_plain = R"({"messages":[{"role":"system","content":"You are terse."},)"
                                 R"({"role":"user","content":"Say hello to the fedai market."}],)"
                                 R"("max_tokens":256,"temperature":0.7,"stream":false})";
  auto conv = must(nip44::conversation_key(k_.router.secret_key(), k_.node.public_key()), "key");
  const std::string body_sealed =
      must(nip44::encrypt(body_plain, conv, derived<32, Bytes32Tag>("fedai example nonce body")),
           "encrypt body");

  JobSubmit submit;
  submit.url = jobs_url(endpoint_a);
  submit.payload_hash = sha256(body_sealed);
  submit.award_id = award_event.id;
  submit.node = k_.node.public_key();
  submit.job_id = rfb.job_id;
  submit.privacy = PrivacyLevel::pl1;
  submit.input_hash = sha256(body_plain);
  submit.max_output_tokens = rfb.max_output_tokens;
  submit.stream = false;
  add("26094-job-submit.json", build(submit, k_.router, t + 12), k_.router);
  files_.push_back({"26094-job-submit.body", body_sealed});
  const EventId submit_id = last().id;

  JobResult result;
  result.job_submit_id = submit_id;
  result.award_id = award_event.id;
  result.router = k_.router.public_key();
  result.privacy = PrivacyLevel::pl1;
  result.job_id = rfb.job_id;
  result.status = JobStatus::ok;
  result.text = "Hello, fedai market!";
  result.finish_reason = FinishReason::stop;
  add("26095-job-result.json", build(result, k_.node, t + 14), k_.node, k_.router.public_key());

  Metering metering;
  metering.job_submit_id = submit_id;
  metering.router = k_.router.public_key();
  metering.job_id = rfb.job_id;
  metering.tokens_in = 412;
  metering.tokens_out = 96;
  metering.wall_ms = Millis{1830};
  metering.started_at = t + 12;
  metering.finished_at = t + 14;
  metering.input_hash = submit.input_hash;
  metering.output_hash = sha256(result.text);
  metering.price_msat =
      must(metering_price(bid_a.in_per_1k_msat, bid_a.out_per_1k_msat, bid_a.min_msat,
                          metering.tokens_in, metering.tokens_out, award.price_msat),
           "metering price");
  add("26096-metering.json", build(metering, k_.node, t + 14), k_.node);
  const EventId metering_id = last().id;

  // ---- Payment (F-05): a real BOLT11 invoice from node A's Lightning key
  const auto preimage = derived<32, Bytes32Tag>("fedai example preimage");
  const Sha256Digest payment_hash = sha256(preimage.span());
  const auto payment_secret = derived<32, Bytes32Tag>("fedai example payment secret");
  const std::string description = "fedai job " + rfb.job_id.hex();
  const std::uint64_t expiry = 600;
  // 1,750 msat = 17,500 pico-bitcoin.
  if (metering.price_msat != Msat{1750}) throw std::runtime_error("story: unexpected price");
  std::vector<std::uint8_t> desc_bytes(description.begin(), description.end());
  std::string invoice =
      encode_bolt11("lnbc17500p", static_cast<std::uint64_t>(t + 14),
                    {{1, bolt11_bytes_words(payment_hash.span())},
                     {16, bolt11_bytes_words(payment_secret.span())},
                     {13, bech32::to_words(desc_bytes)},
                     {6, bolt11_int_words(expiry)},
                     {5, {16, 8, 0}}},  // features: var_onion_optin (8), payment_secret (14)
                    k_.node_ln);

  PaymentRequest request;
  request.metering_id = metering_id;
  request.payer = k_.router.public_key();
  request.job_id = rfb.job_id;
  request.amount_msat = metering.price_msat;
  request.bolt11 = invoice;
  request.expires_at = t + 14 + static_cast<UnixSeconds>(expiry);
  add("26097-payment-request.json", build(request, k_.node, t + 14), k_.node);
  const EventId request_id = last().id;

  PaymentReceipt receipt;
  receipt.payment_request_id = request_id;
  receipt.node = k_.node.public_key();
  receipt.job_id = rfb.job_id;
  receipt.amount_msat = request.amount_msat;
  receipt.payment_hash = payment_hash;
  receipt.preimage = preimage;
  add("26098-payment-receipt.json", build(receipt, k_.router, t + 16), k_.router);

  ReceiptSummary summary;
  summary.node = k_.node.public_key();
  summary.window_start = t;
  summary.window_end = t + 3600;
  summary.jobs = 1;
  summary.succeeded = 1;
  summary.p50_latency_ms = Millis{1830};
  summary.p95_latency_ms = Millis{1830};
  summary.paid_msat = receipt.amount_msat;
  add("36093-receipt-summary.json", build(summary, k_.router, t + 3600), k_.router);

  // ---- A PL0 job at node A's posted price: no RFB, the AWARD names the PRICE_ANNOUNCE
  const JobId job2 = derived<16, JobIdTag>("fedai example job 2");
  Award posted;
  posted.node = k_.node.public_key();
  posted.basis = PostedPriceBasis{price_id};
  posted.job_id = job2;
  posted.price_msat = must(price_for_job(price.in_per_1k_msat, price.out_per_1k_msat,
                                         price.min_msat, price.surge, 40, 64),
                           "price");
  posted.submit_by = t + 130;
  posted.deadline_ms = Millis{20'000};
  add("26092-award-posted.json", build(posted, k_.router, t + 100), k_.router,
      k_.node.public_key());
  const EventId posted_id = last().id;

  const std::string body2 = R"({"messages":[{"role":"user","content":"Name a prime number."}],)"
                            R"("max_tokens":64,"temperature":0,"stream":true})";
  JobSubmit submit2;
  submit2.url = jobs_url(endpoint_a);
  submit2.payload_hash = sha256(body2);
  submit2.award_id = posted_id;
  submit2.node = k_.node.public_key();
  submit2.job_id = job2;
  submit2.privacy = PrivacyLevel::pl0;
  submit2.input_hash = sha256(body2);
  submit2.max_output_tokens = 64;
  submit2.stream = true;
  add("26094-job-submit-pl0.json", build(submit2, k_.router, t + 101), k_.router);
  files_.push_back({"26094-job-submit-pl0.body", body2});
  const EventId submit2_id = last().id;

  JobResult result2;
  result2.job_submit_id = submit2_id;
  result2.award_id = posted_id;
  result2.router = k_.router.public_key();
  result2.privacy = PrivacyLevel::pl0;
  result2.job_id = job2;
  result2.status = JobStatus::ok;
  result2.text = "7";
  result2.finish_reason = FinishReason::stop;
  add("26095-job-result-pl0.json", build(result2, k_.node, t + 102), k_.node);

  // ---- An auction the router abandons (its client went away)
  Rfb rfb3 = rfb;
  rfb3.job_id = derived<16, JobIdTag>("fedai example job 3");
  rfb3.privacy = PrivacyLevel::pl0;
  add("26090-rfb-cancelled.json", build(rfb3, k_.router, t + 200), k_.router);
  Cancel cancel;
  cancel.rfb_id = last().id;
  cancel.job_id = rfb3.job_id;
  cancel.reason = ProtocolError::cancelled;
  add("26093-cancel.json", build(cancel, k_.router, t + 201), k_.router);

  return files_;
}

}  // namespace

const ExampleKeys& example_keys() {
  static const ExampleKeys keys{Keypair(secret(1)), Keypair(secret(2)), Keypair(secret(3)),
                                secret(10)};
  return keys;
}

std::vector<ExampleFile> make_nip_examples() {
  return Story().run();
}

std::vector<std::uint8_t> bolt11_bytes_words(std::span<const std::uint8_t> bytes) {
  return bech32::to_words(bytes);
}

std::vector<std::uint8_t> bolt11_int_words(std::uint64_t value) {
  std::vector<std::uint8_t> out;
  do {
    out.insert(out.begin(), static_cast<std::uint8_t>(value & 31));
    value >>= 5;
  } while (value != 0);
  return out;
}

std::string encode_bolt11(std::string_view hrp, std::uint64_t timestamp,
                          const std::vector<Bolt11Field>& fields, const SecretKey& payee) {
  std::vector<std::uint8_t> data;
  for (int shift = 30; shift >= 0; shift -= 5)  // 35-bit timestamp, 7 words
    data.push_back(static_cast<std::uint8_t>((timestamp >> shift) & 31));
  for (const auto& f : fields) {
    if (f.words.size() >= 1024) throw std::invalid_argument("BOLT11 field too long");
    data.push_back(f.type);
    data.push_back(static_cast<std::uint8_t>(f.words.size() >> 5));
    data.push_back(static_cast<std::uint8_t>(f.words.size() & 31));
    data.insert(data.end(), f.words.begin(), f.words.end());
  }
  std::vector<std::uint8_t> preimage(hrp.begin(), hrp.end());
  auto packed = pack_words(data);
  preimage.insert(preimage.end(), packed.begin(), packed.end());
  Sha256Digest digest = sha256(preimage);

  secp256k1_ecdsa_recoverable_signature sig;
  if (secp256k1_ecdsa_sign_recoverable(secp_context(), &sig, digest.data(), payee.reveal().data(),
                                       nullptr, nullptr) != 1)
    throw std::runtime_error("BOLT11 signing failed");
  std::array<std::uint8_t, 65> compact{};
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(secp_context(), compact.data(), &recid,
                                                          &sig);
  compact[64] = static_cast<std::uint8_t>(recid);
  auto sig_words = bech32::to_words(compact);
  data.insert(data.end(), sig_words.begin(), sig_words.end());
  return bech32::encode(hrp, data);
}

}  // namespace fedai::test
