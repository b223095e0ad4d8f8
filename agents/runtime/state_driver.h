// Connects an agent to its state machine: appends records, and carries out the effects the
// reducers emit, each by the handler registered for its type.
//
// Effects arrive after their records committed (and, at start, from the outbox, for whatever a
// previous run left undone). A handler does its work and then calls complete(), which appends
// the records that report the result together with the framework's kEffectDone, in one group:
// either both are in the log or neither, so a crash repeats the effect and never loses it. An
// effect already in flight is not started twice.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "agents/runtime/agent_loop.h"
#include "core/store/machine_store.h"
#include "core/util/log_limiter.h"
#include "core/util/metrics.h"

namespace fedai::agents {

class StateDriver {
 public:
  using EffectHandler = std::function<void(const machine::Effect& effect)>;
  using AppendDone = std::function<void(std::vector<store::AppendResult>)>;

  StateDriver(AgentLoop& loop, store::MachineStore& store, MetricsRegistry& metrics,
              std::string agent);
  ~StateDriver();

  // Registers the handler for an effect type. Call before resume().
  void on_effect(std::uint16_t type, EffectHandler handler);

  // Appends records; `then` runs on the strand with the outcomes. Effects the records emitted
  // are started after `then`. Appends made in one pass of the agent's loop go to the store
  // together, after the handlers already queued have run: one commit for all of them (a job
  // under load appends several times, and so do the other jobs in flight). Any thread may call
  // it (from another, the append is posted to the strand first).
  void append(std::vector<machine::Record> records, AppendDone then = {});

  // Marks `effect` done, appending `records` with it.
  void complete(const machine::Effect& effect, std::vector<machine::Record> records = {},
                AppendDone then = {});
  // Marks every one of `effects` done in one group with `records`: one commit, not one each.
  void complete(const std::vector<machine::Effect>& effects,
                std::vector<machine::Record> records = {}, AppendDone then = {});

  // Marks `effect` done without carrying it out, because it cannot be (unreadable, or its event
  // cannot be built): logged (a flood summarised) and counted, never dropped silently. Retrying
  // would fail the same way forever.
  void abandon(const machine::Effect& effect, std::string_view why);

  // Holds every effect back until resume(): they stay in the outbox meanwhile. An agent's
  // startup records emit effects too (a router's Startup cancels the jobs its last run left),
  // and those may need what is set up after them (the relays). Call before the first append.
  void hold() { held_ = true; }
  // Starts every effect waiting in the outbox (at start-up), and those held since hold().
  void resume();

  // Runs `at` (wall-clock ms) on the strand; returns at once. For ArmTimer effects. The timer
  // can be cancelled (then `fn` never runs).
  std::shared_ptr<boost::asio::steady_timer> at(UnixMillis when, std::function<void()> fn);

  // A consistent read of the projections (synchronous, any thread).
  void read(const std::function<void(const machine::StateTxn&)>& visit) const;

  // Sends what is queued to the store, stops timers; effects in flight are dropped (they stay in
  // the outbox for the next start). Call on the strand.
  void stop();

 private:
  void start_effects(const std::vector<machine::Effect>& effects);
  void flush();  // sends the appends queued in this pass of the loop to the store
  void finish(AppendDone then, std::vector<store::AppendResult> results);

  AgentLoop& loop_;
  store::MachineStore& store_;
  std::map<std::uint16_t, EffectHandler> handlers_;
  std::set<std::string> in_flight_;
  // Armed timers (a posted job keeps its dispatch deadline armed for a minute: thousands under
  // load), so a hash set rather than a list.
  std::unordered_set<std::shared_ptr<boost::asio::steady_timer>> timers_;
  bool stopped_ = false;
  bool held_ = false;  // hold() until resume(): effects stay in the outbox
  std::vector<store::MachineStore::AppendGroup> queued_;  // strand only
  bool flush_posted_ = false;
  Counter& appended_;
  Counter& refused_;
  Counter& effects_started_;
  Counter& effects_done_;
  Gauge& effects_in_flight_;
  Counter& effects_abandoned_;
  LogLimiter log_limiter_;
  std::string agent_;
};

}  // namespace fedai::agents
