// The node's reducers (nips/F-03, F-04, seller's side): which RFBs to bid on and at what price,
// the slots it reserves for its bids, awards won and lost, which jobs it accepted (each award
// and each JOB_SUBMIT once), and its load (queue, active jobs, recent latency) from which STATUS
// and the surge are computed. Pure and deterministic, like the router's.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/machine/state.h"
#include "core/protocol/kinds.h"
#include "core/protocol/units.h"

namespace fedai::node {

using machine::UnixMillis;
using protocol::JobId;
using protocol::Millis;
using protocol::Msat;
using protocol::Tokens;

struct ModelOffer {
  std::vector<std::string> job_types;
  Tokens context_tokens = 4096;
  Tokens max_output_tokens = 1024;
  protocol::PrivacyLevel privacy_max = protocol::PrivacyLevel::pl2;
  bool streaming = true;
  Msat in_per_1k{1'000};
  Msat out_per_1k{2'000};
  Msat min{1'000};
  auto fields() const {
    return std::tie(job_types, context_tokens, max_output_tokens, privacy_max, streaming, in_per_1k,
                    out_per_1k, min);
  }
  auto fields() {
    return std::tie(job_types, context_tokens, max_output_tokens, privacy_max, streaming, in_per_1k,
                    out_per_1k, min);
  }
};

// Like the router's, the node's policy is state: appended as a record (kPolicySet) at start.
struct NodePolicy {
  PublicKey self;
  std::map<std::string, ModelOffer> models;  // model id -> what it serves and at what price
  std::uint32_t max_concurrency = 1;
  std::uint64_t surge_q = 8;  // F-02 surge knobs
  Millis surge_l{10'000};
  Millis bid_validity{10'000};        // how long a bid's reservation holds
  Millis eta{5'000};                  // promised time from AWARD to result
  std::uint32_t latency_window = 64;  // jobs in the p95 estimate
  // How long a PRICE we announced is honoured for posted-price awards that name it. Routers see
  // a PRICE only after the relays carried it, and surge moves with every job, so an award priced
  // from the previous PRICE must not fail for that alone.
  Millis price_honour{600'000};
  auto fields() const {
    return std::tie(self, models, max_concurrency, surge_q, surge_l, bid_validity, eta,
                    latency_window, price_honour);
  }
  auto fields() {
    return std::tie(self, models, max_concurrency, surge_q, surge_l, bid_validity, eta,
                    latency_window, price_honour);
  }
};

enum RecordType : std::uint16_t {
  kRfbReceived = 1,      // a fresh, verified RFB for a model we serve
  kBidSent = 2,          // the runtime signed the BID the machine asked for
  kAwardSeen = 3,        // an AWARD on the relays (ours or someone else's)
  kCancelSeen = 4,       // a CANCEL on the relays
  kJobSubmitted = 5,     // a JOB_SUBMIT that passed the data plane's checks (nips/F-04 1-6, 8)
  kJobFinished = 6,      // the runner finished (or failed) a job
  kTimerFired = 7,       // a reservation lapsed
  kStartup = 8,          // the node (re)started: jobs it was running are lost
  kPolicySet = 9,        // the policy in force from now on (NodePolicy)
  kPriceAnnounced = 10,  // the runtime signed a PRICE (posted-price awards name it)
};

enum EffectType : std::uint16_t {
  kComposeBid = 1,  // build, seal, sign the BID; append kBidSent
  kPublish = 2,     // send this event to the relays
  kArmTimer = 3,    // append kTimerFired at `at`
};

struct RfbReceived {
  EventId rfb_id;
  PublicKey router;
  JobId job_id;
  std::string model, job_type;
  protocol::PrivacyLevel privacy = protocol::PrivacyLevel::pl0;
  Tokens input_tokens = 0, max_output_tokens = 1;
  Msat max_price;
  Millis deadline;
  bool stream = false;
  auto fields() const {
    return std::tie(rfb_id, router, job_id, model, job_type, privacy, input_tokens,
                    max_output_tokens, max_price, deadline, stream);
  }
  auto fields() {
    return std::tie(rfb_id, router, job_id, model, job_type, privacy, input_tokens,
                    max_output_tokens, max_price, deadline, stream);
  }
};

struct BidSent {
  EventId rfb_id;
  EventId bid_id;
  protocol::CapacityToken capacity_token;
  std::string event_json;
  auto fields() const { return std::tie(rfb_id, bid_id, capacity_token, event_json); }
  auto fields() { return std::tie(rfb_id, bid_id, capacity_token, event_json); }
};

struct AwardSeen {
  EventId award_id;
  PublicKey router;
  PublicKey node;  // the winner (p tag)
  std::optional<EventId> rfb_id;
  auto fields() const { return std::tie(award_id, router, node, rfb_id); }
  auto fields() { return std::tie(award_id, router, node, rfb_id); }
};

struct CancelSeen {
  EventId cancel_id;
  PublicKey router;
  std::optional<EventId> rfb_id, award_id;
  JobId job_id;
  auto fields() const { return std::tie(cancel_id, router, rfb_id, award_id, job_id); }
  auto fields() { return std::tie(cancel_id, router, rfb_id, award_id, job_id); }
};

// A JOB_SUBMIT and its AWARD after the cryptographic and binding checks. The machine decides the
// rest: one job per award, the reservation (auction) or a free slot (posted price).
struct JobSubmitted {
  EventId submit_id;
  EventId award_id;
  PublicKey router;
  JobId job_id;
  Msat price;
  std::optional<EventId> rfb_id;                          // auction award
  std::optional<protocol::CapacityToken> capacity_token;  // auction award
  std::optional<EventId> price_id;                        // posted-price award
  std::string model, job_type;                            // posted price: what was asked
  Tokens input_tokens = 0, max_output_tokens = 1;
  // The AWARD's submit_by (Unix seconds): the data plane refuses the AWARD after it, so its id
  // need not be remembered as used for longer (see NodeMachine::kUsedAwards).
  std::int64_t submit_by = 0;
  auto fields() const {
    return std::tie(submit_id, award_id, router, job_id, price, rfb_id, capacity_token, price_id,
                    model, job_type, input_tokens, max_output_tokens, submit_by);
  }
  auto fields() {
    return std::tie(submit_id, award_id, router, job_id, price, rfb_id, capacity_token, price_id,
                    model, job_type, input_tokens, max_output_tokens, submit_by);
  }
};

struct JobFinished {
  PublicKey router;
  JobId job_id;
  bool ok = false;
  Tokens tokens_in = 0, tokens_out = 0;
  Millis wall;
  Msat price;
  auto fields() const { return std::tie(router, job_id, ok, tokens_in, tokens_out, wall, price); }
  auto fields() { return std::tie(router, job_id, ok, tokens_in, tokens_out, wall, price); }
};

struct TimerFired {
  EventId rfb_id;  // the reservation that may have lapsed
  auto fields() const { return std::tie(rfb_id); }
  auto fields() { return std::tie(rfb_id); }
};

struct PriceAnnounced {
  EventId price_id;
  std::string model, job_type;
  std::uint32_t surge_milli = protocol::Surge::kScale;  // the surge in that PRICE
  UnixMillis at = 0;                                    // set by the reducer: the record's time
  auto fields() const { return std::tie(price_id, model, job_type, surge_milli, at); }
  auto fields() { return std::tie(price_id, model, job_type, surge_milli, at); }
};

struct Startup {
  std::uint64_t pid = 0;
  auto fields() const { return std::tie(pid); }
  auto fields() { return std::tie(pid); }
};

// ---- effects ----

struct ComposeBid {
  EventId rfb_id;
  PublicKey router;
  JobId job_id;
  Msat price, in_per_1k, out_per_1k, min;
  Millis eta;
  std::int64_t valid_until = 0;  // Unix seconds
  auto fields() const {
    return std::tie(rfb_id, router, job_id, price, in_per_1k, out_per_1k, min, eta, valid_until);
  }
  auto fields() {
    return std::tie(rfb_id, router, job_id, price, in_per_1k, out_per_1k, min, eta, valid_until);
  }
};

struct Publish {
  std::string event_json;
  auto fields() const { return std::tie(event_json); }
  auto fields() { return std::tie(event_json); }
};

struct ArmTimer {
  EventId rfb_id;
  UnixMillis at = 0;
  auto fields() const { return std::tie(rfb_id, at); }
  auto fields() { return std::tie(rfb_id, at); }
};

// ---- projections ----

enum class SlotState : std::uint8_t { composing, bid, won, used, released };

struct Reservation {
  EventId rfb_id;
  PublicKey router;
  JobId job_id;
  SlotState state = SlotState::composing;
  Msat price;
  Msat in_per_1k, out_per_1k, min;  // the bid's rates: what METERING charges (nips/F-04)
  std::string model;
  std::optional<protocol::CapacityToken> capacity_token;
  std::int64_t valid_until = 0;  // Unix seconds
  auto fields() const {
    return std::tie(rfb_id, router, job_id, state, price, in_per_1k, out_per_1k, min, model,
                    capacity_token, valid_until);
  }
  auto fields() {
    return std::tie(rfb_id, router, job_id, state, price, in_per_1k, out_per_1k, min, model,
                    capacity_token, valid_until);
  }
};

struct Load {
  std::uint32_t active = 0;              // jobs running
  std::uint32_t reserved = 0;            // slots held for bids
  std::vector<std::uint64_t> recent_ms;  // latency of the last jobs, newest last
  std::uint64_t jobs_done = 0, jobs_failed = 0;
  Msat earned;
  auto fields() const {
    return std::tie(active, reserved, recent_ms, jobs_done, jobs_failed, earned);
  }
  auto fields() { return std::tie(active, reserved, recent_ms, jobs_done, jobs_failed, earned); }

  Millis p95() const;
  std::uint32_t free(std::uint32_t max_concurrency) const {
    return active + reserved >= max_concurrency ? 0 : max_concurrency - active - reserved;
  }
};

class NodeMachine final : public machine::Machine {
 public:
  // What the node keeps, and for how long. Nothing grows with the number of jobs or RFBs: a
  // reservation goes kExpirySlack after its valid_until, a used AWARD id kExpirySlack after its
  // submit_by (the data plane refuses the AWARD from then on, so it can't be used twice), and
  // only the newest kKeepFinishedJobs finished jobs are kept.
  enum Table : machine::TableId {
    kReservations = 0,  // RFB id -> Reservation, until valid_until + slack
    kJobs = 1,          // router ‖ job id -> NodeJob: running ones and the newest finished
    kUsedAwards = 2,    // AWARD id -> router ‖ job id, until submit_by + slack
    kLoad = 3,          // "load" -> Load
    kRunning = 4,       // router ‖ job id -> "" while the job runs
    kConfig = 5,        // "policy" -> NodePolicy; "finished" -> first, next (be64 each)
    kPrices = 6,        // PRICE id -> PriceAnnounced, while honoured
    kFinished = 7,      // order finished (be64) -> router ‖ job id: the newest kKeepFinishedJobs
    kExpiry = 8,        // when (be64 Unix s) ‖ 'a' AWARD id | 'r' RFB id -> "": what lapses when
  };
  static constexpr std::uint64_t kKeepFinishedJobs = 1000;
  static constexpr std::int64_t kExpirySlack = 60;     // seconds: clock steps, the submit window
  static constexpr std::size_t kExpiryPerRecord = 16;  // lapsed entries one record drops at most

  std::string_view name() const override { return "node"; }
  // 2: JobSubmitted carries submit_by, and reservations, used AWARD ids and finished jobs lapse.
  std::uint32_t version() const override { return 2; }
  std::span<const std::string_view> tables() const override;
  machine::Applied apply(const machine::Record& record, machine::StateTxn& txn) const override;

  static NodePolicy policy(const machine::StateTxn& txn);
  static Load load(const machine::StateTxn& txn);
  static std::optional<Reservation> reservation(const machine::StateTxn& txn, const EventId& rfb);
  // A PRICE of ours still honoured (posted-price awards name it), with the surge it announced.
  static std::optional<PriceAnnounced> price(const machine::StateTxn& txn, const EventId& price_id);

  static machine::Record record(const RfbReceived& r, UnixMillis at);
  static machine::Record record(const BidSent& r, UnixMillis at);
  static machine::Record record(const AwardSeen& r, UnixMillis at);
  static machine::Record record(const CancelSeen& r, UnixMillis at);
  static machine::Record record(const JobSubmitted& r, UnixMillis at);
  static machine::Record record(const JobFinished& r, UnixMillis at);
  static machine::Record record(const TimerFired& r, UnixMillis at);
  static machine::Record record(const Startup& r, UnixMillis at);
  static machine::Record record(const PriceAnnounced& r, UnixMillis at);
  static machine::Record record(const NodePolicy& r, UnixMillis at);

 private:
  class Step;
};

}  // namespace fedai::node
