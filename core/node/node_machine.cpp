#include "core/node/node_machine.h"

#include <algorithm>

#include "core/machine/record_fields.h"
#include "core/machine/retention.h"
#include "core/protocol/price.h"

namespace fedai::node {
namespace {

using machine::Applied;
using protocol::ProtocolError;
using protocol::refuse;

std::string key_of(const EventId& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), 32);
}
std::string key_of(const PublicKey& pk) {
  return std::string(reinterpret_cast<const char*>(pk.data()), 32);
}
std::string key_of(const JobId& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), 16);
}
std::string job_key(const PublicKey& router, const JobId& job) {
  return key_of(router) + key_of(job);
}

enum class JobPhase : std::uint8_t { running, done, failed, lost };

struct NodeJob {
  PublicKey router;
  JobId job_id;
  EventId award_id;
  EventId submit_id;
  JobPhase phase = JobPhase::running;
  UnixMillis started_at = 0;
  UnixMillis finished_at = 0;
  Msat price;
  auto fields() const {
    return std::tie(router, job_id, award_id, submit_id, phase, started_at, finished_at, price);
  }
  auto fields() {
    return std::tie(router, job_id, award_id, submit_id, phase, started_at, finished_at, price);
  }
};

template <class T>
T decode_or_throw(const machine::Record& r) {
  auto v = record_fields::decode<T>(r.payload);
  if (!v) throw std::invalid_argument("malformed record of type " + std::to_string(r.type));
  return std::move(*v);
}

template <class T>
machine::Record make_record(std::uint16_t type, const T& value, UnixMillis at,
                            std::optional<EventId> event_id = std::nullopt) {
  return machine::Record{type, at, event_id, record_fields::encode(value)};
}

}  // namespace

Millis Load::p95() const {
  if (recent_ms.empty()) return Millis{0};
  std::vector<std::uint64_t> sorted = recent_ms;
  std::sort(sorted.begin(), sorted.end());
  std::size_t i = (sorted.size() * 95 + 99) / 100;  // nearest rank
  return Millis{sorted[std::min(sorted.size(), std::max<std::size_t>(i, 1)) - 1]};
}

std::span<const std::string_view> NodeMachine::tables() const {
  static constexpr std::string_view names[] = {"reservations", "jobs",     "used_awards",
                                               "load",         "running",  "config",
                                               "prices",       "finished", "expiry"};
  return names;
}

class NodeMachine::Step {
 public:
  Step(machine::StateTxn& txn, UnixMillis now)
      : p_(NodeMachine::policy(txn)), txn_(txn), now_(now) {}

  Applied apply(const machine::Record& r) {
    expire_due();  // whatever the record: what lapsed by its time goes, a few entries a record
    switch (r.type) {
      case kRfbReceived:
        rfb_received(decode_or_throw<RfbReceived>(r));
        return {};
      case kBidSent:
        bid_sent(decode_or_throw<BidSent>(r));
        return {};
      case kAwardSeen:
        award_seen(decode_or_throw<AwardSeen>(r));
        return {};
      case kCancelSeen:
        cancel_seen(decode_or_throw<CancelSeen>(r));
        return {};
      case kJobSubmitted:
        return job_submitted(decode_or_throw<JobSubmitted>(r));
      case kJobFinished:
        job_finished(decode_or_throw<JobFinished>(r));
        return {};
      case kTimerFired:
        timer_fired(decode_or_throw<TimerFired>(r));
        return {};
      case kStartup:
        startup();
        return {};
      case kPolicySet:
        txn_.put(kConfig, "policy", r.payload);
        return {};
      case kPriceAnnounced:
        return price_announced(decode_or_throw<PriceAnnounced>(r));
      default:
        throw std::invalid_argument("unknown node record type " + std::to_string(r.type));
    }
  }

 private:
  // Bid when we serve it, can afford the slot and our price fits (nips/F-03). Not bidding is no
  // error: the record is logged and changes nothing.
  void rfb_received(const RfbReceived& rfb) {
    auto model = p_.models.find(rfb.model);
    if (model == p_.models.end()) return;
    const ModelOffer& offer = model->second;
    if (std::find(offer.job_types.begin(), offer.job_types.end(), rfb.job_type) ==
        offer.job_types.end())
      return;
    if (rfb.privacy > offer.privacy_max || rfb.privacy == protocol::PrivacyLevel::pl3) return;
    if (rfb.max_output_tokens > offer.max_output_tokens) return;
    if (static_cast<std::uint64_t>(rfb.input_tokens) + rfb.max_output_tokens > offer.context_tokens)
      return;
    if (rfb.stream && !offer.streaming) return;
    if (txn_.get(kReservations, key_of(rfb.rfb_id))) return;  // already bid on it
    Load l = NodeMachine::load(txn_);
    if (l.free(p_.max_concurrency) == 0) return;
    auto surge = protocol::Surge::from_load(l.active, l.p95(), p_.surge_q, p_.surge_l);
    auto price = protocol::price_for_job(offer.in_per_1k, offer.out_per_1k, offer.min, surge,
                                         rfb.input_tokens, rfb.max_output_tokens);
    if (!price || *price > rfb.max_price) return;
    // The rates metering will use carry the surge in force now (F-03: the bid's rates).
    auto scale = [&](Msat rate) {
      return Msat{(rate.value() * surge.milli() + protocol::Surge::kScale - 1) /
                  protocol::Surge::kScale};
    };

    Reservation res;
    res.rfb_id = rfb.rfb_id;
    res.router = rfb.router;
    res.job_id = rfb.job_id;
    res.price = *price;
    res.in_per_1k = scale(offer.in_per_1k);
    res.out_per_1k = scale(offer.out_per_1k);
    res.min = offer.min;
    res.model = rfb.model;
    res.valid_until = (now_ + static_cast<UnixMillis>(p_.bid_validity.value())) / 1000 + 1;
    txn_.put(kReservations, key_of(rfb.rfb_id), record_fields::encode(res));
    kLapses.add(txn_, res.valid_until + kExpirySlack,
                std::string(1, kReservationLapse) + key_of(rfb.rfb_id));
    ++l.reserved;
    save_load(l);
    emit(kComposeBid, "bid:" + rfb.rfb_id.hex(),
         ComposeBid{rfb.rfb_id, rfb.router, rfb.job_id, *price, res.in_per_1k, res.out_per_1k,
                    res.min, p_.eta, res.valid_until});
    emit(kArmTimer, "timer:" + rfb.rfb_id.hex(), ArmTimer{rfb.rfb_id, res.valid_until * 1000});
  }

  void bid_sent(const BidSent& b) {
    auto res = NodeMachine::reservation(txn_, b.rfb_id);
    if (!res || res->state != SlotState::composing) return;
    res->state = SlotState::bid;
    res->capacity_token = b.capacity_token;
    txn_.put(kReservations, key_of(b.rfb_id), record_fields::encode(*res));
    emit(kPublish, "publish:" + b.bid_id.hex(), Publish{b.event_json});
  }

  void award_seen(const AwardSeen& a) {
    if (!a.rfb_id) return;  // posted-price awards come with their JOB_SUBMIT
    auto res = NodeMachine::reservation(txn_, *a.rfb_id);
    if (!res || res->router != a.router) return;
    if (a.node == p_.self) {
      if (res->state == SlotState::bid || res->state == SlotState::composing) {
        res->state = SlotState::won;
        txn_.put(kReservations, key_of(*a.rfb_id), record_fields::encode(*res));
      }
    } else {
      release(*res);  // the job went to someone else
    }
  }

  void cancel_seen(const CancelSeen& c) {
    if (c.rfb_id) {
      if (auto res = NodeMachine::reservation(txn_, *c.rfb_id); res && res->router == c.router)
        release(*res);
    }
  }

  Applied job_submitted(const JobSubmitted& s) {
    // Its id is remembered as used until submit_by + slack: past that the AWARD can't be taken,
    // here as on the data plane (which refuses it past submit_by).
    if (s.submit_by <= 0) return refuse(ProtocolError::invalid, "the AWARD has no submit_by");
    if (now_ / 1000 > s.submit_by + kExpirySlack)
      return refuse(ProtocolError::award_expired, "the AWARD passed its submit_by");
    if (txn_.get(kUsedAwards, key_of(s.award_id)))
      return refuse(ProtocolError::duplicate, "this AWARD was already used for a job");
    Load l = NodeMachine::load(txn_);
    if (s.rfb_id) {
      auto res = NodeMachine::reservation(txn_, *s.rfb_id);
      if (!res || res->router != s.router || res->job_id != s.job_id)
        return refuse(ProtocolError::invalid, "the AWARD names no bid of ours");
      if (!s.capacity_token || res->capacity_token != s.capacity_token)
        return refuse(ProtocolError::invalid, "the AWARD's capacity token is not our bid's");
      // A reservation released because the job went to another node (or that award was taken
      // back) still honours its bid until valid_until when a slot is free: the router's retry
      // awards the next best bid of the same auction (nips/F-03, "Retry budget").
      bool held = res->state != SlotState::released;
      if (res->state == SlotState::used || now_ >= res->valid_until * 1000)
        return refuse(ProtocolError::award_expired, "the reservation for this AWARD has lapsed");
      if (!held && l.free(p_.max_concurrency) == 0)
        return refuse(ProtocolError::busy, "no free slot");
      if (s.price > res->price)
        return refuse(ProtocolError::invalid, "the AWARD's price is above our bid");
      res->state = SlotState::used;
      txn_.put(kReservations, key_of(*s.rfb_id), record_fields::encode(*res));
      if (held && l.reserved > 0) --l.reserved;
    } else {
      // A posted-price award: the price must cover the PRICE it names (one of ours, still
      // honoured, for this model and job type), and a slot must be free right now.
      auto model = p_.models.find(s.model);
      if (model == p_.models.end())
        return refuse(ProtocolError::caps_mismatch, "we do not serve this model");
      if (!s.price_id)
        return refuse(ProtocolError::invalid, "the AWARD names neither a bid nor a PRICE of ours");
      auto announced_bytes = txn_.get(kPrices, key_of(*s.price_id));
      if (!announced_bytes)
        return refuse(ProtocolError::invalid, "the AWARD names no PRICE of ours");
      auto announced = record_fields::decode<PriceAnnounced>(*announced_bytes);
      if (!announced) throw std::runtime_error("corrupt PRICE record");
      if (announced->model != s.model || announced->job_type != s.job_type)
        return refuse(ProtocolError::invalid, "the AWARD's PRICE is for another model or job type");
      if (now_ - announced->at > static_cast<UnixMillis>(p_.price_honour.value()))
        return refuse(ProtocolError::award_expired, "the AWARD's PRICE is no longer honoured");
      auto surge = protocol::Surge::from_milli(announced->surge_milli);
      auto price =
          protocol::price_for_job(model->second.in_per_1k, model->second.out_per_1k,
                                  model->second.min, surge, s.input_tokens, s.max_output_tokens);
      if (!price || s.price < *price)
        return refuse(ProtocolError::invalid, "the AWARD's price is below our posted price");
      if (l.free(p_.max_concurrency) == 0) return refuse(ProtocolError::busy, "no free slot");
    }
    ++l.active;
    save_load(l);
    NodeJob job{s.router, s.job_id, s.award_id, s.submit_id, JobPhase::running, now_, 0, s.price};
    txn_.put(kJobs, job_key(s.router, s.job_id), record_fields::encode(job));
    txn_.put(kUsedAwards, key_of(s.award_id), job_key(s.router, s.job_id));
    kLapses.add(txn_, s.submit_by + kExpirySlack, std::string(1, kAwardLapse) + key_of(s.award_id));
    txn_.put(kRunning, job_key(s.router, s.job_id), "");
    return {};
  }

  // Keeps the PRICE for posted-price awards, and lets go of those no longer honoured.
  Applied price_announced(PriceAnnounced p) {
    if (!protocol::Surge::from_milli(p.surge_milli).in_range())
      return refuse(ProtocolError::invalid, "surge out of range");
    UnixMillis horizon = now_ - static_cast<UnixMillis>(p_.price_honour.value());
    std::vector<std::string> lapsed;
    txn_.scan(kPrices, "", [&](std::string_view key, std::string_view value) {
      auto old = record_fields::decode<PriceAnnounced>(value);
      if (!old || old->at < horizon) lapsed.emplace_back(key);
      return true;
    });
    for (const auto& key : lapsed) txn_.erase(kPrices, key);
    p.at = now_;
    txn_.put(kPrices, key_of(p.price_id), record_fields::encode(p));
    return {};
  }

  void job_finished(const JobFinished& f) {
    auto bytes = txn_.get(kJobs, job_key(f.router, f.job_id));
    if (!bytes) return;
    auto job = record_fields::decode<NodeJob>(*bytes);
    if (!job || job->phase != JobPhase::running) return;
    job->phase = f.ok ? JobPhase::done : JobPhase::failed;
    job->finished_at = now_;
    job->price = f.price;
    txn_.put(kJobs, job_key(f.router, f.job_id), record_fields::encode(*job));
    txn_.erase(kRunning, job_key(f.router, f.job_id));
    retire(job_key(f.router, f.job_id));
    Load l = NodeMachine::load(txn_);
    if (l.active > 0) --l.active;
    if (f.ok) {
      ++l.jobs_done;
      l.earned = saturating_add(l.earned, f.price);
      l.recent_ms.push_back(f.wall.value());
      if (l.recent_ms.size() > p_.latency_window)
        l.recent_ms.erase(l.recent_ms.begin(), l.recent_ms.end() - p_.latency_window);
    } else {
      ++l.jobs_failed;
    }
    save_load(l);
  }

  void timer_fired(const TimerFired& t) {
    auto res = NodeMachine::reservation(txn_, t.rfb_id);
    if (!res || (res->state != SlotState::composing && res->state != SlotState::bid &&
                 res->state != SlotState::won))
      return;
    if (res->valid_until * 1000 > now_) return;
    release(*res);
  }

  // Running jobs died with the process (their prompts were only in memory): free their slots
  // and forget unconfirmed reservations.
  void startup() {
    Load l = NodeMachine::load(txn_);
    std::vector<std::string> running;
    txn_.scan(kRunning, "", [&](std::string_view key, std::string_view) {
      running.emplace_back(key);
      return true;
    });
    for (const auto& key : running) {
      txn_.erase(kRunning, key);
      auto bytes = txn_.get(kJobs, key);
      auto job = bytes ? record_fields::decode<NodeJob>(*bytes) : std::nullopt;
      if (!job) continue;
      job->phase = JobPhase::lost;
      job->finished_at = now_;
      txn_.put(kJobs, key, record_fields::encode(*job));
      retire(key);
      ++l.jobs_failed;
    }
    l.active = 0;
    save_load(l);
  }

  void release(Reservation& res) {
    if (res.state == SlotState::used || res.state == SlotState::released) return;
    res.state = SlotState::released;
    txn_.put(kReservations, key_of(res.rfb_id), record_fields::encode(res));
    Load l = NodeMachine::load(txn_);
    if (l.reserved > 0) --l.reserved;
    save_load(l);
  }

  void save_load(const Load& l) { txn_.put(kLoad, "load", record_fields::encode(l)); }

  // A finished job joins the newest kKeepFinishedJobs; the oldest beyond them is forgotten.
  void retire(const std::string& job) {
    static constexpr machine::KeepNewest kFinishedJobs{kFinished, kConfig, "finished",
                                                       kKeepFinishedJobs};
    for (const std::string& old : kFinishedJobs.push(txn_, job)) txn_.erase(kJobs, old);
  }

  // Drops what lapsed by now, a few entries per record (see kExpiry). A reservation still held
  // (its timer never fired: the node was down) is released first.
  void expire_due() {
    for (const std::string& due : kLapses.take_due(txn_, now_ / 1000, kExpiryPerRecord)) {
      std::string_view id = std::string_view(due).substr(1);
      if (due.starts_with(kAwardLapse)) {
        txn_.erase(kUsedAwards, id);
      } else if (due.starts_with(kReservationLapse)) {
        auto bytes = txn_.get(kReservations, id);
        auto res = bytes ? record_fields::decode<Reservation>(*bytes) : std::nullopt;
        if (res) release(*res);
        txn_.erase(kReservations, id);
      }
    }
  }

  static constexpr machine::ExpiryIndex kLapses{kExpiry};
  static constexpr char kAwardLapse = 'a', kReservationLapse = 'r';

  template <class T>
  void emit(EffectType type, std::string id, const T& payload) {
    txn_.emit(machine::Effect{std::move(id), type, record_fields::encode(payload)});
  }

  const NodePolicy p_;
  machine::StateTxn& txn_;
  UnixMillis now_;
};

machine::Applied NodeMachine::apply(const machine::Record& record, machine::StateTxn& txn) const {
  if (record.type == kPolicySet && !record_fields::decode<NodePolicy>(record.payload))
    throw std::invalid_argument("malformed node policy");
  return Step(txn, record.at).apply(record);
}

NodePolicy NodeMachine::policy(const machine::StateTxn& txn) {
  auto bytes = txn.get(kConfig, "policy");
  if (!bytes) return {};
  return record_fields::decode<NodePolicy>(*bytes).value_or(NodePolicy{});
}

Load NodeMachine::load(const machine::StateTxn& txn) {
  auto bytes = txn.get(kLoad, "load");
  if (!bytes) return {};
  return record_fields::decode<Load>(*bytes).value_or(Load{});
}

std::optional<Reservation> NodeMachine::reservation(const machine::StateTxn& txn,
                                                    const EventId& rfb) {
  auto bytes = txn.get(kReservations, key_of(rfb));
  if (!bytes) return std::nullopt;
  return record_fields::decode<Reservation>(*bytes);
}

std::optional<PriceAnnounced> NodeMachine::price(const machine::StateTxn& txn,
                                                 const EventId& price_id) {
  auto bytes = txn.get(kPrices, key_of(price_id));
  if (!bytes) return std::nullopt;
  return record_fields::decode<PriceAnnounced>(*bytes);
}

machine::Record NodeMachine::record(const RfbReceived& r, UnixMillis at) {
  return make_record(kRfbReceived, r, at, r.rfb_id);
}
machine::Record NodeMachine::record(const BidSent& r, UnixMillis at) {
  return make_record(kBidSent, r, at, r.bid_id);
}
machine::Record NodeMachine::record(const AwardSeen& r, UnixMillis at) {
  return make_record(kAwardSeen, r, at, r.award_id);
}
machine::Record NodeMachine::record(const CancelSeen& r, UnixMillis at) {
  return make_record(kCancelSeen, r, at, r.cancel_id);
}
machine::Record NodeMachine::record(const JobSubmitted& r, UnixMillis at) {
  return make_record(kJobSubmitted, r, at, r.submit_id);
}
machine::Record NodeMachine::record(const JobFinished& r, UnixMillis at) {
  return make_record(kJobFinished, r, at);
}
machine::Record NodeMachine::record(const TimerFired& r, UnixMillis at) {
  return make_record(kTimerFired, r, at);
}
machine::Record NodeMachine::record(const Startup& r, UnixMillis at) {
  return make_record(kStartup, r, at);
}

machine::Record NodeMachine::record(const PriceAnnounced& r, UnixMillis at) {
  return make_record(kPriceAnnounced, r, at);
}

machine::Record NodeMachine::record(const NodePolicy& r, UnixMillis at) {
  return make_record(kPolicySet, r, at);
}

}  // namespace fedai::node
