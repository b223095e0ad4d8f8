#include "agents/cli/agent_options.h"

#include "core/protocol/auction.h"
#include "core/protocol/units.h"

namespace fedai::cli {
namespace {

// The state database's options, the same for node and router.
constexpr const char* kDurableHelp =
    "fsync every commit (false: a process crash loses nothing, an OS crash may lose the last "
    "moments)";
constexpr const char* kCheckpointEveryHelp =
    "Log records between checkpoints at least (a checkpoint also waits until the log holds as "
    "many records as the state holds rows): the state is copied aside and the log emptied, so the "
    "database stays within twice the live state (0: keep the whole log)";
constexpr const char* kDrainGraceHelp =
    "On SIGTERM or SIGINT, how long the work in flight may take to finish (ms): the listener "
    "stops accepting, new requests are answered 503, and what is still running after this is "
    "ended (a router answers its waiting clients 503)";

using options::boolean;
using options::integer;
using options::text;
using options::text_list;

Status check_relay_url(const std::string& url) {
  if (url.starts_with("ws://") || url.starts_with("wss://")) return {};
  return invalid(options::quoted(url) + " is not a ws:// or wss:// URL");
}

Status check_listen(const std::string& v) {
  std::string host;
  std::uint16_t port = 0;
  return options::parse_listen(v, host, port);
}

Status check_http_url(const std::string& v) {
  if (v.empty() || protocol::is_http_url(v)) return {};
  return invalid(options::quoted(v) + " is not an http:// or https:// URL");
}

Status check_privacy(const std::string& v) {
  if (protocol::parse_privacy_level(v)) return {};
  return invalid(options::quoted(v) + " is not PL0, PL1, PL2 or PL3");
}

}  // namespace

const std::vector<OptionSpec<NodeOptions>>& node_option_specs() {
  using O = NodeOptions;
  static const std::vector<OptionSpec<O>> specs = {
      text_list<O>("relay", "Relay URL (ws:// or wss://); repeat or separate with commas",
                   &O::relays, check_relay_url),
      text<O>("key-file", "File holding the node's secret key (nsec or hex); or --key / FEDAI_KEY",
              &O::key_file),
      text<O>("instance", "Instance id in the d tags of CAPS, PRICE and STATUS ([a-z0-9_-]{1,32})",
              &O::instance,
              [](const std::string& v) {
                return protocol::is_instance_id(v)
                           ? Status{}
                           : invalid(options::quoted(v) + " is not an instance id");
              }),
      text<O>("listen", "Address of the data plane (HOST:PORT; port 0 picks a free one)",
              &O::listen, check_listen),
      text<O>("public-url", "Data-plane URL announced to routers (default: http://<listen>)",
              &O::public_url, check_http_url),
      text<O>("db", "Directory of the node's state database", &O::db),
      boolean<O>("durable", kDurableHelp, &O::durable),
      integer<O>("checkpoint-every", kCheckpointEveryHelp, &O::checkpoint_every, 0,
                 std::uint64_t{1} << 40),
      integer<O>("drain-grace-ms", kDrainGraceHelp, &O::drain_grace_ms, 0, 3'600'000),
      text<O>("runner-kind",
              "Model server API: openai (llama.cpp server, vLLM, Ollama's OpenAI API), llamacpp "
              "(/completion) or ollama (/api/chat)",
              &O::runner_kind,
              [](const std::string& v) {
                return v == "openai" || v == "llamacpp" || v == "ollama"
                           ? Status{}
                           : invalid(options::quoted(v) + " is not openai, llamacpp or ollama");
              }),
      text<O>("runner-url", "Base URL of the model server", &O::runner_url, check_http_url),
      text_list<O>(
          "model", "Model to offer; repeat (default: every model the runner lists)", &O::models,
          [](const std::string& v) {
            return protocol::is_model_id(v) ? Status{}
                                            : invalid(options::quoted(v) + " is not a model id");
          }),
      text_list<O>("job-type", "Job types offered for each model", &O::job_types,
                   [](const std::string& v) {
                     return protocol::is_job_type(v)
                                ? Status{}
                                : invalid(options::quoted(v) + " is not a job type");
                   }),
      integer<O>("in-price", "Price per 1000 input tokens, msat (before surge)", &O::in_per_1k_msat,
                 0, protocol::kMaxJsonInteger),
      integer<O>("out-price", "Price per 1000 output tokens, msat (before surge)",
                 &O::out_per_1k_msat, 0, protocol::kMaxJsonInteger),
      integer<O>("min-price", "Least charged for a job, msat", &O::min_msat, 0,
                 protocol::kMaxJsonInteger),
      integer<O>("context-tokens", "Context window announced", &O::context_tokens, 1),
      integer<O>("max-output-tokens", "Largest completion accepted", &O::max_output_tokens, 1),
      text<O>("privacy-max", "Highest privacy level accepted (PL0..PL2)", &O::privacy_max,
              check_privacy),
      boolean<O>("streaming", "Accept streamed jobs", &O::streaming),
      integer<O>("max-concurrency", "Jobs run at once (and slots to bid with)", &O::max_concurrency,
                 1, 10'000),
      integer<O>("surge-q", "Surge rule Q: queue depth that adds 1.0 (nips/F-02)", &O::surge_q, 1),
      integer<O>("surge-l-ms", "Surge rule L: p95 latency that adds 1.0, ms", &O::surge_l_ms, 1),
      integer<O>("eta-ms", "Promised time from award to result, ms", &O::eta_ms, 1),
      integer<O>("bid-validity-ms", "How long a bid's reserved slot is held, ms",
                 &O::bid_validity_ms, 1'000, 600'000),
      integer<O>("announce-every", "Seconds between CAPS/PRICE refreshes", &O::announce_every_s, 5,
                 86'400),
      integer<O>("status-every", "Seconds between STATUS refreshes (also sent on change)",
                 &O::status_every_s, 5, 3'600),
      integer<O>("max-body-bytes", "Largest JOB_SUBMIT body", &O::max_body_bytes, 1024, 64u << 20),
      integer<O>("job-timeout-ms", "Longest a job may run on the runner, ms", &O::job_timeout_ms,
                 1'000),
      integer<O>("rate-limit", "Data-plane requests per second per peer address", &O::rate_limit,
                 1),
      options::log_level<O>(&O::log_level),
  };
  return specs;
}

const std::vector<OptionSpec<RouterOptions>>& router_option_specs() {
  using O = RouterOptions;
  static const std::vector<OptionSpec<O>> specs = {
      text_list<O>("relay", "Relay URL (ws:// or wss://); repeat or separate with commas",
                   &O::relays, check_relay_url),
      text<O>("key-file",
              "File holding the router's secret key (nsec or hex); or --key / FEDAI_KEY",
              &O::key_file),
      text<O>("listen", "Address of the OpenAI-compatible API (HOST:PORT; port 0 picks a free one)",
              &O::listen, check_listen),
      text<O>("public-url", "The API's public URL, for NIP-98 checks (default: http://<listen>)",
              &O::public_url, check_http_url),
      text<O>("db", "Directory of the router's state database", &O::db),
      boolean<O>("durable", kDurableHelp, &O::durable),
      integer<O>("checkpoint-every", kCheckpointEveryHelp, &O::checkpoint_every, 0,
                 std::uint64_t{1} << 40),
      integer<O>("drain-grace-ms", kDrainGraceHelp, &O::drain_grace_ms, 0, 3'600'000),
      text_list<O>("api-key", "A client API key (Authorization: Bearer KEY); repeat for several",
                   &O::api_keys),
      boolean<O>("allow-nip98",
                 "Accept clients authenticated with NIP-98 (Authorization: Nostr ...)",
                 &O::allow_nip98),
      boolean<O>("allow-anonymous",
                 "Serve clients without credentials, or with an API key the router does not "
                 "know (OpenAI's libraries always send one); only sensible on loopback",
                 &O::allow_anonymous),
      text<O>("mode", "How jobs are bought: posted_then_auction, posted or auction", &O::mode,
              [](const std::string& v) {
                return v == "posted_then_auction" || v == "posted" || v == "auction"
                           ? Status{}
                           : invalid(options::quoted(v) +
                                     " is not posted_then_auction, posted or auction");
              }),
      text<O>("privacy", "Default privacy level of jobs (PL0..PL3; PL3 never leaves the router)",
              &O::privacy, check_privacy),
      integer<O>(
          "bid-window-ms", "How long an auction collects bids, ms (relays may add ~100 ms a hop)",
          &O::bid_window_ms, protocol::kMinBidWindow.value(), protocol::kMaxBidWindow.value()),
      integer<O>("deadline-ms", "From award to complete result, ms", &O::deadline_ms, 100),
      integer<O>("max-price-msat", "Most paid for one job unless the request says less, msat",
                 &O::max_price_msat, 1, protocol::kMaxJsonInteger),
      integer<O>("default-max-tokens", "max_tokens when a request gives none",
                 &O::default_max_tokens, 1),
      integer<O>("max-tokens-cap", "Largest max_tokens accepted", &O::max_tokens_cap, 1),
      integer<O>("max-body-bytes", "Largest client request body", &O::max_body_bytes, 1024,
                 64u << 20),
      integer<O>("max-active-jobs",
                 "Jobs in flight before the router is SATURATED and refuses work",
                 &O::max_active_jobs, 1),
      integer<O>("retry-budget", "Attempts per job, the first included (nips/F-03)",
                 &O::retry_budget, 1, 10),
      integer<O>("cooldown-ms", "Before a job is auctioned again, ms", &O::cooldown_ms, 0),
      integer<O>("breaker-failures", "Consecutive failures that open a peer's circuit breaker",
                 &O::breaker_failures, 1),
      integer<O>("breaker-open-ms", "How long an open breaker excludes the peer, ms",
                 &O::breaker_open_ms, 1'000),
      integer<O>("spend-per-minute-msat", "Spending cap per minute, msat (0: none)",
                 &O::spend_per_minute_msat, 0, protocol::kMaxJsonInteger),
      integer<O>("spend-per-hour-msat", "Spending cap per hour, msat (0: none)",
                 &O::spend_per_hour_msat, 0, protocol::kMaxJsonInteger),
      integer<O>("spend-per-day-msat", "Spending cap per day, msat (0: none)",
                 &O::spend_per_day_msat, 0, protocol::kMaxJsonInteger),
      integer<O>("status-every", "Seconds between STATUS refreshes (also sent on change)",
                 &O::status_every_s, 5, 3'600),
      options::log_level<O>(&O::log_level),
  };
  return specs;
}

Result<agents::NodeConfig> node_config(const NodeOptions& o, const Keypair& keys) {
  agents::NodeConfig c;
  if (o.relays.empty()) return invalid("--relay: give at least one relay");
  c.relays = o.relays;
  c.keys = keys;
  c.instance = o.instance;
  c.listen = o.listen;
  c.public_url = o.public_url;
  c.db = o.db;
  c.durable = o.durable;
  c.checkpoint_every = o.checkpoint_every;
  c.drain_grace = std::chrono::milliseconds(o.drain_grace_ms);
  c.runner.kind = o.runner_kind;
  c.runner.base_url = o.runner_url;
  node::ModelOffer offer;
  offer.job_types = o.job_types;
  if (offer.job_types.empty()) return invalid("--job-type: give at least one job type");
  offer.context_tokens = o.context_tokens;
  offer.max_output_tokens = o.max_output_tokens;
  offer.privacy_max = *protocol::parse_privacy_level(o.privacy_max);
  if (offer.privacy_max == protocol::PrivacyLevel::pl3)
    return invalid("--privacy-max: PL3 jobs never leave their router");
  offer.streaming = o.streaming;
  offer.in_per_1k = protocol::Msat{o.in_per_1k_msat};
  offer.out_per_1k = protocol::Msat{o.out_per_1k_msat};
  offer.min = protocol::Msat{o.min_msat};
  if (o.max_output_tokens > o.context_tokens)
    return invalid("--max-output-tokens can't exceed --context-tokens");
  c.defaults = offer;
  for (const auto& m : o.models) c.models[m] = offer;
  c.max_concurrency = o.max_concurrency;
  c.surge_q = o.surge_q;
  c.surge_l = protocol::Millis{o.surge_l_ms};
  c.eta = protocol::Millis{o.eta_ms};
  c.bid_validity = protocol::Millis{o.bid_validity_ms};
  c.announce_every = std::chrono::seconds(o.announce_every_s);
  c.status_every = std::chrono::seconds(o.status_every_s);
  c.max_body_bytes = o.max_body_bytes;
  c.job_timeout = std::chrono::milliseconds(o.job_timeout_ms);
  c.max_requests_per_second_per_peer = o.rate_limit;
  return c;
}

Result<agents::RouterConfig> router_config(const RouterOptions& o, const Keypair& keys) {
  agents::RouterConfig c;
  if (o.relays.empty()) return invalid("--relay: give at least one relay");
  c.relays = o.relays;
  c.keys = keys;
  c.listen = o.listen;
  c.public_url = o.public_url;
  c.db = o.db;
  c.durable = o.durable;
  c.checkpoint_every = o.checkpoint_every;
  c.drain_grace = std::chrono::milliseconds(o.drain_grace_ms);
  c.api_keys = o.api_keys;
  c.allow_nip98 = o.allow_nip98;
  c.allow_anonymous = o.allow_anonymous;
  c.mode = o.mode == "auction"  ? router::JobMode::auction
           : o.mode == "posted" ? router::JobMode::posted
                                : router::JobMode::posted_then_auction;
  c.privacy = *protocol::parse_privacy_level(o.privacy);
  c.bid_window = protocol::Millis{o.bid_window_ms};
  c.deadline = protocol::Millis{o.deadline_ms};
  c.max_price = protocol::Msat{o.max_price_msat};
  c.default_max_tokens = o.default_max_tokens;
  c.max_tokens_cap = o.max_tokens_cap;
  if (o.default_max_tokens > o.max_tokens_cap)
    return invalid("--default-max-tokens can't exceed --max-tokens-cap");
  c.max_body_bytes = o.max_body_bytes;
  c.max_active_jobs = o.max_active_jobs;
  c.auction.retry_budget = o.retry_budget;
  c.auction.cooldown = protocol::Millis{o.cooldown_ms};
  c.breaker.failures_to_open = o.breaker_failures;
  c.breaker.open_for = protocol::Millis{o.breaker_open_ms};
  if (o.spend_per_minute_msat) c.spending.per_minute = protocol::Msat{o.spend_per_minute_msat};
  if (o.spend_per_hour_msat) c.spending.per_hour = protocol::Msat{o.spend_per_hour_msat};
  if (o.spend_per_day_msat) c.spending.per_day = protocol::Msat{o.spend_per_day_msat};
  c.status_every = std::chrono::seconds(o.status_every_s);
  if (c.api_keys.empty() && !c.allow_nip98 && !c.allow_anonymous)
    return invalid(
        "no way for clients to authenticate: give --api-key, or --allow-nip98, or "
        "--allow-anonymous");
  return c;
}

}  // namespace fedai::cli
