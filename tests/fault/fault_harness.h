// The fault suite's tools (issue 13): clients that keep a fedai router busy and record how each
// request ended, the faults a test injects (kill -9, SIGTERM, relay restarts) with their times,
// and the verdicts: every request answered or refused with an explicit error (a reset only when
// a kill of the router cut it), no job left active, no node running an award twice, the
// replayed state hash equal to the live one.
//
// Nothing here waits by sleeping for an event: processes are awaited from their own lines,
// endpoints are polled with deadlines. The only sleeps are the random moments between faults
// (seeded) and the pause between polls.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/cluster.h"

namespace fedai::test::fault {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// ---- clients ----

struct ClientSpec {
  std::string mode;  // "" (the router's default: posted_then_auction), "posted" or "auction"
  bool stream = false;
};

enum class Ending {
  answered,  // 200 and a well-formed completion (or stream ending in [DONE], no error event)
  error,     // an explicit error: a status >= 400 with an OpenAI error body, or an error event
  reset,     // the connection ended before the answer was complete
  timeout,   // no complete answer within the client's deadline
  bad,       // an answer that is neither: malformed, an error without a body, ...
};
const char* to_string(Ending e);

// One client request that reached a listening router (a refused connection is a Refusal).
struct Outcome {
  int client = 0;
  unsigned tag = 0;  // its max_tokens: unique in the test, so a runner's log names the request
  std::string mode;
  bool stream = false;
  Clock::time_point start;  // before connect()
  Clock::time_point sent;   // the whole request written
  Clock::time_point end;
  Ending ending = Ending::bad;
  int status = 0;
  std::string detail;  // the body (shortened) or what went wrong
  std::string code;    // an error's code ("ERR_NO_BIDS", ...)
  std::string job_id;  // from an answer's fedai object
};

// A connection the router's address refused (nothing listening).
struct Refusal {
  int client = 0;
  Clock::time_point at;
};

struct LoadOptions {
  std::uint16_t port = 0;  // the router's
  std::vector<ClientSpec> clients;
  // Requests in all (the router keeps its newest 1,000 finished jobs; the run-twice check reads
  // them all back, so a test stays under that).
  std::size_t max_requests = 900;
  unsigned first_tag = 16;
  std::chrono::milliseconds timeout = 30s;  // per request
  unsigned bid_window_ms = 300;             // for "auction" clients
  // A client starts its requests at least this far apart (a client that is refused at once
  // does not hammer the router, nor spend the budget in a second).
  std::chrono::milliseconds min_interval{100};
};

// Clients on threads of their own, each issuing one request after another until stop() or the
// budget is spent. A refused connection is retried (after a pause) with the same request.
class Load {
 public:
  explicit Load(LoadOptions options);
  ~Load();
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void start();
  void stop();  // lets requests in flight end (bounded by their timeout) and joins
  // Requests ended so far; waits until at least `n` ended (false after `timeout`).
  std::size_t ended() const;
  bool wait_ended(std::size_t n, std::chrono::milliseconds timeout) const;
  bool exhausted() const { return tags_.load() >= options_.first_tag + options_.max_requests; }

  std::vector<Outcome> outcomes() const;
  std::vector<Refusal> refusals() const;

 private:
  void run(int client);

  LoadOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<unsigned> tags_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::vector<Outcome> outcomes_;
  std::vector<Refusal> refusals_;
  std::vector<std::thread> threads_;
};

// One request as the clients send it (used for single probes too).
Outcome request_once(std::uint16_t port, const ClientSpec& spec, unsigned tag, int client,
                     unsigned bid_window_ms, std::chrono::milliseconds timeout,
                     std::optional<Refusal>* refused = nullptr);

// ---- faults ----

struct Fault {
  std::string target;  // "router", "node-a", "relay"
  int signal = 0;
  Clock::time_point at;     // when the signal was sent
  Clock::time_point gone;   // when it had exited
  Clock::time_point ready;  // when the restarted process said it was ready (or the end of the run)
  bool came_up = false;
  std::optional<int> status;  // its wait status, when the test waited for it to exit
  std::size_t in_flight = 0;  // client requests in flight at `at` (filled in by judge())
  // The jobs the process itself said it had (its /health active_jobs) just before the signal;
  // -1 when it did not answer.
  int active_before = -1;
};

// ---- verdicts ----

struct Rules {
  // The process whose faults excuse resets and refused connections: a refused connection from
  // its signal to its restarted self's ready line; a reset when a kill -9 came while the request
  // was in flight, or a SIGTERM came before it ended and the restart after it began (but see
  // `race`). None is allowed otherwise (faults of other processes excuse nothing).
  std::string router = "router";
  // SIGTERM: requests written at least `race` before the signal must be answered (200).
  std::chrono::milliseconds race{50};
};

struct Verdict {
  std::size_t requests = 0, answered = 0, errors = 0, resets = 0, timeouts = 0, bad = 0;
  std::size_t refused = 0;
  std::size_t resets_allowed = 0, refused_allowed = 0;
  std::size_t in_flight_at_sigterm = 0, in_flight_at_sigterm_answered = 0;
  std::size_t faults_mid_request = 0;  // faults with at least one client request in flight
  std::size_t faults_mid_job = 0;      // faults of a process that had jobs (active_before > 0)
  std::map<std::string, std::size_t> failures;  // what the requests not answered ended with
  std::map<std::string, std::string> examples;  // ... and the first of each, in words
  std::vector<std::string> violations;
  double failure_rate() const {
    return requests ? static_cast<double>(requests - answered) / static_cast<double>(requests) : 0;
  }
};

Verdict judge(const std::vector<Outcome>& outcomes, const std::vector<Refusal>& refusals,
              std::vector<Fault>& faults, const Rules& rules);

// What the runner doubles (--log-jobs) received: tag -> node name -> times.
using Runs = std::map<unsigned, std::map<std::string, std::size_t>>;
// Adds the `chat: N max_tokens=M ...` lines of `runner` as runs on `node`.
void count_runs(e2e::Process& runner, const std::string& node, Runs& runs);

// Reads the router's database (the router must be stopped) and checks that no request ran more
// often than the router awarded it: in all, at most the job's attempts; on a node, at most the
// awards that node had (its failed attempts plus the current award). Every answered request
// must have run somewhere, and its job id must be the one the database holds for its tag.
std::vector<std::string> check_runs(const std::string& router_db,
                                    const std::map<std::string, std::string>& node_pubkeys,
                                    const Runs& runs, const std::vector<Outcome>& outcomes);

// Entries in a table of an agent's database ("active" for the router, "running" for a node); the
// agent must be stopped.
std::optional<std::uint64_t> table_entries(const std::string& db, const std::string& table);

// `fedai db replay --db DIR`: "" when it reports a match, else what it printed.
std::string replay_mismatch(const std::string& db, const std::string& scratch_dir);

// ---- helpers ----

// A wait status in words: "exit 0", "exit 3", "signal 11 (SIGSEGV)", "did not exit".
std::string describe_status(const std::optional<int>& status);
bool exited_cleanly(const std::optional<int>& status);

// The seed of a test's random moments: FEDAI_FAULT_SEED, or a random one.
std::uint64_t seed();

double seconds_since(Clock::time_point t);

}  // namespace fedai::test::fault
