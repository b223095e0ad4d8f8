// What a buyer keeps about each seller: reputation, a circuit breaker, and the posted-price
// choice among announced offers (nips/F-02, F-03). Pure functions of their inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/nostr/keys.h"
#include "core/protocol/units.h"

namespace fedai::market {

using protocol::Millis;
using protocol::Msat;
using UnixMillis = std::int64_t;

enum class Outcome : std::uint8_t { success, failure, timeout, bad_receipt };

// F-03 "Scoring": a peer whose reputation is below the floor is ranked after every peer at or
// above it (it gets work only when no good peer offers: never excluded outright, or a lone node
// with a bad stretch could never earn its record back). A peer's first kTrialJobs outcomes are
// its trial: until then, and while none of them failed, it counts as having a perfect
// reputation, so a newcomer competes on price from its first bid.
constexpr std::uint32_t kRepFloorPpm = 300'000;
constexpr std::uint32_t kTrialJobs = 5;

// On trial: fewer than trial_jobs outcomes recorded (`jobs`), none of them failed.
constexpr bool on_trial(std::uint64_t jobs, std::uint64_t failed, std::uint32_t trial_jobs) {
  return jobs < trial_jobs && failed == 0;
}

// F-03: EMAs with alpha 0.1 of success, latency against the promised eta, and receipt validity,
// each in ppm; a new peer starts at 0.5 on each.
//
// Integer EMA: x += step toward the sample, step = (sample - x) / 10 rounded away from zero. So
// x stays in 0..1e6, every sample that differs from x moves it by at least 1, and a run of equal
// samples reaches the sample exactly (round-to-nearest would stall up to 5 ppm short of it).
//
// Samples per outcome:
//   success:     success 1e6, latency from wall/promised, receipts 1e6
//   failure:     success 0 (refused, bad result: latency and receipts unchanged)
//   timeout:     success 0, latency 0
//   bad_receipt: success 0, latency from wall/promised (a result came), receipts 0
// Latency sample: 1e6 when wall <= promised, 0 when wall >= 2 * promised, linear between
// (floor(1e6 * (2 * promised - wall) / promised)); a promised eta of 0 gives 1e6 only for wall 0.
struct Reputation {
  std::uint32_t success_ppm = 500'000;
  std::uint32_t latency_ppm = 500'000;
  std::uint32_t receipts_ppm = 500'000;
  std::uint64_t jobs = 0;

  // 0.6 * success + 0.2 * latency + 0.2 * receipts, rounded down.
  std::uint32_t score_ppm() const;
  // `wall` against `promised`: on time or early counts 1, twice as long or more counts 0.
  void record(Outcome outcome, Millis wall, Millis promised);
  bool operator==(const Reputation&) const = default;
};

struct BreakerParams {
  std::uint32_t failures_to_open = 3;
  Millis open_for{60'000};
  Millis max_open_for{30 * 60'000};
};

// F-03's circuit breaker: closed -> open after N consecutive failures -> half-open (one trial)
// after the open period -> closed on success, open for twice as long on failure (capped).
//
// Failures count as incidents, not jobs. A failure of a job sent to the peer before the last
// counted failure was observed (`counted_at`) is part of that incident and does not count
// again: the jobs one crash kills at once count once, and so do the late answers of jobs sent
// before the breaker opened. A timeout always counts: a restart resets its connections, it does
// not hold them, so a peer that stops answering opens the breaker as before. Backpressure (a
// 429 or ERR_BUSY from the peer) is no failure at all: the router never reports it here.
//
// allows(now) grants the one trial: the call that finds the open period over moves to half_open
// and returns true; further calls return false until on_success / on_failure settles the trial
// (a trial that never answers must be reported as a failure: a timeout is one) or
// release_trial() gives it back. A success in any state closes the breaker and forgets the open
// period. In half_open only a failure of a job sent at or after the trial was granted settles
// the trial; a failure while open counts (when it does) but never extends the period.
//
// on_announce(): a peer that announces again after its breaker opened is up again (a restarted
// node announces at once), so its trial is due at once instead of at the end of the period. Once
// per opening: a failed trial opens the breaker again (twice as long), and only an announcement
// made after that brings the next trial forward. A peer that announces but keeps failing costs
// one trial job per announcement (STATUS every 30 s or so); one that is gone, announcing
// nothing, waits out the doubling periods.
struct Breaker {
  enum class State : std::uint8_t { closed, open, half_open };
  State state = State::closed;
  std::uint32_t consecutive_failures = 0;  // incidents since the last success
  UnixMillis open_until = 0;
  Millis open_for{0};              // the current open period
  UnixMillis counted_at = 0;       // when the last failure that counted was observed
  UnixMillis opened_at = 0;        // when it last opened
  UnixMillis trial_at = 0;         // when the trial outstanding (half_open) was granted
  std::uint64_t times_opened = 0;  // ever, for operators

  // May we send this peer work at `now`? Moves open -> half_open when the period is over.
  bool allows(UnixMillis now);
  // Refuses work at `now` without granting anything: open within its period, or half_open
  // with the trial outstanding. For PeerView::breaker_open.
  bool is_open(UnixMillis now) const;
  void on_success();
  // A job sent at `sent_at` failed, observed at `now`, as `kind`. Returns whether it counted
  // (see above).
  bool on_failure(UnixMillis now, UnixMillis sent_at, Outcome kind, const BreakerParams& params);
  // A job sent just now failed: it always counts.
  bool on_failure(UnixMillis now, const BreakerParams& params) {
    return on_failure(now, now, Outcome::failure, params);
  }
  // The trial ended without saying anything of the peer (the client went away, the peer was
  // busy): half_open -> open with the period over, so that the next job is the trial.
  void release_trial(UnixMillis now);
  // The peer announced something created at `created_at` (Unix seconds), seen at `now`: when
  // the breaker is open and that is in or after the second it opened, the period ends now.
  // Returns whether it did.
  bool on_announce(UnixMillis now, std::int64_t created_at);
  bool operator==(const Breaker&) const = default;
};

// A posted-price offer: a node's PRICE for the job, priced, with its STATUS and reputation.
struct PostedOffer {
  PublicKey node;
  std::string endpoint;
  Msat price;  // price_for_job at the job's tokens
  enum class Load : std::uint8_t { normal, busy, saturated } load = Load::normal;
  std::uint32_t reputation_ppm = 500'000;
  bool breaker_open = false;
  bool stale = false;   // CAPS older than 30 min or STATUS expired
  bool paused = false;  // answered busy (429, ERR_BUSY) a moment ago: the last resort
  bool trial = false;   // on_trial(): counts with a perfect reputation
};

// The posted-price choice, the auction's rule (F-03 "Scoring") on posted prices: drops
// saturated, stale, circuit-broken and over-budget (price > max_price) offers; ranks paused
// offers after all others, then offers whose reputation (1e6 on trial) is below rep_floor_ppm
// after the rest, then by score: the effective price (BUSY counts 25% dearer) in ppm of the
// cheapest effective price in its tier, plus floor(w_rep_ppm * (1e6 - reputation) / 1e6); then
// higher reputation, then lower node key, then arrival order. Best first.
std::vector<PostedOffer> rank_posted(std::vector<PostedOffer> offers, Msat max_price,
                                     std::uint32_t w_rep_ppm = 50'000,
                                     std::uint32_t rep_floor_ppm = kRepFloorPpm);

// Spending caps per minute, hour and day over a sliding window of recorded spends. A window of
// span S at `now` holds the spends recorded at t with now - S < t <= now. Sums saturate at
// kMaxMsat. A cap of nullopt is no cap.
struct SpendingCaps {
  std::optional<Msat> per_minute, per_hour, per_day;
};

class SpendLedger {
 public:
  // True when spending `amount` at `now` keeps every window within its cap (spent + amount <=
  // cap).
  bool allows(UnixMillis now, Msat amount, const SpendingCaps& caps) const;
  // Records a spend (kept in time order even when `now` is earlier than the latest entry) and
  // drops entries that no window can hold any more: t <= latest - one day.
  void record(UnixMillis now, Msat amount);
  // Spent in the window (now - span, now].
  Msat spent(UnixMillis now, Millis span) const;

  std::size_t size() const { return entries_.size(); }

  // Versioned binary form; decode refuses anything malformed (truncated, trailing bytes, entries
  // out of time order or older than a day before the newest).
  std::string encode() const;
  static std::optional<SpendLedger> decode(std::string_view bytes);
  bool operator==(const SpendLedger&) const = default;

 private:
  std::vector<std::pair<UnixMillis, Msat>> entries_;  // oldest first, pruned beyond a day
};

}  // namespace fedai::market
