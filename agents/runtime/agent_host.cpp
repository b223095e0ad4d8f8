#include "agents/runtime/agent_host.h"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>

#include <future>

namespace fedai::agents {

AgentHost::AgentHost(const machine::Machine& machine, MetricsRegistry& metrics)
    : machine_(machine), metrics_(metrics) {}

AgentHost::~AgentHost() {
  stop();
}

Status AgentHost::bind(const AgentHostOptions& options) {
  if (server_) return {};
  http::ServerOptions server_options = options.server;
  server_options.strand = loop_.strand();
  server_ = std::make_unique<http::Server>(loop_.io(), std::move(server_options));
  return server_->bind();
}

std::string AgentHost::url() const {
  return server_ ? server_->url() : std::string();
}

Status AgentHost::start(HostedAgent& agent, const AgentHostOptions& options) {
  if (started_) return make_error(ErrorCode::error, "the " + options.name + " is already started");
  if (options.relays.empty())
    return make_error(ErrorCode::error, "the " + options.name + " needs at least one relay");
  agent_ = &agent;
  name_ = options.name;
  grace_ = options.drain_grace;
  started_ = true;
  loop_.start();
  auto fail = [this](Error e) {
    stopping_ = true;  // nothing was served: no drain
    tear_down();
    return Status(std::move(e));
  };

  // The listener's socket: bound, so its URL is known, but refusing connections until the end.
  if (auto st = bind(options); !st) return fail(st.error());

  // State: the store, the runner and its handlers, then the records that open this run.
  auto s = store::MachineStore::open(options.store, machine_);
  if (!s)
    return fail(make_error(ErrorCode::error, "cannot open the " + options.name + " database at " +
                                                 options.store.path + ": " + s.error().message));
  store_ = std::move(*s);
  state_ = std::make_unique<StateDriver>(loop_, *store_, metrics_, options.name);
  state_->hold();  // what the startup records emit waits for the relays, with the outbox
  agent.state = state_.get();
  agent.register_effects();
  std::promise<std::vector<store::AppendResult>> opened;
  state_->append(agent.startup_records(),
                 [&](std::vector<store::AppendResult> results) { opened.set_value(results); });
  for (const auto& r : opened.get_future().get())
    if (r.status == machine::ApplyOutcome::Status::rejected)
      return fail(make_error(
          ErrorCode::error,
          "the " + options.name + "'s state refused its start: " + r.refusal.to_string()));

  // Relays: the effects that resume may publish.
  relay::RelayPoolOptions pool_options;
  pool_options.executor = loop_.poster();
  pool_options.auth_key = options.keys;
  pool_options.metrics = &metrics_;
  pool_options.metrics_pool_label = options.name;
  pool_ = std::make_unique<relay::RelayPool>(std::move(pool_options));
  for (const auto& url : options.relays)
    if (auto st = pool_->add_relay(url); !st)
      return fail(make_error(ErrorCode::error, "relay " + url + ": " + st.error().message));
  std::promise<void> subscribed;
  loop_.post([&] {
    agent.pool = pool_.get();
    agent.subscribe();
    agent.server = server_.get();
    agent.register_routes();
    subscribed.set_value();
  });
  subscribed.get_future().wait();

  // What the last run left undone, then clients.
  state_->resume();
  std::promise<Status> listening;
  loop_.post([&] {
    auto st = server_->listen();
    if (st) agent.on_ready();
    listening.set_value(std::move(st));
  });
  if (auto st = listening.get_future().get(); !st) return fail(st.error());
  return {};
}

void AgentHost::stop() {
  if (stopping_ || !started_) {
    // Never started (or stopping already): a bound listener still lets its port go.
    if (!started_ && server_) server_->stop();
    return;
  }
  if (loop_.in_thread()) {
    // A stop from the agent's own thread would wait for itself forever.
    spdlog::error("{}: stop() called from its own loop; ignored", name_);
    return;
  }
  stopping_ = true;
  drain(grace_);
  tear_down();
}

// Stops accepting and waits, on the loop, until the agent has nothing in flight or the grace
// period is over.
void AgentHost::drain(std::chrono::milliseconds grace) {
  std::promise<void> drained;
  auto deadline = std::chrono::steady_clock::now() + grace;
  auto timer = std::make_shared<boost::asio::steady_timer>(loop_.strand());
  std::function<void()> check;
  check = [&, timer] {
    std::size_t left = agent_->in_flight();
    if (left == 0 || std::chrono::steady_clock::now() >= deadline) {
      if (left > 0)
        spdlog::warn("{}: {} job(s) still in flight after the {} ms grace period", name_, left,
                     grace.count());
      drained.set_value();
      return;
    }
    timer->expires_after(std::chrono::milliseconds{10});
    timer->async_wait([&](const boost::system::error_code&) { check(); });
  };
  if (!server_ || !state_) return;
  loop_.post([&] {
    server_->drain();
    agent_->on_draining();
    std::size_t left = agent_->in_flight();
    if (left > 0) spdlog::info("{}: answering {} job(s) in flight before stopping", name_, left);
    check();
  });
  drained.get_future().wait();
}

void AgentHost::tear_down() {
  if (agent_ && state_) {
    std::promise<void> done;
    loop_.post([&] {
      agent_->on_stop();
      state_->stop();  // what this pass appended goes to the store; no new effect starts
      if (server_) server_->stop();
      done.set_value();
    });
    done.get_future().wait();
  } else if (server_) {
    server_->stop();
  }
  // The relays' thread joins; what it posted to the loop is harmless.
  pool_.reset();
  // The loop stops and joins: nothing of the agent runs after this.
  loop_.stop();
  // The writer commits what is queued and joins; its callbacks post to the stopped loop, which
  // is alive until the host is destroyed (they are dropped unrun).
  store_.reset();
  state_.reset();
  server_.reset();
}

}  // namespace fedai::agents
