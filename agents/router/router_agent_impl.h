// RouterAgent's insides, shared by its source files (router_agent.cpp: relays, state, effects;
// router_api.cpp: the OpenAI-compatible client API; router_dispatch.cpp: the data plane).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agents/dataplane/dispatcher.h"
#include "agents/http/server.h"
#include "agents/router/router_agent.h"
#include "agents/runtime/agent_host.h"
#include "agents/runtime/announce_clock.h"
#include "agents/runtime/state_driver.h"
#include "core/router/router_machine.h"
#include "core/store/machine_store.h"
#include "core/util/log_limiter.h"
#include "relay/pool/relay_pool.h"
#include "runners/http_client.h"

namespace fedai::agents {

// A client waiting for its job: the request lives only here, in memory.
struct PendingJob {
  std::string model;
  std::string body;  // the plaintext job body sent to the node (F-04)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a usage-only chunk comes last
  std::uint32_t max_tokens = 0;
  std::shared_ptr<http::Responder> responder;
  UnixMillis received_at = 0;
  bool streaming_started = false;  // deltas already forwarded: no retry can be invisible
  std::string text;                // the verified answer
  std::string finish_reason;
  std::uint32_t tokens_in = 0, tokens_out = 0;
  std::uint32_t attempt = 0;  // the attempt whose answer `text` is
  std::shared_ptr<dataplane::Dispatch> in_flight;
};

struct RouterAgent::Impl final : HostedAgent {
  Impl(RouterConfig c, MetricsRegistry& m) : config(std::move(c)), metrics(m) {}

  RouterConfig config;
  MetricsRegistry& metrics;
  Keypair keys = Keypair::generate();  // replaced by config.keys
  router::RouterMachine machine;
  AgentHost host{machine, metrics};
  AgentLoop& loop = host.loop();
  std::unique_ptr<runners::HttpClient> http_client;
  std::unique_ptr<protocol::ConversationKeyCache> conversation_keys;
  std::unique_ptr<dataplane::Dispatcher> dispatcher;
  std::string base_url;
  std::map<protocol::JobId, PendingJob> pending;
  // Dispatch deadlines armed (ArmTimer effects not yet fired), by job: once the client has its
  // answer they are taken back and marked done, rather than firing a no-op a minute later.
  struct ArmedDeadline {
    machine::Effect effect;
    std::shared_ptr<boost::asio::steady_timer> timer;
  };
  std::map<protocol::JobId, std::vector<ArmedDeadline>> deadlines;
  // Cancels the job's armed deadlines and returns their effects, for the caller to mark done.
  std::vector<machine::Effect> take_deadlines(const protocol::JobId& job);
  std::shared_ptr<boost::asio::steady_timer> status_timer;
  protocol::Backpressure last_state = protocol::Backpressure::normal;
  AnnounceClock announce_clock;  // strictly increasing created_at for our STATUS
  LogLimiter log_limiter;        // lines repeated under a flood (failed attempts) are summarised
  bool stopping = false;

  // Relay round trips, measured by the echo of our own RFBs: a bid needs two relay hops (the RFB
  // to the node, the BID back), so a bid window shorter than two echoes misses the bids (strfry
  // delivers live events in ~100 ms batches). Sent RFBs wait here for their echo, a few seconds
  // at most.
  struct SentRfb {
    std::chrono::steady_clock::time_point at;
    protocol::Millis bid_window;
  };
  std::map<EventId, SentRfb> rfbs_in_flight;
  std::deque<EventId> rfbs_by_time;  // the same ids, oldest first: pruned from the front
  void on_own_rfb(const Event& e, const std::string& relay);

  Counter* jobs_done = nullptr;
  Counter* jobs_failed = nullptr;
  Histogram* job_seconds = nullptr;

  // router_agent.cpp
  Status start();
  void stop();
  // HostedAgent
  std::vector<machine::Record> startup_records() override;
  void on_ready() override;
  void on_draining() override;
  std::size_t in_flight() const override { return pending.size(); }
  void on_stop() override;
  router::RouterPolicy make_policy() const;
  void subscribe() override;
  void on_announcement(const Event& e);
  void on_bid(const Event& e);
  void register_effects() override;
  void announce_status();
  void schedule_status();
  std::size_t active_jobs() const { return pending.size(); }

  // router_api.cpp
  void register_routes() override;
  void handle_chat(http::Request request, std::shared_ptr<http::Responder> responder);
  void handle_models(http::Request request, std::shared_ptr<http::Responder> responder);
  std::map<std::string, std::size_t> models() const;
  void handle_jobs(http::Request request, std::shared_ptr<http::Responder> responder);
  std::optional<std::string> authenticate(const http::Request& request) const;
  void reply_to_client(const machine::Effect& effect);

  // router_dispatch.cpp
  void dispatch(const machine::Effect& effect);
};

}  // namespace fedai::agents
