#include "agents/runtime/state_driver.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "core/machine/overlay.h"

namespace fedai::agents {

StateDriver::StateDriver(AgentLoop& loop, store::MachineStore& store, MetricsRegistry& metrics,
                         std::string agent)
    : loop_(loop),
      store_(store),
      appended_(metrics.counter("fedai_records_appended_total", "Records applied to the state",
                                {{"agent", agent}})),
      refused_(metrics.counter("fedai_records_refused_total",
                               "Records refused by a reducer or as duplicates",
                               {{"agent", agent}})),
      effects_started_(
          metrics.counter("fedai_effects_started_total", "Effects started", {{"agent", agent}})),
      effects_done_(
          metrics.counter("fedai_effects_done_total", "Effects marked done", {{"agent", agent}})),
      effects_in_flight_(metrics.gauge("fedai_effects_in_flight", "Effects being carried out",
                                       {{"agent", agent}})),
      effects_abandoned_(metrics.counter("fedai_effects_abandoned_total",
                                         "Effects marked done without being carried out",
                                         {{"agent", agent}})),
      agent_(std::move(agent)) {}

StateDriver::~StateDriver() {
  stop();
}

void StateDriver::on_effect(std::uint16_t type, EffectHandler handler) {
  handlers_[type] = std::move(handler);
}

void StateDriver::append(std::vector<machine::Record> records, AppendDone then) {
  if (!loop_.in_thread()) {
    loop_.post([this, records = std::move(records), then = std::move(then)]() mutable {
      append(std::move(records), std::move(then));
    });
    return;
  }
  auto done = [this, then = std::move(then)](std::vector<store::AppendResult> results) mutable {
    // After an inline commit this is flush(), on the strand: go on at once (a post would cost the
    // loop another pass, with its look at the sockets). From the writer thread: post.
    if (loop_.in_thread()) return finish(std::move(then), std::move(results));
    loop_.post([this, then = std::move(then), results = std::move(results)]() mutable {
      finish(std::move(then), std::move(results));
    });
  };
  queued_.push_back(store::MachineStore::AppendGroup{std::move(records), std::move(done)});
  if (flush_posted_) return;
  flush_posted_ = true;
  loop_.post([this] { flush(); });
}

void StateDriver::finish(AppendDone then, std::vector<store::AppendResult> results) {
  std::vector<machine::Effect> effects;
  for (auto& r : results) {
    if (r.status == machine::ApplyOutcome::Status::applied) {
      appended_.inc();
      effects.insert(effects.end(), r.effects.begin(), r.effects.end());
    } else {
      refused_.inc();
      if (r.status == machine::ApplyOutcome::Status::rejected)
        spdlog::debug("record refused: {}", r.refusal.to_string());
    }
  }
  if (then) then(std::move(results));
  start_effects(effects);
}

void StateDriver::flush() {
  flush_posted_ = false;
  if (queued_.empty()) return;
  store_.append_async(std::exchange(queued_, {}));
}

void StateDriver::complete(const machine::Effect& effect, std::vector<machine::Record> records,
                           AppendDone then) {
  complete(std::vector<machine::Effect>{effect}, std::move(records), std::move(then));
}

void StateDriver::complete(const std::vector<machine::Effect>& effects,
                           std::vector<machine::Record> records, AppendDone then) {
  std::vector<std::string> ids;
  ids.reserve(effects.size());
  UnixMillis now = wall_clock_ms();
  for (const auto& effect : effects) {
    ids.push_back(effect.id);
    records.push_back(machine::Record{machine::kEffectDone, now, std::nullopt, effect.id});
  }
  append(std::move(records), [this, ids = std::move(ids), then = std::move(then)](
                                 std::vector<store::AppendResult> results) mutable {
    for (const auto& id : ids) in_flight_.erase(id);
    effects_in_flight_.set(static_cast<std::int64_t>(in_flight_.size()));
    effects_done_.inc(ids.size());
    if (then) then(std::move(results));
  });
}

void StateDriver::abandon(const machine::Effect& effect, std::string_view why) {
  effects_abandoned_.inc();
  if (std::uint64_t held; log_limiter_.allow(why, held))
    spdlog::warn("{}: effect {} (type {}) abandoned: {}{}", agent_, effect.id, effect.type, why,
                 LogLimiter::suffix(held));
  complete(effect);
}

void StateDriver::resume() {
  auto pending = store_.pending_effects();
  loop_.post([this, pending = std::move(pending)] {
    held_ = false;
    if (!pending.empty())
      spdlog::info("resuming {} effect(s) left from the last run", pending.size());
    start_effects(pending);
  });
}

void StateDriver::start_effects(const std::vector<machine::Effect>& effects) {
  if (stopped_ || held_) return;  // held: resume() finds them in the outbox
  for (const auto& effect : effects) {
    if (!in_flight_.insert(effect.id).second) continue;
    effects_in_flight_.set(static_cast<std::int64_t>(in_flight_.size()));
    auto handler = handlers_.find(effect.type);
    if (handler == handlers_.end()) {
      spdlog::error("no handler for effect type {} ({}); it stays in the outbox", effect.type,
                    effect.id);
      continue;
    }
    effects_started_.inc();
    try {
      handler->second(effect);
    } catch (const std::exception& e) {
      // A handler bug must not take the agent down; the effect stays pending for the next start.
      spdlog::error("effect {} failed: {}", effect.id, e.what());
    }
  }
}

std::shared_ptr<boost::asio::steady_timer> StateDriver::at(UnixMillis when,
                                                           std::function<void()> fn) {
  auto timer = std::make_shared<boost::asio::steady_timer>(loop_.strand());
  UnixMillis delay = std::max<UnixMillis>(0, when - wall_clock_ms());
  timer->expires_after(std::chrono::milliseconds(delay));
  timers_.insert(timer);
  timer->async_wait([this, timer, fn = std::move(fn)](const boost::system::error_code& ec) {
    timers_.erase(timer);
    if (!ec && !stopped_) fn();
  });
  return timer;
}

void StateDriver::read(const std::function<void(const machine::StateTxn&)>& visit) const {
  store_.read([&](const machine::TableStore& tables) {
    machine::ReadOnlyTxn txn(tables);
    visit(txn);
  });
}

void StateDriver::stop() {
  // What this pass of the loop appended still goes to the store: a record held back would
  // otherwise be lost with the loop (safe, as effects are repeated, but a graceful stop keeps it).
  stopped_ = true;  // first: what the flush completes starts no effects
  if (loop_.in_thread()) flush();
  for (auto& t : timers_) t->cancel();
  timers_.clear();
}

}  // namespace fedai::agents
