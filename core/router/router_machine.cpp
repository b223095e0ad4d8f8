#include "core/router/router_machine.h"

#include <algorithm>
#include <cstring>

#include "core/machine/record_fields.h"
#include "core/machine/retention.h"
#include "core/protocol/auction.h"
#include "core/protocol/data_plane.h"
#include "core/protocol/price.h"

namespace fedai::router {
namespace {

std::string key_of(const JobId& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), 16);
}
std::string key_of(const PublicKey& pk) {
  return std::string(reinterpret_cast<const char*>(pk.data()), 32);
}
std::string key_of(const EventId& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), 32);
}

std::string join_key(std::initializer_list<std::string_view> parts) {
  std::string k;
  bool first = true;
  for (auto p : parts) {
    if (!first) k += '\0';
    first = false;
    k += p;
  }
  return k;
}

template <class T>
machine::Record make_record(std::uint16_t type, const T& value, UnixMillis at,
                            std::optional<EventId> event_id = std::nullopt) {
  return machine::Record{type, at, event_id, record_fields::encode(value)};
}

using machine::Applied;
using protocol::ProtocolError;
using protocol::refuse;

// An auction book's refusal of a bid (a NIP-01-prefixed Error) as an F-06 refusal.
protocol::Refusal refusal_of(const Error& e) {
  ProtocolError code = e.code == ErrorCode::duplicate ? ProtocolError::duplicate
                       : e.code == ErrorCode::blocked ? ProtocolError::blocked
                                                      : ProtocolError::invalid;
  return {code, e};
}

template <class T>
T decode_or_throw(const machine::Record& r) {
  auto v = record_fields::decode<T>(r.payload);
  if (!v) throw std::invalid_argument("malformed record of type " + std::to_string(r.type));
  return std::move(*v);
}

std::string hex_of(const JobId& id) {
  return id.hex();
}

}  // namespace

std::string_view to_string(JobPhase p) {
  switch (p) {
    case JobPhase::composing_rfb:
      return "composing_rfb";
    case JobPhase::bidding:
      return "bidding";
    case JobPhase::cooling:
      return "cooling";
    case JobPhase::composing_award:
      return "composing_award";
    case JobPhase::dispatching:
      return "dispatching";
    case JobPhase::done:
      return "done";
    case JobPhase::failed:
      return "failed";
    case JobPhase::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::span<const std::string_view> RouterMachine::tables() const {
  static constexpr std::string_view names[] = {"jobs",  "active", "auctions", "rfbs",
                                               "caps",  "prices", "status",   "peers",
                                               "spend", "config", "finished"};
  return names;
}

// One reducer call: the transaction, the record's time and the policy.
class RouterMachine::Step {
 public:
  Step(machine::StateTxn& txn, UnixMillis now)
      : p_(RouterMachine::policy(txn)), txn_(txn), now_(now) {}

  Applied apply(const machine::Record& r) {
    switch (r.type) {
      case kJobRequested:
        return job_requested(decode_or_throw<JobRequested>(r));
      case kRfbSent:
        rfb_sent(decode_or_throw<EventSent>(r));
        return {};
      case kAwardSent:
        award_sent(decode_or_throw<EventSent>(r));
        return {};
      case kCancelSent:
        cancel_sent(decode_or_throw<EventSent>(r));
        return {};
      case kCapsReceived:
        caps_received(decode_or_throw<CapsReceived>(r));
        return {};
      case kPriceReceived:
        price_received(decode_or_throw<PriceReceived>(r));
        return {};
      case kStatusReceived:
        status_received(decode_or_throw<StatusReceived>(r));
        return {};
      case kBidReceived:
        return bid_received(decode_or_throw<BidReceived>(r));
      case kTimerFired:
        timer_fired(decode_or_throw<TimerFired>(r));
        return {};
      case kDispatchOutcome:
        dispatch_outcome(decode_or_throw<DispatchOutcome>(r));
        return {};
      case kClientGone:
        client_gone(decode_or_throw<ClientGone>(r));
        return {};
      case kStartup:
        startup();
        return {};
      case kPolicySet:
        txn_.put(kConfig, "policy", r.payload);
        return {};
      default:
        throw std::invalid_argument("unknown router record type " + std::to_string(r.type));
    }
  }

 private:
  // ---- jobs ----

  Applied job_requested(const JobRequested& req) {
    if (txn_.get(kJobs, key_of(req.job_id)))
      return refuse(ProtocolError::duplicate, "job id already in use");
    if (!protocol::is_model_id(req.model))
      return refuse(ProtocolError::invalid, "model id is malformed");
    if (!protocol::is_job_type(req.job_type))
      return refuse(ProtocolError::invalid, "job type is malformed");
    if (req.max_output_tokens < 1)
      return refuse(ProtocolError::invalid, "max_output_tokens must be at least 1");
    if (req.max_price.value() < 1)
      return refuse(ProtocolError::invalid, "max_price_msat must be at least 1");
    if (req.bid_window < protocol::kMinBidWindow || req.bid_window > protocol::kMaxBidWindow)
      return refuse(ProtocolError::invalid,
                    "bid window must be between " +
                        std::to_string(protocol::kMinBidWindow.value()) + " and " +
                        std::to_string(protocol::kMaxBidWindow.value()) + " ms");

    JobState job;
    job.request = req;
    job.created_at = now_;
    txn_.put(kActive, key_of(req.job_id), "");

    // Taken, and answered at once: a job no node can take fails (its client hears the code).
    if (req.privacy == protocol::PrivacyLevel::pl3) {
      fail(job, ProtocolError::privacy_unsupported, "PL3 jobs never leave the router");
    } else if (auto why = too_large_for_every_node(req)) {
      fail(job, ProtocolError::too_large, *why);
    } else if (capped() && !spend().allows(now_, req.max_price, p_.spending)) {
      fail(job, ProtocolError::over_cap, "the job's price could exceed the router's spending cap");
    } else if (req.mode != JobMode::auction && try_posted(job)) {
      save(job);
    } else if (req.mode == JobMode::posted) {
      fail(job, ProtocolError::no_bids, "no posted price fits the job");
    } else {
      start_auction(job);
      save(job);
    }
    return {};
  }

  void start_auction(JobState& job) {
    ++job.rounds;
    job.phase = JobPhase::composing_rfb;
    emit(kComposeRfb, "rfb:" + hex_of(job.request.job_id) + ":" + std::to_string(job.rounds),
         ComposeRfb{job.request.job_id, job.rounds});
  }

  void rfb_sent(const EventSent& ev) {
    auto job = load_job(ev.job_id);
    if (!job || job->phase != JobPhase::composing_rfb) return;  // the job moved on meanwhile
    market::AuctionBook book;
    book.terms = market::AuctionTerms{
        ev.event_id, job->request.job_id,    p_.self, job->request.max_price, job->request.deadline,
        now_,        job->request.bid_window};
    // A late bid for an earlier round names an RFB that is no longer the job's.
    if (job->rfb_id) txn_.erase(kRfbs, key_of(*job->rfb_id));
    job->rfb_id = ev.event_id;
    job->phase = JobPhase::bidding;
    job->rfb_at = now_;
    txn_.put(kAuctions, key_of(job->request.job_id), book.encode());
    txn_.put(kRfbs, key_of(ev.event_id), key_of(job->request.job_id));
    publish(ev);
    arm(TimerKind::bid_window, job->request.job_id, job->rounds, book.terms.closes_at());
    save(*job);
  }

  Applied bid_received(const BidReceived& b) {
    auto job_key = txn_.get(kRfbs, key_of(b.bid.rfb_ref));
    if (!job_key) return refuse(ProtocolError::invalid, "BID names no RFB of ours");
    JobId job_id;
    std::memcpy(job_id.data(), job_key->data(), 16);
    auto book = load_auction(job_id);
    auto job = load_job(job_id);
    if (!book || !job) return refuse(ProtocolError::invalid, "BID names no RFB of ours");

    market::PeerView view;
    const NodeFit fit = node_fit(job->request, b.bid.bidder);
    view.known = fit != NodeFit::unknown;
    if (fit == NodeFit::too_small)
      return refuse(ProtocolError::too_large,
                    "the job is larger than the node announces it takes (max_body_bytes, "
                    "context_tokens or max_output_tokens)");
    PeerStats stats = peer(b.bid.bidder);
    view.breaker_open = stats.breaker.is_open(now_);
    view.reputation_ppm = stats.reputation.score_ppm();
    view.trial = market::on_trial(stats.reputation.jobs, stats.jobs_failed, p_.auction.trial_jobs);
    if (auto st = book->offer(b.bid, view); !st) return refusal_of(st.error());
    txn_.put(kAuctions, key_of(job_id), book->encode());
    return {};
  }

  void timer_fired(const TimerFired& t) {
    auto job = load_job(t.job_id);
    if (!job || job->terminal()) return;
    switch (t.kind) {
      case TimerKind::bid_window: {
        if (job->phase != JobPhase::bidding || t.attempt != job->rounds) return;
        auto book = load_auction(t.job_id);
        if (!book) return;
        auto winner = pick_bid(*book, [&] { return book->clear(now_, p_.auction); });
        job->cleared_at = now_;
        txn_.put(kAuctions, key_of(t.job_id), book->encode());
        if (winner) {
          award_bid(*job, *winner);
        } else if (job->rounds < p_.auction.retry_budget) {
          job->phase = JobPhase::cooling;
          arm(TimerKind::cooldown, t.job_id, job->rounds,
              std::max(now_, book->reauction_not_before(p_.auction)));
        } else {
          return fail(*job, protocol::ProtocolError::no_bids, "no valid bid in any auction");
        }
        return save(*job);
      }
      case TimerKind::cooldown:
        if (job->phase != JobPhase::cooling || t.attempt != job->rounds) return;
        start_auction(*job);
        return save(*job);
      case TimerKind::dispatch_deadline:
        if (job->phase != JobPhase::dispatching || t.attempt != job->attempts) return;
        return attempt_failed(*job, protocol::ProtocolError::timeout, market::Outcome::timeout,
                              "no answer from the node before the deadline");
    }
  }

  void award_bid(JobState& job, const market::AcceptedBid& winner) {
    const market::BidOffer& bid = winner.offer;
    ++job.attempts;
    job.posted = false;
    job.node = bid.bidder;
    job.endpoint = bid.endpoint;
    job.price = bid.price;
    job.in_per_1k = bid.in_per_1k;
    job.out_per_1k = bid.out_per_1k;
    job.min = bid.min;
    job.eta = bid.eta;
    job.bid_id = bid.bid_id;
    job.price_id.reset();
    job.capacity_token = bid.capacity_token;
    compose_award(job);
  }

  void compose_award(JobState& job) {
    job.phase = JobPhase::composing_award;
    job.award_id.reset();
    // The node was chosen because nothing excludes it: a breaker past its open period makes
    // this award its one trial (half-open), which other jobs then wait for.
    PeerStats stats = peer(*job.node);
    job.trial = stats.breaker.state != market::Breaker::State::closed && stats.breaker.allows(now_);
    if (job.trial) save_peer(*job.node, stats);
    ComposeAward a;
    a.job_id = job.request.job_id;
    a.attempt = job.attempts;
    a.node = *job.node;
    a.price = job.price;
    if (job.posted) {
      a.price_id = job.price_id;
    } else {
      a.rfb_id = job.rfb_id;
      a.bid_id = job.bid_id;
      a.capacity_token = job.capacity_token;
    }
    a.submit_by = (now_ + static_cast<UnixMillis>(p_.submit_window.value())) / 1000 + 1;
    a.deadline = job.request.deadline;
    emit(kComposeAward, "award:" + hex_of(job.request.job_id) + ":" + std::to_string(job.attempts),
         a);
  }

  void award_sent(const EventSent& ev) {
    auto job = load_job(ev.job_id);
    if (!job || job->phase != JobPhase::composing_award || ev.attempt != job->attempts) return;
    job->award_id = ev.event_id;
    job->phase = JobPhase::dispatching;
    job->awarded_at = now_;
    // A posted-price award travels only with the job; an auction's is published so the losers
    // learn the outcome (nips/F-03).
    if (!job->posted) {
      publish(ev);
      if (auto book = load_auction(job->request.job_id); book && book->mark_awarded())
        txn_.put(kAuctions, key_of(job->request.job_id), book->encode());
    }
    Dispatch d{job->request.job_id, job->attempts,  *job->node,      job->endpoint, ev.event_json,
               job->price,          job->in_per_1k, job->out_per_1k, job->min};
    emit(kDispatch, "dispatch:" + hex_of(job->request.job_id) + ":" + std::to_string(job->attempts),
         d);
    arm(TimerKind::dispatch_deadline, job->request.job_id, job->attempts,
        now_ + static_cast<UnixMillis>(job->request.deadline.value() + p_.dispatch_slack.value()));
    save(*job);
  }

  void cancel_sent(const EventSent& ev) { publish(ev); }

  void dispatch_outcome(const DispatchOutcome& o) {
    auto job = load_job(o.job_id);
    if (!job || job->phase != JobPhase::dispatching || o.attempt != job->attempts) return;
    PeerStats stats = peer(*job->node);
    if (o.ok) {
      stats.reputation.record(market::Outcome::success, o.wall, job->eta);
      stats.breaker.on_success();
      job->trial = false;
      ++stats.jobs_ok;
      stats.paid = saturating_add(stats.paid, o.price);
      save_peer(*job->node, stats);
      if (capped()) {
        auto ledger = spend();
        ledger.record(now_, o.price);
        txn_.put(kSpend, "spend", ledger.encode());
      }
      job->phase = JobPhase::done;
      job->price = o.price;
      job->finished_at = now_;
      retire(job->request.job_id);
      emit(kClientReply, "reply:" + hex_of(job->request.job_id),
           ClientReply{job->request.job_id, true, job->attempts, protocol::ProtocolError::internal,
                       ""});
      return save(*job);
    }
    attempt_failed(*job, o.error, o.kind, o.reason, o.retry_after);
  }

  // The current award failed: record it against the node, take the award back, try the next
  // bidder or posted offer within the budget, else fail the job.
  //
  // Backpressure (429 ERR_RATE_LIMITED, ERR_BUSY: nips/F-03) is no failure of the node: neither
  // its reputation nor its breaker hears of it. The job goes to another node within the budget;
  // for busy_pause other nodes go first, and a Retry-After excludes the node that long. A job
  // failed after backpressure tells its client ERR_BUSY (503), not the node's 429.
  void attempt_failed(JobState& job, protocol::ProtocolError error, market::Outcome kind,
                      const std::string& reason, Millis retry_after = Millis{0}) {
    PeerStats stats = peer(*job.node);
    const bool backpressure =
        error == protocol::ProtocolError::rate_limited || error == protocol::ProtocolError::busy;
    if (backpressure) {
      ++stats.jobs_busy;
      const auto until = [&](Millis pause) {
        return now_ + static_cast<UnixMillis>(pause.value());
      };
      stats.busy_until = std::max(stats.busy_until, until(p_.busy_pause));
      if (retry_after.value() > 0) {
        stats.retry_at =
            std::max(stats.retry_at, until(min(retry_after, RouterPolicy::kMaxBusyPause)));
        stats.busy_until = std::max(stats.busy_until, stats.retry_at);
      }
      if (job.trial) stats.breaker.release_trial(now_);
      error = protocol::ProtocolError::busy;
    } else {
      stats.reputation.record(kind, protocol::Millis{0}, job.eta);
      // Sent when its AWARD was: concurrent jobs one crash killed count once (F-03).
      stats.breaker.on_failure(now_, job.awarded_at, kind, p_.breaker);
      ++stats.jobs_failed;
    }
    job.trial = false;
    save_peer(*job.node, stats);
    job.tried.push_back(*job.node);
    cancel(job, error);

    if (job.attempts < p_.auction.retry_budget) {
      if (!job.posted) {
        if (auto book = load_auction(job.request.job_id)) {
          auto next = pick_bid(*book, [&] { return book->winner_failed(now_, p_.auction); });
          txn_.put(kAuctions, key_of(job.request.job_id), book->encode());
          if (next) {
            award_bid(job, *next);
            return save(job);
          }
        }
      } else if (try_posted(job)) {
        return save(job);
      }
      if (job.request.mode != JobMode::posted && job.rounds < p_.auction.retry_budget) {
        UnixMillis at = now_;
        if (auto book = load_auction(job.request.job_id))
          at = std::max(at, book->reauction_not_before(p_.auction));
        job.phase = JobPhase::cooling;
        arm(TimerKind::cooldown, job.request.job_id, job.rounds, at);
        return save(job);
      }
    }
    fail(job, error, reason + " (retry budget spent)");
  }

  void client_gone(const ClientGone& g) {
    auto job = load_job(g.job_id);
    if (!job || job->terminal()) return;
    release_trial(*job);
    cancel(*job, protocol::ProtocolError::cancelled);
    job->phase = JobPhase::cancelled;
    job->reason = "the client went away";
    job->finished_at = now_;
    retire(g.job_id);
    save(*job);
  }

  // The process restarted: the clients of in-flight jobs are gone with it, so each such job is
  // failed explicitly and its auction or award taken back.
  void startup() {
    std::vector<JobId> ids;
    txn_.scan(kActive, "", [&](std::string_view key, std::string_view) {
      JobId id;
      std::memcpy(id.data(), key.data(), 16);
      ids.push_back(id);
      return true;
    });
    for (const JobId& id : ids) {
      auto job = load_job(id);
      if (!job) continue;
      release_trial(*job);
      cancel(*job, protocol::ProtocolError::cancelled);
      job->phase = JobPhase::failed;
      job->error = protocol::ProtocolError::cancelled;
      job->reason = "the router restarted";
      job->finished_at = now_;
      retire(id);
      save(*job);
    }
  }

  void fail(JobState& job, protocol::ProtocolError error, const std::string& reason) {
    job.phase = JobPhase::failed;
    job.error = error;
    job.reason = reason;
    job.finished_at = now_;
    retire(job.request.job_id);
    emit(kClientReply, "reply:" + hex_of(job.request.job_id),
         ClientReply{job.request.job_id, false, job.attempts, error, reason});
    save(job);
  }

  // Takes back whatever the job has out: an open auction (CANCEL on the RFB) or an award
  // (CANCEL to the node).
  void cancel(JobState& job, protocol::ProtocolError reason) {
    bool auction_open = job.phase == JobPhase::bidding || job.phase == JobPhase::composing_award;
    bool awarded = job.phase == JobPhase::dispatching && job.award_id;
    if (auction_open) {
      if (auto book = load_auction(job.request.job_id); book && job.phase == JobPhase::bidding) {
        book->cancel();
        txn_.put(kAuctions, key_of(job.request.job_id), book->encode());
      }
    }
    if (!auction_open && !awarded) return;
    ComposeCancel c{job.request.job_id, job.posted ? std::nullopt : job.rfb_id,
                    awarded ? job.award_id : std::nullopt, awarded ? job.node : std::nullopt,
                    reason};
    emit(kComposeCancel,
         "cancel:" + hex_of(job.request.job_id) + ":" + std::to_string(job.rounds) + ":" +
             std::to_string(job.attempts),
         c);
  }

  // ---- posted prices ----

  bool try_posted(JobState& job) {
    const JobRequested& req = job.request;
    struct Candidate {
      PriceReceived price;
      CapsReceived caps;
    };
    std::vector<Candidate> candidates;
    std::vector<market::PostedOffer> offers;
    std::string prefix = join_key({req.model, req.job_type}) + std::string(1, '\0');
    txn_.scan(kPrices, prefix, [&](std::string_view, std::string_view value) {
      auto price = record_fields::decode<PriceReceived>(value);
      if (!price) return true;
      auto caps_bytes =
          txn_.get(kCaps, join_key({req.model, key_of(price->node), price->instance}));
      if (!caps_bytes) return true;
      auto caps = record_fields::decode<CapsReceived>(*caps_bytes);
      if (!caps || !serves(*caps, req)) return true;  // its limits included
      for (const auto& t : job.tried)
        if (t == price->node) return true;
      auto amount = protocol::price_for_job(price->in_per_1k, price->out_per_1k, price->min,
                                            protocol::Surge::from_milli(price->surge_milli),
                                            req.input_tokens, req.max_output_tokens);
      if (!amount) return true;
      market::PostedOffer offer;
      offer.node = price->node;
      offer.endpoint = caps->endpoint;
      offer.price = *amount;
      PeerStats stats = peer(price->node);
      offer.reputation_ppm = stats.reputation.score_ppm();
      offer.trial =
          market::on_trial(stats.reputation.jobs, stats.jobs_failed, p_.auction.trial_jobs);
      offer.breaker_open = stats.excluded(now_);
      offer.paused = stats.paused(now_);
      offer.stale = now_ - caps->created_at * 1000 > static_cast<UnixMillis>(p_.caps_stale.value());
      if (auto status_bytes = txn_.get(kStatus, join_key({key_of(price->node), price->instance}))) {
        if (auto status = record_fields::decode<StatusReceived>(*status_bytes)) {
          if (status->expires_at * 1000 <= now_) offer.stale = true;
          offer.load = status->state == protocol::Backpressure::saturated
                           ? market::PostedOffer::Load::saturated
                       : status->state == protocol::Backpressure::busy
                           ? market::PostedOffer::Load::busy
                           : market::PostedOffer::Load::normal;
        }
      }
      offers.push_back(offer);
      candidates.push_back({*price, *caps});
      return true;
    });
    auto ranked =
        market::rank_posted(offers, req.max_price, p_.auction.w_rep_ppm, p_.auction.rep_floor_ppm);
    if (ranked.empty()) return false;
    const market::PostedOffer& best = ranked.front();
    for (const Candidate& c : candidates) {
      if (c.price.node != best.node || c.caps.endpoint != best.endpoint) continue;
      ++job.attempts;
      job.posted = true;
      job.node = best.node;
      job.endpoint = best.endpoint;
      job.price = best.price;
      // METERING charges the PRICE's rates with its surge (nips/F-04), as the award's price does.
      auto surge = protocol::Surge::from_milli(c.price.surge_milli);
      job.in_per_1k = protocol::surged_rate(c.price.in_per_1k, surge);
      job.out_per_1k = protocol::surged_rate(c.price.out_per_1k, surge);
      job.min = c.price.min;
      job.eta = job.request.deadline;
      job.price_id = c.price.event_id;
      job.bid_id.reset();
      job.capacity_token.reset();
      compose_award(job);
      return true;
    }
    return false;
  }

  // The instance offers the job's type (of the job's model: the caller's key says so).
  static bool offers(const CapsReceived& caps, const JobRequested& req) {
    for (const auto& t : caps.job_types)
      if (t == req.job_type) return true;
    return false;
  }

  // The instance takes a job this large by the limits it announces (F-02): the body as it is
  // sent (sealed for PL1+: the node's max_body_bytes applies to those bytes), the input estimate
  // and the completion within its context, the completion within its max_output_tokens. A
  // context or body limit of 0 was not announced and is not checked.
  static bool fits(const CapsReceived& caps, const JobRequested& req) {
    if (caps.max_output_tokens < req.max_output_tokens) return false;
    const std::uint64_t tokens = std::uint64_t{req.input_tokens} + req.max_output_tokens;
    if (caps.context_tokens != 0 && tokens > caps.context_tokens) return false;
    return caps.max_body_bytes == 0 || req.body_bytes == 0 ||
           protocol::job_body_size(req.body_bytes, req.privacy) <= caps.max_body_bytes;
  }

  static bool serves(const CapsReceived& caps, const JobRequested& req) {
    return offers(caps, req) && caps.privacy_max >= req.privacy &&
           (!req.stream || caps.streaming) && fits(caps, req);
  }

  enum class NodeFit : std::uint8_t { unknown, fits, too_small };

  // Whether `node` announced CAPS for the job's model (unknown peer otherwise), and if so
  // whether one of its instances takes a job this large.
  NodeFit node_fit(const JobRequested& req, const PublicKey& node) {
    NodeFit fit = NodeFit::unknown;
    txn_.scan(kCaps, join_key({req.model, key_of(node)}) + std::string(1, '\0'),
              [&](std::string_view, std::string_view value) {
                auto caps = record_fields::decode<CapsReceived>(value);
                fit = caps && fits(*caps, req) ? NodeFit::fits : NodeFit::too_small;
                return fit != NodeFit::fits;
              });
    return fit;
  }

  // Why no node could take the job, when nodes offer its model and job type but none announces
  // limits it fits (ERR_TOO_LARGE before any auction: F-06). Nothing while no node offers the
  // model at all: the auction finds that out (ERR_NO_BIDS), as it does a privacy level no node
  // accepts.
  std::optional<std::string> too_large_for_every_node(const JobRequested& req) {
    bool offered = false, fit = false;
    std::uint64_t body_limit = 0, context_limit = 0, output_limit = 0;  // the largest announced
    bool body_unlimited = false, context_unlimited = false;
    txn_.scan(kCaps, req.model + std::string(1, '\0'), [&](std::string_view, std::string_view v) {
      auto caps = record_fields::decode<CapsReceived>(v);
      if (!caps || !offers(*caps, req)) return true;
      offered = true;
      if (fits(*caps, req)) {
        fit = true;
        return false;
      }
      body_unlimited = body_unlimited || caps->max_body_bytes == 0;
      context_unlimited = context_unlimited || caps->context_tokens == 0;
      body_limit = std::max(body_limit, caps->max_body_bytes);
      context_limit = std::max<std::uint64_t>(context_limit, caps->context_tokens);
      output_limit = std::max<std::uint64_t>(output_limit, caps->max_output_tokens);
      return true;
    });
    if (!offered || fit) return std::nullopt;
    const std::uint64_t body = protocol::job_body_size(req.body_bytes, req.privacy);
    const std::uint64_t tokens = std::uint64_t{req.input_tokens} + req.max_output_tokens;
    std::string why;
    auto add = [&](const std::string& part) { why += (why.empty() ? "" : "; ") + part; };
    if (!body_unlimited && req.body_bytes != 0 && body > body_limit)
      add("its body is " + std::to_string(body) + " bytes as sent, the largest a node takes is " +
          std::to_string(body_limit));
    if (!context_unlimited && tokens > context_limit)
      add("it needs " + std::to_string(req.input_tokens) + " + " +
          std::to_string(req.max_output_tokens) + " tokens, the largest context is " +
          std::to_string(context_limit));
    if (req.max_output_tokens > output_limit)
      add("max_tokens is " + std::to_string(req.max_output_tokens) +
          ", the most a node completes is " + std::to_string(output_limit));
    if (why.empty()) why = "no one node takes both its body and its tokens";
    return "the job is larger than any node serving '" + req.model + "' takes (" + why + ")";
  }

  // Awards a bid with `pick` (clear or winner_failed), passing over bidders excluded now
  // (breaker open, trial out, Retry-After: marked as tried for good) and, while a bid from
  // another is left, those paused after a busy answer (held back for this pick only).
  template <class Pick>
  std::optional<market::AcceptedBid> pick_bid(market::AuctionBook& book, Pick pick) {
    std::vector<PublicKey> held;
    bool other = false;
    for (auto& b : book.bids) {
      if (b.tried) continue;
      PeerStats stats = peer(b.offer.bidder);
      if (stats.excluded(now_)) {
        b.tried = true;
      } else if (stats.paused(now_)) {
        held.push_back(b.offer.bidder);
      } else {
        other = other || b.offer.valid_at(now_);
      }
    }
    if (!other) held.clear();
    for (auto& b : book.bids)
      if (std::find(held.begin(), held.end(), b.offer.bidder) != held.end()) b.tried = true;
    auto picked = pick();
    for (auto& b : book.bids)
      if (std::find(held.begin(), held.end(), b.offer.bidder) != held.end()) b.tried = false;
    return picked;
  }

  // The job's attempt ends without a word on its node (client gone, router restarted): a trial
  // it carried is given back for the next job.
  void release_trial(JobState& job) {
    if (!job.trial || !job.node) return;
    job.trial = false;
    PeerStats stats = peer(*job.node);
    stats.breaker.release_trial(now_);
    save_peer(*job.node, stats);
  }

  // A node that announces again after its breaker opened gets its trial now (F-03).
  void announced(const PublicKey& node, std::int64_t created_at) {
    auto stats = RouterMachine::peer(txn_, node);
    if (stats && stats->breaker.on_announce(now_, created_at)) save_peer(node, *stats);
  }

  // ---- announcements ----

  void caps_received(const CapsReceived& c) {
    std::string key = join_key({c.model, key_of(c.node), c.instance});
    auto stored = stored_created_at<CapsReceived>(kCaps, key);
    if (stored && *stored > c.created_at) return;
    txn_.put(kCaps, key, record_fields::encode(c));
    if (!stored || *stored < c.created_at) announced(c.node, c.created_at);
  }

  void price_received(const PriceReceived& p) {
    std::string key = join_key({p.model, p.job_type, key_of(p.node), p.instance});
    auto stored = stored_created_at<PriceReceived>(kPrices, key);
    if (stored && *stored > p.created_at) return;
    txn_.put(kPrices, key, record_fields::encode(p));
    if (!stored || *stored < p.created_at) announced(p.node, p.created_at);
  }

  void status_received(const StatusReceived& s) {
    std::string key = join_key({key_of(s.node), s.instance});
    auto stored = stored_created_at<StatusReceived>(kStatus, key);
    if (stored && *stored > s.created_at) return;
    txn_.put(kStatus, key, record_fields::encode(s));
    if (!stored || *stored < s.created_at) announced(s.node, s.created_at);
  }

  template <class T>
  // The created_at of the announcement stored under `key`, if any: an older one is ignored, an
  // equal one (a relay's copy) replaces it, only a newer one is news of the node (F-03).
  std::optional<std::int64_t> stored_created_at(machine::TableId table, const std::string& key) {
    auto bytes = txn_.get(table, key);
    if (!bytes) return std::nullopt;
    auto stored = record_fields::decode<T>(*bytes);
    if (!stored) return std::nullopt;
    return stored->created_at;
  }

  // ---- helpers ----

  std::optional<JobState> load_job(const JobId& id) { return RouterMachine::job(txn_, id); }
  std::optional<market::AuctionBook> load_auction(const JobId& id) {
    return RouterMachine::auction(txn_, id);
  }
  void save(const JobState& job) {
    txn_.put(kJobs, key_of(job.request.job_id), record_fields::encode(job));
  }

  // A job just finished: it leaves the active set and joins the finished ones, of which the
  // newest kKeepFinishedJobs are kept (for /fedai/v1/jobs and a late look); older ones are
  // forgotten with their auction book and RFB. What outlives a job is in kPeers (counts,
  // reputation, money paid) and kSpend.
  void retire(const JobId& id) {
    txn_.erase(kActive, key_of(id));
    static constexpr machine::KeepNewest kFinishedJobs{kFinished, kConfig, "finished",
                                                       kKeepFinishedJobs};
    for (const std::string& old : kFinishedJobs.push(txn_, key_of(id))) {
      if (old.size() != 16) continue;
      JobId old_id;
      std::memcpy(old_id.data(), old.data(), 16);
      forget(old_id);
    }
  }

  void forget(const JobId& id) {
    if (auto job = load_job(id); job && job->rfb_id) txn_.erase(kRfbs, key_of(*job->rfb_id));
    txn_.erase(kAuctions, key_of(id));
    txn_.erase(kJobs, key_of(id));
  }

  PeerStats peer(const PublicKey& node) {
    return RouterMachine::peer(txn_, node).value_or(PeerStats{});
  }
  void save_peer(const PublicKey& node, const PeerStats& s) {
    txn_.put(kPeers, key_of(node), record_fields::encode(s));
  }

  // The ledger keeps every spend of the last day, read and rewritten whole with each job: only
  // worth it while a cap is set (without one, thousands of jobs a second made it the router's
  // hottest code). Spends made while no cap was set don't count once one is set.
  bool capped() const {
    return p_.spending.per_minute || p_.spending.per_hour || p_.spending.per_day;
  }

  market::SpendLedger spend() {
    auto bytes = txn_.get(kSpend, "spend");
    if (!bytes) return {};
    return market::SpendLedger::decode(*bytes).value_or(market::SpendLedger{});
  }

  void publish(const EventSent& ev) {
    emit(kPublish, "publish:" + ev.event_id.hex(), Publish{ev.event_json});
  }

  void arm(TimerKind kind, const JobId& job, std::uint32_t attempt, UnixMillis at) {
    ArmTimer t{TimerFired{kind, job, attempt}, at};
    emit(kArmTimer,
         "timer:" + std::to_string(static_cast<int>(kind)) + ":" + hex_of(job) + ":" +
             std::to_string(attempt),
         t);
  }

  template <class T>
  void emit(EffectType type, std::string id, const T& payload) {
    txn_.emit(machine::Effect{std::move(id), type, record_fields::encode(payload)});
  }

  const RouterPolicy p_;
  machine::StateTxn& txn_;
  UnixMillis now_;
};

machine::Applied RouterMachine::apply(const machine::Record& record, machine::StateTxn& txn) const {
  if (record.type == kPolicySet && !record_fields::decode<RouterPolicy>(record.payload))
    throw std::invalid_argument("malformed router policy");
  return Step(txn, record.at).apply(record);
}

RouterPolicy RouterMachine::policy(const machine::StateTxn& txn) {
  auto bytes = txn.get(kConfig, "policy");
  if (!bytes) return {};
  return record_fields::decode<RouterPolicy>(*bytes).value_or(RouterPolicy{});
}

std::optional<JobState> RouterMachine::job(const machine::StateTxn& txn, const JobId& id) {
  auto bytes = txn.get(kJobs, key_of(id));
  if (!bytes) return std::nullopt;
  return record_fields::decode<JobState>(*bytes);
}

std::optional<market::AuctionBook> RouterMachine::auction(const machine::StateTxn& txn,
                                                          const JobId& id) {
  auto bytes = txn.get(kAuctions, key_of(id));
  if (!bytes) return std::nullopt;
  return market::AuctionBook::decode(*bytes);
}

std::optional<PeerStats> RouterMachine::peer(const machine::StateTxn& txn, const PublicKey& node) {
  auto bytes = txn.get(kPeers, key_of(node));
  if (!bytes) return std::nullopt;
  return record_fields::decode<PeerStats>(*bytes);
}

std::vector<JobId> RouterMachine::active_jobs(const machine::StateTxn& txn) {
  std::vector<JobId> out;
  txn.scan(kActive, "", [&](std::string_view key, std::string_view) {
    JobId id;
    std::memcpy(id.data(), key.data(), 16);
    out.push_back(id);
    return true;
  });
  return out;
}

std::vector<std::pair<PublicKey, PeerStats>> RouterMachine::peers(const machine::StateTxn& txn) {
  std::vector<std::pair<PublicKey, PeerStats>> out;
  txn.scan(kPeers, "", [&](std::string_view key, std::string_view value) {
    auto stats = record_fields::decode<PeerStats>(value);
    if (key.size() != 32 || !stats) return true;
    PublicKey pk;
    std::memcpy(pk.data(), key.data(), 32);
    out.emplace_back(pk, *stats);
    return true;
  });
  return out;
}

namespace {
template <class T>
std::vector<T> all_of(const machine::StateTxn& txn, machine::TableId table) {
  std::vector<T> out;
  txn.scan(table, "", [&](std::string_view, std::string_view value) {
    if (auto v = record_fields::decode<T>(value)) out.push_back(std::move(*v));
    return true;
  });
  return out;
}
}  // namespace

std::vector<CapsReceived> RouterMachine::caps(const machine::StateTxn& txn) {
  return all_of<CapsReceived>(txn, kCaps);
}
std::vector<JobState> RouterMachine::jobs(const machine::StateTxn& txn) {
  return all_of<JobState>(txn, kJobs);
}
std::vector<PriceReceived> RouterMachine::prices(const machine::StateTxn& txn) {
  return all_of<PriceReceived>(txn, kPrices);
}
std::vector<StatusReceived> RouterMachine::statuses(const machine::StateTxn& txn) {
  return all_of<StatusReceived>(txn, kStatus);
}

CapsReceived caps_received(const Event& event, const protocol::CapsAnnounce& caps) {
  CapsReceived r;
  r.node = event.pubkey;
  r.event_id = event.id;
  r.created_at = event.created_at;
  r.instance = caps.instance;
  r.model = caps.model;
  r.job_types = caps.job_types;
  r.endpoint = caps.endpoint;
  r.privacy_max = caps.privacy_max;
  r.max_output_tokens = caps.max_output_tokens;
  r.streaming = caps.streaming;
  r.is_router = caps.role == protocol::Role::router;
  r.context_tokens = caps.context_tokens;
  r.max_body_bytes = caps.max_body_bytes;
  return r;
}

machine::Record RouterMachine::record(const JobRequested& r, UnixMillis at) {
  return make_record(kJobRequested, r, at);
}
machine::Record RouterMachine::record(RecordType type, const EventSent& r, UnixMillis at) {
  // No seen id: the event is the router's own, and applying it twice changes nothing (the job's
  // phase guards it). A seen id per event sent would keep two rows per job for the seen TTL.
  return make_record(type, r, at);
}
machine::Record RouterMachine::record(const CapsReceived& r, UnixMillis at) {
  return make_record(kCapsReceived, r, at, r.event_id);
}
machine::Record RouterMachine::record(const PriceReceived& r, UnixMillis at) {
  return make_record(kPriceReceived, r, at, r.event_id);
}
machine::Record RouterMachine::record(const StatusReceived& r, UnixMillis at) {
  return make_record(kStatusReceived, r, at);
}
machine::Record RouterMachine::record(const BidReceived& r, UnixMillis at) {
  return make_record(kBidReceived, r, at, r.bid.bid_id);
}
machine::Record RouterMachine::record(const TimerFired& r, UnixMillis at) {
  return make_record(kTimerFired, r, at);
}
machine::Record RouterMachine::record(const DispatchOutcome& r, UnixMillis at) {
  return make_record(kDispatchOutcome, r, at);
}
machine::Record RouterMachine::record(const ClientGone& r, UnixMillis at) {
  return make_record(kClientGone, r, at);
}
machine::Record RouterMachine::record(const Startup& r, UnixMillis at) {
  return make_record(kStartup, r, at);
}

machine::Record RouterMachine::record(const RouterPolicy& r, UnixMillis at) {
  return make_record(kPolicySet, r, at);
}

}  // namespace fedai::router
