// The router: takes OpenAI-style requests from clients, finds nodes on relays, buys each job at a
// posted price or in a sealed-bid auction, sends it to the winner over the data plane, checks the
// signed result and metering, and answers the client. Everything it decides goes through its
// state machine (core/router) on LMDB; prompts and outputs stay in memory.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agents/runtime/agent_loop.h"
#include "core/market/auction.h"
#include "core/market/peers.h"
#include "core/nostr/keys.h"
#include "core/protocol/kinds.h"
#include "core/router/records.h"
#include "core/router/router_machine.h"
#include "core/util/metrics.h"

namespace fedai::agents {

struct RouterConfig {
  std::vector<std::string> relays;
  std::optional<Keypair> keys;
  std::string listen = "127.0.0.1:8080";  // the client API
  std::string public_url;                 // for NIP-98 (default http://<listen>)
  std::string db;
  bool durable = true;
  std::uint64_t checkpoint_every = 20'000;  // log records between checkpoints; 0: keep them all
  // A graceful stop (SIGTERM) waits this long for the clients waiting for answers before it ends
  // them.
  std::chrono::milliseconds drain_grace{30'000};
  // Client authentication: an API key (Authorization: Bearer KEY) from this list, or NIP-98
  // (Authorization: Nostr ...). With allow_anonymous, requests without credentials are served
  // (the devnet does this on loopback).
  std::vector<std::string> api_keys;
  bool allow_nip98 = true;
  bool allow_anonymous = false;
  // How jobs are bought, unless a request says otherwise (its "fedai" extension object).
  router::JobMode mode = router::JobMode::posted_then_auction;
  protocol::PrivacyLevel privacy = protocol::PrivacyLevel::pl1;
  protocol::Millis bid_window{500};
  protocol::Millis deadline{60'000};
  protocol::Msat max_price{1'000'000};  // per job, in msat
  std::uint32_t default_max_tokens = 256;
  std::uint32_t max_tokens_cap = 4096;
  std::size_t max_body_bytes = 1 << 20;
  std::uint32_t max_active_jobs = 256;  // beyond this the router is SATURATED and refuses work
  market::AuctionParams auction;
  market::BreakerParams breaker;
  market::SpendingCaps spending;
  std::chrono::seconds status_every{30};
  // Called on the router's strand after each client got its answer (the devnet prints these):
  // the job's record and the time from request to answer. Must not block.
  std::function<void(const router::JobState&, UnixMillis elapsed)> on_job_finished;
};

class RouterAgent {
 public:
  RouterAgent(RouterConfig config, MetricsRegistry& metrics);
  ~RouterAgent();
  RouterAgent(const RouterAgent&) = delete;
  RouterAgent& operator=(const RouterAgent&) = delete;

  Status start();
  void stop();

  std::string url() const;  // the client API's base URL
  const PublicKey& public_key() const;
  // The models nodes announce (their CAPS), each with how many nodes offer it: /v1/models.
  std::map<std::string, std::size_t> models() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedai::agents
