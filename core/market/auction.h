// The sealed-bid reverse auction (nips/F-03) as pure functions: which bids count, how they rank,
// who wins, and who is next when a winner fails. No clock, no I/O: time comes in as arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/market/peers.h"
#include "core/nostr/event.h"
#include "core/protocol/units.h"
#include "core/util/result.h"

namespace fedai::market {

using protocol::CapacityToken;
using protocol::JobId;
using protocol::Millis;
using protocol::Msat;
using UnixMillis = std::int64_t;

// Scores are integer millionths (ppm) so every implementation ranks identically (F-03). Price
// is judged against the auction's own cheapest good bid, not against max_price: a bid's price
// term is its price in ppm of that bid's, and reputation and eta add at most w_rep_ppm +
// w_eta_ppm (6% of the cheapest price) on top, so a bid cheaper by more than that wins outright
// and reputation decides only near-ties (F-03 "Scoring").
struct AuctionParams {
  // Unused since the score judges price against the cheapest bid (kept: the policy record
  // encodes it).
  std::uint32_t w_price_ppm = 600'000;
  std::uint32_t w_eta_ppm = 10'000;            // eta at the deadline adds 1% of the cheapest price
  std::uint32_t w_rep_ppm = 50'000;            // reputation 0 adds 5% of the cheapest price
  std::uint32_t rep_floor_ppm = kRepFloorPpm;  // below: ranked after every bid at or above
  std::uint32_t trial_jobs = kTrialJobs;       // a peer's first outcomes are its trial
  std::uint32_t stake_cap_ppm = 250'000;       // eta and reputation terms / 1.25 at best
  std::uint32_t stake_weight_ppm = 10'000;     // per stake unit
  std::uint32_t retry_budget = 3;  // attempts per job, the first included (0 counts as 1)
  Millis cooldown{2'000};          // before a job is auctioned again
};

// What the router knows of its own RFB.
struct AuctionTerms {
  EventId rfb_id;
  JobId job_id;
  PublicKey router;
  Msat max_price;
  Millis deadline;
  UnixMillis opened_at = 0;
  Millis bid_window{500};
  UnixMillis closes_at() const { return opened_at + static_cast<UnixMillis>(bid_window.value()); }
  bool operator==(const AuctionTerms&) const = default;
};

// A BID after its event verified and its sealed content parsed (nips/F-03).
struct BidOffer {
  EventId bid_id;
  PublicKey bidder;
  PublicKey addressee;  // its `p` tag
  EventId rfb_ref;      // its `e` tag
  JobId job_id;
  Msat price;
  Msat in_per_1k;
  Msat out_per_1k;
  Msat min;  // the minimum METERING will charge (F-04)
  Millis eta;
  std::string endpoint;
  CapacityToken capacity_token;
  std::int64_t valid_until = 0;  // Unix seconds
  UnixMillis received_at = 0;    // on the router's clock

  // NIP-40: the reservation has lapsed from valid_until on (now >= valid_until is expired).
  bool valid_at(UnixMillis now) const;
  bool operator==(const BidOffer&) const = default;
};

// What the router's peer table says of the bidder when the bid arrives.
struct PeerView {
  bool known = false;         // has announced CAPS for the model
  bool breaker_open = false;  // circuit breaker (anti-thrash) refuses it now
  std::uint32_t reputation_ppm = 500'000;
  std::uint64_t stake_units = 0;
  // On trial (on_trial() in peers.h: fewer than trial_jobs outcomes, none a failure): its bid
  // counts with a perfect reputation, so it competes on price from its first bid.
  bool trial = false;
};

struct AcceptedBid {
  BidOffer offer;
  std::uint32_t reputation_ppm = 500'000;  // as scored: 1e6 for a peer on trial
  std::uint64_t stake_units = 0;
  std::int64_t score_ppm = 0;  // filled by rank()
  bool tried = false;          // awarded once already (and failed)
  bool operator==(const AcceptedBid&) const = default;
};

// The score of F-03, lower is better, in ppm of `cheapest` (1'000'000 = the cheapest price).
// `cheapest` is the lowest price among the auction's bids in the same tier (rank(): bids whose
// reputation is at or above rep_floor_ppm, or else the others). The arithmetic, fixed so that
// every implementation ranks identically:
//   price_term = floor(price * 1e6 / cheapest)
//   eta_term   = floor(w_eta_ppm * min(eta, deadline) / deadline)
//   rep_term   = floor(w_rep_ppm * (1e6 - min(reputation_ppm, 1e6)) / 1e6)
//   stake_ppm  = min(stake_cap_ppm, stake_units * stake_weight_ppm)
//   score      = price_term + floor((eta_term + rep_term) * 1e6 / (1e6 + stake_ppm))
// Stake only shrinks the eta and reputation terms: it never outweighs price. 128-bit
// intermediates (no overflow for any 64-bit input), saturated at INT64_MAX. A cheapest or
// deadline of 0 counts as 1.
std::int64_t score_ppm(Msat cheapest, const AuctionTerms& terms, const BidOffer& bid,
                       std::uint32_t reputation_ppm, std::uint64_t stake_units,
                       const AuctionParams& params);

// The tie-break key of F-03: SHA-256(rfb_id || bidder pubkey).
Bytes32 tie_break_key(const EventId& rfb_id, const PublicKey& bidder);

enum class AuctionState : std::uint8_t { open, cleared, awarded, expired, cancelled, failed };
std::string_view to_string(AuctionState s);

// One auction on the router's side, as the router machine keeps it in its projections.
struct AuctionBook {
  AuctionTerms terms;
  AuctionState state = AuctionState::open;
  std::vector<AcceptedBid> bids;       // in arrival order until cleared, best first after
  std::uint32_t attempts = 0;          // awards made
  std::optional<std::size_t> current;  // index of the bid currently awarded

  // Checks a bid against every rule of F-03 and keeps it if it counts. Refusals carry a NIP-01
  // prefix: `invalid:` (book not open, wrong RFB, wrong addressee, wrong job, late, expired, over
  // the price), `blocked:` (unknown peer, open circuit breaker), `duplicate:` (second bid from a
  // peer: the first valid one counts, so a refused bid does not use up the bidder's turn).
  Status offer(const BidOffer& bid, const PeerView& peer);

  // At or after the end of the bid window (terms.closes_at()): ranks the bids (best first) and
  // awards the best one still valid at `now`: state `cleared`, attempts 1, `current` set. With
  // no bid valid at `now` the state becomes `expired`. Returns the winner, if any. Called before
  // the window closed or in any state but `open`, it changes nothing and returns nullopt.
  std::optional<AcceptedBid> clear(UnixMillis now, const AuctionParams& params);

  // The AWARD for `current` was published: cleared -> awarded. False in any other state.
  bool mark_awarded();

  // The current winner failed: awards the best untried bid still valid at `now` (state
  // `awarded`, attempts + 1) and returns it; nullopt with state `failed` when the retry budget
  // is spent or no valid bid is left. Only from `cleared` or `awarded`; otherwise it changes
  // nothing and returns nullopt.
  std::optional<AcceptedBid> award_next(UnixMillis now, const AuctionParams& params);

  // The current winner failed (no answer, refused, bad result): same as award_next.
  std::optional<AcceptedBid> winner_failed(UnixMillis now, const AuctionParams& params) {
    return award_next(now, params);
  }

  // The job may be auctioned again (new RFB) from this time on (F-03 cooldown after the last RFB).
  UnixMillis reauction_not_before(const AuctionParams& params) const {
    return terms.opened_at + static_cast<UnixMillis>(params.cooldown.value());
  }

  void cancel() { state = AuctionState::cancelled; }
  bool is_terminal() const {
    return state == AuctionState::expired || state == AuctionState::cancelled ||
           state == AuctionState::failed;
  }

  // A versioned binary form for projections; decode refuses anything malformed (truncated,
  // trailing bytes, unknown version or state, flags other than 0/1, `current` out of range).
  std::string encode() const;
  static std::optional<AuctionBook> decode(std::string_view bytes);
  bool operator==(const AuctionBook&) const = default;
};

// Ranks accepted bids best first: bids whose reputation is at or above rep_floor_ppm before the
// others (each tier scored against its own cheapest price), then score, then price, then eta,
// then the tie-break key.
void rank(std::vector<AcceptedBid>& bids, const AuctionTerms& terms, const AuctionParams& params);

}  // namespace fedai::market
