#include "tests/fault/fault_harness.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/machine/record_fields.h"
#include "core/node/node_machine.h"
#include "core/router/router_machine.h"
#include "core/store/machine_store.h"
#include "tests/support/raw_http_client.h"

namespace fedai::test::fault {

using nlohmann::json;

namespace {

std::string shorten(const std::string& s, std::size_t n = 300) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

// The non-empty string at j[key1][index][key2][key3...], or "".
std::string text_at(const json& j, std::initializer_list<std::string> path) {
  const json* at = &j;
  for (const auto& step : path) {
    if (at->is_array()) {
      std::size_t i = std::stoul(step);
      if (i >= at->size()) return "";
      at = &(*at)[i];
    } else if (at->is_object() && at->contains(step)) {
      at = &(*at)[step];
    } else {
      return "";
    }
  }
  return at->is_string() ? at->get<std::string>() : "";
}

// An OpenAI error object with a message: {"error": {"message": "...", ...}}.
bool explicit_error(const json& j) {
  return j.is_object() && j.contains("error") && j["error"].is_object() &&
         !text_at(j, {"error", "message"}).empty();
}

void classify(Outcome& o, const RawResponse& r) {
  o.status = r.status;
  o.detail = shorten(r.body);
  if (r.status != 200) {
    json j = json::parse(r.body, nullptr, false);
    o.ending = explicit_error(j) ? Ending::error : Ending::bad;
    o.code = text_at(j, {"error", "code"});
    return;
  }
  if (!o.stream) {
    json j = json::parse(r.body, nullptr, false);
    if (explicit_error(j)) {
      o.ending = Ending::bad;  // an error with a success status
      return;
    }
    bool ok = j.is_object() && j.value("object", "") == "chat.completion" &&
              !text_at(j, {"choices", "0", "message", "content"}).empty();
    o.job_id = text_at(j, {"fedai", "job_id"});
    o.ending = ok ? Ending::answered : Ending::bad;
    return;
  }
  auto events = e2e::sse_data(r.body);
  if (events.empty() || events.back() != "[DONE]") {
    o.ending = Ending::bad;
    o.detail = "a stream without [DONE]: " + o.detail;
    return;
  }
  std::string text;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    json c = json::parse(events[i], nullptr, false);
    if (explicit_error(c)) {
      o.ending = Ending::error;
      o.detail = shorten(events[i]);
      o.code = text_at(c, {"error", "code"});
      return;
    }
    if (!c.is_object() || c.value("object", "") != "chat.completion.chunk") {
      o.ending = Ending::bad;
      o.detail = "not a chunk: " + shorten(events[i]);
      return;
    }
    text += text_at(c, {"choices", "0", "delta", "content"});
    if (auto id = text_at(c, {"fedai", "job_id"}); !id.empty()) o.job_id = id;
  }
  o.ending = text.empty() ? Ending::bad : Ending::answered;
}

std::string millis_since(Clock::time_point t0, Clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - t0).count();
  std::ostringstream out;
  out << us / 1000 << "." << (us % 1000) / 100 << " ms";
  return out.str();
}

std::string describe(const Outcome& o, Clock::time_point t0) {
  std::ostringstream out;
  out << "request " << o.tag << " (client " << o.client << ", "
      << (o.mode.empty() ? "default" : o.mode) << (o.stream ? ", streamed" : "") << ", from "
      << millis_since(t0, o.start) << " to " << millis_since(t0, o.end)
      << "): " << to_string(o.ending);
  if (o.status) out << " " << o.status;
  if (!o.detail.empty()) out << " " << o.detail;
  return out.str();
}

}  // namespace

const char* to_string(Ending e) {
  switch (e) {
    case Ending::answered:
      return "answered";
    case Ending::error:
      return "error";
    case Ending::reset:
      return "reset";
    case Ending::timeout:
      return "timeout";
    case Ending::bad:
      return "bad";
  }
  return "?";
}

// ---- clients ----

Outcome request_once(std::uint16_t port, const ClientSpec& spec, unsigned tag, int client,
                     unsigned bid_window_ms, std::chrono::milliseconds timeout,
                     std::optional<Refusal>* refused) {
  Outcome o;
  o.client = client;
  o.tag = tag;
  o.mode = spec.mode;
  o.stream = spec.stream;
  o.start = Clock::now();
  RawHttpClient c(port);
  if (!c.connected()) {
    o.sent = o.end = Clock::now();
    o.ending = Ending::reset;
    o.detail = "connection refused";
    if (refused) *refused = Refusal{client, o.start};
    return o;
  }
  json fedai = nullptr;
  if (!spec.mode.empty()) {
    fedai = json{{"mode", spec.mode}};
    if (spec.mode == "auction") fedai["bid_window_ms"] = bid_window_ms;
  }
  std::string body = e2e::chat_request(
      "Fault test request " + std::to_string(tag) + " from client " + std::to_string(client) + ".",
      spec.stream, tag, fedai);
  std::string req =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  bool written = c.send(req);
  o.sent = Clock::now();
  if (!written) {
    o.end = o.sent;
    o.ending = Ending::reset;
    o.detail = "the connection broke while the request was written";
    return o;
  }
  auto r = c.read_response(timeout);
  o.end = Clock::now();
  if (!r) {
    o.ending = c.closed_by_peer() ? Ending::reset : Ending::timeout;
    o.detail = c.closed_by_peer() ? "the connection ended before the answer was complete"
                                  : "no complete answer in time";
    return o;
  }
  classify(o, *r);
  return o;
}

Load::Load(LoadOptions options) : options_(std::move(options)), tags_(options_.first_tag) {}

Load::~Load() {
  stop();
}

void Load::start() {
  for (int i = 0; i < static_cast<int>(options_.clients.size()); ++i)
    threads_.emplace_back([this, i] { run(i); });
}

void Load::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void Load::run(int client) {
  const ClientSpec& spec = options_.clients[static_cast<std::size_t>(client)];
  while (!stop_) {
    unsigned tag = tags_.fetch_add(1);
    if (tag >= options_.first_tag + options_.max_requests) return;
    while (!stop_) {
      // Pacing, not synchronisation: a client's requests start min_interval apart at most.
      auto next = Clock::now() + options_.min_interval;
      std::optional<Refusal> refused;
      Outcome o = request_once(options_.port, spec, tag, client, options_.bid_window_ms,
                               options_.timeout, &refused);
      if (refused) {
        {
          std::lock_guard lock(mutex_);
          refusals_.push_back(*refused);
        }
        // Nothing listens (the router is down): poll its address again shortly, same request.
        std::this_thread::sleep_for(20ms);
        continue;
      }
      {
        std::lock_guard lock(mutex_);
        outcomes_.push_back(std::move(o));
      }
      cv_.notify_all();
      std::this_thread::sleep_until(next);
      break;
    }
  }
}

std::size_t Load::ended() const {
  std::lock_guard lock(mutex_);
  return outcomes_.size();
}

bool Load::wait_ended(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return outcomes_.size() >= n; });
}

std::vector<Outcome> Load::outcomes() const {
  std::lock_guard lock(mutex_);
  return outcomes_;
}

std::vector<Refusal> Load::refusals() const {
  std::lock_guard lock(mutex_);
  return refusals_;
}

// ---- verdicts ----

Verdict judge(const std::vector<Outcome>& outcomes, const std::vector<Refusal>& refusals,
              std::vector<Fault>& faults, const Rules& rules) {
  Verdict v;
  Clock::time_point t0 = Clock::time_point::max();
  for (const auto& o : outcomes) t0 = std::min(t0, o.start);
  for (const auto& r : refusals) t0 = std::min(t0, r.at);
  for (const auto& f : faults) t0 = std::min(t0, f.at);

  for (auto& f : faults) {
    f.in_flight = static_cast<std::size_t>(
        std::count_if(outcomes.begin(), outcomes.end(),
                      [&](const Outcome& o) { return o.start <= f.at && o.end >= f.at; }));
    if (f.in_flight > 0) ++v.faults_mid_request;
    if (f.active_before > 0) ++v.faults_mid_job;
  }
  // Nothing listened at the router's address: from a signal to the restarted router's ready line.
  auto router_down = [&](Clock::time_point at) {
    for (const auto& f : faults)
      if (f.target == rules.router && at >= f.at && at <= f.ready) return true;
    return false;
  };
  // A reset is the router's doing unless its connection was cut by a fault: a kill -9 while the
  // request was in flight (up to the moment the killed process was gone: until then the kernel
  // may still take a connection into its backlog and reset it as the process dies); a SIGTERM
  // from its signal to the restart (the requests in flight when it came are sigterm_in_flight's,
  // which must be answered; a connection taken in the moment the listener closes may be cut).
  auto reset_allowed = [&](const Outcome& o) {
    for (const auto& f : faults) {
      if (f.target != rules.router) continue;
      auto dead = f.gone > f.at ? f.gone : f.at;
      if (f.signal == SIGKILL ? o.start <= dead && o.end >= f.at
                              : o.start <= f.ready && o.end >= f.at)
        return true;
    }
    return false;
  };
  auto sigterm_in_flight = [&](const Outcome& o) -> const Fault* {
    for (const auto& f : faults)
      if (f.target == rules.router && f.signal == SIGTERM && o.sent + rules.race <= f.at &&
          o.end >= f.at)
        return &f;
    return nullptr;
  };

  // The fault closest before `t`, in words (to place a violation).
  auto nearest_fault = [&](Clock::time_point t) {
    const Fault* near = nullptr;
    for (const auto& f : faults)
      if (f.at <= t && (!near || f.at > near->at)) near = &f;
    if (!near) return std::string(" (no fault before it)");
    return " (the last fault before it: " + near->target + " signal " +
           std::to_string(near->signal) + " at " + millis_since(t0, near->at) + ", up again at " +
           millis_since(t0, near->ready) + ")";
  };

  for (const auto& o : outcomes) {
    ++v.requests;
    if (o.ending != Ending::answered) {
      std::string what = to_string(o.ending);
      if (o.ending == Ending::error || o.ending == Ending::bad)
        what += " " + std::to_string(o.status) + (o.code.empty() ? "" : " " + o.code);
      what += std::string(" (") + (o.mode.empty() ? "default" : o.mode) +
              (o.stream ? ", streamed" : "") + ")";
      if (++v.failures[what] == 1) v.examples[what] = describe(o, t0);
    }
    const Fault* term = sigterm_in_flight(o);
    if (term) ++v.in_flight_at_sigterm;
    std::string at_term =
        term ? " (in flight when SIGTERM was sent at " + millis_since(t0, term->at) + ")" : "";
    switch (o.ending) {
      case Ending::answered:
        ++v.answered;
        if (term) ++v.in_flight_at_sigterm_answered;
        break;
      case Ending::error:
        ++v.errors;
        if (term) v.violations.push_back("not answered" + at_term + ": " + describe(o, t0));
        break;
      case Ending::reset:
        ++v.resets;
        if (term) {
          v.violations.push_back("dropped" + at_term + ": " + describe(o, t0));
        } else if (reset_allowed(o)) {
          ++v.resets_allowed;
        } else {
          v.violations.push_back("reset though not in flight at a kill of the " + rules.router +
                                 ": " + describe(o, t0) + nearest_fault(o.start));
        }
        break;
      case Ending::timeout:
        ++v.timeouts;
        v.violations.push_back("hung" + at_term + ": " + describe(o, t0));
        break;
      case Ending::bad:
        ++v.bad;
        v.violations.push_back("neither answered nor an explicit error" + at_term + ": " +
                               describe(o, t0));
        break;
    }
  }
  for (const auto& r : refusals) {
    ++v.refused;
    if (router_down(r.at)) {
      ++v.refused_allowed;
    } else {
      v.violations.push_back("connection refused at " + millis_since(t0, r.at) + " (client " +
                             std::to_string(r.client) + ") while the " + rules.router +
                             " should have been up");
    }
  }
  return v;
}

void count_runs(e2e::Process& runner, const std::string& node, Runs& runs) {
  for (const auto& line : runner.child().lines("chat: ")) {
    auto at = line.find(" max_tokens=");
    if (at == std::string::npos) continue;
    long tag = std::strtol(line.c_str() + at + 12, nullptr, 10);
    if (tag > 0) ++runs[static_cast<unsigned>(tag)][node];
  }
}

std::vector<std::string> check_runs(const std::string& router_db,
                                    const std::map<std::string, std::string>& node_pubkeys,
                                    const Runs& runs, const std::vector<Outcome>& outcomes) {
  std::vector<std::string> problems;
  router::RouterMachine machine;
  auto opened = store::MachineStore::open({router_db}, machine);
  if (!opened) return {"cannot open the router's database: " + opened.error().message};
  std::map<unsigned, router::JobState> by_tag;
  (*opened)->read([&](const machine::TableStore& txn) {
    txn.scan(router::RouterMachine::kJobs, "", [&](std::string_view, std::string_view value) {
      auto job = record_fields::decode<router::JobState>(value);
      if (!job) {
        problems.push_back("an unreadable job in the router's database");
        return true;
      }
      unsigned tag = job->request.max_output_tokens;
      if (!by_tag.emplace(tag, *job).second)
        problems.push_back("two jobs of the router have max_tokens " + std::to_string(tag) +
                           " (the test gives every request its own)");
      return true;
    });
  });

  auto name_of = [&](const PublicKey& pk) {
    for (const auto& [name, hex] : node_pubkeys)
      if (hex == pk.hex()) return name;
    return pk.hex().substr(0, 12);
  };
  for (const auto& [tag, per_node] : runs) {
    std::size_t total = 0;
    std::string where;
    for (const auto& [node, n] : per_node) {
      total += n;
      where += " " + node + " x" + std::to_string(n);
    }
    auto it = by_tag.find(tag);
    if (it == by_tag.end()) {
      problems.push_back("request " + std::to_string(tag) + " ran" + where +
                         " but the router has no job for it");
      continue;
    }
    const router::JobState& job = it->second;
    std::string awards = " (job " + job.request.job_id.hex() + ", phase " +
                         std::string(router::to_string(job.phase)) + ", " +
                         std::to_string(job.attempts) + " award(s); current node " +
                         (job.node ? name_of(*job.node) : "none") + ", failed on";
    for (const auto& t : job.tried) {
      awards += ' ';
      awards += name_of(t);
    }
    awards += ")";
    if (total > job.attempts)
      problems.push_back("request " + std::to_string(tag) + " ran" + where + ": more often than" +
                         " it was awarded" + awards);
    for (const auto& [node, n] : per_node) {
      auto pk = node_pubkeys.find(node);
      if (pk == node_pubkeys.end()) continue;
      std::size_t allowed = static_cast<std::size_t>(
          std::count_if(job.tried.begin(), job.tried.end(),
                        [&](const PublicKey& t) { return t.hex() == pk->second; }));
      if (job.node && job.node->hex() == pk->second) ++allowed;
      if (n > allowed)
        problems.push_back("request " + std::to_string(tag) + " ran on " + node + " x" +
                           std::to_string(n) + " but that node had " + std::to_string(allowed) +
                           " award(s) for it" + awards);
    }
  }
  for (const auto& o : outcomes) {
    if (o.ending != Ending::answered) continue;
    if (!runs.count(o.tag))
      problems.push_back("request " + std::to_string(o.tag) +
                         " was answered but reached no runner (the run count is blind)");
    auto it = by_tag.find(o.tag);
    if (it == by_tag.end())
      problems.push_back("request " + std::to_string(o.tag) +
                         " was answered but the router's database has no job for it");
    else if (it->second.request.job_id.hex() != o.job_id)
      problems.push_back("request " + std::to_string(o.tag) + " was answered as job " + o.job_id +
                         " but the router's database holds job " + it->second.request.job_id.hex() +
                         " for it");
  }
  return problems;
}

std::optional<std::uint64_t> table_entries(const std::string& db, const std::string& table) {
  auto name = store::MachineStore::machine_name(db);
  if (!name) return std::nullopt;
  std::unique_ptr<machine::Machine> machine;
  if (*name == "router")
    machine = std::make_unique<router::RouterMachine>();
  else if (*name == "node")
    machine = std::make_unique<node::NodeMachine>();
  else
    return std::nullopt;
  auto opened = store::MachineStore::open({db}, *machine);
  if (!opened) return std::nullopt;
  for (const auto& [t, n] : (*opened)->table_sizes())
    if (t == table) return n;
  return std::nullopt;
}

std::string replay_mismatch(const std::string& db, const std::string& scratch_dir) {
  std::string name = "replay-" + db.substr(db.find_last_of('/') + 1);
  e2e::Process replay(name, {FEDAI_BIN, "db", "replay", "--db", db}, scratch_dir);
  auto status = replay.child().wait(120s);
  if (!status) {
    replay.child().kill(SIGKILL);
    return "fedai db replay did not finish in 120 s";
  }
  std::string out = replay.stdout_text();
  bool match = out.find("\nmatch\n") != std::string::npos || out.starts_with("match\n");
  if (exited_cleanly(status) && match) return "";
  return "fedai db replay --db " + db + ": " + describe_status(status) + "\n" + out +
         replay.stderr_text();
}

// ---- helpers ----

std::string describe_status(const std::optional<int>& status) {
  if (!status) return "did not exit";
  if (WIFEXITED(*status)) return "exit " + std::to_string(WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) {
    int sig = WTERMSIG(*status);
    const char* name = sigabbrev_np(sig);
    return "signal " + std::to_string(sig) + " (SIG" + (name ? name : "?") + ")";
  }
  return "status " + std::to_string(*status);
}

bool exited_cleanly(const std::optional<int>& status) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

std::uint64_t seed() {
  if (const char* s = std::getenv("FEDAI_FAULT_SEED"); s && *s) return std::stoull(s);
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace fedai::test::fault
