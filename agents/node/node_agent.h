// The node: sells inference from a model server (a Runner) to routers it meets on relays.
//
// It announces what it serves (CAPS), its prices (PRICE) and its load (STATUS); it listens for
// RFBs for its models and bids when it has room; it serves the data plane (nips/F-04) on HTTP,
// checks every JOB_SUBMIT, runs the job on its runner, and answers with a signed JOB_RESULT and
// METERING. Its decisions go through its state machine (core/node) on LMDB.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agents/runtime/agent_loop.h"
#include "core/node/node_machine.h"
#include "core/nostr/keys.h"
#include "core/util/metrics.h"
#include "runners/runner.h"

namespace fedai::agents {

struct NodeConfig {
  std::vector<std::string> relays;
  std::optional<Keypair> keys;
  std::string instance = "node";
  std::string listen = "127.0.0.1:0";  // the data plane
  std::string public_url;              // announced endpoint; default http://<listen>
  std::string db;                      // database directory
  bool durable = true;
  std::uint64_t checkpoint_every = 20'000;  // log records between checkpoints; 0: keep them all //
  // A graceful stop (SIGTERM) waits this long for the jobs running before it ends them.
  std::chrono::milliseconds drain_grace{30'000};
  // fsync each group commit
  runners::RunnerOptions runner;
  std::map<std::string, node::ModelOffer> models;  // empty: every model the runner lists
  node::ModelOffer defaults;                       // for models taken from the runner
  std::uint32_t max_concurrency = 4;
  std::uint64_t surge_q = 8;
  protocol::Millis surge_l{10'000};
  protocol::Millis eta{5'000};
  protocol::Millis bid_validity{10'000};
  std::chrono::seconds announce_every{60};
  std::chrono::seconds status_every{30};
  std::size_t max_body_bytes = 1 << 20;
  std::chrono::milliseconds job_timeout{120'000};
  std::uint32_t max_requests_per_second_per_peer = 50;
};

class NodeAgent {
 public:
  NodeAgent(NodeConfig config, MetricsRegistry& metrics);
  ~NodeAgent();
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  // Opens the database, asks the runner for its models when none are configured, starts the
  // data plane, connects to the relays and announces. The error says what failed.
  Status start();
  void stop();

  std::string url() const;  // the data plane's base URL
  const PublicKey& public_key() const;
  std::vector<std::string> models() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedai::agents
