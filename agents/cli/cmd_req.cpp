// fedai req: query relays with NIP-01 filters and print the matching events as JSON lines,
// deduplicated across relays; until every relay sent EOSE, or live until interrupted.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "agents/cli/cli.h"
#include "core/nostr/filter.h"
#include "relay/pool/relay_pool.h"

namespace fedai::cli {
namespace {

struct ReqOptions {
  RelaySource relays;
  std::vector<std::string> filters;
  bool live = false;
  double timeout_seconds = -1;  // -1: 10 s for a query, forever with --live
  std::string log_level = "warn";
};

// Filters from the positional arguments: each a JSON object or an array of objects.
std::vector<Filter> parse_filter_arguments(const std::vector<std::string>& args) {
  std::vector<Filter> out;
  for (const auto& a : args) {
    auto first = a.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && a[first] == '[') {
      auto list = parse_filters(a);
      if (!list) throw CommandError("bad filter list " + a + ": " + list.error().to_string(), 2);
      out.insert(out.end(), list->begin(), list->end());
    } else {
      auto f = parse_filter(a);
      if (!f) throw CommandError("bad filter " + a + ": " + f.error().to_string(), 2);
      out.push_back(std::move(*f));
    }
  }
  if (out.empty())
    throw CommandError("give at least one filter, e.g. '{\"kinds\":[1],\"limit\":10}'", 2);
  return out;
}

int run_req(const ReqOptions& options) {
  auto urls = resolve_relays(options.relays);
  auto filters = parse_filter_arguments(options.filters);
  setup_client_logging(options.log_level, "fedai-req");
  double seconds = options.timeout_seconds >= 0 ? options.timeout_seconds : (options.live ? 0 : 10);

  // Signals are taken synchronously by this thread (sigtimedwait); every thread the pool starts
  // inherits the mask. SIGUSR1 is how the pool's callbacks say "done".
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  pthread_t main_thread = pthread_self();

  struct State {
    std::mutex mutex;
    bool output_open = true;
    std::set<std::string> answered;             // sent EOSE
    std::map<std::string, std::string> closed;  // relay -> CLOSED reason
    std::atomic<std::uint64_t> printed{0};
  };
  auto state = std::make_shared<State>();
  bool live = options.live;

  relay::SubscriptionHandlers handlers;
  handlers.on_event = [state, live](const Event& e, const std::string&) {
    std::string line = to_json(e);
    line += '\n';
    std::lock_guard lock(state->mutex);
    if (!state->output_open) return;
    std::cout << line;
    if (live) std::cout.flush();
    ++state->printed;
  };
  handlers.on_eose = [state](const std::string& relay) {
    std::lock_guard lock(state->mutex);
    state->answered.insert(relay);
  };
  handlers.on_closed = [state](const std::string& relay, const std::string& reason) {
    std::lock_guard lock(state->mutex);
    state->closed[relay] = reason;
    std::cerr << "fedai req: " << relay << " closed the subscription: " << reason << "\n";
  };
  handlers.on_all_eose = [state, live, main_thread] {
    if (live) return;
    {
      std::lock_guard lock(state->mutex);
      state->output_open = false;  // a query: later (live) events are not printed
    }
    pthread_kill(main_thread, SIGUSR1);
  };

  relay::RelayPool pool;
  for (const auto& u : urls) {
    if (auto st = pool.add_relay(u); !st) throw CommandError(st.error().message, 2);
  }
  pool.subscribe(std::move(filters), handlers);

  bool interrupted = false;
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  for (;;) {
    siginfo_t info{};
    int sig;
    if (seconds > 0) {
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) break;  // timed out
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec ts{static_cast<std::time_t>(ns / 1'000'000'000),
                  static_cast<long>(ns % 1'000'000'000)};
      sig = sigtimedwait(&signals, &info, &ts);
    } else {
      sig = sigwaitinfo(&signals, &info);
    }
    if (sig < 0) continue;  // EINTR, or EAGAIN at the deadline: the loop checks the time
    if (sig == SIGUSR1) break;
    interrupted = true;
    break;
  }
  {
    std::lock_guard lock(state->mutex);
    state->output_open = false;
    std::cout.flush();
  }
  auto stats = pool.stats();
  pool.shutdown();

  std::lock_guard lock(state->mutex);
  if (!live) {
    for (const auto& s : stats) {
      if (state->answered.contains(s.url) || state->closed.contains(s.url)) continue;
      std::cerr << "fedai req: " << s.url << " sent no EOSE (" << to_string(s.status)
                << (s.last_error.empty() ? "" : ": " + s.last_error) << ")\n";
    }
  }
  if (state->answered.empty()) {
    std::cerr << "fedai req: no relay answered\n";
    return 1;
  }
  // A query cut short by SIGINT/SIGTERM is incomplete; for --live that is how it ends.
  return interrupted && !live ? 130 : 0;
}

}  // namespace

void add_req_commands(CLI::App& app, Action& action) {
  auto options = std::make_shared<ReqOptions>();
  auto* cmd = app.add_subcommand(
      "req",
      "fedai req [OPTIONS] FILTER_JSON...\n\n"
      "Query relays with NIP-01 filters and print the matching events as JSON lines on stdout,\n"
      "each event once however many relays have it (ids and signatures are verified; forged\n"
      "events are dropped). Stops when every relay has sent EOSE (relays that cannot be\n"
      "reached are given up on after the connect timeout), or at --timeout.\n"
      "With --live it keeps printing new events until SIGINT/SIGTERM (or --timeout).\n\n"
      "FILTER is a JSON object such as '{\"kinds\":[1],\"authors\":[\"<hex>\"],\"limit\":20}',\n"
      "or a JSON array of them; several FILTERs form one subscription (NIP-01's OR).\n\n"
      "Exit status: 0 when at least one relay answered (sent EOSE), 1 when none did, 2 for\n"
      "bad filters or relay URLs, 130 when a query (not --live) was interrupted. Relays\n"
      "that refused the subscription (CLOSED) or never finished are reported on stderr.");
  // The filters are taken raw from the arguments left over: a CLI11 positional would read an
  // argument in [brackets] as its own list syntax and split a JSON array at its commas.
  cmd->allow_extras();
  add_relay_options(*cmd, options->relays);
  cmd->add_flag("--live", options->live, "Keep streaming new events after EOSE");
  cmd->add_option("--timeout", options->timeout_seconds,
                  "Seconds before giving up (default 10; with --live, run until interrupted)")
      ->check(CLI::NonNegativeNumber);
  add_log_level_option(*cmd, options->log_level);
  cmd->callback([&action, options, cmd] {
    options->filters = cmd->remaining();
    for (const auto& a : options->filters)
      if (a.rfind("-", 0) == 0) throw CLI::ExtrasError({a});
    if (options->filters.empty()) throw CLI::RequiredError("FILTER_JSON");
    action = [options] { return run_req(*options); };
  });
}

}  // namespace fedai::cli
