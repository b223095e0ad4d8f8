// Shared pieces of the `fedai` command line: how subcommands register, fail and find keys.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <stdexcept>
#include <string>

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

// A subcommand's body returns the process exit status.
using Action = std::function<int()>;

// Each file adds its subcommands to the app and sets `action` when one of them is chosen.
void add_key_commands(CLI::App& app, Action& action);
void add_event_commands(CLI::App& app, Action& action);
void add_nip19_commands(CLI::App& app, Action& action);
void add_nip44_commands(CLI::App& app, Action& action);

}  // namespace fedai::cli
