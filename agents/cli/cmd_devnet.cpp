// fedai devnet: the embedded relay, a router, nodes and a real model, in one process.
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "agents/cli/cli.h"
#include "agents/devnet/devnet.h"
#include "core/protocol/auction.h"

namespace fedai::cli {

void add_devnet_commands(CLI::App& app, Action& action) {
  auto o = std::make_shared<agents::DevnetOptions>();
  auto log_level = std::make_shared<std::string>("warn");
  auto* cmd = app.add_subcommand(
      "devnet",
      "Run a local fedai network in one process: the embedded relay, a router, nodes with\n"
      "different prices, and the tiny llama.cpp model (or --runner-url for your own server).\n"
      "Prints the relay's traffic as it happens (announcements, RFBs, bids, awards) and\n"
      "'router: http://HOST:PORT' once the router takes requests; try\n"
      "  fedai infer --router http://HOST:PORT \"hello\"\n"
      "SIGINT or SIGTERM stops everything. Databases, keys and the model go under --data.");
  cmd->add_option("--relay-listen", o->relay_listen, "Address of the embedded relay")
      ->capture_default_str();
  cmd->add_option("--router-listen", o->router_listen, "Address of the router's API (port 0: any)")
      ->capture_default_str();
  cmd->add_option("--data", o->data, "Folder for every database, key and the tiny model")
      ->capture_default_str();
  cmd->add_option("--runner-url", o->runner_url,
                  "Your own OpenAI-compatible model server instead of the tiny model");
  cmd->add_option("--runner-kind", o->runner_kind,
                  "API of --runner-url: openai, llamacpp or ollama")
      ->capture_default_str();
  cmd->add_option("--api-key", o->api_key,
                  "Require this API key from clients (default: loopback clients need none)");
  cmd->add_option("--nodes", o->nodes, "How many nodes")
      ->check(CLI::Range(1, 5))
      ->capture_default_str();
  cmd->add_option("--mode", o->mode,
                  "How the router buys jobs: posted_then_auction, posted or auction")
      ->capture_default_str();
  cmd->add_option("--bid-window-ms", o->bid_window_ms, "Auction bid window, ms")
      ->check(CLI::Range(protocol::kMinBidWindow.value(), protocol::kMaxBidWindow.value()))
      ->capture_default_str();
  cmd->add_flag("--durable", o->durable, "fsync every commit (slower; a devnet doesn't need it)");
  cmd->add_flag("--quiet", o->quiet, "Don't print the relay's traffic");
  cmd->add_option("--log-level", *log_level, "Agents' log level (stderr)")->capture_default_str();
  cmd->callback([&action, o, log_level] {
    action = [o, log_level] {
      auto logger = spdlog::stderr_color_mt("devnet");
      logger->set_pattern("%H:%M:%S.%e %^%l%$ %v");
      logger->set_level(spdlog::level::from_str(*log_level));
      spdlog::set_default_logger(logger);
      sigset_t signals;
      sigemptyset(&signals);
      sigaddset(&signals, SIGINT);
      sigaddset(&signals, SIGTERM);
      pthread_sigmask(SIG_BLOCK, &signals, nullptr);
      signal(SIGPIPE, SIG_IGN);

      agents::Devnet devnet(*o, std::cout);
      if (auto st = devnet.start(); !st) {
        devnet.stop();
        throw CommandError("devnet: " + st.error().message);
      }
      std::cout << "relay: " << devnet.relay_url() << "\n"
                << "router: " << devnet.router_url() << std::endl;
      int sig = 0;
      sigwait(&signals, &sig);
      std::cout << "devnet: stopping" << std::endl;
      devnet.stop();
      return 0;
    };
  });
}

}  // namespace fedai::cli
