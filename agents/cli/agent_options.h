// The options of `fedai node` and `fedai router`, declared once (core/util/option_table.h): flags,
// config-file keys, FEDAI_* variables and --print-config all come from these tables.
#pragma once

#include <string>
#include <vector>

#include "agents/node/node_agent.h"
#include "agents/router/router_agent.h"
#include "core/util/option_table.h"

namespace fedai::cli {

struct NodeOptions {
  std::vector<std::string> relays;
  std::string key_file;
  std::string instance = "node";
  std::string listen = "127.0.0.1:8090";
  std::string public_url;
  std::string db = "fedai-node";
  bool durable = true;
  std::uint64_t checkpoint_every = 20'000;
  std::uint64_t drain_grace_ms = 30'000;
  std::string runner_kind = "openai";
  std::string runner_url = "http://127.0.0.1:8080";
  std::vector<std::string> models;  // empty: every model the runner lists
  std::vector<std::string> job_types = {"chat"};
  std::uint64_t in_per_1k_msat = 1'000;
  std::uint64_t out_per_1k_msat = 2'000;
  std::uint64_t min_msat = 100;
  std::uint32_t context_tokens = 4096;
  std::uint32_t max_output_tokens = 1024;
  std::string privacy_max = "PL2";
  bool streaming = true;
  std::uint32_t max_concurrency = 4;
  std::uint64_t surge_q = 8;
  std::uint64_t surge_l_ms = 10'000;
  std::uint64_t eta_ms = 5'000;
  std::uint64_t bid_validity_ms = 10'000;
  std::uint32_t announce_every_s = 60;
  std::uint32_t status_every_s = 30;
  std::uint64_t max_body_bytes = 1 << 20;
  std::uint64_t job_timeout_ms = 120'000;
  std::uint32_t rate_limit = 50;
  std::string log_level = "info";
};

struct RouterOptions {
  std::vector<std::string> relays;
  std::string key_file;
  std::string listen = "127.0.0.1:8080";
  std::string public_url;
  std::string db = "fedai-router";
  bool durable = true;
  std::uint64_t checkpoint_every = 20'000;
  std::uint64_t drain_grace_ms = 30'000;
  std::vector<std::string> api_keys;
  bool allow_nip98 = true;
  bool allow_anonymous = false;
  std::string mode = "posted_then_auction";
  std::string privacy = "PL1";
  std::uint64_t bid_window_ms = 500;
  std::uint64_t deadline_ms = 60'000;
  std::uint64_t max_price_msat = 1'000'000;
  std::uint32_t default_max_tokens = 256;
  std::uint32_t max_tokens_cap = 4096;
  std::uint64_t max_body_bytes = 1 << 20;
  std::uint32_t max_active_jobs = 256;
  std::uint32_t retry_budget = 3;
  std::uint64_t cooldown_ms = 2'000;
  std::uint32_t breaker_failures = 3;
  std::uint64_t breaker_open_ms = 60'000;
  std::uint64_t spend_per_minute_msat = 0;  // 0: no cap
  std::uint64_t spend_per_hour_msat = 0;
  std::uint64_t spend_per_day_msat = 0;
  std::uint32_t status_every_s = 30;
  std::string log_level = "info";
};

const std::vector<OptionSpec<NodeOptions>>& node_option_specs();
const std::vector<OptionSpec<RouterOptions>>& router_option_specs();

// Checks what a single option can't, and builds the agent's configuration. The key comes from
// the caller (key file, --key or FEDAI_KEY). Errors name the option.
Result<agents::NodeConfig> node_config(const NodeOptions& o, const Keypair& keys);
Result<agents::RouterConfig> router_config(const RouterOptions& o, const Keypair& keys);

}  // namespace fedai::cli
