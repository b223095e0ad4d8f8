// fedai relay: run the embedded Nostr relay.
//
// Options come from one table (relay/server/relay_options.h): each is a command-line flag and
// a key of the optional TOML config file. The file is read first; flags given on the command
// line win.
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <toml++/toml.h>
#include <iostream>
#include <map>
#include <memory>

#include "agents/cli/cli.h"
#include "relay/server/relay_server.h"

namespace fedai::cli {
namespace {

using relay::server::OptionSpec;
using relay::server::OptionType;
using relay::server::RelayOptions;

std::string where(const toml::source_region& at, const std::string& file) {
  return file + ":" + std::to_string(at.begin.line) + ":" + std::to_string(at.begin.column);
}

// One TOML value as the option's text values, checking its type.
std::vector<std::string> toml_values(const OptionSpec& spec, const toml::node& node,
                                     const std::string& file) {
  auto fail = [&](const std::string& expected) -> std::vector<std::string> {
    throw CommandError(where(node.source(), file) + ": " + spec.name + " must be " + expected);
  };
  auto scalar = [&](const toml::node& n, OptionType type) -> std::string {
    switch (type) {
      case OptionType::integer:
      case OptionType::integer_list:
        if (auto v = n.value<std::int64_t>(); v && n.is_integer()) {
          if (*v < 0) fail("a non-negative integer");
          return std::to_string(*v);
        }
        fail(type == OptionType::integer ? "an integer" : "an array of integers");
        break;
      case OptionType::boolean:
        if (auto v = n.value<bool>(); v && n.is_boolean()) return *v ? "true" : "false";
        fail("true or false");
        break;
      case OptionType::string:
      case OptionType::string_list:
        if (auto v = n.value<std::string>(); v && n.is_string()) return *v;
        fail(type == OptionType::string ? "a string" : "an array of strings");
        break;
    }
    return {};
  };
  std::vector<std::string> out;
  bool list = spec.type == OptionType::integer_list || spec.type == OptionType::string_list;
  if (list && node.is_array()) {
    for (const toml::node& element : *node.as_array()) out.push_back(scalar(element, spec.type));
  } else {
    out.push_back(scalar(node, spec.type));
  }
  return out;
}

void load_config(const std::string& file, RelayOptions& options) {
  toml::table table;
  try {
    table = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    throw CommandError(where(e.source(), file) + ": " + std::string(e.description()));
  }
  for (const auto& [key, node] : table) {
    const OptionSpec* spec = relay::server::find_option(key.str());
    if (spec == nullptr)
      throw CommandError(where(key.source(), file) + ": unknown key '" + std::string(key.str()) +
                         "' (the keys are the names of fedai relay's options, e.g. max-limit)");
    auto values = toml_values(*spec, node, file);
    if (auto st = spec->set(options, values); !st)
      throw CommandError(where(node.source(), file) + ": " + spec->name + ": " +
                         st.error().message);
  }
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("fedai-relay");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

int run_relay(const std::string& config, const std::map<std::string, CLI::Option*>& flags,
              const std::map<std::string, std::vector<std::string>>& values,
              const std::map<std::string, bool>& bools) {
  RelayOptions options;
  if (!config.empty()) load_config(config, options);
  for (const auto& spec : relay::server::relay_option_specs()) {
    CLI::Option* flag = flags.at(spec.name);
    if (flag->count() == 0) continue;
    std::vector<std::string> given;
    if (spec.type == OptionType::boolean)
      given.push_back(bools.at(spec.name) ? "true" : "false");
    else
      given = values.at(spec.name);
    if (auto st = spec.set(options, given); !st)
      throw CommandError("--" + spec.name + ": " + st.error().message, 2);
  }
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
      "SIGINT or SIGTERM stops it cleanly. Every option can also be a key of --config FILE\n"
      "(TOML, e.g. max-limit = 1000); flags given here win over the file. See docs/relay.md.");
  struct State {
    std::string config;
    std::map<std::string, CLI::Option*> flags;
    std::map<std::string, std::vector<std::string>> values;
    std::map<std::string, bool> bools;
  };
  auto state = std::make_shared<State>();
  cmd->add_option("--config", state->config,
                  "TOML file of options (keys are the option names without --)")
      ->check(CLI::ExistingFile);
  const RelayOptions defaults;
  for (const auto& spec : relay::server::relay_option_specs()) {
    std::string name = "--" + spec.name;
    CLI::Option* opt = nullptr;
    switch (spec.type) {
      case OptionType::boolean:
        opt = cmd->add_flag(name, state->bools[spec.name], spec.help);
        break;
      case OptionType::integer_list:
      case OptionType::string_list:
        opt = cmd->add_option(name, state->values[spec.name], spec.help)->delimiter(',');
        break;
      case OptionType::string:
      case OptionType::integer:
        opt = cmd->add_option(name, state->values[spec.name], spec.help)->expected(1);
        break;
    }
    switch (spec.type) {
      case OptionType::integer:
        opt->type_name("N");
        break;
      case OptionType::integer_list:
        opt->type_name("KIND");
        break;
      case OptionType::string_list:
        opt->type_name("KEY");
        break;
      case OptionType::string:
      case OptionType::boolean:
        break;
    }
    std::string shown = spec.show(defaults);
    opt->default_str(shown.empty() ? "\"\"" : shown);
    state->flags[spec.name] = opt;
  }
  cmd->callback([&action, state] {
    action = [state] {
      return run_relay(state->config, state->flags, state->values, state->bools);
    };
  });
}

}  // namespace fedai::cli
