// fedai node | fedai router: run an agent until SIGINT or SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "agents/cli/agent_options.h"
#include "agents/cli/cli.h"
#include "agents/cli/option_binding.h"
#include "core/nostr/nip19.h"

namespace fedai::cli {
namespace {

void setup_agent_logging(const std::string& name, const std::string& level) {
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %n: %v");
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    throw CommandError("--log-level: '" + level + "' is not trace, debug, info, warn, error or off",
                       2);
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
}

// Signals are taken with sigwait: block them before any thread starts so every thread inherits
// the mask.
sigset_t block_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

int wait_for_signal(sigset_t signals, const std::string& name) {
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("{}: {} received, shutting down", name, sig == SIGINT ? "SIGINT" : "SIGTERM");
  return 0;
}

Keypair agent_key(const KeySource& flags, const std::string& key_file) {
  KeySource source = flags;
  if (source.key.empty() && source.key_file.empty()) source.key_file = key_file;
  return Keypair(resolve_secret_key(source));
}

}  // namespace

void add_agent_commands(CLI::App& app, Action& action) {
  {
    auto* cmd = app.add_subcommand(
        "node",
        "Run a node: sell inference from a model server to routers met on relays.\n"
        "It announces its models and prices, bids on requests for bids, serves the data plane,\n"
        "and answers each job with a signed result and usage receipt. Prints 'node: URL' once\n"
        "ready. Options may also come from --config FILE (TOML) and FEDAI_<OPTION> variables.");
    auto keys = std::make_shared<KeySource>();
    cmd->add_option("--key", keys->key, "Secret key (nsec or hex); prefer --key-file or FEDAI_KEY");
    auto binding = std::make_shared<OptionBinding<NodeOptions>>(*cmd, node_option_specs(),
                                                                NodeOptions{}, "node");
    cmd->callback([&action, keys, binding] {
      action = [keys, binding] {
        auto resolved = binding->resolve_to_run();
        if (!resolved) return 0;  // --print-config
        NodeOptions o = std::move(*resolved);
        setup_agent_logging("node", o.log_level);
        Keypair k = agent_key(*keys, o.key_file);
        auto config = node_config(o, k);
        if (!config) throw CommandError(config.error().message, 2);
        sigset_t signals = block_signals();
        MetricsRegistry metrics;
        agents::NodeAgent node(std::move(*config), metrics);
        if (auto st = node.start(); !st) throw CommandError(st.error().message);
        std::cout << "node: " << node.url() << " " << nip19::encode_npub(node.public_key())
                  << std::endl;
        wait_for_signal(signals, "node");
        node.stop();
        return 0;
      };
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "router",
        "Run a router: an OpenAI-compatible API (/v1/chat/completions, /v1/models) that buys\n"
        "each request from nodes on relays, at a posted price or in a sealed-bid auction, and\n"
        "checks every signed result. Prints 'router: URL' once ready. Options may also come\n"
        "from --config FILE (TOML) and FEDAI_<OPTION> variables.");
    auto keys = std::make_shared<KeySource>();
    cmd->add_option("--key", keys->key, "Secret key (nsec or hex); prefer --key-file or FEDAI_KEY");
    auto binding = std::make_shared<OptionBinding<RouterOptions>>(*cmd, router_option_specs(),
                                                                  RouterOptions{}, "router");
    cmd->callback([&action, keys, binding] {
      action = [keys, binding] {
        auto resolved = binding->resolve_to_run();
        if (!resolved) return 0;  // --print-config
        RouterOptions o = std::move(*resolved);
        setup_agent_logging("router", o.log_level);
        Keypair k = agent_key(*keys, o.key_file);
        auto config = router_config(o, k);
        if (!config) throw CommandError(config.error().message, 2);
        sigset_t signals = block_signals();
        MetricsRegistry metrics;
        agents::RouterAgent router(std::move(*config), metrics);
        if (auto st = router.start(); !st) throw CommandError(st.error().message);
        std::cout << "router: " << router.url() << std::endl;
        wait_for_signal(signals, "router");
        router.stop();
        return 0;
      };
    });
  }
}

}  // namespace fedai::cli
