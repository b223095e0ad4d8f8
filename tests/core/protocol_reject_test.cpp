// core/protocol refusals, table-driven: each bad-input class (missing field, wrong type, out of
// range, wrong version, m/t tag mismatch, missing expiration, sealed to someone else, ...) is
// refused with its exact NIP-01-prefixed reason. Events are built correctly, then one thing is
// changed and the event is re-signed, as a misbehaving peer would.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <random>
#include <string>

#include "core/nostr/nip44.h"
#include "core/protocol/protocol.h"
#include "tests/tools/nip_examples.h"

namespace fedai::protocol {
namespace {

using fedai::test::example_keys;
using Json = nlohmann::ordered_json;

constexpr UnixSeconds kNow = 1767225600;

const Keypair& router() {
  return example_keys().router;
}
const Keypair& node() {
  return example_keys().node;
}
const Keypair& other() {
  return example_keys().node_b;
}

template <class T>
std::string reason(const Result<T>& r) {
  return r ? std::string("(accepted)") : r.error().to_string();
}

template <class T>
T must(Result<T> r) {
  if (!r) throw std::runtime_error(r.error().to_string());
  return std::move(*r);
}

EventId event_id(std::uint8_t fill) {
  EventId id;
  id.bytes.fill(fill);
  return id;
}

// A well-formed event taken apart: what a test changes before re-signing.
struct Parts {
  Kind kind = 0;
  Tags tags;
  Json content;     // the plaintext object
  std::string raw;  // when set, used verbatim as the plaintext instead of `content`
  const Keypair* signer = nullptr;
  std::optional<PublicKey> seal_to;  // seal the plaintext to this key
};

std::string plaintext_of(const Event& e, const Keypair& signer,
                         const std::optional<PublicKey>& sealed_to) {
  if (!sealed_to) return e.content;
  auto key = must(nip44::conversation_key(signer.secret_key(), *sealed_to));
  return must(nip44::decrypt(e.content, key));
}

Parts parts_of(const Event& e, const Keypair& signer,
               std::optional<PublicKey> sealed_to = std::nullopt) {
  Parts p;
  p.kind = e.kind;
  p.tags = e.tags;
  p.content = Json::parse(plaintext_of(e, signer, sealed_to));
  p.signer = &signer;
  p.seal_to = sealed_to;
  return p;
}

Event assemble(const Parts& p) {
  std::string plain = p.raw.empty() ? p.content.dump() : p.raw;
  if (p.seal_to) {
    auto key = must(nip44::conversation_key(p.signer->secret_key(), *p.seal_to));
    plain = must(nip44::encrypt(plain, key));
  }
  return sign_event({p.kind, kNow, p.tags, plain}, *p.signer);
}

void set_tag(Tags& tags, std::string_view name, Tag value) {
  for (Tag& t : tags)
    if (!t.empty() && t[0] == name) {
      t = std::move(value);
      return;
    }
  tags.push_back(std::move(value));
}

void drop_tag(Tags& tags, std::string_view name) {
  std::erase_if(tags, [&](const Tag& t) { return !t.empty() && t[0] == name; });
}

// ---- The well-formed events every case starts from ---------------------------------------------

Parts caps() {
  CapsAnnounce c;
  c.model = "m1";
  c.job_types = {"chat", "completion"};
  c.context_tokens = 4096;
  c.max_output_tokens = 1024;
  c.endpoint = "https://node.example";
  c.max_body_bytes = 1000;
  return parts_of(must(build(c, node(), kNow)), node());
}

Parts price() {
  PriceAnnounce p;
  p.model = "m1";
  p.job_type = "chat";
  p.in_per_1k_msat = Msat{1};
  p.out_per_1k_msat = Msat{2};
  p.surge = Surge::from_milli(1500);
  return parts_of(must(build(p, node(), kNow)), node());
}

Parts status() {
  StatusAnnounce s;
  return parts_of(must(build(s, node(), kNow)), node());
}

Parts summary() {
  ReceiptSummary s;
  s.node = node().public_key();
  s.window_start = kNow - 10;
  s.window_end = kNow;
  return parts_of(must(build(s, router(), kNow)), router());
}

Parts rfb() {
  Rfb r;
  r.job_id = new_job_id();
  r.model = "m1";
  r.job_type = "chat";
  r.max_price_msat = Msat{5000};
  r.deadline_ms = Millis{1000};
  return parts_of(must(build(r, router(), kNow)), router());
}

Parts bid() {
  Bid b;
  b.rfb_id = event_id(1);
  b.router = router().public_key();
  b.job_id = new_job_id();
  b.price_msat = Msat{100};
  b.endpoint = "https://node.example";
  b.capacity_token = new_capacity_token();
  b.valid_until = kNow + 30;
  return parts_of(must(build(b, node(), kNow)), node(), router().public_key());
}

Parts make_award(bool posted) {
  Award a;
  a.node = node().public_key();
  if (posted)
    a.basis = PostedPriceBasis{event_id(3)};
  else
    a.basis = AuctionBasis{event_id(1), event_id(2), new_capacity_token()};
  a.job_id = new_job_id();
  a.price_msat = Msat{100};
  a.submit_by = kNow + 30;
  a.deadline_ms = Millis{1000};
  return parts_of(must(build(a, router(), kNow)), router(), node().public_key());
}

Parts cancel() {
  Cancel c;
  c.rfb_id = event_id(1);
  c.job_id = new_job_id();
  return parts_of(must(build(c, router(), kNow)), router());
}

Parts submit() {
  JobSubmit s;
  s.url = "https://node.example/fedai/v1/jobs";
  s.award_id = event_id(4);
  s.node = node().public_key();
  s.job_id = new_job_id();
  return parts_of(must(build(s, router(), kNow)), router());
}

Parts make_result(PrivacyLevel level) {
  JobResult r;
  r.job_submit_id = event_id(5);
  r.award_id = event_id(4);
  r.router = router().public_key();
  r.privacy = level;
  r.job_id = new_job_id();
  r.text = "hello";
  std::optional<PublicKey> sealed;
  if (is_sealed(level)) sealed = router().public_key();
  return parts_of(must(build(r, node(), kNow)), node(), sealed);
}

Parts award() {
  return make_award(false);
}
Parts posted_award() {
  return make_award(true);
}
Parts result() {
  return make_result(PrivacyLevel::pl1);
}

Parts metering() {
  Metering m;
  m.job_submit_id = event_id(5);
  m.router = router().public_key();
  m.job_id = new_job_id();
  m.started_at = kNow - 1;
  m.finished_at = kNow;
  return parts_of(must(build(m, node(), kNow)), node());
}

// 10 msat = 100 pico-bitcoin, signed by the example Lightning key.
std::string invoice_10_msat() {
  return fedai::test::encode_bolt11("lnbc100p", kNow, {{1, std::vector<std::uint8_t>(52, 0)}},
                                    example_keys().node_ln);
}

Parts payment_request() {
  PaymentRequest q;
  q.metering_id = event_id(6);
  q.payer = router().public_key();
  q.job_id = new_job_id();
  q.amount_msat = Msat{10};
  q.bolt11 = invoice_10_msat();
  q.expires_at = kNow + 600;
  return parts_of(must(build(q, node(), kNow)), node());
}

Parts payment_receipt() {
  PaymentReceipt r;
  r.payment_request_id = event_id(7);
  r.node = node().public_key();
  r.job_id = new_job_id();
  r.amount_msat = Msat{10};
  r.preimage.bytes.fill(9);
  r.payment_hash = sha256(r.preimage.span());
  return parts_of(must(build(r, router(), kNow)), router());
}

// The parser a case runs: sealed kinds are read as their addressee, JOB_RESULT at PL1.
std::string parse_reason(const Event& e, PrivacyLevel result_level = PrivacyLevel::pl1) {
  switch (e.kind) {
    case kCapsAnnounce:
      return reason(parse_caps_announce(e));
    case kPriceAnnounce:
      return reason(parse_price_announce(e));
    case kStatusAnnounce:
      return reason(parse_status_announce(e));
    case kReceiptSummary:
      return reason(parse_receipt_summary(e));
    case kRfb:
      return reason(parse_rfb(e));
    case kBid:
      return reason(parse_bid(e, router()));
    case kAward:
      return reason(parse_award(e, node()));
    case kCancel:
      return reason(parse_cancel(e));
    case kJobSubmit:
      return reason(parse_job_submit(e));
    case kJobResult:
      return reason(parse_job_result(e, router(), result_level));
    case kMetering:
      return reason(parse_metering(e));
    case kPaymentRequest:
      return reason(parse_payment_request(e));
    case kPaymentReceipt:
      return reason(parse_payment_receipt(e));
    default:
      return "no parser";
  }
}

struct Case {
  std::string name;
  std::function<Parts()> base;
  std::function<void(Parts&)> change;
  std::string want;  // "(accepted)" for changes a receiver must tolerate
};

void run(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Parts p = c.base();
    ASSERT_EQ(parse_reason(assemble(p)), "(accepted)") << "the unchanged event must parse";
    c.change(p);
    std::string got = parse_reason(assemble(p));
    if (c.want.ends_with("..."))  // a prefix, for reasons that quote a variable length
      EXPECT_EQ(got.substr(0, c.want.size() - 3), c.want.substr(0, c.want.size() - 3)) << got;
    else
      EXPECT_EQ(got, c.want);
  }
}

auto erase(std::string field) {
  return [field](Parts& p) { p.content.erase(field); };
}
auto set(std::string field, Json value) {
  return [field, value](Parts& p) { p.content[field] = value; };
}
auto raw(std::string text) {
  return [text](Parts& p) { p.raw = text; };
}
// Writes `token` verbatim as the value of `field`: for numbers nlohmann can't write (-0, 2^64).
auto verbatim(std::string field, std::string token) {
  return [field, token](Parts& p) {
    const std::string marker = "\"@@verbatim@@\"";
    p.content[field] = "@@verbatim@@";
    p.raw = p.content.dump();
    p.raw.replace(p.raw.find(marker), marker.size(), token);
  };
}
auto tag(std::string name, Tag value) {
  return [name, value](Parts& p) { set_tag(p.tags, name, value); };
}
auto no_tag(std::string name) {
  return [name](Parts& p) { drop_tag(p.tags, name); };
}

TEST(ProtocolReject, MissingFields) {
  run({
      {"rfb", rfb, erase("max_price_msat"), "invalid: RFB max_price_msat is missing"},
      {"bid", bid, erase("capacity_token"), "invalid: BID capacity_token is missing"},
      {"caps", caps, erase("endpoint"), "invalid: CAPS_ANNOUNCE endpoint is missing"},
      {"price", price, erase("surge"), "invalid: PRICE_ANNOUNCE surge is missing"},
      {"status", status, erase("state"), "invalid: STATUS_ANNOUNCE state is missing"},
      {"summary", summary, erase("paid_msat"), "invalid: RECEIPT_SUMMARY paid_msat is missing"},
      {"award", award, erase("submit_by"), "invalid: AWARD submit_by is missing"},
      {"award token", award, erase("capacity_token"), "invalid: AWARD capacity_token is missing"},
      {"cancel", cancel, erase("reason"), "invalid: CANCEL reason is missing"},
      {"submit", submit, erase("input_hash"), "invalid: JOB_SUBMIT input_hash is missing"},
      {"result", result, erase("text"), "invalid: JOB_RESULT text is missing"},
      {"metering", metering, erase("output_hash"), "invalid: METERING output_hash is missing"},
      {"request", payment_request, erase("bolt11"), "invalid: PAYMENT_REQUEST bolt11 is missing"},
      {"receipt", payment_receipt, erase("preimage"),
       "invalid: PAYMENT_RECEIPT preimage is missing"},
      {"job id", rfb, erase("job_id"), "invalid: RFB job_id is missing"},
  });
}

TEST(ProtocolReject, WrongTypes) {
  run({
      {"string price", bid, set("price_msat", "100"), "invalid: BID price_msat must be an integer"},
      {"float price", bid, set("price_msat", 1.5), "invalid: BID price_msat must be an integer"},
      {"1.0 is not an integer", bid, set("price_msat", 1.0),
       "invalid: BID price_msat must be an integer"},
      {"null", rfb, set("input_tokens", nullptr), "invalid: RFB input_tokens must be an integer"},
      {"bool as string", rfb, set("stream", "true"), "invalid: RFB stream must be true or false"},
      {"number as bool", caps, set("streaming", 1),
       "invalid: CAPS_ANNOUNCE streaming must be true or false"},
      {"string array", caps, set("job_types", Json::array({"chat", 1})),
       "invalid: CAPS_ANNOUNCE job_types must be an array of strings"},
      {"object as string", submit, set("privacy", Json::object()),
       "invalid: JOB_SUBMIT privacy must be a string"},
      {"surge string", price, set("surge", "1.5"),
       "invalid: PRICE_ANNOUNCE surge must be a number"},
      {"unknown privacy", rfb, set("privacy", "PL9"),
       "invalid: RFB privacy must be \"PL0\", \"PL1\", \"PL2\" or \"PL3\""},
      {"unknown state", status, set("state", "normal"),
       "invalid: STATUS_ANNOUNCE state must be \"NORMAL\", \"BUSY\" or \"SATURATED\""},
      {"unknown role", caps, set("role", "client"),
       "invalid: CAPS_ANNOUNCE role must be \"node\" or \"router\""},
      {"unknown reason", cancel, set("reason", "ERR_OOPS"),
       "invalid: CANCEL reason must be an F-06 error code"},
      {"unknown status", result, set("status", "done"),
       "invalid: JOB_RESULT status must be \"ok\", \"partial\" or \"failed\""},
      {"uppercase job id", rfb, set("job_id", "0123456789ABCDEF0123456789abcdef"),
       "invalid: RFB job_id must be 32 lowercase hex characters"},
      {"short hash", metering, set("input_hash", "abcd"),
       "invalid: METERING input_hash must be 64 lowercase hex characters"},
      {"content not an object", rfb, raw("[1,2]"),
       "invalid: RFB content is not a JSON object (expected '{' at byte 0)"},
      {"content has a field twice", rfb, raw(R"({"v":1,"v":1})"),
       "invalid: RFB content has the field v twice"},
  });
}

TEST(ProtocolReject, OutOfRange) {
  const std::string max = "9007199254740991";
  run({
      {"bid window low", rfb, set("bid_window_ms", 49),
       "invalid: RFB bid_window_ms must be between 50 and 10000"},
      {"bid window high", rfb, set("bid_window_ms", 10001),
       "invalid: RFB bid_window_ms must be between 50 and 10000"},
      {"zero max price", rfb, set("max_price_msat", 0),
       "invalid: RFB max_price_msat must be at least 1"},
      {"zero max output", rfb, set("max_output_tokens", 0),
       "invalid: RFB max_output_tokens must be at least 1"},
      {"zero deadline", rfb, set("deadline_ms", 0), "invalid: RFB deadline_ms must be at least 1"},
      {"PL3 never leaves", rfb, set("privacy", "PL3"),
       "invalid: RFB privacy must be PL0, PL1 or PL2 (PL3 never leaves the router)"},
      {"caps PL3", caps, set("privacy_max", "PL3"),
       "invalid: CAPS_ANNOUNCE privacy_max must be PL0, PL1 or PL2"},
      {"negative", metering, set("tokens_in", -1),
       "invalid: METERING tokens_in must be an integer between 0 and 4294967295"},
      {"tokens over 2^32-1", metering, set("tokens_out", 4294967296ULL),
       "invalid: METERING tokens_out must be an integer between 0 and 4294967295"},
      {"amount over 2^53-1", price, set("min_msat", 9007199254740992ULL),
       "invalid: PRICE_ANNOUNCE min_msat must be an integer between 0 and " + max},
      {"amount over 2^64", bid, verbatim("price_msat", "18446744073709551616"),
       "invalid: BID price_msat must be an integer between 0 and " + max},
      {"surge high", price, set("surge", 5.5),
       "invalid: PRICE_ANNOUNCE surge must be a number between 1.0 and 5.0 with at most 3 "
       "decimals"},
      {"surge too fine", price, set("surge", 1.0005),
       "invalid: PRICE_ANNOUNCE surge must be a number between 1.0 and 5.0 with at most 3 "
       "decimals"},
      {"no job types", caps, set("job_types", Json::array()),
       "invalid: CAPS_ANNOUNCE job_types must list at least one job type"},
      {"bad job type", caps, set("job_types", Json::array({"Chat"})),
       "invalid: CAPS_ANNOUNCE job_types must be a job type (1..32 characters from a-z 0-9 _ -)"},
      {"repeated job type", caps, set("job_types", Json::array({"chat", "chat"})),
       "invalid: CAPS_ANNOUNCE job_types must not repeat a job type"},
      {"zero concurrency", caps, set("max_concurrency", 0),
       "invalid: CAPS_ANNOUNCE max_concurrency must be at least 1"},
      {"endpoint scheme", caps, set("endpoint", "ftp://node.example"),
       "invalid: CAPS_ANNOUNCE endpoint must be an http:// or https:// URL"},
      {"model id", rfb,
       [](Parts& p) {
         p.content["model"] = "bad model";
         set_tag(p.tags, "m", {"m", "bad model"});
       },
       "invalid: RFB model must be a model id (1..128 characters from A-Z a-z 0-9 . _ : / -)"},
      {"finished before started", metering, set("finished_at", 1),
       "invalid: METERING finished_at must not be before started_at"},
      {"window backwards", summary, set("window_end", 1),
       "invalid: RECEIPT_SUMMARY window_end must not be before window_start"},
      {"failed without error", result, set("status", "failed"),
       "invalid: JOB_RESULT error is required when status is failed"},
      {"error on ok", result, set("error", "ERR_RUNNER"),
       "invalid: JOB_RESULT error is only for a failed status"},
      {"method", submit, tag("method", {"method", "GET"}),
       "invalid: JOB_SUBMIT method must be POST"},
      {"bid valid_until before created_at", bid,
       [](Parts& p) {
         p.content["valid_until"] = kNow;
         set_tag(p.tags, "expiration", {"expiration", std::to_string(kNow)});
       },
       "invalid: BID valid_until must be after created_at"},
      {"preimage", payment_receipt, set("preimage", std::string(64, '0')),
       "invalid: PAYMENT_RECEIPT preimage does not hash to payment_hash"},
      {"invoice amount", payment_request, set("amount_msat", 11),
       "invalid: PAYMENT_REQUEST bolt11 amount must equal amount_msat"},
      {"invoice checksum", payment_request,
       [](Parts& p) {
         std::string inv = p.content["bolt11"];
         inv.back() = inv.back() == 'q' ? 'p' : 'q';
         p.content["bolt11"] = inv;
       },
       "invalid: PAYMENT_REQUEST bolt11 must be a BOLT11 invoice (bech32, \"ln\" prefix)"},
  });
}

TEST(ProtocolReject, Version) {
  run({
      {"v 2", bid, set("v", 2), "invalid: unsupported fedai version 2"},
      {"v 0", rfb, set("v", 0), "invalid: unsupported fedai version 0"},
      {"v -1", caps, set("v", -1), "invalid: unsupported fedai version -1"},
      {"v missing", caps, erase("v"), "invalid: CAPS_ANNOUNCE v is missing"},
      {"v string", metering, set("v", "1"), "invalid: METERING v must be an integer"},
      {"v float", metering, set("v", 1.5), "invalid: METERING v must be an integer"},
      // The version is checked before any other field.
      {"v 2 with other fields wrong", rfb,
       [](Parts& p) {
         p.content["v"] = 2;
         p.content["bid_window_ms"] = "soon";
       },
       "invalid: unsupported fedai version 2"},
  });
}

TEST(ProtocolReject, TagsMustMatchContent) {
  run({
      {"rfb m", rfb, tag("m", {"m", "m2"}), "invalid: RFB m tag must equal model"},
      {"rfb t", rfb, tag("t", {"t", "completion"}), "invalid: RFB t tag must equal job_type"},
      {"rfb no m", rfb, no_tag("m"), "invalid: RFB has no m tag"},
      {"rfb two t", rfb,
       [](Parts& p) {
         p.tags.push_back({"t", "chat"});
       },
       "invalid: RFB has more than one t tag"},
      {"price m", price, tag("m", {"m", "m2"}), "invalid: PRICE_ANNOUNCE m tag must equal model"},
      {"price t", price, tag("t", {"t", "x"}), "invalid: PRICE_ANNOUNCE t tag must equal job_type"},
      {"price d", price, tag("d", {"d", "node:m1:completion"}),
       "invalid: PRICE_ANNOUNCE d tag must be \"<instance>:<model>:<job type>\""},
      {"caps d", caps, tag("d", {"d", "node:m2"}),
       "invalid: CAPS_ANNOUNCE d tag must be \"<instance>:<model>\""},
      {"caps d instance", caps, tag("d", {"d", "No!:m1"}),
       "invalid: CAPS_ANNOUNCE instance must be an instance id (1..32 characters from a-z 0-9 _ "
       "-)"},
      {"caps t missing", caps, [](Parts& p) { p.tags.pop_back(); },
       "invalid: CAPS_ANNOUNCE t tags must equal job_types"},
      {"caps t extra", caps,
       [](Parts& p) {
         p.tags.push_back({"t", "embedding"});
       },
       "invalid: CAPS_ANNOUNCE t tags must equal job_types"},
      {"caps t order does not matter", caps, [](Parts& p) { std::swap(p.tags[2], p.tags[3]); },
       "(accepted)"},
      {"summary d", summary, tag("d", {"d", "x"}),
       "invalid: RECEIPT_SUMMARY d tag must equal the p tag"},
      {"bid no rfb", bid, no_tag("e"), "invalid: BID has no e tag marked rfb"},
      {"bid rfb id", bid, tag("e", {"e", "xyz", "", "rfb"}),
       "invalid: BID e tag marked rfb must be a 64-character lowercase hex event id"},
      {"bid e without marker", bid, tag("e", {"e", event_id(1).hex()}),
       "invalid: BID has no e tag marked rfb"},
      {"bid two p", bid,
       [](Parts& p) {
         p.tags.push_back({"p", other().public_key().hex()});
       },
       "invalid: BID has more than one p tag"},
      {"bid p not hex", bid, tag("p", {"p", "npub1xyz"}),
       "invalid: BID p tag must be a 64-character lowercase hex public key"},
      {"award both", award,
       [](Parts& p) {
         p.tags.push_back({"e", event_id(3).hex(), "", "price"});
       },
       "invalid: AWARD must name an RFB and a BID (e tags marked rfb and bid), or a "
       "PRICE_ANNOUNCE (marked price), not both"},
      {"award no bid", award,
       [](Parts& p) {
         std::erase_if(p.tags, [](const Tag& t) { return t.size() > 3 && t[3] == "bid"; });
       },
       "invalid: AWARD must name an RFB and a BID (e tags marked rfb and bid), or a "
       "PRICE_ANNOUNCE (marked price), not both"},
      {"posted award with a token", posted_award, set("capacity_token", std::string(32, 'a')),
       "invalid: AWARD capacity_token is for auction awards only"},
      {"cancel names nothing", cancel, no_tag("e"),
       "invalid: CANCEL must name the RFB or the AWARD it cancels"},
      {"submit u", submit, no_tag("u"), "invalid: JOB_SUBMIT has no u tag"},
      {"submit payload", submit, tag("payload", {"payload", "zz"}),
       "invalid: JOB_SUBMIT payload tag must be 64 lowercase hex characters"},
      {"submit url", submit, tag("u", {"u", "/fedai/v1/jobs"}),
       "invalid: JOB_SUBMIT url must be an http:// or https:// URL"},
      {"result no job", result, [](Parts& p) { p.tags.erase(p.tags.begin()); },
       "invalid: JOB_RESULT has no e tag marked job"},
      {"metering no p", metering, no_tag("p"), "invalid: METERING has no p tag"},
      {"request marker", payment_request, tag("e", {"e", event_id(6).hex(), "", "job"}),
       "invalid: PAYMENT_REQUEST has no e tag marked metering"},
      {"receipt empty p", payment_receipt, tag("p", {"p"}),
       "invalid: PAYMENT_RECEIPT p tag has no value"},
  });
}

TEST(ProtocolReject, Expiration) {
  run({
      {"rfb", rfb, no_tag("expiration"), "invalid: RFB has no expiration tag"},
      {"bid", bid, no_tag("expiration"), "invalid: BID has no expiration tag"},
      {"award", award, no_tag("expiration"), "invalid: AWARD has no expiration tag"},
      {"cancel", cancel, no_tag("expiration"), "invalid: CANCEL has no expiration tag"},
      {"status", status, no_tag("expiration"), "invalid: STATUS_ANNOUNCE has no expiration tag"},
      {"not digits", rfb, tag("expiration", {"expiration", "soon"}),
       "invalid: RFB expiration must be a unix timestamp in decimal digits, at most "
       "9007199254740991"},
      {"two", rfb,
       [](Parts& p) {
         p.tags.push_back({"expiration", "5"});
       },
       "invalid: RFB has more than one expiration tag"},
      {"bid expiration is valid_until", bid,
       tag("expiration", {"expiration", std::to_string(kNow + 31)}),
       "invalid: BID expiration must equal valid_until"},
      {"award expiration is submit_by", award,
       tag("expiration", {"expiration", std::to_string(kNow + 29)}),
       "invalid: AWARD expiration must equal submit_by"},
  });
}

TEST(ProtocolReject, UnknownFieldsAndTagsAreIgnored) {
  auto extra = [](Parts& p) {
    p.content["future_field"] = Json::object({{"nested", Json::array({1, "two", nullptr})}});
    p.content["another"] = 1.5e300;
    p.tags.push_back({"x", "whatever"});
    p.tags.push_back({"e", event_id(9).hex(), "", "unknown-marker"});
  };
  run({
      {"caps", caps, extra, "(accepted)"},
      {"price", price, extra, "(accepted)"},
      {"status", status, extra, "(accepted)"},
      {"summary", summary, extra, "(accepted)"},
      {"rfb", rfb, extra, "(accepted)"},
      {"bid", bid, extra, "(accepted)"},
      {"award", award, extra, "(accepted)"},
      {"cancel", cancel, extra, "(accepted)"},
      {"submit", submit, extra, "(accepted)"},
      {"result", result, extra, "(accepted)"},
      {"metering", metering, extra, "(accepted)"},
      {"request", payment_request, extra, "(accepted)"},
      {"receipt", payment_receipt, extra, "(accepted)"},
      // A bid without the optional min_msat (fedai's addition) still counts, at 0.
      {"bid without min_msat", bid, erase("min_msat"), "(accepted)"},
      // -0 is 0, as JSON.parse reads it.
      {"negative zero", rfb, verbatim("input_tokens", "-0"), "(accepted)"},
  });
}

TEST(ProtocolReject, SealedToSomeoneElse) {
  run({
      {"bid p names another router", bid, tag("p", {"p", other().public_key().hex()}),
       "invalid: BID is not addressed to us"},
      {"bid sealed with another key", bid, [](Parts& p) { p.seal_to = other().public_key(); },
       "invalid: BID content does not decrypt (NIP-44 MAC mismatch)"},
      {"bid in the clear", bid, [](Parts& p) { p.seal_to.reset(); },
       "invalid: BID content does not decrypt (NIP-44 ..."},
      {"award p names another node", award, tag("p", {"p", other().public_key().hex()}),
       "invalid: AWARD is not addressed to us"},
      {"award sealed with another key", award, [](Parts& p) { p.seal_to = other().public_key(); },
       "invalid: AWARD content does not decrypt (NIP-44 MAC mismatch)"},
      {"result p names another router", result, tag("p", {"p", other().public_key().hex()}),
       "invalid: JOB_RESULT is not addressed to us"},
      {"result in the clear at PL1", result, [](Parts& p) { p.seal_to.reset(); },
       "invalid: JOB_RESULT must be sealed for a PL1 job"},
  });
}

TEST(ProtocolReject, DelInContentIsAcceptedByReceivers) {
  // F-01: builders never write a raw DEL, but it is valid NIP-01, so receivers take it.
  Parts p = make_result(PrivacyLevel::pl0);
  p.content["text"] =
      "a\x7f"
      "b";
  Event e = assemble(p);
  ASSERT_NE(e.content.find('\x7f'), std::string::npos);
  auto r = parse_job_result(e, router(), PrivacyLevel::pl0);
  ASSERT_TRUE(r) << reason(r);
  EXPECT_EQ(r->text,
            "a\x7f"
            "b");
}

TEST(ProtocolReject, WrongKind) {
  Event e = assemble(rfb());
  EXPECT_EQ(reason(parse_bid(e, router())), "invalid: expected kind 26091 (BID), got 26090");
  EXPECT_EQ(reason(parse_caps_announce(e)),
            "invalid: expected kind 36090 (CAPS_ANNOUNCE), got 26090");
  EXPECT_EQ(reason(parse_award_route(e)), "invalid: expected kind 26092 (AWARD), got 26090");
  EXPECT_EQ(reason(parse_job_result(e, router(), PrivacyLevel::pl0)),
            "invalid: expected kind 26095 (JOB_RESULT), got 26090");
  Event other_kind = assemble(metering());
  EXPECT_EQ(reason(parse_rfb(other_kind)), "invalid: expected kind 26090 (RFB), got 26096");
}

// Seeded random damage to every kind's plaintext: a parser either accepts or refuses with an
// `invalid:` reason naming the kind; it never crashes or throws (run under ASan in CI).
TEST(ProtocolReject, RandomDamageIsRefusedCleanly) {
  std::mt19937 rng(20260101);
  const std::string_view kJunk = "{}[]\",:-0e.\x7f";
  const std::function<Parts()> bases[] = {caps,   price,    status,          summary,        rfb,
                                          bid,    award,    posted_award,    cancel,         submit,
                                          result, metering, payment_request, payment_receipt};
  int refused = 0;
  for (const auto& base : bases) {
    Parts p = base();
    const std::string kind(kind_name(p.kind));
    const std::string original = p.content.dump();
    for (int i = 0; i < 300; ++i) {
      std::string text = original;
      int edits = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < edits && !text.empty(); ++k) {
        std::size_t at = rng() % text.size();
        switch (rng() % 4) {
          case 0:
            text[at] = static_cast<char>(rng() % 256);
            break;
          case 1:
            text.erase(at, 1 + rng() % 8);
            break;
          case 2:
            text.insert(at, 1, kJunk[rng() % kJunk.size()]);
            break;
          default:
            text.resize(at);
        }
      }
      p.raw = text.empty() ? std::string(" ") : text;
      std::string got = parse_reason(assemble(p));
      if (got == "(accepted)") continue;
      ++refused;
      bool named = got.starts_with("invalid: " + kind) || got.starts_with("invalid: unsupported");
      EXPECT_TRUE(named) << kind << " <- " << text << "\n" << got;
    }
  }
  EXPECT_GT(refused, 3000);
}

// ---- Builders refuse what parsers refuse, with the same reasons --------------------------------

TEST(ProtocolReject, BuildersValidateTheirInput) {
  Rfb r;
  r.model = "m1";
  r.job_type = "chat";
  r.bid_window_ms = Millis{49};
  EXPECT_EQ(reason(build(r, router(), kNow)),
            "invalid: RFB bid_window_ms must be between 50 and 10000");
  r.bid_window_ms = kDefaultBidWindow;
  r.privacy = PrivacyLevel::pl3;
  EXPECT_EQ(reason(build(r, router(), kNow)),
            "invalid: RFB privacy must be PL0, PL1 or PL2 (PL3 never leaves the router)");
  r.privacy = PrivacyLevel::pl0;
  r.max_price_msat = Msat{kMaxJsonInteger + 1};
  EXPECT_EQ(reason(build(r, router(), kNow)),
            "invalid: RFB max_price_msat must be at most 9007199254740991");
  r.max_price_msat = Msat{1};
  EXPECT_TRUE(build(r, router(), kNow));
  EXPECT_EQ(reason(build(r, router(), -1)),
            "invalid: RFB created_at must be between 0 and 9007199254740991");

  CapsAnnounce c;
  c.model = "m1";
  c.endpoint = "https://x.example";
  EXPECT_EQ(reason(build(c, node(), kNow)),
            "invalid: CAPS_ANNOUNCE job_types must list at least one job type");
  c.job_types = {"chat"};
  c.instance = "Node";
  EXPECT_EQ(reason(build(c, node(), kNow)),
            "invalid: CAPS_ANNOUNCE instance must be an instance id (1..32 characters from a-z "
            "0-9 _ -)");

  PriceAnnounce p;
  p.model = "m1";
  p.job_type = "chat";
  p.surge = Surge::from_milli(999);
  EXPECT_EQ(reason(build(p, node(), kNow)),
            "invalid: PRICE_ANNOUNCE surge must be between 1.0 and 5.0");

  Bid b;
  b.endpoint = "https://x.example";
  b.valid_until = kNow;
  EXPECT_EQ(reason(build(b, node(), kNow)), "invalid: BID valid_until must be after created_at");

  Award a;
  a.submit_by = kNow - 1;
  EXPECT_EQ(reason(build(a, router(), kNow)), "invalid: AWARD submit_by must be after created_at");

  Cancel cancel;
  EXPECT_EQ(reason(build(cancel, router(), kNow)),
            "invalid: CANCEL must name the RFB or the AWARD it cancels");

  JobSubmit s;
  s.url = "https://x.example/fedai/v1/jobs";
  s.method = "PUT";
  EXPECT_EQ(reason(build(s, router(), kNow)), "invalid: JOB_SUBMIT method must be POST");

  JobResult jr;
  jr.status = JobStatus::failed;
  EXPECT_EQ(reason(build(jr, node(), kNow)),
            "invalid: JOB_RESULT error is required when status is failed");

  Metering m;
  m.started_at = kNow;
  m.finished_at = kNow - 1;
  EXPECT_EQ(reason(build(m, node(), kNow)),
            "invalid: METERING finished_at must not be before started_at");

  PaymentRequest q;
  q.bolt11 = invoice_10_msat();
  q.amount_msat = Msat{20};
  EXPECT_EQ(reason(build(q, node(), kNow)),
            "invalid: PAYMENT_REQUEST bolt11 amount must equal amount_msat");

  PaymentReceipt pr;
  pr.preimage.bytes.fill(1);
  EXPECT_EQ(reason(build(pr, router(), kNow)),
            "invalid: PAYMENT_RECEIPT preimage does not hash to payment_hash");

  ReceiptSummary rs;
  rs.window_start = 10;
  rs.window_end = 5;
  EXPECT_EQ(reason(build(rs, router(), kNow)),
            "invalid: RECEIPT_SUMMARY window_end must not be before window_start");
}

}  // namespace
}  // namespace fedai::protocol
