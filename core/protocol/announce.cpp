#include "core/protocol/announce.h"

#include <algorithm>
#include <set>

#include "core/nostr/nip40.h"
#include "core/protocol/codec.h"

namespace fedai::protocol {

using detail::Checker;
using detail::ContentWriter;
using detail::FieldReader;
using detail::TagReader;

namespace {

constexpr std::string_view kCaps = "CAPS_ANNOUNCE";
constexpr std::string_view kPrice = "PRICE_ANNOUNCE";
constexpr std::string_view kStatus = "STATUS_ANNOUNCE";
constexpr std::string_view kSummary = "RECEIPT_SUMMARY";

// The instance id at the front of a d tag ("node:llama-3:chat" -> "node").
std::string_view instance_of(std::string_view d) {
  return d.substr(0, d.find(':'));
}

}  // namespace

std::string caps_d_tag(std::string_view instance, std::string_view model) {
  return std::string(instance) + ":" + std::string(model);
}

std::string price_d_tag(std::string_view instance, std::string_view model,
                        std::string_view job_type) {
  return caps_d_tag(instance, model) + ":" + std::string(job_type);
}

// ---- CAPS_ANNOUNCE ------------------------------------------------------------------------------

Status validate(const CapsAnnounce& c) {
  Checker k(kCaps);
  k.instance_id("instance", c.instance);
  k.model_id("model", c.model);
  k.require(!c.job_types.empty(), "job_types must list at least one job type");
  for (const auto& t : c.job_types) k.job_type("job_types", t);
  k.require(
      std::set<std::string>(c.job_types.begin(), c.job_types.end()).size() == c.job_types.size(),
      "job_types must not repeat a job type");
  k.url("endpoint", c.endpoint);
  k.require(c.privacy_max != PrivacyLevel::pl3, "privacy_max must be PL0, PL1 or PL2");
  k.require(c.max_concurrency >= 1, "max_concurrency must be at least 1");
  k.require(c.max_body_bytes <= kMaxJsonInteger,
            "max_body_bytes must be at most " + std::to_string(kMaxJsonInteger));
  return k.status();
}

Result<Event> build(const CapsAnnounce& c, const Keypair& signer, UnixSeconds now) {
  if (auto st = validate(c); !st) return st.error();
  ContentWriter w;
  w.string("role", to_string(c.role));
  w.string("model", c.model);
  w.strings("job_types", c.job_types);
  w.integer("context_tokens", c.context_tokens);
  w.integer("max_output_tokens", c.max_output_tokens);
  w.string("endpoint", c.endpoint);
  w.string("privacy_max", to_string(c.privacy_max));
  w.boolean("streaming", c.streaming);
  w.integer("max_concurrency", c.max_concurrency);
  w.integer("max_body_bytes", c.max_body_bytes);
  if (c.software) w.string("software", *c.software);
  Tags tags = {{"d", caps_d_tag(c.instance, c.model)}, {"m", c.model}};
  for (const auto& t : c.job_types) tags.push_back({"t", t});
  return detail::sign_checked({kCapsAnnounce, now, std::move(tags), std::move(w).finish()}, signer);
}

Result<CapsAnnounce> parse_caps_announce(const Event& e) {
  auto opened = detail::open_content(e, kCapsAnnounce, e.content);
  if (!opened) return opened.error();
  FieldReader& r = *opened;
  CapsAnnounce c;
  c.role = r.enumerated<Role>("role", parse_role, "\"node\" or \"router\"");
  c.model = r.string("model");
  c.job_types = r.strings("job_types");
  c.context_tokens = r.tokens("context_tokens");
  c.max_output_tokens = r.tokens("max_output_tokens");
  c.endpoint = r.string("endpoint");
  c.privacy_max = r.privacy("privacy_max");
  c.streaming = r.boolean("streaming");
  c.max_concurrency = static_cast<std::uint32_t>(r.integer("max_concurrency", 0xFFFFFFFFu));
  c.max_body_bytes = r.integer("max_body_bytes");
  c.software = r.optional_string("software");
  if (r.error()) return *r.error();

  TagReader t(kCaps, e);
  auto d = t.single("d");
  if (d) c.instance = std::string(instance_of(*d));
  t.expect_equal("m", c.model, "model");
  auto types = t.all("t");
  if (t.error()) return *t.error();
  if (auto st = validate(c); !st) return st.error();
  if (*d != caps_d_tag(c.instance, c.model))
    return invalid(std::string(kCaps) + " d tag must be \"<instance>:<model>\"");
  std::vector<std::string> want = c.job_types;
  std::sort(types.begin(), types.end());
  std::sort(want.begin(), want.end());
  if (types != want) return invalid(std::string(kCaps) + " t tags must equal job_types");
  return c;
}

// ---- PRICE_ANNOUNCE -----------------------------------------------------------------------------

Status validate(const PriceAnnounce& p) {
  Checker k(kPrice);
  k.instance_id("instance", p.instance);
  k.model_id("model", p.model);
  k.job_type("job_type", p.job_type);
  k.amount("in_per_1k_msat", p.in_per_1k_msat);
  k.amount("out_per_1k_msat", p.out_per_1k_msat);
  k.amount("min_msat", p.min_msat);
  k.require(p.surge.in_range(), "surge must be between 1.0 and 5.0");
  return k.status();
}

Result<Event> build(const PriceAnnounce& p, const Keypair& signer, UnixSeconds now) {
  if (auto st = validate(p); !st) return st.error();
  ContentWriter w;
  w.string("model", p.model);
  w.string("job_type", p.job_type);
  w.integer("in_per_1k_msat", p.in_per_1k_msat.value());
  w.integer("out_per_1k_msat", p.out_per_1k_msat.value());
  w.integer("min_msat", p.min_msat.value());
  w.raw("surge", p.surge.to_json());
  Tags tags = {
      {"d", price_d_tag(p.instance, p.model, p.job_type)}, {"m", p.model}, {"t", p.job_type}};
  return detail::sign_checked({kPriceAnnounce, now, std::move(tags), std::move(w).finish()},
                              signer);
}

Result<PriceAnnounce> parse_price_announce(const Event& e) {
  auto opened = detail::open_content(e, kPriceAnnounce, e.content);
  if (!opened) return opened.error();
  FieldReader& r = *opened;
  PriceAnnounce p;
  p.model = r.string("model");
  p.job_type = r.string("job_type");
  p.in_per_1k_msat = r.msat("in_per_1k_msat");
  p.out_per_1k_msat = r.msat("out_per_1k_msat");
  p.min_msat = r.msat("min_msat");
  std::string surge = r.number_token("surge");
  if (r.ok()) {
    auto s = Surge::parse(surge);
    if (!s)
      r.fail("surge must be a number between 1.0 and 5.0 with at most 3 decimals");
    else
      p.surge = *s;
  }
  if (r.error()) return *r.error();

  TagReader t(kPrice, e);
  auto d = t.single("d");
  if (d) p.instance = std::string(instance_of(*d));
  t.expect_equal("m", p.model, "model");
  t.expect_equal("t", p.job_type, "job_type");
  if (t.error()) return *t.error();
  if (auto st = validate(p); !st) return st.error();
  if (*d != price_d_tag(p.instance, p.model, p.job_type))
    return invalid(std::string(kPrice) + " d tag must be \"<instance>:<model>:<job type>\"");
  return p;
}

// ---- STATUS_ANNOUNCE ----------------------------------------------------------------------------

Status validate(const StatusAnnounce& s) {
  Checker k(kStatus);
  k.instance_id("instance", s.instance);
  k.duration("p95_latency_ms", s.p95_latency_ms);
  return k.status();
}

Result<Event> build(const StatusAnnounce& s, const Keypair& signer, UnixSeconds now) {
  if (auto st = validate(s); !st) return st.error();
  ContentWriter w;
  w.string("state", to_string(s.state));
  w.integer("queue_depth", s.queue_depth);
  w.integer("active_jobs", s.active_jobs);
  w.integer("p95_latency_ms", s.p95_latency_ms.value());
  Tags tags = {{"d", s.instance}, expiration_tag(now + kStatusLifetime)};
  return detail::sign_checked({kStatusAnnounce, now, std::move(tags), std::move(w).finish()},
                              signer);
}

Result<StatusAnnounce> parse_status_announce(const Event& e) {
  auto opened = detail::open_content(e, kStatusAnnounce, e.content);
  if (!opened) return opened.error();
  FieldReader& r = *opened;
  StatusAnnounce s;
  s.state = r.enumerated<Backpressure>("state", parse_backpressure,
                                       "\"NORMAL\", \"BUSY\" or \"SATURATED\"");
  s.queue_depth = static_cast<std::uint32_t>(r.integer("queue_depth", 0xFFFFFFFFu));
  s.active_jobs = static_cast<std::uint32_t>(r.integer("active_jobs", 0xFFFFFFFFu));
  s.p95_latency_ms = r.millis("p95_latency_ms");
  if (r.error()) return *r.error();

  TagReader t(kStatus, e);
  auto d = t.single("d");
  t.expiration();
  if (t.error()) return *t.error();
  s.instance = *d;
  if (auto st = validate(s); !st) return st.error();
  return s;
}

// ---- RECEIPT_SUMMARY ----------------------------------------------------------------------------

Status validate(const ReceiptSummary& s) {
  Checker k(kSummary);
  k.time("window_start", s.window_start);
  k.time("window_end", s.window_end);
  k.require(s.window_end >= s.window_start, "window_end must not be before window_start");
  for (auto [name, v] : {std::pair{"jobs", s.jobs},
                         {"succeeded", s.succeeded},
                         {"failed", s.failed},
                         {"timeouts", s.timeouts},
                         {"invalid_receipts", s.invalid_receipts}})
    k.require(v <= kMaxJsonInteger,
              std::string(name) + " must be at most " + std::to_string(kMaxJsonInteger));
  k.duration("p50_latency_ms", s.p50_latency_ms);
  k.duration("p95_latency_ms", s.p95_latency_ms);
  k.amount("paid_msat", s.paid_msat);
  return k.status();
}

Result<Event> build(const ReceiptSummary& s, const Keypair& signer, UnixSeconds now) {
  if (auto st = validate(s); !st) return st.error();
  ContentWriter w;
  w.integer("window_start", static_cast<std::uint64_t>(s.window_start));
  w.integer("window_end", static_cast<std::uint64_t>(s.window_end));
  w.integer("jobs", s.jobs);
  w.integer("succeeded", s.succeeded);
  w.integer("failed", s.failed);
  w.integer("timeouts", s.timeouts);
  w.integer("invalid_receipts", s.invalid_receipts);
  w.integer("p50_latency_ms", s.p50_latency_ms.value());
  w.integer("p95_latency_ms", s.p95_latency_ms.value());
  w.integer("paid_msat", s.paid_msat.value());
  Tags tags = {{"d", s.node.hex()}, detail::p_tag(s.node)};
  return detail::sign_checked({kReceiptSummary, now, std::move(tags), std::move(w).finish()},
                              signer);
}

Result<ReceiptSummary> parse_receipt_summary(const Event& e) {
  auto opened = detail::open_content(e, kReceiptSummary, e.content);
  if (!opened) return opened.error();
  FieldReader& r = *opened;
  ReceiptSummary s;
  s.window_start = r.seconds("window_start");
  s.window_end = r.seconds("window_end");
  s.jobs = r.integer("jobs");
  s.succeeded = r.integer("succeeded");
  s.failed = r.integer("failed");
  s.timeouts = r.integer("timeouts");
  s.invalid_receipts = r.integer("invalid_receipts");
  s.p50_latency_ms = r.millis("p50_latency_ms");
  s.p95_latency_ms = r.millis("p95_latency_ms");
  s.paid_msat = r.msat("paid_msat");
  if (r.error()) return *r.error();

  TagReader t(kSummary, e);
  auto node = t.pubkey("p");
  auto d = t.single("d");
  if (t.error()) return *t.error();
  s.node = *node;
  if (*d != s.node.hex()) return invalid(std::string(kSummary) + " d tag must equal the p tag");
  if (auto st = validate(s); !st) return st.error();
  return s;
}

}  // namespace fedai::protocol
