// NodeAgent's insides, shared by its source files (node_agent.cpp: relays, state, announcements;
// node_jobs.cpp: the data plane).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agents/dataplane/job_context.h"
#include "agents/dataplane/verify_submit.h"
#include "agents/http/server.h"
#include "agents/node/node_agent.h"
#include "agents/runtime/agent_host.h"
#include "agents/runtime/announce_clock.h"
#include "agents/runtime/rate_limiter.h"
#include "agents/runtime/state_driver.h"
#include "core/node/node_machine.h"
#include "core/protocol/conversation_keys.h"
#include "core/store/machine_store.h"
#include "core/util/log_limiter.h"
#include "relay/pool/relay_pool.h"

namespace fedai::agents {

struct NodeAgent::Impl final : HostedAgent {
  Impl(NodeConfig c, MetricsRegistry& m) : config(std::move(c)), metrics(m) {}

  NodeConfig config;
  MetricsRegistry& metrics;
  Keypair keys = Keypair::generate();  // replaced by config.keys
  node::NodeMachine machine;
  AgentHost host{machine, metrics};
  AgentLoop& loop = host.loop();
  std::unique_ptr<runners::Runner> runner;
  std::unique_ptr<protocol::ConversationKeyCache> conversation_keys;
  std::string endpoint;  // announced data-plane base URL
  std::string jobs_url;  // endpoint + /fedai/v1/jobs: what JOB_SUBMIT's `u` must say
  protocol::PrivacyLevel privacy_max = protocol::PrivacyLevel::pl0;
  PeerRateLimiter rate_limiter{50, 100};
  LogLimiter log_limiter;  // lines repeated under a flood (refusals) are summarised
  protocol::Backpressure last_state = protocol::Backpressure::normal;
  AnnounceClock announce_clock;  // strictly increasing created_at per coordinate
  std::uint32_t announced_surge_milli = protocol::Surge::kScale;  // in the last PRICE
  Counter* jobs_done = nullptr;
  Counter* jobs_failed = nullptr;
  Counter* jobs_refused = nullptr;
  Histogram* job_seconds = nullptr;
  std::vector<std::string> models;
  node::NodePolicy policy;
  std::shared_ptr<boost::asio::steady_timer> announce_timer, status_timer;
  // Announcements on change go out at most once a second, the last change always (a trailing
  // one): under load the state flips with every job, and each announcement is signed, relayed
  // and verified by every router.
  std::shared_ptr<boost::asio::steady_timer> change_timer;
  std::chrono::steady_clock::time_point last_change_announce{};
  bool change_pending = false;
  bool stopping = false;

  // node_agent.cpp
  Status start();
  void stop();
  // HostedAgent
  std::vector<machine::Record> startup_records() override;
  void on_ready() override;
  void on_draining() override;
  std::size_t in_flight() const override;
  node::NodePolicy make_policy() const;
  void subscribe() override;
  void on_rfb(const Event& e);
  void on_award(const Event& e);
  void on_cancel(const Event& e);
  void register_effects() override;
  void announce_all();
  void announce_status();
  void publish(const Event& e, const std::string& what);
  node::Load load() const;
  void schedule(std::shared_ptr<boost::asio::steady_timer>& timer, std::chrono::seconds every,
                void (Impl::*what)());

  // node_jobs.cpp
  void register_routes() override;
  void handle_job(http::Request request, std::shared_ptr<http::Responder> responder);
  void handle_health(http::Request request, std::shared_ptr<http::Responder> responder);
  void handle_metrics(http::Request request, std::shared_ptr<http::Responder> responder);
  void run_job(std::shared_ptr<dataplane::VerifiedSubmit> verified,
               std::shared_ptr<http::Responder> responder, dataplane::Rates rates,
               std::string model, UnixMillis accepted_at);
  void maybe_announce_load();
  void announce_change();
};

}  // namespace fedai::agents
