// Options shared by the commands that talk to relays as a client (publish, req): where the
// relays are, and how much to log.
#include <fstream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "agents/cli/cli.h"
#include "relay/pool/relay_url.h"

namespace fedai::cli {

void add_relay_options(CLI::App& cmd, RelaySource& source) {
  // One URL per --relay: a vector option would otherwise swallow the positional arguments
  // that follow it (fedai req --relay URL FILTER).
  cmd.add_option("--relay,-r", source.urls, "Relay URL, ws:// or wss:// (repeat for several)")
      ->type_name("URL")
      ->allow_extra_args(false);
  cmd.add_option("--relays-file", source.file,
                 "File with one relay URL per line (blank lines and # comments are skipped)")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
}

std::vector<std::string> resolve_relays(const RelaySource& source) {
  std::vector<std::string> raw = source.urls;
  if (!source.file.empty()) {
    std::ifstream in(source.file);
    if (!in) throw CommandError("cannot read " + source.file, 2);
    std::string line;
    while (std::getline(in, line)) {
      auto start = line.find_first_not_of(" \t\r");
      if (start == std::string::npos || line[start] == '#') continue;
      auto end = line.find_last_not_of(" \t\r");
      raw.push_back(line.substr(start, end - start + 1));
    }
  }
  if (raw.empty()) throw CommandError("no relays: give --relay URL or --relays-file FILE", 2);
  std::vector<std::string> out;
  for (const auto& u : raw) {
    auto parsed = relay::parse_relay_url(u);
    if (!parsed) throw CommandError("'" + u + "' is not a relay URL: " + parsed.error().message, 2);
    if (std::find(out.begin(), out.end(), parsed->text) == out.end()) out.push_back(parsed->text);
  }
  return out;
}

void add_log_level_option(CLI::App& cmd, std::string& level) {
  cmd.add_option("--log-level", level,
                 "Logging on stderr: trace, debug, info, warn, error or off (connection changes "
                 "are info, libwebsockets internals debug and trace)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
}

void setup_client_logging(const std::string& level, const std::string& name) {
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

}  // namespace fedai::cli
