#include "core/router/router_machine.h"

#include <algorithm>
#include <cstring>

#include "core/machine/retention.h"
#include "core/protocol/price.h"
#include "core/router/codec.h"

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
  return machine::Record{type, at, event_id, codec::encode(value)};
}

template <class T>
T decode_or_throw(const machine::Record& r) {
  auto v = codec::decode<T>(r.payload);
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
class RouterMachine::Run {
 public:
  Run(machine::StateTxn& txn, UnixMillis now)
      : p_(RouterMachine::policy(txn)), txn_(txn), now_(now) {}

  void apply(const machine::Record& r) {
    switch (r.type) {
      case kJobRequested:
        return job_requested(decode_or_throw<JobRequested>(r));
      case kRfbSent:
        return rfb_sent(decode_or_throw<EventSent>(r));
      case kAwardSent:
        return award_sent(decode_or_throw<EventSent>(r));
      case kCancelSent:
        return cancel_sent(decode_or_throw<EventSent>(r));
      case kCapsReceived:
        return caps_received(decode_or_throw<CapsReceived>(r));
      case kPriceReceived:
        return price_received(decode_or_throw<PriceReceived>(r));
      case kStatusReceived:
        return status_received(decode_or_throw<StatusReceived>(r));
      case kBidReceived:
        return bid_received(decode_or_throw<BidReceived>(r));
      case kTimerFired:
        return timer_fired(decode_or_throw<TimerFired>(r));
      case kDispatchOutcome:
        return dispatch_outcome(decode_or_throw<DispatchOutcome>(r));
      case kClientGone:
        return client_gone(decode_or_throw<ClientGone>(r));
      case kStartup:
        return startup();
      case kPolicySet:
        return txn_.put(kConfig, "policy", r.payload);
      default:
        throw std::invalid_argument("unknown router record type " + std::to_string(r.type));
    }
  }

 private:
  // ---- jobs ----

  void job_requested(const JobRequested& req) {
    if (txn_.get(kJobs, key_of(req.job_id)))
      throw Refusal(make_error(ErrorCode::duplicate, "job id already in use"));
    if (!protocol::is_model_id(req.model)) throw Refusal(invalid("model id is malformed"));
    if (!protocol::is_job_type(req.job_type)) throw Refusal(invalid("job type is malformed"));
    if (req.max_output_tokens < 1) throw Refusal(invalid("max_output_tokens must be at least 1"));
    if (req.max_price.value() < 1) throw Refusal(invalid("max_price_msat must be at least 1"));
    if (req.bid_window < protocol::Millis{50} || req.bid_window > protocol::Millis{10'000})
      throw Refusal(invalid("bid window must be between 50 and 10000 ms"));

    JobState job;
    job.request = req;
    job.created_at = now_;
    txn_.put(kActive, key_of(req.job_id), "");

    if (req.privacy == protocol::PrivacyLevel::pl3)
      return fail(job, protocol::ProtocolError::privacy_unsupported,
                  "PL3 jobs never leave the router");
    if (capped() && !spend().allows(now_, req.max_price, p_.spending))
      return fail(job, protocol::ProtocolError::over_cap,
                  "the job's price could exceed the router's spending cap");
    if (req.mode != JobMode::auction) {
      if (try_posted(job)) return save(job);
      if (req.mode == JobMode::posted)
        return fail(job, protocol::ProtocolError::no_bids, "no posted price fits the job");
    }
    start_auction(job);
    save(job);
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

  void bid_received(const BidReceived& b) {
    auto job_key = txn_.get(kRfbs, key_of(b.bid.rfb_ref));
    if (!job_key) throw Refusal(invalid("BID names no RFB of ours"));
    JobId job_id;
    std::memcpy(job_id.data(), job_key->data(), 16);
    auto book = load_auction(job_id);
    auto job = load_job(job_id);
    if (!book || !job) throw Refusal(invalid("BID names no RFB of ours"));

    market::PeerView view;
    view.known = has_caps(job->request.model, b.bid.bidder);
    PeerStats stats = peer(b.bid.bidder);
    view.breaker_open = stats.breaker.is_open(now_);
    view.reputation_ppm = stats.reputation.score_ppm();
    if (auto st = book->offer(b.bid, view); !st) throw Refusal(st.error());
    txn_.put(kAuctions, key_of(job_id), book->encode());
  }

  void timer_fired(const TimerFired& t) {
    auto job = load_job(t.job_id);
    if (!job || job->terminal()) return;
    switch (t.kind) {
      case TimerKind::bid_window: {
        if (job->phase != JobPhase::bidding || t.attempt != job->rounds) return;
        auto book = load_auction(t.job_id);
        if (!book) return;
        auto winner = book->clear(now_, p_.auction);
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
    attempt_failed(*job, o.error, o.kind, o.reason);
  }

  // The current award failed: record it against the node, take the award back, try the next
  // bidder or posted offer within the budget, else fail the job.
  void attempt_failed(JobState& job, protocol::ProtocolError error, market::Outcome kind,
                      const std::string& reason) {
    PeerStats stats = peer(*job.node);
    stats.reputation.record(kind, protocol::Millis{0}, job.eta);
    stats.breaker.on_failure(now_, p_.breaker);
    ++stats.jobs_failed;
    save_peer(*job.node, stats);
    job.tried.push_back(*job.node);
    cancel(job, error);

    if (job.attempts < p_.auction.retry_budget) {
      if (!job.posted) {
        if (auto book = load_auction(job.request.job_id)) {
          auto next = book->winner_failed(now_, p_.auction);
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
      auto price = codec::decode<PriceReceived>(value);
      if (!price) return true;
      auto caps_bytes =
          txn_.get(kCaps, join_key({req.model, key_of(price->node), price->instance}));
      if (!caps_bytes) return true;
      auto caps = codec::decode<CapsReceived>(*caps_bytes);
      if (!caps || !serves(*caps, req)) return true;
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
      offer.breaker_open = stats.breaker.is_open(now_);
      offer.stale = now_ - caps->created_at * 1000 > static_cast<UnixMillis>(p_.caps_stale.value());
      if (auto status_bytes = txn_.get(kStatus, join_key({key_of(price->node), price->instance}))) {
        if (auto status = codec::decode<StatusReceived>(*status_bytes)) {
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
    auto ranked = market::rank_posted(offers, req.max_price);
    if (ranked.empty()) return false;
    const market::PostedOffer& best = ranked.front();
    for (const Candidate& c : candidates) {
      if (c.price.node != best.node || c.caps.endpoint != best.endpoint) continue;
      ++job.attempts;
      job.posted = true;
      job.node = best.node;
      job.endpoint = best.endpoint;
      job.price = best.price;
      job.in_per_1k = c.price.in_per_1k;
      job.out_per_1k = c.price.out_per_1k;
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

  static bool serves(const CapsReceived& caps, const JobRequested& req) {
    bool type_ok = false;
    for (const auto& t : caps.job_types) type_ok = type_ok || t == req.job_type;
    return type_ok && caps.privacy_max >= req.privacy &&
           caps.max_output_tokens >= req.max_output_tokens && (!req.stream || caps.streaming);
  }

  bool has_caps(const std::string& model, const PublicKey& node) {
    bool found = false;
    txn_.scan(kCaps, join_key({model, key_of(node)}) + std::string(1, '\0'),
              [&](std::string_view, std::string_view) {
                found = true;
                return false;
              });
    return found;
  }

  // ---- announcements ----

  void caps_received(const CapsReceived& c) {
    std::string key = join_key({c.model, key_of(c.node), c.instance});
    if (newer_or_equal_stored<CapsReceived>(kCaps, key, c.created_at)) return;
    txn_.put(kCaps, key, codec::encode(c));
  }

  void price_received(const PriceReceived& p) {
    std::string key = join_key({p.model, p.job_type, key_of(p.node), p.instance});
    if (newer_or_equal_stored<PriceReceived>(kPrices, key, p.created_at)) return;
    txn_.put(kPrices, key, codec::encode(p));
  }

  void status_received(const StatusReceived& s) {
    std::string key = join_key({key_of(s.node), s.instance});
    if (newer_or_equal_stored<StatusReceived>(kStatus, key, s.created_at)) return;
    txn_.put(kStatus, key, codec::encode(s));
  }

  template <class T>
  bool newer_or_equal_stored(machine::TableId table, const std::string& key,
                             std::int64_t created_at) {
    auto bytes = txn_.get(table, key);
    if (!bytes) return false;
    auto stored = codec::decode<T>(*bytes);
    return stored && stored->created_at > created_at;
  }

  // ---- helpers ----

  std::optional<JobState> load_job(const JobId& id) { return RouterMachine::job(txn_, id); }
  std::optional<market::AuctionBook> load_auction(const JobId& id) {
    return RouterMachine::auction(txn_, id);
  }
  void save(const JobState& job) {
    txn_.put(kJobs, key_of(job.request.job_id), codec::encode(job));
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
    txn_.put(kPeers, key_of(node), codec::encode(s));
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
    txn_.emit(machine::Effect{std::move(id), type, codec::encode(payload)});
  }

  const RouterPolicy p_;
  machine::StateTxn& txn_;
  UnixMillis now_;
};

void RouterMachine::apply(const machine::Record& record, machine::StateTxn& txn) const {
  if (record.type == kPolicySet && !codec::decode<RouterPolicy>(record.payload))
    throw std::invalid_argument("malformed router policy");
  Run(txn, record.at).apply(record);
}

RouterPolicy RouterMachine::policy(const machine::StateTxn& txn) {
  auto bytes = txn.get(kConfig, "policy");
  if (!bytes) return {};
  return codec::decode<RouterPolicy>(*bytes).value_or(RouterPolicy{});
}

std::optional<JobState> RouterMachine::job(const machine::StateTxn& txn, const JobId& id) {
  auto bytes = txn.get(kJobs, key_of(id));
  if (!bytes) return std::nullopt;
  return codec::decode<JobState>(*bytes);
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
  return codec::decode<PeerStats>(*bytes);
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
