// core/protocol: kinds and enums, units, the price formulas, and build -> parse round trips for
// every kind. Refusals are in protocol_reject_test.cpp; the committed examples in
// nips_examples_test.cpp.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>

#include "core/nostr/nip40.h"
#include "core/nostr/nip44.h"
#include "core/protocol/price.h"
#include "core/protocol/protocol.h"
#include "tests/support/vectors.h"
#include "tests/tools/nip_examples.h"

namespace fedai::protocol {
namespace {

using fedai::test::example_keys;

constexpr UnixSeconds kNow = 1767225600;

std::string reason(const Status& s) {
  return s ? std::string("(accepted)") : s.error().to_string();
}
template <class T>
std::string reason(const Result<T>& r) {
  return r ? std::string("(accepted)") : r.error().to_string();
}

JobId job_id(std::uint8_t fill) {
  JobId id;
  id.bytes.fill(fill);
  return id;
}

EventId event_id(std::uint8_t fill) {
  EventId id;
  id.bytes.fill(fill);
  return id;
}

// ---- Kinds and enums ----------------------------------------------------------------------------

TEST(ProtocolKinds, NumbersNamesAndClasses) {
  EXPECT_EQ(kCapsAnnounce, 36090);
  EXPECT_EQ(kReceiptSummary, 36093);
  EXPECT_EQ(kRfb, 26090);
  EXPECT_EQ(kPaymentReceipt, 26098);
  std::set<std::string_view> names;
  for (Kind k : kAllKinds) {
    EXPECT_TRUE(is_fedai_kind(k));
    EXPECT_NE(kind_name(k), "UNKNOWN");
    names.insert(kind_name(k));
    EXPECT_EQ(k >= 36090 ? is_addressable(k) : is_ephemeral(k), true) << k;
  }
  EXPECT_EQ(names.size(), kAllKinds.size());
  EXPECT_EQ(kind_name(kBid), "BID");
  EXPECT_EQ(kind_name(kCapsAnnounce), "CAPS_ANNOUNCE");
  EXPECT_FALSE(is_fedai_kind(1));
  EXPECT_FALSE(is_fedai_kind(26099));
  EXPECT_FALSE(is_fedai_kind(30020));  // the earlier version's kinds are not fedai's
  EXPECT_EQ(kind_name(1), "UNKNOWN");
}

TEST(ProtocolKinds, EnumStringsRoundTrip) {
  for (auto p : {PrivacyLevel::pl0, PrivacyLevel::pl1, PrivacyLevel::pl2, PrivacyLevel::pl3})
    EXPECT_EQ(parse_privacy_level(to_string(p)), p);
  EXPECT_EQ(to_string(PrivacyLevel::pl2), "PL2");
  EXPECT_EQ(parse_privacy_level("pl1"), std::nullopt);  // case matters on the wire
  EXPECT_EQ(parse_privacy_level("PL4"), std::nullopt);
  EXPECT_FALSE(is_sealed(PrivacyLevel::pl0));
  EXPECT_TRUE(is_sealed(PrivacyLevel::pl1));
  EXPECT_TRUE(is_sealed(PrivacyLevel::pl2));

  for (auto b : {Backpressure::normal, Backpressure::busy, Backpressure::saturated})
    EXPECT_EQ(parse_backpressure(to_string(b)), b);
  EXPECT_EQ(to_string(Backpressure::saturated), "SATURATED");
  EXPECT_EQ(parse_backpressure("normal"), std::nullopt);

  for (auto s : {JobStatus::ok, JobStatus::partial, JobStatus::failed})
    EXPECT_EQ(parse_job_status(to_string(s)), s);
  for (auto f : {FinishReason::stop, FinishReason::length, FinishReason::error})
    EXPECT_EQ(parse_finish_reason(to_string(f)), f);
  EXPECT_EQ(parse_role("router"), Role::router);
  EXPECT_EQ(parse_role("client"), std::nullopt);
  EXPECT_EQ(parse_job_status(""), std::nullopt);
  EXPECT_EQ(parse_finish_reason("eos"), std::nullopt);
}

TEST(ProtocolKinds, ErrorCodesMatchF06) {
  struct Row {
    ProtocolError code;
    std::string_view name;
    std::optional<int> http;
    std::optional<ErrorCode> prefix;
  };
  const Row rows[] = {
      {ProtocolError::invalid, "ERR_INVALID", 400, ErrorCode::invalid},
      {ProtocolError::auth, "ERR_AUTH", 401, ErrorCode::auth_required},
      {ProtocolError::blocked, "ERR_BLOCKED", 403, ErrorCode::blocked},
      {ProtocolError::duplicate, "ERR_DUPLICATE", 409, ErrorCode::duplicate},
      {ProtocolError::award_expired, "ERR_AWARD_EXPIRED", 410, ErrorCode::invalid},
      {ProtocolError::too_large, "ERR_TOO_LARGE", 413, ErrorCode::invalid},
      {ProtocolError::rate_limited, "ERR_RATE_LIMITED", 429, ErrorCode::rate_limited},
      {ProtocolError::busy, "ERR_BUSY", 503, ErrorCode::error},
      {ProtocolError::caps_mismatch, "ERR_CAPS_MISMATCH", 422, ErrorCode::invalid},
      {ProtocolError::privacy_unsupported, "ERR_PRIVACY_UNSUPPORTED", 422, ErrorCode::invalid},
      {ProtocolError::timeout, "ERR_TIMEOUT", 504, ErrorCode::error},
      {ProtocolError::runner, "ERR_RUNNER", 502, ErrorCode::error},
      {ProtocolError::internal, "ERR_INTERNAL", 500, ErrorCode::error},
      {ProtocolError::cancelled, "ERR_CANCELLED", std::nullopt, std::nullopt},
      {ProtocolError::no_bids, "ERR_NO_BIDS", std::nullopt, std::nullopt},
      {ProtocolError::over_cap, "ERR_OVER_CAP", std::nullopt, std::nullopt},
      {ProtocolError::bad_result, "ERR_BAD_RESULT", std::nullopt, std::nullopt},
  };
  ASSERT_EQ(std::size(rows), kAllProtocolErrors.size());
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(to_string(row.code), row.name);
    EXPECT_EQ(parse_protocol_error(row.name), row.code);
    EXPECT_EQ(http_status(row.code), row.http);
    EXPECT_EQ(nip01_prefix(row.code), row.prefix);
  }
  EXPECT_EQ(parse_protocol_error("ERR_NOPE"), std::nullopt);
  EXPECT_EQ(to_error(ProtocolError::busy, "no free slot").to_string(), "error: no free slot");
  EXPECT_EQ(to_error(ProtocolError::duplicate, "award used").to_string(), "duplicate: award used");
  EXPECT_EQ(
      error_body_json(ProtocolError::invalid, invalid("JOB_SUBMIT is outside the \"time\" window")),
      R"({"error":"invalid: JOB_SUBMIT is outside the \"time\" window","code":"ERR_INVALID"})");
}

// ---- Units --------------------------------------------------------------------------------------

TEST(ProtocolUnits, MsatCheckedArithmetic) {
  EXPECT_EQ(checked_add(Msat{2}, Msat{3}), Msat{5});
  EXPECT_EQ(checked_add(kMaxMsat, Msat{0}), kMaxMsat);
  EXPECT_EQ(checked_add(kMaxMsat, Msat{1}), std::nullopt);
  EXPECT_EQ(checked_sub(Msat{3}, Msat{2}), Msat{1});
  EXPECT_EQ(checked_sub(Msat{2}, Msat{3}), std::nullopt);
  EXPECT_EQ(checked_mul(Msat{1}, kMaxJsonInteger), kMaxMsat);
  EXPECT_EQ(checked_mul(Msat{2}, kMaxJsonInteger), std::nullopt);
  EXPECT_EQ(checked_mul(Msat{7}, 0), Msat{0});
  EXPECT_EQ(saturating_add(kMaxMsat, Msat{9}), kMaxMsat);
  EXPECT_EQ(saturating_sub(Msat{1}, Msat{9}), Msat{0});
  EXPECT_EQ(min(Msat{4}, Msat{9}), Msat{4});
  EXPECT_EQ(max(Msat{4}, Msat{9}), Msat{9});
  EXPECT_TRUE(kMaxMsat.fits_json());
  EXPECT_FALSE(Msat{kMaxJsonInteger + 1}.fits_json());
  EXPECT_LT(Millis{1}, Millis{2});
  static_assert(!std::is_convertible_v<Msat, Millis>, "units don't mix");
  static_assert(!std::is_convertible_v<std::uint64_t, Msat>, "no implicit money");
}

TEST(ProtocolUnits, SurgeIsExactFixedPoint) {
  struct Case {
    std::string_view text;
    std::optional<std::uint32_t> milli;
  };
  const Case cases[] = {
      {"1", 1000},
      {"1.0", 1000},
      {"1.25", 1250},
      {"1.250", 1250},
      {"1.2500000", 1250},
      {"125e-2", 1250},
      {"0.125E1", 1250},
      {"5", 5000},
      {"5.000", 5000},
      {"1.001", 1001},
      {"4.999", 4999},
      {"1e0", 1000},
      {"0.999", std::nullopt},   // below 1.0
      {"5.001", std::nullopt},   // above 5.0
      {"1.0005", std::nullopt},  // finer than a thousandth: implementations would disagree
      {"1.3000000000000003", std::nullopt},
      {"-1", std::nullopt},
      {"0", std::nullopt},
      {"", std::nullopt},
      {"1.", std::nullopt},
      {".5", std::nullopt},
      {"1e", std::nullopt},
      {"100", std::nullopt},
      {"1e400", std::nullopt},
      {"2x", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto s = Surge::parse(c.text);
    EXPECT_EQ(s.has_value(), c.milli.has_value());
    if (s && c.milli) {
      EXPECT_EQ(s->milli(), *c.milli);
    }
  }
  EXPECT_EQ(Surge().milli(), 1000u);
  EXPECT_EQ(Surge::one().to_json(), "1.0");
  EXPECT_EQ(Surge::from_milli(1250).to_json(), "1.25");
  EXPECT_EQ(Surge::from_milli(1005).to_json(), "1.005");
  EXPECT_EQ(Surge::from_milli(5000).to_json(), "5.0");
  for (std::uint32_t m = Surge::kMinMilli; m <= Surge::kMaxMilli; m += 7)
    EXPECT_EQ(Surge::parse(Surge::from_milli(m).to_json()), Surge::from_milli(m));
  EXPECT_FALSE(Surge::from_milli(999).in_range());
}

TEST(ProtocolUnits, SurgeRuleFromLoad) {
  // clamp(1, 5, 1 + queue_depth / Q + p95 / L), Q = 8, L = 10,000 ms by default.
  EXPECT_EQ(Surge::from_load(0, Millis{0}).milli(), 1000u);
  EXPECT_EQ(Surge::from_load(4, Millis{0}).milli(), 1500u);
  EXPECT_EQ(Surge::from_load(0, Millis{2500}).milli(), 1250u);
  EXPECT_EQ(Surge::from_load(2, Millis{2500}).milli(), 1500u);
  EXPECT_EQ(Surge::from_load(1, Millis{0}, 3).milli(), 1333u);  // rounded down
  EXPECT_EQ(Surge::from_load(32, Millis{0}).milli(), 5000u);    // exactly the cap
  EXPECT_EQ(Surge::from_load(1000, Millis{1'000'000}).milli(), 5000u);
  EXPECT_EQ(Surge::from_load(~std::uint64_t{0}, Millis{~std::uint64_t{0}}).milli(), 5000u);
  EXPECT_EQ(Surge::from_load(1, Millis{0}, 0).milli(), 2000u);  // Q = 0 counts as 1
}

TEST(ProtocolUnits, IdentifierSyntax) {
  EXPECT_TRUE(is_model_id("llama-3.1-8b-instruct"));
  EXPECT_TRUE(is_model_id("tiny/gguf"));
  EXPECT_TRUE(is_model_id("org/Model_v2:Q4_K_M"));
  EXPECT_TRUE(is_model_id(std::string(128, 'a')));
  EXPECT_FALSE(is_model_id(std::string(129, 'a')));
  EXPECT_FALSE(is_model_id(""));
  EXPECT_FALSE(is_model_id("has space"));
  EXPECT_FALSE(is_model_id("caf\xc3\xa9"));
  EXPECT_FALSE(is_model_id("a\x7f"));

  EXPECT_TRUE(is_job_type("chat"));
  EXPECT_TRUE(is_job_type("code_review-2"));
  EXPECT_FALSE(is_job_type("Chat"));
  EXPECT_FALSE(is_job_type(std::string(33, 'a')));
  EXPECT_FALSE(is_job_type("a.b"));
  EXPECT_TRUE(is_instance_id("node"));
  EXPECT_FALSE(is_instance_id("node:1"));

  EXPECT_TRUE(is_job_id("0123456789abcdef0123456789abcdef"));
  EXPECT_FALSE(is_job_id("0123456789ABCDEF0123456789abcdef"));
  EXPECT_FALSE(is_job_id("0123456789abcdef"));

  EXPECT_TRUE(is_http_url("https://node.example"));
  EXPECT_TRUE(is_http_url("http://10.0.0.2:8080/base"));
  EXPECT_FALSE(is_http_url("ftp://node.example"));
  EXPECT_FALSE(is_http_url("https://"));
  EXPECT_FALSE(is_http_url("https:///path"));
  EXPECT_FALSE(is_http_url("https://a b"));
  EXPECT_FALSE(is_http_url("https://a\n"));
  EXPECT_FALSE(is_http_url("HTTPS://node.example"));
  EXPECT_FALSE(is_http_url("https://" + std::string(kMaxUrlLength, 'a')));
}

TEST(ProtocolUnits, FreshIdsAreRandomHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 64; ++i) {
    std::string id = new_job_id().hex();
    EXPECT_TRUE(is_job_id(id));
    seen.insert(id);
    seen.insert(new_capacity_token().hex());
  }
  EXPECT_EQ(seen.size(), 128u);
}

// ---- Prices -------------------------------------------------------------------------------------

TEST(ProtocolPrice, PostedPriceFormula) {
  struct Case {
    std::uint64_t in_rate, out_rate, min;
    std::uint32_t surge;
    Tokens in, out;
    std::uint64_t want;
  };
  const Case cases[] = {
      // (1000 * 2000 + 500 * 6000) / 1000 = 5000 exactly: no rounding.
      {2000, 6000, 0, 1000, 1000, 500, 5000},
      // 1 token at 1 msat/1k: 0.001 msat rounds up to 1.
      {1, 1, 0, 1000, 1, 0, 1},
      // 999 + 0: 0.999 -> 1; 1001 -> 2 (ceil, never round to nearest).
      {1, 0, 0, 1000, 999, 0, 1},
      {1, 0, 0, 1000, 1001, 0, 2},
      // Minimum wins over a small job.
      {2000, 6000, 1000, 1000, 10, 10, 1000},
      // The minimum is not surged: max(1000, ceil(5 * 80)) = 1000.
      {2000, 6000, 1000, 5000, 10, 10, 1000},
      // Surge 1.25 on 2376: 2970 exactly; on 2377: 2971.25 -> 2972.
      {2000, 6000, 0, 1250, 420, 256, 2970},
      {1000, 0, 0, 1250, 2377, 0, 2972},
      // Surge 1.333 on 3 msat: 3.999 -> 4.
      {1000, 0, 0, 1333, 3, 0, 4},
      // Surge 5 on 1 msat.
      {1000, 0, 0, 5000, 1, 0, 5},
      // No tokens: the minimum, or zero.
      {2000, 6000, 7, 2000, 0, 0, 7},
      {2000, 6000, 0, 2000, 0, 0, 0},
  };
  for (const Case& c : cases) {
    auto p = price_for_job(Msat{c.in_rate}, Msat{c.out_rate}, Msat{c.min},
                           Surge::from_milli(c.surge), c.in, c.out);
    ASSERT_TRUE(p) << reason(p);
    EXPECT_EQ(p->value(), c.want) << c.in_rate << " " << c.out_rate << " " << c.surge << " " << c.in
                                  << " " << c.out;
  }
}

TEST(ProtocolPrice, HugeInputsFailInsteadOfWrapping) {
  // 2^32-1 tokens at 2^53-1 msat per 1k, surged 5x: far over 2^53-1 msat.
  auto p =
      price_for_job(kMaxMsat, kMaxMsat, Msat{0}, Surge::from_milli(5000), 0xFFFFFFFFu, 0xFFFFFFFFu);
  EXPECT_EQ(reason(p),
            "invalid: price exceeds the largest amount the protocol carries (2^53-1 msat)");
  // Exactly at the limit is fine: 1000 tokens at (2^53-1) per 1k.
  auto edge = price_for_job(kMaxMsat, Msat{0}, Msat{0}, Surge::one(), 1000, 0);
  ASSERT_TRUE(edge) << reason(edge);
  EXPECT_EQ(*edge, kMaxMsat);
  EXPECT_FALSE(price_for_job(Msat{kMaxJsonInteger + 1}, Msat{0}, Msat{0}, Surge::one(), 1, 0));
}

TEST(ProtocolPrice, MeteringPrice) {
  // (412 * 2500 + 96 * 7500) / 1000 = 1750 exactly.
  EXPECT_EQ(*metering_price(Msat{2500}, Msat{7500}, Msat{1000}, 412, 96, Msat{2970}), Msat{1750});
  // Rounds up: (1 * 2500) / 1000 = 2.5 -> 3.
  EXPECT_EQ(*metering_price(Msat{2500}, Msat{0}, Msat{0}, 1, 0, Msat{100}), Msat{3});
  // The minimum.
  EXPECT_EQ(*metering_price(Msat{2500}, Msat{7500}, Msat{1000}, 1, 1, Msat{2970}), Msat{1000});
  // Never above the awarded price.
  EXPECT_EQ(*metering_price(Msat{2500}, Msat{7500}, Msat{1000}, 4000, 4000, Msat{2970}),
            Msat{2970});
  EXPECT_FALSE(metering_price(kMaxMsat, kMaxMsat, Msat{0}, 0xFFFFFFFFu, 0xFFFFFFFFu, kMaxMsat));
}

TEST(ProtocolPrice, Bolt11AmountMatchesTheSpecVectors) {
  auto vectors = fedai::test::read_vector_json("bolt11-vectors.json");
  int with_amount = 0;
  for (const auto& v : vectors["valid"]) {
    std::string invoice = v["invoice"];
    SCOPED_TRACE(invoice.substr(0, 24));
    auto amount = bolt11_amount(invoice);
    if (v["amount_msat"].is_null()) {
      EXPECT_EQ(amount, std::nullopt);
    } else {
      ASSERT_TRUE(amount);
      EXPECT_EQ(amount->value(), v["amount_msat"].get<std::uint64_t>());
      ++with_amount;
    }
  }
  EXPECT_GT(with_amount, 5);
  EXPECT_EQ(bolt11_amount("lnbc1"), std::nullopt);
  EXPECT_EQ(bolt11_amount("not an invoice"), std::nullopt);
}

// ---- Round trips --------------------------------------------------------------------------------

const Keypair& router() {
  return example_keys().router;
}
const Keypair& node() {
  return example_keys().node;
}
const Keypair& stranger() {
  return example_keys().node_b;
}

CapsAnnounce sample_caps() {
  CapsAnnounce c;
  c.instance = "gpu-2";
  c.model = "org/model:Q4";
  c.job_types = {"chat", "embedding"};
  c.context_tokens = 4096;
  c.max_output_tokens = 1024;
  c.endpoint = "http://10.0.0.2:8080";
  c.privacy_max = PrivacyLevel::pl1;
  c.streaming = true;
  c.max_concurrency = 2;
  c.max_body_bytes = 65536;
  c.software = "fedai/0.1.0 \"test\"";
  return c;
}

TEST(ProtocolRoundTrip, CapsAnnounce) {
  CapsAnnounce c = sample_caps();
  auto e = build(c, node(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_TRUE(verify_event(*e));
  EXPECT_EQ(e->kind, kCapsAnnounce);
  EXPECT_EQ(e->created_at, kNow);
  EXPECT_EQ(e->pubkey, node().public_key());
  EXPECT_EQ(
      e->tags,
      (Tags{
          {"d", "gpu-2:org/model:Q4"}, {"m", "org/model:Q4"}, {"t", "chat"}, {"t", "embedding"}}));
  auto back = parse_caps_announce(*e);
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, c);

  c.software.reset();
  auto e2 = build(c, node(), kNow);
  ASSERT_TRUE(e2);
  EXPECT_EQ(e2->content.find("software"), std::string::npos);
  EXPECT_EQ(*parse_caps_announce(*e2), c);
}

TEST(ProtocolRoundTrip, PriceAnnounce) {
  PriceAnnounce p;
  p.instance = "node";
  p.model = "m1";
  p.job_type = "chat";
  p.in_per_1k_msat = Msat{2000};
  p.out_per_1k_msat = Msat{kMaxJsonInteger};
  p.min_msat = Msat{0};
  p.surge = Surge::from_milli(1375);
  auto e = build(p, node(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(e->tags, (Tags{{"d", "node:m1:chat"}, {"m", "m1"}, {"t", "chat"}}));
  EXPECT_NE(e->content.find("\"surge\":1.375"), std::string::npos) << e->content;
  auto back = parse_price_announce(*e);
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, p);
}

TEST(ProtocolRoundTrip, StatusAnnounceExpiresIn90Seconds) {
  StatusAnnounce s;
  s.instance = "router";
  s.state = Backpressure::saturated;
  s.queue_depth = 12;
  s.active_jobs = 4;
  s.p95_latency_ms = Millis{12'345};
  auto e = build(s, router(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(*expiration_of(*e), std::optional<UnixSeconds>(kNow + 90));
  EXPECT_EQ(e->d_tag(), "router");
  auto back = parse_status_announce(*e);
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, s);
}

TEST(ProtocolRoundTrip, ReceiptSummary) {
  ReceiptSummary s;
  s.node = node().public_key();
  s.window_start = kNow - 3600;
  s.window_end = kNow;
  s.jobs = 10;
  s.succeeded = 7;
  s.failed = 1;
  s.timeouts = 1;
  s.invalid_receipts = 1;
  s.p50_latency_ms = Millis{900};
  s.p95_latency_ms = Millis{4000};
  s.paid_msat = Msat{123456};
  auto e = build(s, router(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(e->d_tag(), node().public_key().hex());
  EXPECT_EQ(e->tag_value("p"), node().public_key().hex());
  auto back = parse_receipt_summary(*e);
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, s);
}

Rfb sample_rfb() {
  Rfb r;
  r.job_id = job_id(0xab);
  r.model = "llama-3.1-8b-instruct";
  r.job_type = "chat";
  r.privacy = PrivacyLevel::pl2;
  r.input_tokens = 300;
  r.max_output_tokens = 200;
  r.max_price_msat = Msat{9000};
  r.bid_window_ms = Millis{1001};
  r.deadline_ms = Millis{20'000};
  r.stream = true;
  return r;
}

TEST(ProtocolRoundTrip, RfbExpirationFollowsTheBidWindow) {
  Rfb r = sample_rfb();
  auto e = build(r, router(), kNow);
  ASSERT_TRUE(e) << reason(e);
  // created_at + ceil(1001 / 1000) + 5
  EXPECT_EQ(*expiration_of(*e), std::optional<UnixSeconds>(kNow + 2 + 5));
  EXPECT_EQ(e->tag_value("m"), r.model);
  EXPECT_EQ(e->tag_value("t"), "chat");
  auto back = parse_rfb(*e);
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, r);
  EXPECT_EQ(rfb_expiration(100, Millis{50}), 106);
  EXPECT_EQ(rfb_expiration(100, Millis{1000}), 106);
  EXPECT_EQ(rfb_expiration(100, Millis{10'000}), 115);
}

Bid sample_bid() {
  Bid b;
  b.rfb_id = event_id(0x11);
  b.router = router().public_key();
  b.job_id = job_id(0xab);
  b.price_msat = Msat{2970};
  b.in_per_1k_msat = Msat{2500};
  b.out_per_1k_msat = Msat{7500};
  b.min_msat = Msat{1000};
  b.eta_ms = Millis{4000};
  b.endpoint = "https://node.example";
  b.capacity_token = new_capacity_token();
  b.valid_until = kNow + 30;
  return b;
}

TEST(ProtocolRoundTrip, BidIsSealedToTheRouter) {
  Bid b = sample_bid();
  auto e = build(b, node(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(e->tags, (Tags{{"p", router().public_key().hex()},
                           {"e", b.rfb_id.hex(), "", "rfb"},
                           {"expiration", std::to_string(kNow + 30)}}));
  // Competitors see ciphertext only.
  EXPECT_EQ(e->content.find("price"), std::string::npos);
  EXPECT_NE(e->content.front(), '{');

  auto back = parse_bid(*e, router());
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, b);
  // The bidder can read its own bid back (from its log); nobody else can.
  auto own = parse_bid(*e, node());
  ASSERT_TRUE(own) << reason(own);
  EXPECT_EQ(*own, b);
  EXPECT_EQ(reason(parse_bid(*e, stranger())), "invalid: BID is not addressed to us");
}

Award sample_award() {
  Award a;
  a.node = node().public_key();
  a.basis = AuctionBasis{event_id(0x11), event_id(0x22), new_capacity_token()};
  a.job_id = job_id(0xab);
  a.price_msat = Msat{2970};
  a.submit_by = kNow + 30;
  a.deadline_ms = Millis{20'000};
  return a;
}

// An agent keeps its conversation keys: many bids and awards with the same peer derive the key
// once, and read the same as the Keypair forms, which derive it on every call.
TEST(ProtocolRoundTrip, SealedKindsWithACachedKeyMatchTheKeypairForms) {
  ConversationKeyCache node_keys(node()), router_keys(router());
  for (int i = 0; i < 3; ++i) {
    Bid b = sample_bid();
    auto e = build(b, node_keys, kNow);
    ASSERT_TRUE(e) << reason(e);
    EXPECT_TRUE(verify_event(*e));
    EXPECT_EQ(e->pubkey, node().public_key());
    auto cached = parse_bid(*e, router_keys);
    ASSERT_TRUE(cached) << reason(cached);
    EXPECT_EQ(*cached, b);
    EXPECT_EQ(*cached, *parse_bid(*e, router()));
  }
  Award a = sample_award();
  auto award = build(a, router_keys, kNow);
  ASSERT_TRUE(award) << reason(award);
  EXPECT_EQ(*parse_award(*award, node_keys), a);
  EXPECT_EQ(*parse_award(*award, node()), a);
  EXPECT_EQ(node_keys.misses(), 1u);
  EXPECT_EQ(router_keys.misses(), 1u);
  ConversationKeyCache stranger_keys(stranger());
  EXPECT_EQ(reason(parse_award(*award, stranger_keys)), "invalid: AWARD is not addressed to us");
}

TEST(ProtocolRoundTrip, AuctionAwardIsSealedToTheWinner) {
  Award a = sample_award();
  auto e = build(a, router(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(e->tags, (Tags{{"p", node().public_key().hex()},
                           {"e", event_id(0x11).hex(), "", "rfb"},
                           {"e", event_id(0x22).hex(), "", "bid"},
                           {"expiration", std::to_string(kNow + 30)}}));
  auto back = parse_award(*e, node());
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, a);
  auto own = parse_award(*e, router());  // the router replaying its log
  ASSERT_TRUE(own) << reason(own);
  EXPECT_EQ(*own, a);
  EXPECT_EQ(reason(parse_award(*e, stranger())), "invalid: AWARD is not addressed to us");

  // A losing node reads the route without the key.
  auto route = parse_award_route(*e);
  ASSERT_TRUE(route) << reason(route);
  EXPECT_EQ(route->node, node().public_key());
  EXPECT_EQ(route->rfb_id, event_id(0x11));
  EXPECT_EQ(route->bid_id, event_id(0x22));
  EXPECT_EQ(route->price_id, std::nullopt);
  EXPECT_EQ(route->submit_by, kNow + 30);
}

TEST(ProtocolRoundTrip, PostedPriceAwardNamesThePrice) {
  Award a = sample_award();
  a.basis = PostedPriceBasis{event_id(0x33)};
  auto e = build(a, router(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(e->tags, (Tags{{"p", node().public_key().hex()},
                           {"e", event_id(0x33).hex(), "", "price"},
                           {"expiration", std::to_string(kNow + 30)}}));
  auto back = parse_award(*e, node());
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, a);
  auto route = parse_award_route(*e);
  ASSERT_TRUE(route);
  EXPECT_EQ(route->price_id, event_id(0x33));
  EXPECT_EQ(route->rfb_id, std::nullopt);
}

TEST(ProtocolRoundTrip, Cancel) {
  Cancel c;
  c.rfb_id = event_id(0x11);
  c.node = node().public_key();
  c.job_id = job_id(0xab);
  c.reason = ProtocolError::no_bids;
  auto e = build(c, router(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(e->tags, (Tags{{"e", event_id(0x11).hex(), "", "rfb"},
                           {"p", node().public_key().hex()},
                           {"expiration", std::to_string(kNow + 60)}}));
  EXPECT_EQ(*parse_cancel(*e), c);

  Cancel by_award;  // a posted-price award has no RFB: the CANCEL names the AWARD
  by_award.award_id = event_id(0x44);
  by_award.job_id = job_id(0xab);
  auto e2 = build(by_award, router(), kNow);
  ASSERT_TRUE(e2) << reason(e2);
  auto back = parse_cancel(*e2);
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, by_award);
  EXPECT_EQ(back->reason, ProtocolError::cancelled);
}

JobSubmit sample_submit() {
  JobSubmit s;
  s.url = jobs_url("https://node.example/");
  s.payload_hash = sha256("body");
  s.award_id = event_id(0x55);
  s.node = node().public_key();
  s.job_id = job_id(0xab);
  s.privacy = PrivacyLevel::pl1;
  s.input_hash = sha256("plain");
  s.max_output_tokens = 200;
  s.stream = true;
  return s;
}

TEST(ProtocolRoundTrip, JobSubmitCarriesTheNip98Binding) {
  JobSubmit s = sample_submit();
  EXPECT_EQ(s.url, "https://node.example/fedai/v1/jobs");
  auto e = build(s, router(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(e->tags, (Tags{{"u", "https://node.example/fedai/v1/jobs"},
                           {"method", "POST"},
                           {"payload", sha256("body").hex()},
                           {"e", event_id(0x55).hex(), "", "award"},
                           {"p", node().public_key().hex()}}));
  auto back = parse_job_submit(*e);
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, s);
}

TEST(ProtocolRoundTrip, JobResultSealedForPl1InTheClearForPl0) {
  JobResult r;
  r.job_submit_id = event_id(0x66);
  r.award_id = event_id(0x55);
  r.router = router().public_key();
  r.privacy = PrivacyLevel::pl1;
  r.job_id = job_id(0xab);
  r.status = JobStatus::partial;
  r.text = "line one\nline \"two\" \xe2\x9c\x93";
  r.finish_reason = FinishReason::length;
  auto e = build(r, node(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(e->content.find("line"), std::string::npos);
  EXPECT_EQ(e->tags, (Tags{{"e", event_id(0x66).hex(), "", "job"},
                           {"e", event_id(0x55).hex(), "", "award"},
                           {"p", router().public_key().hex()}}));
  auto back = parse_job_result(*e, router(), PrivacyLevel::pl1);
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, r);
  EXPECT_EQ(reason(parse_job_result(*e, stranger(), PrivacyLevel::pl1)),
            "invalid: JOB_RESULT is not addressed to us");
  EXPECT_EQ(reason(parse_job_result(*e, router(), PrivacyLevel::pl0)),
            "invalid: JOB_RESULT must be in the clear for a PL0 job");

  r.privacy = PrivacyLevel::pl0;
  r.status = JobStatus::failed;
  r.finish_reason = FinishReason::error;
  r.error = ProtocolError::runner;
  r.text = "";
  auto clear = build(r, node(), kNow);
  ASSERT_TRUE(clear) << reason(clear);
  EXPECT_EQ(clear->content.front(), '{');
  auto back0 = parse_job_result(*clear, router(), PrivacyLevel::pl0);
  ASSERT_TRUE(back0) << reason(back0);
  EXPECT_EQ(*back0, r);
  EXPECT_EQ(reason(parse_job_result(*clear, router(), PrivacyLevel::pl2)),
            "invalid: JOB_RESULT must be sealed for a PL2 job");
}

TEST(ProtocolRoundTrip, Metering) {
  Metering m;
  m.job_submit_id = event_id(0x66);
  m.router = router().public_key();
  m.job_id = job_id(0xab);
  m.tokens_in = 0xFFFFFFFFu;
  m.tokens_out = 96;
  m.wall_ms = Millis{1830};
  m.started_at = kNow - 2;
  m.finished_at = kNow;
  m.input_hash = sha256("in");
  m.output_hash = sha256("out");
  m.price_msat = Msat{1750};
  auto e = build(m, node(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(e->content.front(), '{');  // always in the clear
  EXPECT_EQ(e->tags,
            (Tags{{"e", event_id(0x66).hex(), "", "job"}, {"p", router().public_key().hex()}}));
  auto back = parse_metering(*e);
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, m);
}

// A valid invoice from the spec's vectors: 2500u = 250,000,000 msat.
std::string spec_invoice_2500u() {
  auto vectors = fedai::test::read_vector_json("bolt11-vectors.json");
  for (const auto& v : vectors["valid"])
    if (v["amount_msat"] == 250000000) return v["invoice"];
  return "";
}

TEST(ProtocolRoundTrip, PaymentRequestAndReceipt) {
  PaymentRequest q;
  q.metering_id = event_id(0x77);
  q.payer = router().public_key();
  q.job_id = job_id(0xab);
  q.amount_msat = Msat{250'000'000};
  q.bolt11 = spec_invoice_2500u();
  ASSERT_FALSE(q.bolt11.empty());
  q.expires_at = kNow + 600;
  auto e = build(q, node(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(e->tags, (Tags{{"e", event_id(0x77).hex(), "", "metering"},
                           {"p", router().public_key().hex()}}));
  auto back = parse_payment_request(*e);
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(*back, q);

  PaymentReceipt r;
  r.payment_request_id = e->id;
  r.node = node().public_key();
  r.job_id = job_id(0xab);
  r.amount_msat = q.amount_msat;
  r.preimage.bytes.fill(0x5a);
  r.payment_hash = sha256(r.preimage.span());
  auto e2 = build(r, router(), kNow);
  ASSERT_TRUE(e2) << reason(e2);
  EXPECT_EQ(e2->tags,
            (Tags{{"e", e->id.hex(), "", "payment_request"}, {"p", node().public_key().hex()}}));
  auto back2 = parse_payment_receipt(*e2);
  ASSERT_TRUE(back2) << reason(back2);
  EXPECT_EQ(*back2, r);
}

// ---- DEL (F-01) ---------------------------------------------------------------------------------

TEST(ProtocolDel, ContentTextWithDelIsEscapedNeverRaw) {
  // Model output may contain U+007F. The content JSON carries it as \u007f, so the event has
  // no raw DEL for strfry to hash differently, and the text survives the round trip.
  JobResult r;
  r.job_submit_id = event_id(0x66);
  r.award_id = event_id(0x55);
  r.router = router().public_key();
  r.job_id = job_id(0xab);
  r.text = std::string("a\x7f") + "b";
  auto e = build(r, node(), kNow);
  ASSERT_TRUE(e) << reason(e);
  EXPECT_EQ(e->content.find('\x7f'), std::string::npos);
  EXPECT_NE(e->content.find("a\\u007fb"), std::string::npos) << e->content;
  EXPECT_EQ(to_json(*e).find('\x7f'), std::string::npos);
  auto back = parse_job_result(*e, router(), PrivacyLevel::pl0);
  ASSERT_TRUE(back) << reason(back);
  EXPECT_EQ(back->text, r.text);

  CapsAnnounce c = sample_caps();
  c.software = "fedai\x7f";
  auto caps = build(c, node(), kNow);
  ASSERT_TRUE(caps) << reason(caps);
  EXPECT_EQ(caps->content.find('\x7f'), std::string::npos);
  EXPECT_EQ(parse_caps_announce(*caps)->software, c.software);
}

TEST(ProtocolDel, DelInTagValuesIsRefused) {
  const std::string del_reason = "invalid: DEL (U+007F) is not allowed in fedai events";
  JobSubmit s = sample_submit();
  s.url = "https://node.example/fedai/v1/jobs\x7f";
  EXPECT_EQ(reason(build(s, router(), kNow)), del_reason + " (JOB_SUBMIT url)");

  CapsAnnounce c = sample_caps();
  c.model = "model\x7f";
  EXPECT_EQ(reason(build(c, node(), kNow)), del_reason + " (CAPS_ANNOUNCE model)");
  c = sample_caps();
  c.job_types = {"chat", "x\x7f"};
  EXPECT_EQ(reason(build(c, node(), kNow)), del_reason + " (CAPS_ANNOUNCE job_types)");
  Rfb r = sample_rfb();
  r.job_type = "\x7f";
  EXPECT_EQ(reason(build(r, router(), kNow)), del_reason + " (RFB job_type)");
  Bid b = sample_bid();
  b.endpoint = "https://n\x7f";
  EXPECT_EQ(reason(build(b, node(), kNow)), del_reason + " (BID endpoint)");
}

// ---- Freshness ----------------------------------------------------------------------------------

TEST(ProtocolFreshness, ExpiredAndStaleAuctionMessages) {
  auto e = build(sample_rfb(), router(), kNow);
  ASSERT_TRUE(e);
  EXPECT_TRUE(check_fresh(*e, kNow));
  EXPECT_TRUE(check_fresh(*e, kNow + 6));
  EXPECT_EQ(reason(check_fresh(*e, kNow + 7)), "invalid: RFB has expired");

  Cancel c;
  c.rfb_id = event_id(1);
  c.job_id = job_id(1);
  auto cancel = build(c, router(), kNow);
  ASSERT_TRUE(cancel);
  EXPECT_TRUE(check_fresh(*cancel, kNow + 59));
  EXPECT_EQ(reason(check_fresh(*cancel, kNow + 60)), "invalid: CANCEL has expired");

  // An event whose expiration is far away is still stale after 60 s.
  Bid b = sample_bid();
  b.valid_until = kNow + 1000;
  auto bid = build(b, node(), kNow);
  ASSERT_TRUE(bid);
  EXPECT_TRUE(check_fresh(*bid, kNow + 60));
  EXPECT_EQ(reason(check_fresh(*bid, kNow + 61)),
            "invalid: BID is stale (created 61 s ago, more than 60)");
}

// ---- The job body -------------------------------------------------------------------------------

TEST(ProtocolJobBody, SealedEndToEndForPl1AndPl2) {
  const std::string plain = R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":8})";
  for (auto level : {PrivacyLevel::pl1, PrivacyLevel::pl2}) {
    auto body = seal_job_body(plain, level, router(), node().public_key());
    ASSERT_TRUE(body) << reason(body);
    EXPECT_EQ(body->content_type, kContentTypeSealed);
    EXPECT_EQ(body->bytes.find("messages"), std::string::npos);
    EXPECT_EQ(body->input_hash, sha256(plain));
    EXPECT_EQ(body->payload_hash, sha256(body->bytes));

    JobSubmit s = sample_submit();
    s.privacy = level;
    s.input_hash = body->input_hash;
    s.payload_hash = body->payload_hash;
    auto opened = open_job_body(body->bytes, "application/nostr-nip44; charset=utf-8", s,
                                router().public_key(), node());
    ASSERT_TRUE(opened) << reason(opened);
    EXPECT_EQ(*opened, plain);
    EXPECT_EQ(
        reason(open_job_body(body->bytes, "application/json", s, router().public_key(), node())),
        "invalid: a " + std::string(to_string(level)) +
            " job body must be application/nostr-nip44");
    EXPECT_EQ(reason(open_job_body(body->bytes, kContentTypeSealed, s, router().public_key(),
                                   stranger())),
              "invalid: job body does not decrypt (NIP-44 MAC mismatch)");
    s.input_hash = sha256("something else");
    EXPECT_EQ(
        reason(open_job_body(body->bytes, kContentTypeSealed, s, router().public_key(), node())),
        "invalid: job body does not match input_hash");
  }
}

TEST(ProtocolJobBody, Pl0InTheClearAndPl3NeverLeaves) {
  const std::string plain = R"({"messages":[]})";
  auto body = seal_job_body(plain, PrivacyLevel::pl0, router(), node().public_key());
  ASSERT_TRUE(body) << reason(body);
  EXPECT_EQ(body->bytes, plain);
  EXPECT_EQ(body->content_type, kContentTypeJson);
  EXPECT_EQ(body->payload_hash, body->input_hash);
  JobSubmit s = sample_submit();
  s.privacy = PrivacyLevel::pl0;
  s.input_hash = body->input_hash;
  EXPECT_EQ(*open_job_body(plain, "Application/JSON", s, router().public_key(), node()), plain);
  EXPECT_EQ(reason(open_job_body(plain, kContentTypeSealed, s, router().public_key(), node())),
            "invalid: a PL0 job body must be application/json");
  EXPECT_EQ(reason(seal_job_body(plain, PrivacyLevel::pl3, router(), node().public_key())),
            "invalid: a PL3 job never leaves the router (ERR_PRIVACY_UNSUPPORTED)");
}

// The size a router checks against a node's max_body_bytes is the size it sends: the NIP-44
// payload for PL1 and PL2 (padding, the 2- or 6-byte length prefix, base64), the plaintext for
// PL0.
TEST(ProtocolJobBody, SizeAsSentIsTheSealedSize) {
  for (std::size_t n : {1u, 31u, 32u, 33u, 257u, 1000u, 65'535u, 65'536u, 65'537u, 300'000u}) {
    const std::string plain(n, 'x');
    for (auto level : {PrivacyLevel::pl0, PrivacyLevel::pl1, PrivacyLevel::pl2}) {
      auto body = seal_job_body(plain, level, router(), node().public_key());
      ASSERT_TRUE(body) << reason(body);
      EXPECT_EQ(job_body_size(n, level), body->bytes.size())
          << n << " bytes at " << to_string(level);
    }
  }
  EXPECT_GT(job_body_size(65'536, PrivacyLevel::pl1), 65'536u * 4 / 3);
  EXPECT_EQ(job_body_size(1000, PrivacyLevel::pl3), 0u);
}

}  // namespace
}  // namespace fedai::protocol

namespace fedai::protocol {
namespace {

// Posted-price METERING charges each rate of the PRICE times its surge, rounded up to a whole
// msat (nips/F-04): the node and the router both compute it here.
TEST(SurgedRate, IsTheRateTimesTheSurgeRoundedUp) {
  EXPECT_EQ(surged_rate(Msat{1'000}, Surge::from_milli(1'000)), Msat{1'000});
  EXPECT_EQ(surged_rate(Msat{1'000}, Surge::from_milli(1'500)), Msat{1'500});
  EXPECT_EQ(surged_rate(Msat{1'001}, Surge::from_milli(1'500)), Msat{1'502});  // 1501.5 -> 1502
  EXPECT_EQ(surged_rate(Msat{3}, Surge::from_milli(1'001)), Msat{4});          // 3.003 -> 4
  EXPECT_EQ(surged_rate(Msat{0}, Surge::from_milli(5'000)), Msat{0});
  EXPECT_EQ(surged_rate(Msat{kMaxJsonInteger}, Surge::from_milli(5'000)), Msat{kMaxJsonInteger});
}

}  // namespace
}  // namespace fedai::protocol
