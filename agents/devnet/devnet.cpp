#include "agents/devnet/devnet.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <mutex>
#include <thread>

#include "agents/node/node_agent.h"
#include "agents/router/router_agent.h"
#include "core/nostr/key_text.h"
#include "core/nostr/nip19.h"
#include "core/protocol/protocol.h"
#include "core/util/option_table.h"
#include "relay/pool/relay_pool.h"
#include "relay/server/relay_server.h"
#include "runners/child_process.h"

namespace fedai::agents {
namespace {

namespace fs = std::filesystem;

// The devnet's identities persist in its data folder, so a restarted devnet is the same network.
Result<Keypair> load_or_create_key(const fs::path& file) {
  std::error_code ec;
  if (fs::exists(file, ec)) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    auto key = parse_secret_key(line);
    if (!key) return make_error(ErrorCode::error, file.string() + ": " + key.error().message);
    return Keypair(*key);
  }
  Keypair keys = Keypair::generate();
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::error, "cannot create " + file.string());
  std::string line = nip19::encode_nsec(keys.secret_key()) + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) return make_error(ErrorCode::error, "cannot write " + file.string());
  return keys;
}

std::string clock_text() {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms));
  return buf;
}

}  // namespace

struct Devnet::Impl {
  Impl(DevnetOptions o, std::ostream& s) : options(std::move(o)), out(s) {}

  DevnetOptions options;
  std::ostream& out;
  std::mutex out_mutex;
  std::unique_ptr<runners::ChildProcess> runner_process;
  std::string runner_url;
  std::unique_ptr<relay::server::RelayServer> relay;
  MetricsRegistry router_metrics;
  std::unique_ptr<RouterAgent> router;
  std::vector<std::unique_ptr<MetricsRegistry>> node_metrics;
  std::vector<std::unique_ptr<NodeAgent>> nodes;
  std::unique_ptr<relay::RelayPool> watcher;
  std::mutex names_mutex;  // the watcher and the router's strand read while nodes start
  std::map<PublicKey, std::string> names;  // pubkey -> "router", "node-1", ...

  std::string name_of(const PublicKey& pk) {
    std::lock_guard lock(names_mutex);
    auto it = names.find(pk);
    return it != names.end() ? it->second : pk.hex().substr(0, 8);
  }
  void set_name(const PublicKey& pk, std::string name) {
    std::lock_guard lock(names_mutex);
    names[pk] = std::move(name);
  }

  // A job the router finished: who served it, on what terms, and how long each step took.
  void show_job(const router::JobState& j, UnixMillis elapsed) {
    if (options.quiet) return;
    std::string text = "job " + j.request.job_id.hex().substr(0, 8) + "  ";
    if (j.phase == router::JobPhase::done) {
      text += "answered by " + (j.node ? name_of(*j.node) : std::string("?")) + " (" +
              (j.posted ? "posted price" : "auction") + ") for " + std::to_string(j.price.value()) +
              " msat";
    } else {
      text += std::string(router::to_string(j.phase)) + ": " +
              std::string(protocol::to_string(j.error)) + " " + j.reason;
    }
    text += ", " + std::to_string(j.attempts) + " attempt(s), " + std::to_string(elapsed) + " ms";
    if (!j.posted && j.rfb_at && j.awarded_at)
      text += " (bids " + std::to_string(j.cleared_at - j.rfb_at) + " ms, award +" +
              std::to_string(j.awarded_at - j.cleared_at) + " ms)";
    line(j.phase == router::JobPhase::done ? "JOB" : "FAILED", text);
  }

  void line(const std::string& what, const std::string& text) {
    std::lock_guard lock(out_mutex);
    out << clock_text() << "  " << std::left << std::setw(8) << what << text << std::endl;
  }

  Status start_runner() {
    if (!options.runner_url.empty()) {
      runner_url = options.runner_url;
      return {};
    }
    std::string script = options.tiny_runner_script;
    if (script.empty()) script = std::string(FEDAI_SOURCE_DIR) + "/runners/tiny/server.mjs";
    std::error_code ec;
    if (!fs::exists(script, ec))
      return make_error(ErrorCode::error, "the tiny model server is not at " + script +
                                              " (give --runner-url for your own)");
    fs::path model = fs::path(options.data) / "tiny.gguf";
    std::string node_program = options.node_program;
    if (node_program.empty())
      node_program = fs::exists(FEDAI_BUILD_NODE, ec) ? FEDAI_BUILD_NODE : "node";
    auto node = runners::find_program(node_program);
    if (!node)
      return make_error(ErrorCode::error,
                        "Node.js ('" + node_program +
                            "') is not on PATH: run scripts/setup, or give --runner-url");
    try {
      runner_process = std::make_unique<runners::ChildProcess>(
          std::vector<std::string>{*node, script, "--port", "0", "--model", model.string()});
    } catch (const std::exception& e) {
      return make_error(ErrorCode::error,
                        std::string("cannot start the tiny model server: ") + e.what());
    }
    auto ready = runner_process->wait_for_line("runner: ", std::chrono::seconds(60));
    if (!ready)
      return make_error(ErrorCode::error,
                        "the tiny model server did not start (is scripts/setup done?)");
    runner_url = ready->substr(8);
    line("RUNNER", "tiny llama.cpp model (node-llama-cpp) at " + runner_url);
    return {};
  }

  Status start_relay() {
    relay::server::RelayOptions o;
    if (auto st = options::parse_listen(options.relay_listen, o.listen_host, o.listen_port); !st)
      return make_error(ErrorCode::error, "--relay-listen: " + st.error().message);
    o.db_path = (fs::path(options.data) / "relay").string();
    o.db_sync = options.durable;
    o.log_level = "warn";
    if (auto st = relay::server::validate(o); !st) return st;
    auto r = relay::server::RelayServer::start(o);
    if (!r) return make_error(ErrorCode::error, "relay: " + r.error().message);
    relay = std::move(*r);
    line("RELAY", "embedded relay at " + relay->url());
    return {};
  }

  Status start_router() {
    auto keys = load_or_create_key(fs::path(options.data) / "router.nsec");
    if (!keys) return keys.error();
    RouterConfig c;
    c.relays = {relay->url()};
    c.keys = *keys;
    c.listen = options.router_listen;
    c.db = (fs::path(options.data) / "router").string();
    c.durable = options.durable;
    if (!options.api_key.empty()) {
      c.api_keys = {options.api_key};
    } else {
      c.allow_anonymous = true;
    }
    c.mode = options.mode == "auction"  ? router::JobMode::auction
             : options.mode == "posted" ? router::JobMode::posted
                                        : router::JobMode::posted_then_auction;
    c.bid_window = protocol::Millis{options.bid_window_ms};
    c.deadline = protocol::Millis{60'000};
    c.status_every = std::chrono::seconds(30);
    set_name(keys->public_key(), "router");
    c.on_job_finished = [this](const router::JobState& j, UnixMillis elapsed) {
      show_job(j, elapsed);
    };
    router = std::make_unique<RouterAgent>(std::move(c), router_metrics);
    if (auto st = router->start(); !st)
      return make_error(ErrorCode::error, "router: " + st.error().message);
    return {};
  }

  Status start_nodes() {
    // Different prices, so the market has something to decide.
    const std::uint64_t in_prices[] = {1000, 800, 1200, 900, 1100};
    const std::uint64_t out_prices[] = {2000, 1600, 2400, 1800, 2200};
    for (std::uint32_t i = 0; i < options.nodes; ++i) {
      std::string name = "node-" + std::to_string(i + 1);
      auto keys = load_or_create_key(fs::path(options.data) / (name + ".nsec"));
      if (!keys) return keys.error();
      NodeConfig c;
      c.relays = {relay->url()};
      c.keys = *keys;
      c.instance = "node";
      c.listen = "127.0.0.1:0";
      c.db = (fs::path(options.data) / name).string();
      c.durable = options.durable;
      c.runner.kind = options.runner_kind;
      c.runner.base_url = runner_url;
      c.defaults.job_types = {"chat"};
      c.defaults.in_per_1k = protocol::Msat{in_prices[i % 5]};
      c.defaults.out_per_1k = protocol::Msat{out_prices[i % 5]};
      c.defaults.min = protocol::Msat{10};
      c.defaults.context_tokens = 256;
      c.defaults.max_output_tokens = 128;
      c.max_concurrency = 2;
      c.announce_every = std::chrono::seconds(30);
      c.status_every = std::chrono::seconds(15);
      set_name(keys->public_key(), name);
      node_metrics.push_back(std::make_unique<MetricsRegistry>());
      nodes.push_back(std::make_unique<NodeAgent>(std::move(c), *node_metrics.back()));
      if (auto st = nodes.back()->start(); !st)
        return make_error(ErrorCode::error, name + ": " + st.error().message);
      line("NODE", name + " " + nip19::encode_npub(keys->public_key()).substr(0, 20) +
                       "… data plane " + nodes.back()->url() + ", " +
                       std::to_string(in_prices[i % 5]) + "/" + std::to_string(out_prices[i % 5]) +
                       " msat per 1k tokens in/out");
    }
    return {};
  }

  // Ready means a client's first request finds a node: the router has every node's CAPS (they
  // travel through the relay, so this takes a few milliseconds after the nodes start).
  Status await_router_knows_nodes() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      std::size_t offers = 0;
      for (const auto& [model, count] : router->models()) offers += count;
      if (offers >= options.nodes) return {};
      if (std::chrono::steady_clock::now() > deadline)
        return make_error(ErrorCode::error, "the router learned of " + std::to_string(offers) +
                                                " of " + std::to_string(options.nodes) +
                                                " nodes in 30 s (is the relay up?)");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // Prints the fedai traffic on the relay: what a relay operator would see.
  void start_watcher() {
    relay::RelayPoolOptions o;
    o.metrics_pool_label = "devnet-watch";
    watcher = std::make_unique<relay::RelayPool>(std::move(o));
    (void)watcher->add_relay(relay->url());
    Filter f;
    f.kinds = std::vector<Kind>(protocol::kAllKinds.begin(), protocol::kAllKinds.end());
    f.since = wall_clock_ms() / 1000 - 1;
    f.normalize();
    watcher->subscribe({f}, {[this](const Event& e, const std::string&) { show(e); }, {}, {}, {}});
  }

  void show(const Event& e) {
    std::string who = name_of(e.pubkey);
    switch (e.kind) {
      case protocol::kCapsAnnounce:
        if (auto c = protocol::parse_caps_announce(e))
          line("CAPS", who + "  " + c->model + " (" +
                           (c->job_types.empty() ? "" : c->job_types[0]) + "), up to " +
                           std::to_string(c->max_output_tokens) + " tokens, " +
                           std::string(protocol::to_string(c->privacy_max)));
        break;
      case protocol::kPriceAnnounce:
        if (auto p = protocol::parse_price_announce(e))
          line("PRICE", who + "  " + p->model + "/" + p->job_type + "  " +
                            std::to_string(p->in_per_1k_msat.value()) + "/" +
                            std::to_string(p->out_per_1k_msat.value()) + " msat per 1k, surge " +
                            p->surge.to_json());
        break;
      case protocol::kStatusAnnounce:
        if (auto s = protocol::parse_status_announce(e))
          line("STATUS", who + "  " + std::string(protocol::to_string(s->state)) + ", " +
                             std::to_string(s->active_jobs) + " active");
        break;
      case protocol::kRfb:
        if (auto r = protocol::parse_rfb(e))
          line("RFB", who + "  job " + r->job_id.hex().substr(0, 8) + "  " + r->model + "/" +
                          r->job_type + ", at most " + std::to_string(r->max_price_msat.value()) +
                          " msat, bids for " + std::to_string(r->bid_window_ms.value()) + " ms");
        break;
      case protocol::kBid:
        line("BID",
             who + " -> " +
                 name_of(PublicKey::from_hex(e.tag_value("p").value_or("")).value_or(PublicKey{})) +
                 "  (sealed: only the router can read the price)");
        break;
      case protocol::kAward:
        if (auto a = protocol::parse_award_route(e))
          line("AWARD", who + " -> " + name_of(a->node) + "  (sealed to the winner)");
        break;
      case protocol::kCancel:
        if (auto c = protocol::parse_cancel(e))
          line("CANCEL", who + "  job " + c->job_id.hex().substr(0, 8) +
                             (c->node ? " (award to " + name_of(*c->node) + " taken back)" : "") +
                             ": " + std::string(protocol::to_string(c->reason)));
        break;
      default:
        break;
    }
  }
};

Devnet::Devnet(DevnetOptions options, std::ostream& out)
    : impl_(std::make_unique<Impl>(std::move(options), out)) {}
Devnet::~Devnet() {
  stop();
}

Status Devnet::start() {
  std::error_code ec;
  fs::create_directories(impl_->options.data, ec);
  if (ec)
    return make_error(ErrorCode::error,
                      "cannot create " + impl_->options.data + ": " + ec.message());
  if (auto st = impl_->start_runner(); !st) return st;
  if (auto st = impl_->start_relay(); !st) return st;
  if (!impl_->options.quiet) impl_->start_watcher();
  if (auto st = impl_->start_router(); !st) return st;
  if (auto st = impl_->start_nodes(); !st) return st;
  return impl_->await_router_knows_nodes();
}

void Devnet::stop() {
  if (!impl_) return;
  // The router first: its clients' jobs in flight finish on the nodes before they stop.
  if (impl_->router) impl_->router->stop();
  for (auto& n : impl_->nodes) n->stop();
  impl_->watcher.reset();
  if (impl_->relay) impl_->relay->stop();
  if (impl_->runner_process) impl_->runner_process->kill(SIGTERM);
}

std::string Devnet::relay_url() const {
  return impl_->relay ? impl_->relay->url() : "";
}
std::string Devnet::router_url() const {
  return impl_->router ? impl_->router->url() : "";
}

}  // namespace fedai::agents
