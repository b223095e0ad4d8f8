// The process around an agent: its loop, its state machine on LMDB, its relays and its HTTP
// listener, started in one order and stopped in one order, for every agent (node, router, and the
// agents built on them).
//
// Start: the listener's socket is bound (its URL is known: a node announces it) but refuses
// connections; the store opens and the agent's startup records commit (their effects are held
// in the outbox); the relay pool connects and the agent subscribes; the effects in the outbox,
// those a previous run left and those the startup records emitted, start (they may publish, so
// the pool must exist); only then does the listener accept, and start() returns (the caller
// prints the ready line). A client never meets a process that cannot serve it.
//
// Stop: the listener stops accepting and every request that arrives from then on is answered 503
// (ERR_BUSY, "shutting down") and its connection closed; the work in flight (the agent's count)
// goes on until it is done or the grace period ends; then the agent cancels what is left, the
// state runner hands what it queued to the store, the connections and the relays close, the
// loop stops and joins, and the store's writer commits its last group and joins. The writer's
// callbacks post to the loop, which is stopped but still alive, so nothing posts into freed
// memory; nothing of the agent runs after its loop has stopped.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "agents/http/server.h"
#include "agents/runtime/agent_loop.h"
#include "agents/runtime/state_driver.h"
#include "core/machine/state.h"
#include "core/nostr/keys.h"
#include "core/store/machine_store.h"
#include "core/util/metrics.h"
#include "core/util/result.h"
#include "relay/pool/relay_pool.h"

namespace fedai::agents {

// What an agent plugs into its host. The host calls these in the order they are listed, each on
// the agent's strand except the first two, which run on start()'s thread before any of the
// agent's work is on the loop.
class HostedAgent {
 public:
  virtual ~HostedAgent() = default;
  // Registers a handler for each effect type the machine emits on `state` (before any effect
  // resumes).
  virtual void register_effects() = 0;
  // The records that open a run (the policy, Startup), committed before anything else happens.
  virtual std::vector<machine::Record> startup_records() = 0;
  // Subscribes on the relays (`pool` exists, relays are being connected).
  virtual void subscribe() = 0;
  // Registers the HTTP routes on `server` (before the listener accepts).
  virtual void register_routes() = 0;
  // Everything is up: start timers, announce.
  virtual void on_ready() = 0;
  // A stop began: stop timers and announcing; the work in flight goes on.
  virtual void on_draining() {}
  // The work a graceful stop waits for (clients waiting for answers, jobs running).
  virtual std::size_t in_flight() const = 0;
  // The grace period is over (or nothing is in flight): cancel what is left.
  virtual void on_stop() {}

 protected:
  // The host's parts, set by the host as it starts each, before the call that needs it (valid
  // until its stop() returns).
  StateDriver* state = nullptr;
  relay::RelayPool* pool = nullptr;
  http::Server* server = nullptr;

 private:
  friend class AgentHost;
};

struct AgentHostOptions {
  std::string name;  // "router", "node": logs and metrics labels
  Keypair keys = Keypair::generate();
  std::vector<std::string> relays;
  store::MachineStoreOptions store;
  http::ServerOptions server;  // its strand is the loop's (set by the host)
  // How long a graceful stop lets the work in flight finish.
  std::chrono::milliseconds drain_grace{30'000};
};

class AgentHost {
 public:
  AgentHost(const machine::Machine& machine, MetricsRegistry& metrics);
  ~AgentHost();
  AgentHost(const AgentHost&) = delete;
  AgentHost& operator=(const AgentHost&) = delete;

  // The loop, for what an agent must do before start() (a node lists its runner's models). The
  // loop is started by start() if it was not already.
  AgentLoop& loop() { return loop_; }

  // Binds the listener without accepting: its URL is known from then on. Optional before
  // start(), which binds if this was not called.
  Status bind(const AgentHostOptions& options);
  // The listener's URL (after bind()).
  std::string url() const;

  // Starts everything in order (see above). On error, what was started is stopped again.
  Status start(HostedAgent& agent, const AgentHostOptions& options);
  // Stops everything in order (see above). Idempotent; from any thread but the loop's.
  void stop();

 private:
  void drain(std::chrono::milliseconds grace);
  void tear_down();

  const machine::Machine& machine_;
  MetricsRegistry& metrics_;
  AgentLoop loop_;
  HostedAgent* agent_ = nullptr;
  std::string name_;
  std::chrono::milliseconds grace_{0};
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<store::MachineStore> store_;
  std::unique_ptr<StateDriver> state_;
  std::unique_ptr<relay::RelayPool> pool_;
  bool started_ = false;
  bool stopping_ = false;
};

}  // namespace fedai::agents
