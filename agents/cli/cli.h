// Shared pieces of the `fedai` command line: how subcommands register, fail and find keys.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/nostr/keys.h"

namespace fedai::cli {

// Thrown by a command to stop with a message on stderr and an exit status.
struct CommandError : std::runtime_error {
  explicit CommandError(const std::string& message, int exit_code = 1)
      : std::runtime_error(message), code(exit_code) {}
  int code;
};

// Where a command's secret key comes from: --key, --key-file, or the FEDAI_KEY variable.
struct KeySource {
  std::string key;
  std::string key_file;
};

// Adds --key and --key-file to `cmd`, with help that explains FEDAI_KEY.
void add_key_options(CLI::App& cmd, KeySource& source);

// The secret key named by `source` (nsec or 64 hex digits). Throws CommandError naming the
// source, never echoing the key, when none is given or it does not parse.
SecretKey resolve_secret_key(const KeySource& source);

// Where a relay client command finds its relays: --relay URL (repeated) and --relays-file.
struct RelaySource {
  std::vector<std::string> urls;
  std::string file;
};
void add_relay_options(CLI::App& cmd, RelaySource& source);
// Normalized, deduplicated relay URLs. Throws CommandError (status 2) for none or a bad one.
std::vector<std::string> resolve_relays(const RelaySource& source);
// --log-level for a client command; setup_client_logging sends spdlog to stderr at that level.
void add_log_level_option(CLI::App& cmd, std::string& level);
void setup_client_logging(const std::string& level, const std::string& name);

// A subcommand's body returns the process exit status.
using Action = std::function<int()>;

// Each file adds its subcommands to the app and sets `action` when one of them is chosen.
void add_key_commands(CLI::App& app, Action& action);
void add_event_commands(CLI::App& app, Action& action);
void add_nip19_commands(CLI::App& app, Action& action);
void add_nip44_commands(CLI::App& app, Action& action);
void add_relay_commands(CLI::App& app, Action& action);
void add_publish_commands(CLI::App& app, Action& action);
void add_req_commands(CLI::App& app, Action& action);
void add_db_commands(CLI::App& app, Action& action);
void add_agent_commands(CLI::App& app, Action& action);  // node, router
void add_devnet_commands(CLI::App& app, Action& action);
void add_infer_commands(CLI::App& app, Action& action);
void add_bolt11_commands(CLI::App& app, Action& action);

}  // namespace fedai::cli
