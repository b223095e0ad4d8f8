// fedai event sign | verify
#include <iostream>
#include <limits>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "agents/cli/cli.h"
#include "core/nostr/event.h"
#include "core/util/time.h"

namespace fedai::cli {
namespace {

bool blank(const std::string& line) {
  return line.find_first_not_of(" \t\r") == std::string::npos;
}

// The id a malformed event claims, for the report; "-" when there is none to show.
std::string claimed_id(const std::string& line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_object()) {
    auto id = j.find("id");
    if (id != j.end() && id->is_string()) {
      std::string s = id->get<std::string>();
      if (s.size() <= 64 && s.find_first_of(" \t\r\n") == std::string::npos && !s.empty()) return s;
    }
  }
  return "-";
}

int sign_lines(const SecretKey& secret) {
  Keypair keys(secret);
  std::string line, out;
  int failures = 0;
  for (std::size_t n = 1; std::getline(std::cin, line); ++n) {
    if (blank(line)) continue;
    auto tmpl = parse_event_template(line, unix_now());
    if (!tmpl) {
      std::cerr << "line " << n << ": " << tmpl.error().to_string() << "\n";
      ++failures;
      continue;
    }
    out.clear();
    append_json(out, sign_event(std::move(*tmpl), keys));
    out += '\n';
    std::cout << out;
  }
  std::cout.flush();
  return failures == 0 ? 0 : 1;
}

// Size is a relay's policy, not validity: without --max-bytes any size verifies.
int verify_lines(std::size_t max_bytes) {
  EventLimits limits;
  limits.max_json_bytes = max_bytes > 0 ? max_bytes : std::numeric_limits<std::size_t>::max();
  limits.max_tags = std::numeric_limits<std::size_t>::max();
  limits.max_tag_values = std::numeric_limits<std::size_t>::max();
  std::string line;
  int failures = 0;
  while (std::getline(std::cin, line)) {
    if (blank(line)) continue;
    auto ev = parse_verified_event(line, limits);
    if (ev) {
      std::cout << "valid " << ev->id.hex() << "\n";
    } else {
      std::cout << "invalid " << claimed_id(line) << " " << ev.error().to_string() << "\n";
      ++failures;
    }
  }
  std::cout.flush();
  return failures == 0 ? 0 : 1;
}

}  // namespace

void add_event_commands(CLI::App& app, Action& action) {
  auto* event = app.add_subcommand("event", "Sign and verify Nostr events (NIP-01)");
  event->require_subcommand(1);

  auto* sign = event->add_subcommand(
      "sign",
      "Sign event templates read as JSON lines on stdin; print signed events as JSON lines.\n"
      "A template is {\"kind\":1,\"content\":\"...\",\"tags\":[[...]],\"created_at\":N};\n"
      "kind is required, created_at defaults to now. Bad lines are reported on stderr\n"
      "with their line number and the exit status is 1.");
  auto source = std::make_shared<KeySource>();
  add_key_options(*sign, *source);
  sign->callback(
      [&action, source] { action = [source] { return sign_lines(resolve_secret_key(*source)); }; });

  auto* verify = event->add_subcommand(
      "verify",
      "Verify events read as JSON lines on stdin: prints 'valid ID' or 'invalid ID REASON'\n"
      "per line (ID is '-' when the line has none). Exit status 0 only if all are valid.\n"
      "Any size verifies (a size limit is a relay's policy); --max-bytes applies one.");
  auto max_bytes = std::make_shared<std::size_t>(0);
  verify->add_option("--max-bytes", *max_bytes,
                     "Refuse events whose JSON is longer than this many bytes (0: no limit)");
  verify->callback(
      [&action, max_bytes] { action = [max_bytes] { return verify_lines(*max_bytes); }; });
}

}  // namespace fedai::cli
