// fedai relay: run the embedded Nostr relay.
//
// Options come from one table (relay/server/relay_options.h), bound like every command's by
// OptionBinding: each is a command-line flag, a key of the optional TOML config file and a
// FEDAI_<OPTION> variable. Precedence: flags > environment > file > default; a bad value exits 2.
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "agents/cli/cli.h"
#include "agents/cli/option_binding.h"
#include "relay/server/relay_server.h"

namespace fedai::cli {
namespace {

using relay::server::RelayOptions;

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("fedai-relay");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

int run_relay(RelayOptions options) {
  // What no single option can check (default-limit <= max-limit, ...) is a bad value too.
  if (auto st = relay::server::validate(options); !st) throw CommandError(st.error().message, 2);
  setup_logging(options.log_level);

  // Signals are taken by sigwait below: block them before any thread starts, so that every
  // thread inherits the mask and none is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = relay::server::RelayServer::start(options);
  if (!server) throw CommandError(server.error().to_string());
  // Scripts and tests wait for this line: the relay is accepting connections.
  std::cout << "relay: " << (*server)->url() << "\n";
  if ((*server)->metrics_port() != 0)
    std::cout << "metrics: http://" << options.metrics_host << ":" << (*server)->metrics_port()
              << "/metrics\n";
  std::cout.flush();

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("relay: {} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->stop();
  spdlog::info("relay: stopped");
  return 0;
}

}  // namespace

void add_relay_commands(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "relay",
      "Run fedai's embedded Nostr relay (NIP-01, 09, 11, 40, 42, 45) on an LMDB store.\n"
      "Prints 'relay: ws://HOST:PORT' on stdout once it accepts connections; logs go to stderr.\n"
      "SIGINT or SIGTERM stops it cleanly. Options may also come from --config FILE (TOML,\n"
      "e.g. max-limit = 1000) and FEDAI_<OPTION> variables; flags win. See docs/relay.md.");
  auto binding = std::make_shared<OptionBinding<RelayOptions>>(
      *cmd, relay::server::relay_option_specs(), RelayOptions{}, "relay");
  cmd->callback([&action, binding] {
    action = [binding] {
      auto resolved = binding->resolve_to_run();
      if (!resolved) return 0;  // --print-config
      RelayOptions o = std::move(*resolved);
      return run_relay(std::move(o));
    };
  });
}

}  // namespace fedai::cli
