#include "core/protocol/auction.h"

#include "core/nostr/nip40.h"
#include "core/protocol/codec.h"

namespace fedai::protocol {

using detail::Checker;
using detail::ContentWriter;
using detail::FieldReader;
using detail::TagReader;

namespace {

constexpr std::string_view kRfbName = "RFB";
constexpr std::string_view kBidName = "BID";
constexpr std::string_view kAwardName = "AWARD";
constexpr std::string_view kCancelName = "CANCEL";

Error fail(std::string_view kind, std::string what) {
  return invalid(std::string(kind) + " " + what);
}

}  // namespace

UnixSeconds rfb_expiration(UnixSeconds created_at, Millis bid_window) {
  auto seconds = static_cast<UnixSeconds>((bid_window.value() + 999) / 1000);
  return created_at + seconds + kRfbExpirationSlack;
}

// ---- RFB ----------------------------------------------------------------------------------------

Status validate(const Rfb& r) {
  Checker k(kRfbName);
  k.model_id("model", r.model);
  k.job_type("job_type", r.job_type);
  k.no_pl3("privacy", r.privacy);
  k.require(r.max_output_tokens >= 1, "max_output_tokens must be at least 1");
  k.amount("max_price_msat", r.max_price_msat);
  k.require(r.max_price_msat >= Msat{1}, "max_price_msat must be at least 1");
  k.require(r.bid_window_ms >= kMinBidWindow && r.bid_window_ms <= kMaxBidWindow,
            "bid_window_ms must be between 50 and 10000");
  k.duration("deadline_ms", r.deadline_ms);
  k.require(r.deadline_ms >= Millis{1}, "deadline_ms must be at least 1");
  return k.status();
}

Result<Event> build(const Rfb& r, const Keypair& router, UnixSeconds now) {
  if (auto st = validate(r); !st) return st.error();
  ContentWriter w;
  w.string("job_id", r.job_id.hex());
  w.string("model", r.model);
  w.string("job_type", r.job_type);
  w.string("privacy", to_string(r.privacy));
  w.integer("input_tokens", r.input_tokens);
  w.integer("max_output_tokens", r.max_output_tokens);
  w.integer("max_price_msat", r.max_price_msat.value());
  w.integer("bid_window_ms", r.bid_window_ms.value());
  w.integer("deadline_ms", r.deadline_ms.value());
  w.boolean("stream", r.stream);
  Tags tags = {
      {"m", r.model}, {"t", r.job_type}, expiration_tag(rfb_expiration(now, r.bid_window_ms))};
  return detail::sign_checked({kRfb, now, std::move(tags), std::move(w).finish()}, router);
}

Result<Rfb> parse_rfb(const Event& e) {
  auto opened = detail::open_content(e, kRfb, e.content);
  if (!opened) return opened.error();
  FieldReader& f = *opened;
  Rfb r;
  r.job_id = f.job_id("job_id");
  r.model = f.string("model");
  r.job_type = f.string("job_type");
  r.privacy = f.privacy("privacy");
  r.input_tokens = f.tokens("input_tokens");
  r.max_output_tokens = f.tokens("max_output_tokens");
  r.max_price_msat = f.msat("max_price_msat");
  r.bid_window_ms = f.millis("bid_window_ms");
  r.deadline_ms = f.millis("deadline_ms");
  r.stream = f.boolean("stream");
  if (f.error()) return *f.error();
  if (auto st = validate(r); !st) return st.error();

  TagReader t(kRfbName, e);
  t.expect_equal("m", r.model, "model");
  t.expect_equal("t", r.job_type, "job_type");
  t.expiration();
  if (t.error()) return *t.error();
  return r;
}

// ---- BID ----------------------------------------------------------------------------------------

Status validate(const Bid& b) {
  Checker k(kBidName);
  k.amount("price_msat", b.price_msat);
  k.amount("in_per_1k_msat", b.in_per_1k_msat);
  k.amount("out_per_1k_msat", b.out_per_1k_msat);
  k.amount("min_msat", b.min_msat);
  k.duration("eta_ms", b.eta_ms);
  k.url("endpoint", b.endpoint);
  k.time("valid_until", b.valid_until);
  return k.status();
}

Result<Event> build(const Bid& b, const Keypair& node, UnixSeconds now) {
  ConversationKeyCache keys(node, 1);
  return build(b, keys, now);
}

Result<Event> build(const Bid& b, ConversationKeyCache& node, UnixSeconds now) {
  if (auto st = validate(b); !st) return st.error();
  if (b.valid_until <= now) return fail(kBidName, "valid_until must be after created_at");
  ContentWriter w;
  w.string("job_id", b.job_id.hex());
  w.integer("price_msat", b.price_msat.value());
  w.integer("in_per_1k_msat", b.in_per_1k_msat.value());
  w.integer("out_per_1k_msat", b.out_per_1k_msat.value());
  w.integer("min_msat", b.min_msat.value());
  w.integer("eta_ms", b.eta_ms.value());
  w.string("endpoint", b.endpoint);
  w.string("capacity_token", b.capacity_token.hex());
  w.integer("valid_until", static_cast<std::uint64_t>(b.valid_until));
  auto sealed = detail::seal(std::move(w).finish(), node, b.router);
  if (!sealed) return sealed.error();
  Tags tags = {detail::p_tag(b.router), detail::e_tag(b.rfb_id, "rfb"),
               expiration_tag(b.valid_until)};
  return detail::sign_checked({kBid, now, std::move(tags), std::move(*sealed)}, node.self());
}

Result<Bid> parse_bid(const Event& e, const Keypair& us) {
  ConversationKeyCache keys(us, 1);
  return parse_bid(e, keys);
}

Result<Bid> parse_bid(const Event& e, ConversationKeyCache& us) {
  if (auto st = detail::expect_kind(e, kBid); !st) return st.error();
  TagReader t(kBidName, e);
  auto router = t.pubkey("p");
  if (t.error()) return *t.error();
  auto plain = detail::unseal(e, *router, us);
  if (!plain) return plain.error();

  auto opened = detail::open_content(e, kBid, *plain);
  if (!opened) return opened.error();
  FieldReader& f = *opened;
  Bid b;
  b.router = *router;
  b.job_id = f.job_id("job_id");
  b.price_msat = f.msat("price_msat");
  b.in_per_1k_msat = f.msat("in_per_1k_msat");
  b.out_per_1k_msat = f.msat("out_per_1k_msat");
  b.min_msat = f.optional_msat("min_msat").value_or(Msat{0});
  b.eta_ms = f.millis("eta_ms");
  b.endpoint = f.string("endpoint");
  b.capacity_token = f.capacity_token("capacity_token");
  b.valid_until = f.seconds("valid_until");
  if (f.error()) return *f.error();
  if (auto st = validate(b); !st) return st.error();

  auto rfb = t.event_ref("rfb");
  auto exp = t.expiration();
  if (t.error()) return *t.error();
  b.rfb_id = *rfb;
  if (*exp != b.valid_until) return fail(kBidName, "expiration must equal valid_until");
  if (b.valid_until <= e.created_at) return fail(kBidName, "valid_until must be after created_at");
  return b;
}

// ---- AWARD --------------------------------------------------------------------------------------

Status validate(const Award& a) {
  Checker k(kAwardName);
  k.amount("price_msat", a.price_msat);
  k.time("submit_by", a.submit_by);
  k.duration("deadline_ms", a.deadline_ms);
  return k.status();
}

Result<Event> build(const Award& a, const Keypair& router, UnixSeconds now) {
  ConversationKeyCache keys(router, 1);
  return build(a, keys, now);
}

Result<Event> build(const Award& a, ConversationKeyCache& router, UnixSeconds now) {
  if (auto st = validate(a); !st) return st.error();
  if (a.submit_by <= now) return fail(kAwardName, "submit_by must be after created_at");
  const auto* auction = std::get_if<AuctionBasis>(&a.basis);
  ContentWriter w;
  w.string("job_id", a.job_id.hex());
  w.integer("price_msat", a.price_msat.value());
  if (auction) w.string("capacity_token", auction->capacity_token.hex());
  w.integer("submit_by", static_cast<std::uint64_t>(a.submit_by));
  w.integer("deadline_ms", a.deadline_ms.value());
  auto sealed = detail::seal(std::move(w).finish(), router, a.node);
  if (!sealed) return sealed.error();
  Tags tags = {detail::p_tag(a.node)};
  if (auction) {
    tags.push_back(detail::e_tag(auction->rfb_id, "rfb"));
    tags.push_back(detail::e_tag(auction->bid_id, "bid"));
  } else {
    tags.push_back(detail::e_tag(std::get<PostedPriceBasis>(a.basis).price_id, "price"));
  }
  tags.push_back(expiration_tag(a.submit_by));
  return detail::sign_checked({kAward, now, std::move(tags), std::move(*sealed)}, router.self());
}

Result<AwardRoute> parse_award_route(const Event& e) {
  if (auto st = detail::expect_kind(e, kAward); !st) return st.error();
  TagReader t(kAwardName, e);
  AwardRoute r;
  auto node = t.pubkey("p");
  r.rfb_id = t.event_ref("rfb", false);
  r.bid_id = t.event_ref("bid", false);
  r.price_id = t.event_ref("price", false);
  auto exp = t.expiration();
  if (t.error()) return *t.error();
  r.node = *node;
  r.submit_by = *exp;
  bool auction = r.rfb_id && r.bid_id && !r.price_id;
  bool posted = r.price_id && !r.rfb_id && !r.bid_id;
  if (!auction && !posted)
    return fail(kAwardName,
                "must name an RFB and a BID (e tags marked rfb and bid), or a PRICE_ANNOUNCE "
                "(marked price), not both");
  return r;
}

Result<Award> parse_award(const Event& e, const Keypair& us) {
  ConversationKeyCache keys(us, 1);
  return parse_award(e, keys);
}

Result<Award> parse_award(const Event& e, ConversationKeyCache& us) {
  auto route = parse_award_route(e);
  if (!route) return route.error();
  return parse_award(e, *route, us);
}

Result<Award> parse_award(const Event& e, const AwardRoute& route, ConversationKeyCache& us) {
  auto plain = detail::unseal(e, route.node, us);
  if (!plain) return plain.error();

  auto opened = detail::open_content(e, kAward, *plain);
  if (!opened) return opened.error();
  FieldReader& f = *opened;
  Award a;
  a.node = route.node;
  a.job_id = f.job_id("job_id");
  a.price_msat = f.msat("price_msat");
  auto token = route.rfb_id ? std::optional(f.capacity_token("capacity_token"))
                            : f.optional_capacity_token("capacity_token");
  a.submit_by = f.seconds("submit_by");
  a.deadline_ms = f.millis("deadline_ms");
  if (f.error()) return *f.error();
  if (auto st = validate(a); !st) return st.error();

  if (route.rfb_id)
    a.basis = AuctionBasis{*route.rfb_id, *route.bid_id, *token};
  else if (token)
    return fail(kAwardName, "capacity_token is for auction awards only");
  else
    a.basis = PostedPriceBasis{*route.price_id};
  if (route.submit_by != a.submit_by) return fail(kAwardName, "expiration must equal submit_by");
  if (a.submit_by <= e.created_at) return fail(kAwardName, "submit_by must be after created_at");
  return a;
}

// ---- CANCEL -------------------------------------------------------------------------------------

Status validate(const Cancel& c) {
  Checker k(kCancelName);
  k.require(c.rfb_id || c.award_id, "must name the RFB or the AWARD it cancels");
  return k.status();
}

Result<Event> build(const Cancel& c, const Keypair& router, UnixSeconds now) {
  if (auto st = validate(c); !st) return st.error();
  ContentWriter w;
  w.string("job_id", c.job_id.hex());
  w.string("reason", to_string(c.reason));
  Tags tags;
  if (c.rfb_id) tags.push_back(detail::e_tag(*c.rfb_id, "rfb"));
  if (c.award_id) tags.push_back(detail::e_tag(*c.award_id, "award"));
  if (c.node) tags.push_back(detail::p_tag(*c.node));
  tags.push_back(expiration_tag(now + kCancelLifetime));
  return detail::sign_checked({kCancel, now, std::move(tags), std::move(w).finish()}, router);
}

Result<Cancel> parse_cancel(const Event& e) {
  auto opened = detail::open_content(e, kCancel, e.content);
  if (!opened) return opened.error();
  FieldReader& f = *opened;
  Cancel c;
  c.job_id = f.job_id("job_id");
  c.reason = f.error_code("reason");
  if (f.error()) return *f.error();

  TagReader t(kCancelName, e);
  c.rfb_id = t.event_ref("rfb", false);
  c.award_id = t.event_ref("award", false);
  c.node = t.pubkey("p", false);
  t.expiration();
  if (t.error()) return *t.error();
  if (auto st = validate(c); !st) return st.error();
  return c;
}

// ---- Freshness ----------------------------------------------------------------------------------

Status check_fresh(const Event& e, UnixSeconds now) {
  std::string kind(kind_name(e.kind));
  auto exp = expiration_of(e);
  if (!exp) return invalid(kind + " " + exp.error().message);
  if (exp->has_value() && now >= **exp) return invalid(kind + " has expired");
  if (now - e.created_at > kAuctionFreshness)
    return invalid(kind + " is stale (created " + std::to_string(now - e.created_at) +
                   " s ago, more than " + std::to_string(kAuctionFreshness) + ")");
  return {};
}

}  // namespace fedai::protocol
