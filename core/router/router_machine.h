// The router's reducers: jobs from clients, auctions and posted prices (nips/F-02, F-03), the
// data-plane attempts and their retries (F-04), what it knows of its peers. Pure and
// deterministic: time comes from records, policy from the constructor, randomness never.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "core/machine/state.h"
#include "core/market/auction.h"
#include "core/market/peers.h"
#include "core/router/records.h"

namespace fedai::router {

// The router's policy is part of its state: the runtime appends it as a record (kPolicySet) when
// it starts, so replaying the log reproduces every decision with the policy in force when it was
// made, and `fedai db replay` needs no configuration.
struct RouterPolicy {
  PublicKey self;  // the router's own key: bids must be addressed to it
  market::AuctionParams auction;
  market::BreakerParams breaker;
  market::SpendingCaps spending;
  Millis submit_window{5'000};     // AWARD submit_by = award time + this
  Millis dispatch_slack{2'000};    // on top of the job's deadline before an attempt times out
  Millis caps_stale{30 * 60'000};  // F-02: CAPS older than this is stale
  // A node that answers 429 or ERR_BUSY (backpressure, nips/F-03) is passed over this long
  // while another node is available; a Retry-After it sends excludes it that long (at most
  // kMaxBusyPause).
  Millis busy_pause{1'000};
  static constexpr Millis kMaxBusyPause{60'000};

  auto fields() const {
    return std::tie(self, auction.w_price_ppm, auction.w_eta_ppm, auction.w_rep_ppm,
                    auction.stake_cap_ppm, auction.stake_weight_ppm, auction.retry_budget,
                    auction.cooldown, breaker.failures_to_open, breaker.open_for,
                    breaker.max_open_for, spending.per_minute, spending.per_hour, spending.per_day,
                    submit_window, dispatch_slack, caps_stale, busy_pause);
  }
  auto fields() {
    return std::tie(self, auction.w_price_ppm, auction.w_eta_ppm, auction.w_rep_ppm,
                    auction.stake_cap_ppm, auction.stake_weight_ppm, auction.retry_budget,
                    auction.cooldown, breaker.failures_to_open, breaker.open_for,
                    breaker.max_open_for, spending.per_minute, spending.per_hour, spending.per_day,
                    submit_window, dispatch_slack, caps_stale, busy_pause);
  }
};

enum class JobPhase : std::uint8_t {
  composing_rfb,
  bidding,
  cooling,
  composing_award,
  dispatching,
  done,
  failed,
  cancelled,
};
std::string_view to_string(JobPhase p);

// One job as the router keeps it (table "jobs").
struct JobState {
  JobRequested request;
  JobPhase phase = JobPhase::composing_rfb;
  UnixMillis created_at = 0;
  std::uint32_t rounds = 0;    // auctions held
  std::uint32_t attempts = 0;  // awards made
  // The current (or last) award.
  bool posted = false;  // on a posted price rather than an auction
  std::optional<PublicKey> node;
  std::string endpoint;
  Msat price, in_per_1k, out_per_1k, min;
  Millis eta;
  std::optional<EventId> rfb_id, bid_id, price_id, award_id;
  std::optional<protocol::CapacityToken> capacity_token;
  std::vector<PublicKey> tried;  // nodes whose attempt failed
  protocol::ProtocolError error = protocol::ProtocolError::internal;
  std::string reason;
  UnixMillis finished_at = 0;
  // Step times of the current round and attempt (record times), for operators and benchmarks:
  // the RFB sent, its bid window cleared, the AWARD sent (its job dispatched).
  UnixMillis rfb_at = 0, cleared_at = 0, awarded_at = 0;
  // The current award is its node's circuit-breaker trial (half-open, nips/F-03): what ends the
  // attempt settles the trial, or gives it back.
  bool trial = false;

  bool terminal() const {
    return phase == JobPhase::done || phase == JobPhase::failed || phase == JobPhase::cancelled;
  }
  auto fields() const {
    return std::tie(request, phase, created_at, rounds, attempts, posted, node, endpoint, price,
                    in_per_1k, out_per_1k, min, eta, rfb_id, bid_id, price_id, award_id,
                    capacity_token, tried, error, reason, finished_at, rfb_at, cleared_at,
                    awarded_at, trial);
  }
  auto fields() {
    return std::tie(request, phase, created_at, rounds, attempts, posted, node, endpoint, price,
                    in_per_1k, out_per_1k, min, eta, rfb_id, bid_id, price_id, award_id,
                    capacity_token, tried, error, reason, finished_at, rfb_at, cleared_at,
                    awarded_at, trial);
  }
};

// A peer's record (table "peers").
struct PeerStats {
  market::Reputation reputation;
  market::Breaker breaker;
  std::uint64_t jobs_ok = 0, jobs_failed = 0;
  Msat paid;
  // Backpressure (429, ERR_BUSY): answers of that kind; until busy_until the node is passed over
  // while another is available, until retry_at (its Retry-After) it gets no work at all.
  std::uint64_t jobs_busy = 0;
  UnixMillis busy_until = 0;
  UnixMillis retry_at = 0;

  // No new work for this peer at `now`: its breaker is open (or its trial out), or it asked us to
  // wait (Retry-After).
  bool excluded(UnixMillis now) const { return breaker.is_open(now) || now < retry_at; }
  // It answered busy a moment ago: another node is better.
  bool paused(UnixMillis now) const { return now < busy_until; }
  auto fields() const {
    return std::tie(reputation.success_ppm, reputation.latency_ppm, reputation.receipts_ppm,
                    reputation.jobs, breaker.state, breaker.consecutive_failures,
                    breaker.open_until, breaker.open_for, breaker.counted_at, breaker.opened_at,
                    breaker.trial_at, breaker.times_opened, jobs_ok, jobs_failed, paid, jobs_busy,
                    busy_until, retry_at);
  }
  auto fields() {
    return std::tie(reputation.success_ppm, reputation.latency_ppm, reputation.receipts_ppm,
                    reputation.jobs, breaker.state, breaker.consecutive_failures,
                    breaker.open_until, breaker.open_for, breaker.counted_at, breaker.opened_at,
                    breaker.trial_at, breaker.times_opened, jobs_ok, jobs_failed, paid, jobs_busy,
                    busy_until, retry_at);
  }
};

class RouterMachine final : public machine::Machine {
 public:
  enum Table : machine::TableId {
    kJobs = 0,       // job id -> JobState
    kActive = 1,     // job id -> "" for jobs not yet finished
    kAuctions = 2,   // job id -> market::AuctionBook
    kRfbs = 3,       // RFB id -> job id
    kCaps = 4,       // model \0 node \0 instance -> CapsReceived
    kPrices = 5,     // model \0 job type \0 node \0 instance -> PriceReceived
    kStatus = 6,     // node \0 instance -> StatusReceived
    kPeers = 7,      // node -> PeerStats
    kSpend = 8,      // "spend" -> market::SpendLedger
    kConfig = 9,     // "policy" -> RouterPolicy; "finished" -> first, next (be64 each)
    kFinished = 10,  // order finished (be64) -> job id: the newest kKeepFinishedJobs
  };
  // Finished jobs kept in kJobs; older ones are forgotten (their totals live on in kPeers).
  static constexpr std::uint64_t kKeepFinishedJobs = 1000;

  std::string_view name() const override { return "router"; }
  // 2: the breaker counts incidents and knows its trial, nodes' busy pauses and body and
  // context limits, JobRequested's body size (PeerStats, JobState, CapsReceived, JobRequested,
  // DispatchOutcome and RouterPolicy changed encoding).
  std::uint32_t version() const override { return 2; }
  std::span<const std::string_view> tables() const override;
  machine::Applied apply(const machine::Record& record, machine::StateTxn& txn) const override;

  // The policy in force (the last kPolicySet), or the defaults.
  static RouterPolicy policy(const machine::StateTxn& txn);

  // Typed reads for the runtime and the tests.
  static std::optional<JobState> job(const machine::StateTxn& txn, const JobId& id);
  static std::optional<market::AuctionBook> auction(const machine::StateTxn& txn, const JobId& id);
  static std::optional<PeerStats> peer(const machine::StateTxn& txn, const PublicKey& node);
  static std::vector<JobId> active_jobs(const machine::StateTxn& txn);
  // Every peer with a record, in key order (for /fedai/v1/peers and the metrics).
  static std::vector<std::pair<PublicKey, PeerStats>> peers(const machine::StateTxn& txn);
  // Every CAPS, PRICE and STATUS the router holds, in key order.
  static std::vector<CapsReceived> caps(const machine::StateTxn& txn);
  // Every job kept (active, and the newest kKeepFinishedJobs finished), in no particular order.
  static std::vector<JobState> jobs(const machine::StateTxn& txn);
  static std::vector<PriceReceived> prices(const machine::StateTxn& txn);
  static std::vector<StatusReceived> statuses(const machine::StateTxn& txn);

  // Records, encoded for the log.
  static machine::Record record(const JobRequested& r, UnixMillis at);
  static machine::Record record(RecordType type, const EventSent& r, UnixMillis at);
  static machine::Record record(const CapsReceived& r, UnixMillis at);
  static machine::Record record(const PriceReceived& r, UnixMillis at);
  static machine::Record record(const StatusReceived& r, UnixMillis at);
  static machine::Record record(const BidReceived& r, UnixMillis at);
  static machine::Record record(const TimerFired& r, UnixMillis at);
  static machine::Record record(const DispatchOutcome& r, UnixMillis at);
  static machine::Record record(const ClientGone& r, UnixMillis at);
  static machine::Record record(const Startup& r, UnixMillis at);
  static machine::Record record(const RouterPolicy& r, UnixMillis at);

 private:
  class Step;
};

}  // namespace fedai::router
