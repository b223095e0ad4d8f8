#include "core/market/auction.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "core/nostr/sha256.h"
#include "core/util/binary.h"

namespace fedai::market {
namespace {

__extension__ using u128 = unsigned __int128;

constexpr std::uint64_t kPpm = 1'000'000;
constexpr auto kMaxScore = static_cast<u128>(std::numeric_limits<std::int64_t>::max());

// Encoding: magic 'A', version 1.
constexpr std::uint8_t kBookMagic = 'A';
constexpr std::uint8_t kBookVersion = 1;

std::uint64_t prefix_of(const PublicKey& key) {
  std::uint64_t v;
  std::memcpy(&v, key.data(), sizeof v);
  return v;
}

// A linear scan (a book is a plain value, with no index to keep in step), made cheap by
// comparing 8 bytes inline before the whole key: 1,000 bids take ~0.5M 8-byte compares.
bool has_bid_from(const std::vector<AcceptedBid>& bids, const PublicKey& bidder) {
  const std::uint64_t prefix = prefix_of(bidder);
  for (const AcceptedBid& b : bids) {
    if (prefix_of(b.offer.bidder) == prefix && b.offer.bidder == bidder) return true;
  }
  return false;
}

// The best untried bid still valid at `now`, in ranked order.
std::optional<std::size_t> next_candidate(const std::vector<AcceptedBid>& bids, UnixMillis now) {
  for (std::size_t i = 0; i < bids.size(); ++i) {
    if (!bids[i].tried && bids[i].offer.valid_at(now)) return i;
  }
  return std::nullopt;
}

void write_offer(BinaryWriter& w, const BidOffer& b) {
  w.fixed(b.bid_id.span());
  w.fixed(b.bidder.span());
  w.fixed(b.addressee.span());
  w.fixed(b.rfb_ref.span());
  w.fixed(b.job_id.span());
  w.varint(b.price.value());
  w.varint(b.in_per_1k.value());
  w.varint(b.out_per_1k.value());
  w.varint(b.min.value());
  w.varint(b.eta.value());
  w.bytes(b.endpoint);
  w.fixed(b.capacity_token.span());
  w.svarint(b.valid_until);
  w.svarint(b.received_at);
}

template <std::size_t N, class Tag>
void read_fixed(BinaryReader& r, FixedBytes<N, Tag>& out) {
  r.fixed(std::span<std::uint8_t, N>(out.bytes));
}

BidOffer read_offer(BinaryReader& r) {
  BidOffer b;
  read_fixed(r, b.bid_id);
  read_fixed(r, b.bidder);
  read_fixed(r, b.addressee);
  read_fixed(r, b.rfb_ref);
  read_fixed(r, b.job_id);
  b.price = Msat{r.varint()};
  b.in_per_1k = Msat{r.varint()};
  b.out_per_1k = Msat{r.varint()};
  b.min = Msat{r.varint()};
  b.eta = Millis{r.varint()};
  b.endpoint = std::string(r.bytes());
  read_fixed(r, b.capacity_token);
  b.valid_until = r.svarint();
  b.received_at = r.svarint();
  return b;
}

// A strict boolean: 0 or 1, anything else makes the input malformed.
bool read_flag(BinaryReader& r, bool& bad) {
  std::uint8_t v = r.u8();
  if (v > 1) bad = true;
  return v == 1;
}

std::uint32_t read_u32(BinaryReader& r, bool& bad) {
  std::uint64_t v = r.varint();
  if (v > std::numeric_limits<std::uint32_t>::max()) bad = true;
  return static_cast<std::uint32_t>(v);
}

// The smallest encoded bid: five ids, four varints, an empty endpoint, the token, two svarints,
// then reputation, stake, score and the flag.
constexpr std::size_t kMinEncodedBid = 32 * 4 + 16 + 4 + 1 + 16 + 2 + 4;

}  // namespace

bool BidOffer::valid_at(UnixMillis now) const {
  // now < valid_until * 1000 without overflow: compare in seconds, rounding now down.
  UnixMillis now_s = now >= 0 ? now / 1000 : -((-(now + 1)) / 1000) - 1;  // floor division
  return now_s < valid_until;
}

std::int64_t score_ppm(Msat cheapest, const AuctionTerms& terms, const BidOffer& bid,
                       std::uint32_t reputation_ppm, std::uint64_t stake_units,
                       const AuctionParams& params) {
  const u128 ref = std::max<std::uint64_t>(cheapest.value(), 1);
  const u128 deadline = std::max<std::uint64_t>(terms.deadline.value(), 1);
  // price < 2^64, so price * 1e6 < 2^84: no overflow.
  const u128 price_term = u128{bid.price.value()} * kPpm / ref;
  const u128 eta = std::min<u128>(bid.eta.value(), deadline);
  const u128 eta_term = u128{params.w_eta_ppm} * eta / deadline;
  const u128 rep = std::min<std::uint64_t>(reputation_ppm, kPpm);
  const u128 rep_term = u128{params.w_rep_ppm} * (kPpm - rep) / kPpm;
  const u128 stake =
      std::min<u128>(params.stake_cap_ppm, u128{stake_units} * params.stake_weight_ppm);
  const u128 quality = (eta_term + rep_term) * kPpm / (kPpm + stake);
  return static_cast<std::int64_t>(std::min(price_term + quality, kMaxScore));
}

Bytes32 tie_break_key(const EventId& rfb_id, const PublicKey& bidder) {
  std::array<std::uint8_t, 64> input;
  std::memcpy(input.data(), rfb_id.data(), 32);
  std::memcpy(input.data() + 32, bidder.data(), 32);
  return Bytes32::from_span(sha256(std::span<const std::uint8_t>(input)).span());
}

std::string_view to_string(AuctionState s) {
  switch (s) {
    case AuctionState::open:
      return "open";
    case AuctionState::cleared:
      return "cleared";
    case AuctionState::awarded:
      return "awarded";
    case AuctionState::expired:
      return "expired";
    case AuctionState::cancelled:
      return "cancelled";
    case AuctionState::failed:
      return "failed";
  }
  return "unknown";
}

Status AuctionBook::offer(const BidOffer& bid, const PeerView& peer) {
  if (state != AuctionState::open) {
    return invalid("auction is " + std::string(to_string(state)) + ", not taking bids");
  }
  if (bid.rfb_ref != terms.rfb_id) return invalid("bid names another RFB (e tag)");
  if (bid.addressee != terms.router) return invalid("bid is not addressed to us (p tag)");
  if (bid.job_id != terms.job_id) return invalid("bid job_id differs from the RFB's");
  if (bid.received_at > terms.closes_at())
    return invalid("bid arrived after the bid window closed");
  if (!bid.valid_at(bid.received_at)) return invalid("bid expired (valid_until passed)");
  if (bid.price > terms.max_price) return invalid("bid price is above max_price_msat");
  if (!peer.known) return make_error(ErrorCode::blocked, "unknown peer (no CAPS for the model)");
  if (peer.breaker_open) return make_error(ErrorCode::blocked, "peer circuit breaker is open");
  if (has_bid_from(bids, bid.bidder)) {
    return make_error(ErrorCode::duplicate, "a bid from this peer already counts");
  }
  AcceptedBid accepted;
  accepted.offer = bid;
  accepted.reputation_ppm = peer.trial ? static_cast<std::uint32_t>(kPpm) : peer.reputation_ppm;
  accepted.stake_units = peer.stake_units;
  bids.push_back(std::move(accepted));
  return {};
}

std::optional<AcceptedBid> AuctionBook::clear(UnixMillis now, const AuctionParams& params) {
  if (state != AuctionState::open || now < terms.closes_at()) return std::nullopt;
  rank(bids, terms, params);
  std::optional<std::size_t> best = next_candidate(bids, now);
  if (!best) {
    state = AuctionState::expired;
    return std::nullopt;
  }
  state = AuctionState::cleared;
  bids[*best].tried = true;
  attempts = 1;
  current = *best;
  return bids[*best];
}

bool AuctionBook::mark_awarded() {
  if (state != AuctionState::cleared) return false;
  state = AuctionState::awarded;
  return true;
}

std::optional<AcceptedBid> AuctionBook::award_next(UnixMillis now, const AuctionParams& params) {
  if (state != AuctionState::cleared && state != AuctionState::awarded) return std::nullopt;
  const std::uint32_t budget = std::max<std::uint32_t>(params.retry_budget, 1);
  std::optional<std::size_t> next =
      attempts < budget ? next_candidate(bids, now) : std::optional<std::size_t>{};
  if (!next) {
    state = AuctionState::failed;
    current.reset();
    return std::nullopt;
  }
  state = AuctionState::awarded;
  bids[*next].tried = true;
  ++attempts;
  current = *next;
  return bids[*next];
}

void rank(std::vector<AcceptedBid>& bids, const AuctionTerms& terms, const AuctionParams& params) {
  struct Key {
    bool below_floor;
    std::int64_t score;
    std::uint64_t price;
    std::uint64_t eta;
    Bytes32 tie;
    std::size_t index;
  };
  // Each tier (at or above the reputation floor, below it) is judged against its own cheapest
  // price: a cheap bad bid does not move the good bids' scores.
  auto below = [&](const AcceptedBid& b) { return b.reputation_ppm < params.rep_floor_ppm; };
  std::optional<Msat> cheapest[2];
  for (const AcceptedBid& b : bids) {
    auto& c = cheapest[below(b) ? 1 : 0];
    if (!c || b.offer.price < *c) c = b.offer.price;
  }
  std::vector<Key> keys;
  keys.reserve(bids.size());
  for (std::size_t i = 0; i < bids.size(); ++i) {
    AcceptedBid& b = bids[i];
    const bool low = below(b);
    b.score_ppm =
        score_ppm(*cheapest[low ? 1 : 0], terms, b.offer, b.reputation_ppm, b.stake_units, params);
    keys.push_back({low, b.score_ppm, b.offer.price.value(), b.offer.eta.value(),
                    tie_break_key(terms.rfb_id, b.offer.bidder), i});
  }
  // The index makes the order total even for two bids from one bidder (offer() never keeps
  // those, but rank() is a free function).
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.below_floor != b.below_floor) return b.below_floor;
    if (a.score != b.score) return a.score < b.score;
    if (a.price != b.price) return a.price < b.price;
    if (a.eta != b.eta) return a.eta < b.eta;
    if (a.tie != b.tie) return a.tie < b.tie;
    return a.index < b.index;
  });
  // Apply the permutation in place (cycle by cycle): position i takes bids[keys[i].index].
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].index == i) continue;
    AcceptedBid held = std::move(bids[i]);
    std::size_t to = i;
    while (keys[to].index != i) {
      const std::size_t from = keys[to].index;
      bids[to] = std::move(bids[from]);
      keys[to].index = to;
      to = from;
    }
    bids[to] = std::move(held);
    keys[to].index = to;
  }
}

std::string AuctionBook::encode() const {
  BinaryWriter w;
  w.u8(kBookMagic);
  w.u8(kBookVersion);
  w.fixed(terms.rfb_id.span());
  w.fixed(terms.job_id.span());
  w.fixed(terms.router.span());
  w.varint(terms.max_price.value());
  w.varint(terms.deadline.value());
  w.svarint(terms.opened_at);
  w.varint(terms.bid_window.value());
  w.u8(static_cast<std::uint8_t>(state));
  w.varint(bids.size());
  for (const AcceptedBid& b : bids) {
    write_offer(w, b.offer);
    w.varint(b.reputation_ppm);
    w.varint(b.stake_units);
    w.svarint(b.score_ppm);
    w.boolean(b.tried);
  }
  w.varint(attempts);
  w.boolean(current.has_value());
  if (current) w.varint(*current);
  return std::move(w).data();
}

std::optional<AuctionBook> AuctionBook::decode(std::string_view bytes) {
  BinaryReader r(bytes);
  bool bad = false;
  if (r.u8() != kBookMagic || r.u8() != kBookVersion) return std::nullopt;
  AuctionBook book;
  read_fixed(r, book.terms.rfb_id);
  read_fixed(r, book.terms.job_id);
  read_fixed(r, book.terms.router);
  book.terms.max_price = Msat{r.varint()};
  book.terms.deadline = Millis{r.varint()};
  book.terms.opened_at = r.svarint();
  book.terms.bid_window = Millis{r.varint()};
  std::uint8_t state = r.u8();
  if (state > static_cast<std::uint8_t>(AuctionState::failed)) return std::nullopt;
  book.state = static_cast<AuctionState>(state);
  std::uint64_t count = r.varint();
  if (!r.ok() || count > bytes.size() / kMinEncodedBid) return std::nullopt;
  book.bids.reserve(count);
  for (std::uint64_t i = 0; i < count && r.ok() && !bad; ++i) {
    AcceptedBid b;
    b.offer = read_offer(r);
    b.reputation_ppm = read_u32(r, bad);
    b.stake_units = r.varint();
    b.score_ppm = r.svarint();
    b.tried = read_flag(r, bad);
    book.bids.push_back(std::move(b));
  }
  book.attempts = read_u32(r, bad);
  if (read_flag(r, bad)) {
    std::uint64_t index = r.varint();
    if (index >= book.bids.size()) return std::nullopt;
    book.current = static_cast<std::size_t>(index);
  }
  if (bad || !r.finished()) return std::nullopt;
  // Every bidder appears once (offer() keeps the first valid bid only).
  std::vector<PublicKey> bidders;
  bidders.reserve(book.bids.size());
  for (const AcceptedBid& b : book.bids) bidders.push_back(b.offer.bidder);
  std::sort(bidders.begin(), bidders.end());
  if (std::adjacent_find(bidders.begin(), bidders.end()) != bidders.end()) return std::nullopt;
  return book;
}

}  // namespace fedai::market
