// fedai's multi-process fault suite (issue 13, "Done means"): `fedai relay`, `fedai router` and
// `fedai node` x N as separate processes on 127.0.0.1 (tests/e2e/cluster.h), each node on a
// runner double of its own that takes a while per job, and several clients sending requests in a
// loop while the test kills processes at random (seeded) moments and starts them again on their
// own databases and keys:
//
//   RouterKills          20 kill -9s of the router under load
//   NodeKills            20 kill -9s of the busiest of two nodes under load
//   RouterSigterm        50 SIGTERMs of the router under load: in-flight requests answered, exit 0
//   RelayRestart         the relay killed or stopped and started again: agents back within 3 s
//   NodeKillsThreeNodes  20 kill -9s among three nodes: under 2% of client requests fail
//
// After the faults every test checks the same things: every restart came up; every request
// ended answered or with an explicit error (a reset only for a request in flight at a kill of
// the router, a refused connection only while the router was down; SIGTERM: every request in
// flight when it came answered); the router still serves; no job is left active after a grace
// period (the router's /fedai/v1/jobs and /health, the nodes' /health, then the "active" and
// "running" tables of the stopped agents' databases); every agent stops on SIGTERM with exit
// status 0; `fedai db replay` gives the live state hash for the router and every node; and no
// request ran on the runners more often than the router awarded it (each request has its own
// max_tokens, which the runner doubles log, and the router's database holds every job with its
// awards).
//
// Each test prints one summary line ("[fault] NAME: ...") with its counts, and an example of
// each way requests failed. FEDAI_FAULT_SEED repeats a run's random moments; FEDAI_FAULT_KEEP=1
// keeps a failed test's folder (logs and databases; "always": every test's); FEDAI_FAULT_ROUNDS
// sets the number of faults (to debug quickly; the standard counts are the issue's);
// FEDAI_FAULT_SURGE=0 turns the nodes' surge pricing off (see surge()); FEDAI_FAULT_DRY=1
// makes a control run without the kills and SIGTERMs (see dry()).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/cluster.h"
#include "tests/fault/fault_harness.h"

namespace fedai::test::fault {
namespace {

using e2e::Agent;
using e2e::Cluster;
using e2e::NodeSpec;
using e2e::Process;
using nlohmann::json;

constexpr std::chrono::milliseconds kGrace{45'000};  // three dispatch deadlines and then some
constexpr std::chrono::milliseconds kStopTimeout{30'000};
constexpr int kRestartTries = 3;

// The router's flags in every test: a dispatch deadline well under the clients' timeout, so a
// job whose node vanished ends in an answer (or an error) the client sees.
const std::vector<std::string> kRouterFlags = {"--deadline-ms", "10000", "--bid-window-ms", "300"};

class FaultSuite : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = seed();
    rng_.seed(seed_);
    started_ = Clock::now();
    name_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::cout << "[fault] " << name_ << ": seed=" << seed_ << " (FEDAI_FAULT_SEED=" << seed_
              << " repeats it), folder " << cluster.dir().path() << std::endl;
    RecordProperty("seed", std::to_string(seed_));
  }

  void TearDown() override {
    const char* keep = std::getenv("FEDAI_FAULT_KEEP");
    bool always = keep && std::string_view(keep) == "always";
    if (!HasFailure() && !always) return;
    if (HasFailure()) std::cout << cluster.diagnostics();
    if (keep && *keep && *keep != '0') {
      cluster.dir().keep();
      std::cout << "[fault] kept " << cluster.dir().path() << std::endl;
    }
  }

  // The number of faults a test injects (FEDAI_FAULT_ROUNDS overrides it, to debug quickly).
  static std::size_t rounds(std::size_t standard) {
    if (const char* r = std::getenv("FEDAI_FAULT_ROUNDS"); r && *r) return std::stoul(r);
    return standard;
  }

  // The relay, the router and `nodes` nodes, each on a runner double of its own that takes
  // `runner_delay_ms` per job and logs every job's max_tokens.
  void start_cluster(std::size_t nodes, unsigned runner_delay_ms,
                     std::vector<std::string> router_extra = {}) {
    cluster.start_fedai_relay();
    std::vector<std::string> router_flags = kRouterFlags;
    router_flags.insert(router_flags.end(), router_extra.begin(), router_extra.end());
    cluster.start_router(router_flags);
    static const char* const kNames[] = {"node-a", "node-b", "node-c"};
    for (std::size_t i = 0; i < nodes; ++i) {
      std::string name = kNames[i];
      Process& runner = cluster.start_runner_double(
          false, {"--delay-ms", std::to_string(runner_delay_ms), "--log-jobs"}, "runner-" + name);
      // Prices apart: node-a is the cheapest, so it wins most jobs (posted and auction).
      std::uint64_t step = 100 * i;
      // Every request has its own max_tokens (up to ~1,300 here).
      // Slots for the load with room to spare: the suite measures what faults cost, not what
      // a full node refuses (with four slots a node's reservations for auctions it lost, and
      // the jobs of a killed neighbour, left posted-only clients without a free PRICE now and
      // then even in a control run without kills).
      std::vector<std::string> flags{"--max-output-tokens", "2048", "--max-concurrency", "8"};
      if (!surge())
        flags.insert(flags.end(), {"--surge-q", "1000000", "--surge-l-ms", "1000000000"});
      Agent& node = cluster.start_node(
          {name, Cluster::runner_url(runner), 1'000 + step, 2'000 + 2 * step, 10, flags});
      runners_[name] = &runner;
      pubkeys_[name] = node.pubkey();
    }
    ASSERT_TRUE(cluster.wait_for_nodes("tiny", nodes, 30s))
        << "the router never learned every node's CAPS";
    // The baseline: both ways of buying work before any fault.
    for (const char* mode : {"posted", "auction"}) {
      Outcome o = probe({mode, false});
      ASSERT_EQ(o.ending, Ending::answered)
          << "before any fault, a " << mode << " request: " << o.status << " " << o.detail;
    }
  }

  // Whether the nodes' surge pricing is on: by default, as nodes run (FEDAI_FAULT_SURGE=0 turns
  // it off, to tell a pricing problem from a fault's). Under concurrent load the surge moves with
  // every job, so posted-price jobs are metered at a PRICE's surge other than the newest: this
  // suite found that the router and the node disagreed on those rates.
  static bool surge() {
    const char* s = std::getenv("FEDAI_FAULT_SURGE");
    return !s || !*s || *s != '0';
  }

  // FEDAI_FAULT_DRY=1: a control run, the same clients and random moments without the faults of
  // inject() (its fault counts then fail): what fails without faults is not theirs.
  static bool dry() {
    const char* s = std::getenv("FEDAI_FAULT_DRY");
    return s && *s && *s != '0';
  }

  // One request outside the load (its own tag, counted in the run check).
  Outcome probe(const ClientSpec& spec, unsigned bid_window_ms = 300) {
    Outcome o = request_once(e2e::port_of(cluster.router().url), spec, probe_tag_++, -1,
                             bid_window_ms, 30s);
    probes_.push_back(o);
    return o;
  }

  std::chrono::milliseconds random_ms(int lo, int hi) {
    return std::chrono::milliseconds(std::uniform_int_distribution<int>(lo, hi)(rng_));
  }

  LoadOptions load_options(std::vector<ClientSpec> clients, std::size_t max_requests = 900) {
    LoadOptions o;
    o.port = e2e::port_of(cluster.router().url);
    o.clients = std::move(clients);
    o.max_requests = max_requests;
    o.first_tag = 16;
    return o;
  }

  // Stops `agent` with `signal` (SIGKILL: reaped at once; otherwise waited for, up to 30 s) and
  // starts it again on its database and key, up to three tries.
  Fault fault_and_restart(Agent& agent, int signal) {
    Fault f;
    f.target = agent.name;
    f.signal = signal;
    // What the process had on its hands a moment before (for the summary: kills mid-job).
    if (auto h = e2e::http_get(agent.url, "/health", 1s); h && h->status == 200) {
      json j = json::parse(h->body, nullptr, false);
      if (j.is_object()) f.active_before = j.value("active_jobs", -1);
    }
    f.at = Clock::now();
    if (signal == SIGKILL)
      f.status = agent.process->child().kill(SIGKILL);
    else
      f.status = Cluster::stop(*agent.process, signal, kStopTimeout);
    f.gone = Clock::now();
    for (int attempt = 1; attempt <= kRestartTries && !f.came_up; ++attempt) {
      try {
        cluster.restart(agent);
        f.came_up = true;
        ++restarts_;
      } catch (const std::exception& e) {
        ++failed_restarts_;
        ADD_FAILURE() << agent.name << " did not come back after "
                      << (signal == SIGKILL ? "kill -9" : "SIGTERM") << " #" << faults_.size() + 1
                      << " (try " << attempt << "): " << e.what();
      }
    }
    f.ready = Clock::now();
    return f;
  }

  // Waits until the load made progress (a request ended) since `ended_before`; false when it did
  // not within 30 s or the budget ran out.
  bool await_progress(const Load& load, std::size_t ended_before) {
    if (load.exhausted()) {
      // The router keeps 1,000 finished jobs, which the run check reads back: the clients stop
      // there and the faults go on without load (the summary says so).
      if (!budget_note_)
        std::cout << "[fault] the clients' request budget is spent: no more load\n";
      budget_note_ = true;
      return true;
    }
    if (!load.wait_ended(ended_before + 1, 30s)) {
      ADD_FAILURE() << "no client request ended within 30 s";
      return false;
    }
    return true;
  }

  // The router answers a fresh request again (after the faults): polled for 20 s.
  void expect_serving() {
    Outcome last;
    bool ok = e2e::poll_until(
        [&] {
          last = probe({"", false});
          return last.ending == Ending::answered;
        },
        20s);
    EXPECT_TRUE(ok) << "after the faults the router no longer answers: " << to_string(last.ending)
                    << " " << last.status << " " << last.detail;
  }

  // No job left active once the faults are over: the router's newest jobs are all finished and
  // it holds no client request, and no node runs a job. Polled for kGrace; "" when so.
  std::string active_jobs_left() {
    std::string left;
    e2e::poll_until(
        [&] {
          left.clear();
          auto jobs = e2e::http_get(cluster.router().url, "/fedai/v1/jobs");
          json j = jobs ? json::parse(jobs->body, nullptr, false) : json();
          if (!jobs || jobs->status != 200 || !j.is_object() || !j["jobs"].is_array()) {
            left = "the router's /fedai/v1/jobs did not answer";
            return false;
          }
          for (const auto& job : j["jobs"]) {
            std::string phase = job.value("phase", "");
            if (phase != "done" && phase != "failed" && phase != "cancelled")
              left += "router job " + job.value("job_id", "") + " is " + phase + "; ";
          }
          auto health = e2e::http_get(cluster.router().url, "/health");
          json h = health ? json::parse(health->body, nullptr, false) : json();
          if (!h.is_object() || h.value("active_jobs", -1) != 0)
            left += "the router's /health: " + (health ? health->body : "no answer") + "; ";
          for (Agent* n : cluster.nodes()) {
            auto nh = e2e::http_get(n->url, "/health");
            json nj = nh ? json::parse(nh->body, nullptr, false) : json();
            if (!nj.is_object() || nj.value("active_jobs", -1) != 0)
              left += n->name + "'s /health: " + (nh ? nh->body : "no answer") + "; ";
          }
          return left.empty();
        },
        kGrace);
    return left;
  }

  // The checks every test ends with (see the top of the file); `outcomes` are the load's.
  void end_checks(const std::vector<Outcome>& outcomes) {
    end_.active_left = active_jobs_left();
    EXPECT_EQ(end_.active_left, "")
        << "jobs still active " << kGrace.count() / 1000 << " s after the faults";

    // Every agent stops cleanly: the router first (no new dispatches), then the nodes.
    std::vector<Agent*> agents{&cluster.router()};
    for (Agent* n : cluster.nodes()) agents.push_back(n);
    for (Agent* a : agents) {
      auto status = Cluster::stop(*a->process, SIGTERM, kStopTimeout);
      if (!exited_cleanly(status)) ++end_.unclean_stops;
      EXPECT_TRUE(exited_cleanly(status))
          << a->name << " on the final SIGTERM: " << describe_status(status);
    }

    for (Agent* a : agents) {
      std::string mismatch = replay_mismatch(a->db, cluster.dir().path());
      if (!mismatch.empty()) ++end_.replay_mismatches;
      EXPECT_EQ(mismatch, "") << a->name << "'s database does not replay to its live state";
      const std::string table = a == &cluster.router() ? "active" : "running";
      auto entries = table_entries(a->db, table);
      EXPECT_EQ(entries, std::optional<std::uint64_t>(0))
          << a->name << "'s database still holds jobs in '" << table << "'";
      if (entries && *entries > 0) end_.active_in_db += *entries;
    }

    Runs runs;
    for (const auto& [name, runner] : runners_) count_runs(*runner, name, runs);
    std::vector<Outcome> all = outcomes;
    all.insert(all.end(), probes_.begin(), probes_.end());
    auto problems = check_runs(cluster.router().db, pubkeys_, runs, all);
    end_.run_problems = problems.size();
    for (const auto& [tag, per_node] : runs)
      for (const auto& [node, n] : per_node) end_.runs += n;
    std::string shown;
    for (std::size_t i = 0; i < problems.size() && i < 25; ++i) shown += "  " + problems[i] + "\n";
    EXPECT_TRUE(problems.empty()) << problems.size()
                                  << " request(s) ran more often than awarded, or the count "
                                     "failed:\n"
                                  << shown;
  }

  // The request verdicts as test failures (the first 25 shown).
  static void expect_no_violations(const Verdict& v) {
    std::string shown;
    for (std::size_t i = 0; i < v.violations.size() && i < 25; ++i)
      shown += "  " + v.violations[i] + "\n";
    EXPECT_TRUE(v.violations.empty())
        << v.violations.size() << " client request(s) ended in a way not allowed:\n"
        << shown;
  }

  static std::string failures_text(const Verdict& v) {
    std::string out;
    for (const auto& [what, n] : v.failures)
      out += (out.empty() ? "" : ", ") + what + ": " + std::to_string(n);
    return out;
  }

  void summary(const Verdict& v, const std::string& faults_text) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(2);
    out << "[fault] " << name_ << ": seed=" << seed_ << " " << faults_text
        << " restarts=" << restarts_ << " failed_restarts=" << failed_restarts_
        << " faults_mid_request=" << v.faults_mid_request << " faults_mid_job=" << v.faults_mid_job
        << " requests=" << v.requests << " answered=" << v.answered << " errors=" << v.errors
        << " resets=" << v.resets << " (allowed " << v.resets_allowed
        << ") refused_connects=" << v.refused << " (allowed " << v.refused_allowed
        << ") timeouts=" << v.timeouts << " bad=" << v.bad << " violations=" << v.violations.size()
        << " failure_rate=" << 100 * v.failure_rate() << "% failures={" << failures_text(v)
        << "} budget_spent=" << (budget_note_ ? "yes" : "no")
        << " active_left=" << (end_.active_left.empty() ? "none" : "SOME")
        << " active_in_db=" << end_.active_in_db << " unclean_final_stops=" << end_.unclean_stops
        << " replay_mismatches=" << end_.replay_mismatches << " runner_runs=" << end_.runs
        << " run_check_problems=" << end_.run_problems << " time=" << seconds_since(started_)
        << "s";
    std::cout << out.str() << std::endl;
    RecordProperty("summary", out.str());
    for (const auto& [what, example] : v.examples)
      std::cout << "[fault]   e.g. " << what << ": " << example << "\n";
    std::cout.flush();
  }

  // kill -9 (or SIGTERM) of `target()` `count` times at random moments under `load`.
  void inject(Load& load, std::size_t count, int signal, const std::function<Agent&()>& target,
              int lo_ms, int hi_ms) {
    std::size_t ended = load.ended();
    for (std::size_t k = 0; k < count; ++k) {
      if (!await_progress(load, ended)) return;
      std::this_thread::sleep_for(random_ms(lo_ms, hi_ms));  // the random moment, not a wait
      Agent& a = target();
      if (dry()) continue;  // the control run: the same load and moments, no fault
      // Then the first moment it has a job on its hands (its /health says so), if one comes
      // within 2 s: a kill mid-job is the point. Otherwise it is hit idle.
      e2e::poll_until(
          [&] {
            auto h = e2e::http_get(a.url, "/health", 1s);
            json j = h ? json::parse(h->body, nullptr, false) : json();
            return j.is_object() && j.value("active_jobs", 0) > 0;
          },
          2s);
      Fault f = fault_and_restart(a, signal);
      faults_.push_back(f);
      if (!f.came_up) return;
      // A stop that hangs costs 30 s: after three, the rest would only run the clock out.
      if (signal != SIGKILL && !f.status && ++hung_stops_ >= 3) {
        ADD_FAILURE() << "three stops did not end within " << kStopTimeout.count() / 1000
                      << " s: no more faults";
        return;
      }
      ended = load.ended();
    }
  }

  struct EndResults {
    std::string active_left;
    std::uint64_t active_in_db = 0;
    std::size_t unclean_stops = 0, replay_mismatches = 0, run_problems = 0, runs = 0;
  };

  Cluster cluster;
  std::uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  Clock::time_point started_;
  std::string name_;
  std::map<std::string, Process*> runners_;     // node name -> its runner double
  std::map<std::string, std::string> pubkeys_;  // node name -> pubkey hex
  std::vector<Fault> faults_;
  std::vector<Outcome> probes_;
  unsigned probe_tag_ = 1'100;  // above the load's tags
  bool budget_note_ = false;
  std::size_t restarts_ = 0, failed_restarts_ = 0, hung_stops_ = 0;
  EndResults end_;
};

std::string signal_count(const std::vector<Fault>& faults, const std::string& target, int signal) {
  std::size_t n = 0;
  for (const auto& f : faults) n += f.target == target && f.signal == signal;
  return std::to_string(n);
}

// Several clients: the default mode (posted price, else an auction), auctions, a streamed one,
// posted only.
std::vector<ClientSpec> mixed_clients() {
  return {{"", false}, {"auction", false}, {"", true}, {"posted", false}};
}

// ---- 1. kill -9 of the router under load ------------------------------------------------------

TEST_F(FaultSuite, RouterKills) {
  const std::size_t kills = rounds(20);
  start_cluster(2, 200);
  if (HasFatalFailure()) return;
  Load load(load_options(mixed_clients()));
  load.start();
  inject(
      load, kills, SIGKILL, [&]() -> Agent& { return cluster.router(); }, 300, 1'500);
  // A little more load after the last restart, then the clients stop.
  if (!faults_.empty() && faults_.back().came_up) await_progress(load, load.ended() + 2);
  load.stop();
  for (auto& f : faults_)
    if (!f.came_up) f.ready = Clock::now();

  Verdict v = judge(load.outcomes(), load.refusals(), faults_, Rules{});
  bool up = failed_restarts_ == 0 || (!faults_.empty() && faults_.back().came_up);
  if (up) {
    expect_serving();
    end_checks(load.outcomes());
  }
  summary(v, "kill9_router=" + signal_count(faults_, "router", SIGKILL));
  EXPECT_EQ(faults_.size(), kills);
  EXPECT_EQ(failed_restarts_, 0u) << "every restart must come up";
  expect_no_violations(v);
  EXPECT_GE(v.faults_mid_request * 2, faults_.size())
      << "fewer than half of the kills landed while a request was in flight: the test is blunt";
}

// ---- 2. kill -9 of a node under load ----------------------------------------------------------

TEST_F(FaultSuite, NodeKills) {
  const std::size_t kills = rounds(20);
  start_cluster(2, 200);
  if (HasFatalFailure()) return;
  Load load(load_options(mixed_clients()));
  load.start();
  // node-a: the cheapest, so the one with jobs in flight.
  inject(
      load, kills, SIGKILL, [&]() -> Agent& { return *cluster.nodes()[0]; }, 300, 1'500);
  if (!faults_.empty() && faults_.back().came_up) await_progress(load, load.ended() + 2);
  load.stop();
  for (auto& f : faults_)
    if (!f.came_up) f.ready = Clock::now();

  // The router is never killed here: no reset and no refused connection is allowed at all.
  Verdict v = judge(load.outcomes(), load.refusals(), faults_, Rules{});
  expect_serving();
  end_checks(load.outcomes());
  summary(v, "kill9_node=" + signal_count(faults_, "node-a", SIGKILL));
  EXPECT_EQ(faults_.size(), kills);
  EXPECT_EQ(failed_restarts_, 0u) << "every restart must come up";
  expect_no_violations(v);
  EXPECT_GE(v.faults_mid_job * 2, faults_.size())
      << "fewer than half of the kills found node-a running a job: either the test is blunt or "
         "node-a got no work after its restarts (its breaker open?)";
}

// ---- 3. SIGTERM of the router under load ------------------------------------------------------

TEST_F(FaultSuite, RouterSigterm) {
  const std::size_t stops = rounds(50);
  // Jobs of 300 ms: a SIGTERM finds requests in flight, which the router must still answer.
  start_cluster(2, 300);
  if (HasFatalFailure()) return;
  Load load(load_options({{"", false}, {"auction", false}, {"", true}}));
  load.start();
  inject(
      load, stops, SIGTERM, [&]() -> Agent& { return cluster.router(); }, 200, 800);
  if (!faults_.empty() && faults_.back().came_up) await_progress(load, load.ended() + 2);
  load.stop();
  for (auto& f : faults_)
    if (!f.came_up) f.ready = Clock::now();

  std::size_t crashes = 0;
  std::string crash_text;
  for (std::size_t i = 0; i < faults_.size(); ++i)
    if (!exited_cleanly(faults_[i].status)) {
      ++crashes;
      crash_text +=
          "  SIGTERM #" + std::to_string(i + 1) + ": " + describe_status(faults_[i].status) + "\n";
    }
  Verdict v = judge(load.outcomes(), load.refusals(), faults_, Rules{});
  bool up = failed_restarts_ == 0 || (!faults_.empty() && faults_.back().came_up);
  if (up) {
    expect_serving();
    end_checks(load.outcomes());
  }
  std::vector<double> stop_ms;
  for (const auto& f : faults_)
    stop_ms.push_back(std::chrono::duration<double, std::milli>(f.gone - f.at).count());
  std::sort(stop_ms.begin(), stop_ms.end());
  std::string stop_text = stop_ms.empty()
                              ? "-"
                              : std::to_string(static_cast<int>(stop_ms[stop_ms.size() / 2])) +
                                    "/" + std::to_string(static_cast<int>(stop_ms.back()));
  summary(v, "sigterm_router=" + std::to_string(faults_.size()) +
                 " stop_ms_median/max=" + stop_text + " crashes=" + std::to_string(crashes) +
                 " in_flight_at_sigterm=" + std::to_string(v.in_flight_at_sigterm) +
                 " of_them_answered=" + std::to_string(v.in_flight_at_sigterm_answered));
  EXPECT_EQ(faults_.size(), stops);
  EXPECT_EQ(failed_restarts_, 0u) << "every restart must come up";
  EXPECT_EQ(crashes, 0u) << "the router must exit with status 0 within "
                         << kStopTimeout.count() / 1000 << " s of SIGTERM:\n"
                         << crash_text;
  expect_no_violations(v);
  EXPECT_EQ(v.in_flight_at_sigterm_answered, v.in_flight_at_sigterm)
      << "requests in flight when SIGTERM arrived must be answered";
  EXPECT_GE(v.faults_mid_request * 2, faults_.size())
      << "fewer than half of the SIGTERMs landed while a request was in flight: the test is blunt";
}

// ---- 4. The relay restarted: agents back within 3 s --------------------------------------------

TEST_F(FaultSuite, RelayRestart) {
  const std::size_t restarts = rounds(6);
  constexpr auto kBackWithin = std::chrono::milliseconds(3'000);
  constexpr unsigned kWindowMs = 150;
  // Short cooldowns: an auction round without bids is held again soon, so the first round with
  // every node's bid tells when the agents were back (to within a round).
  start_cluster(2, 100, {"--cooldown-ms", "100"});
  if (HasFatalFailure()) return;
  const std::size_t nodes = cluster.nodes().size();

  // Auctions one after another until a round gets every node's bid; how long after the relay's
  // ready line that round's RFB went out (nullopt: not within 20 s).
  auto back_after = [&](std::int64_t ready_wall_ms) -> std::optional<std::chrono::milliseconds> {
    auto deadline = Clock::now() + 20s;
    while (Clock::now() < deadline) {
      Outcome o = probe({"auction", false}, kWindowMs);
      if (o.ending != Ending::answered) continue;
      auto job = e2e::router_job(cluster.router().url, o.job_id);
      if (!job || !(*job)["bids"].is_number() || (*job)["bids"].get<std::size_t>() < nodes)
        continue;
      std::int64_t rfb_at = job->value("rfb_at_ms", std::int64_t{0});
      return std::chrono::milliseconds(std::max<std::int64_t>(0, rfb_at - ready_wall_ms));
    }
    return std::nullopt;
  };
  auto wall_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  ASSERT_TRUE(back_after(wall_ms())) << "before any restart, no auction got every node's bid";

  // Posted-price clients meanwhile (they need no relay): none of their requests may be lost.
  Load load(load_options({{"posted", false}, {"", false}}, 600));
  load.start();
  std::vector<std::string> times;
  std::size_t late = 0, never = 0;
  for (std::size_t k = 0; k < restarts; ++k) {
    std::this_thread::sleep_for(random_ms(300, 1'500));  // the random moment
    int signal = k % 2 == 0 ? SIGKILL : SIGTERM;
    // Down for a moment (0-2 s, as a restart takes): the agents' reconnect attempts meanwhile
    // fail, and they must still be back within 3 s of the relay's return.
    auto down = random_ms(0, 2'000);
    Fault f;
    f.target = "relay";
    f.signal = signal;
    f.at = Clock::now();
    try {
      cluster.restart_relay(signal, down);
      f.came_up = true;
      ++restarts_;
    } catch (const std::exception& e) {
      ++failed_restarts_;
      ADD_FAILURE() << "the relay did not come back: " << e.what();
    }
    f.ready = Clock::now();
    faults_.push_back(f);
    if (!f.came_up) break;
    auto back = back_after(wall_ms());
    std::string label = std::string(signal == SIGKILL ? "kill9" : "sigterm") + "+down" +
                        std::to_string(down.count()) + "ms:";
    if (!back) {
      ++never;
      times.push_back(label + ">20s");
      ADD_FAILURE() << "relay restart #" << k + 1 << " ("
                    << (signal == SIGKILL ? "kill -9" : "SIGTERM")
                    << "): no auction got every node's bid within 20 s";
      continue;
    }
    times.push_back(label + std::to_string(back->count()) + "ms");
    if (*back > kBackWithin) {
      ++late;
      ADD_FAILURE() << "relay restart #" << k + 1 << " ("
                    << (signal == SIGKILL ? "kill -9" : "SIGTERM") << ", down " << down.count()
                    << " ms): the agents were back after " << back->count() << " ms, not within "
                    << kBackWithin.count() << " ms";
    }
  }
  load.stop();

  Verdict v = judge(load.outcomes(), load.refusals(), faults_, Rules{});
  expect_serving();
  end_checks(load.outcomes());
  std::string back_text;
  for (const auto& t : times) back_text += (back_text.empty() ? "" : ",") + t;
  summary(v, "relay_restarts=" + std::to_string(faults_.size()) + " back_after=[" + back_text +
                 "] late=" + std::to_string(late) + " never=" + std::to_string(never));
  EXPECT_EQ(faults_.size(), restarts);
  EXPECT_EQ(failed_restarts_, 0u);
  expect_no_violations(v);
}

// ---- 5. kill -9 among three nodes: under 2% of client requests fail -----------------------------

TEST_F(FaultSuite, NodeKillsThreeNodes) {
  const std::size_t kills = rounds(20);
  start_cluster(3, 200);
  if (HasFatalFailure()) return;
  Load load(load_options(mixed_clients()));
  load.start();
  std::vector<std::string> victims;
  inject(
      load, kills, SIGKILL,
      [&]() -> Agent& {
        auto i = std::uniform_int_distribution<std::size_t>(0, 2)(rng_);
        victims.push_back(cluster.nodes()[i]->name);
        return *cluster.nodes()[i];
      },
      300, 1'500);
  if (!faults_.empty() && faults_.back().came_up) await_progress(load, load.ended() + 2);
  load.stop();
  for (auto& f : faults_)
    if (!f.came_up) f.ready = Clock::now();

  Verdict v = judge(load.outcomes(), load.refusals(), faults_, Rules{});
  expect_serving();
  end_checks(load.outcomes());
  std::map<std::string, std::size_t> per_node;
  for (const auto& n : victims) ++per_node[n];
  std::string who;
  for (const auto& [n, c] : per_node) who += (who.empty() ? "" : ",") + n + "x" + std::to_string(c);
  summary(v, "kill9_nodes=" + std::to_string(faults_.size()) + " [" + who + "]");
  EXPECT_EQ(faults_.size(), kills);
  EXPECT_EQ(failed_restarts_, 0u) << "every restart must come up";
  expect_no_violations(v);
  EXPECT_LT(v.failure_rate(), 0.02)
      << v.requests - v.answered << " of " << v.requests << " client requests failed";
}

}  // namespace
}  // namespace fedai::test::fault
