// fedai publish: events (or templates, signed with --key) from stdin to relays, one answer per
// relay per event.
#include <condition_variable>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "agents/cli/cli.h"
#include "core/nostr/event.h"
#include "core/util/time.h"
#include "relay/pool/relay_pool.h"

namespace fedai::cli {
namespace {

using relay::PublishOutcome;
using relay::RelayPublishResult;

struct PublishOptions {
  RelaySource relays;
  KeySource key;
  double timeout_seconds = 10;
  bool json = false;
  std::size_t in_flight = 256;
  std::string log_level = "warn";
};

bool blank(const std::string& line) {
  return line.find_first_not_of(" \t\r") == std::string::npos;
}

// A line is a signed event when it has a "sig"; otherwise it is a template to sign.
bool looks_signed(const std::string& line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  return j.is_object() && j.contains("sig");
}

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

std::string text_lines(const EventId& id, const std::vector<RelayPublishResult>& results) {
  std::string out;
  for (const auto& r : results) {
    out += id.hex() + " " + r.relay + " " + std::string(to_string(r.outcome));
    if (!r.message.empty() && r.outcome != PublishOutcome::timed_out)
      out += " " + one_line(r.message);
    out += "\n";
  }
  return out;
}

std::string json_line(const EventId& id, const std::vector<RelayPublishResult>& results) {
  nlohmann::json j;
  j["id"] = id.hex();
  j["accepted"] = relay::any_accepted(results);
  j["results"] = nlohmann::json::array();
  for (const auto& r : results)
    j["results"].push_back({{"relay", r.relay},
                            {"status", to_string(r.outcome)},
                            {"message", r.message},
                            {"latency_ms", static_cast<double>(r.latency.count()) / 1000.0}});
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// Results come back in any order; they are printed in input order.
class OrderedPrinter {
 public:
  OrderedPrinter(bool json, std::size_t window) : json_(json), window_(window) {}

  // Blocks while `window` events are in flight. Returns the slot for the next event.
  std::size_t reserve() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return next_slot_ - next_print_ < window_; });
    return next_slot_++;
  }
  void complete(std::size_t slot, const EventId& id, std::vector<RelayPublishResult> results) {
    std::lock_guard lock(mutex_);
    if (!relay::any_accepted(results)) ++unaccepted_;
    done_[slot] = json_ ? json_line(id, results) : text_lines(id, results);
    flush_locked();
  }
  // A line that never became an event: frees its slot.
  void skip(std::size_t slot) {
    std::lock_guard lock(mutex_);
    done_[slot] = "";
    flush_locked();
  }
  // Waits for every reserved slot; returns how many events no relay accepted.
  std::size_t finish() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return next_print_ == next_slot_; });
    std::cout.flush();
    return unaccepted_;
  }

 private:
  void flush_locked() {
    bool printed = false;
    for (auto it = done_.find(next_print_); it != done_.end(); it = done_.find(next_print_)) {
      std::cout << it->second;
      done_.erase(it);
      ++next_print_;
      printed = true;
    }
    if (printed) {
      std::cout.flush();
      cv_.notify_all();
    }
  }

  bool json_;
  std::size_t window_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::size_t, std::string> done_;
  std::size_t next_slot_ = 0;
  std::size_t next_print_ = 0;
  std::size_t unaccepted_ = 0;
};

int run_publish(const PublishOptions& options) {
  auto urls = resolve_relays(options.relays);
  setup_client_logging(options.log_level, "fedai-publish");
  if (!(options.timeout_seconds > 0)) throw CommandError("--timeout must be positive", 2);
  auto timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(options.timeout_seconds * 1000));

  std::optional<Keypair> keys;  // resolved at the first template, so signed events need no key
  relay::RelayPool pool;
  for (const auto& u : urls) {
    if (auto st = pool.add_relay(u); !st) throw CommandError(st.error().message, 2);
  }
  OrderedPrinter printer(options.json, options.in_flight);
  std::string line;
  std::size_t bad_lines = 0;
  for (std::size_t n = 1; std::getline(std::cin, line); ++n) {
    if (blank(line)) continue;
    std::optional<Event> event;
    if (looks_signed(line)) {
      auto parsed = parse_verified_event(line);
      if (!parsed) {
        std::cerr << "line " << n << ": " << parsed.error().to_string() << "\n";
        ++bad_lines;
        continue;
      }
      event = std::move(*parsed);
    } else {
      auto tmpl = parse_event_template(line, unix_now());
      if (!tmpl) {
        std::cerr << "line " << n << ": " << tmpl.error().to_string() << "\n";
        ++bad_lines;
        continue;
      }
      if (!keys) keys.emplace(resolve_secret_key(options.key));
      event = sign_event(std::move(*tmpl), *keys);
    }
    std::size_t slot = printer.reserve();
    pool.publish(*event, timeout,
                 [&printer, slot](const EventId& id, std::vector<RelayPublishResult> results) {
                   printer.complete(slot, id, std::move(results));
                 });
  }
  std::size_t unaccepted = printer.finish();
  pool.shutdown();
  if (unaccepted > 0)
    std::cerr << "fedai publish: " << unaccepted << " event" << (unaccepted == 1 ? "" : "s")
              << " accepted by no relay\n";
  return unaccepted == 0 && bad_lines == 0 ? 0 : 1;
}

}  // namespace

void add_publish_commands(CLI::App& app, Action& action) {
  auto options = std::make_shared<PublishOptions>();
  auto* cmd = app.add_subcommand(
      "publish",
      "Publish events read as JSON lines on stdin to every relay, and print each relay's answer.\n"
      "A line with a \"sig\" is a signed event and is sent as it is (after checking its id and\n"
      "signature); any other line is a template ({\"kind\":1,\"content\":\"...\",\"tags\":[...]})\n"
      "signed with the key from --key, --key-file or FEDAI_KEY.\n\n"
      "Output, one line per relay per event, in input order:\n"
      "  <id> <relay> accepted [<message>]\n"
      "  <id> <relay> rejected <reason>      (the relay's OK false, e.g. 'invalid: ...')\n"
      "  <id> <relay> timeout                (no OK within --timeout)\n"
      "  <id> <relay> failed <reason>        (not connected, send queue full, socket closed)\n"
      "or with --json one object per event: {\"id\",\"accepted\",\"results\":[{\"relay\",\n"
      "\"status\",\"message\",\"latency_ms\"}]}.\n\n"
      "Exit status: 0 when every event was accepted by at least one relay; 1 when some event\n"
      "was accepted by none or a line was not a valid event or template; 2 for bad relay URLs\n"
      "or options.");
  add_relay_options(*cmd, options->relays);
  add_key_options(*cmd, options->key);
  cmd->add_option("--timeout", options->timeout_seconds,
                  "Seconds to wait for each relay's OK to each event")
      ->capture_default_str();
  cmd->add_flag("--json", options->json, "One JSON object per event instead of text lines");
  cmd->add_option("--in-flight", options->in_flight,
                  "Events published but not yet answered, at most")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  add_log_level_option(*cmd, options->log_level);
  cmd->callback([&action, options] { action = [options] { return run_publish(*options); }; });
}

}  // namespace fedai::cli
