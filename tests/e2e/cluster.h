// A fedai network of separate processes for the end-to-end tests: `fedai relay` (or the
// independent npm relay), `fedai router`, `fedai node` x N, the tiny real llama.cpp runner
// (runners/tiny/server.mjs) and the runner double (fedai_e2e_runner_double), all on 127.0.0.1
// under one temporary folder. Every process's stdout is kept line by line and its stderr goes to
// a file, so a test can read everything each process printed (the canary test does). Readiness
// is awaited from the processes' own lines and by polling endpoints with a deadline, never by
// sleeping. FEDAI_BIN, FEDAI_RUNNER_DOUBLE, FEDAI_NODE, FEDAI_TINY_DIR and FEDAI_INTEROP_DIR come
// from the build (tests/CMakeLists.txt).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/nostr/keys.h"
#include "tests/support/child_process.h"
#include "tests/support/raw_http_client.h"
#include "tests/support/relay_processes.h"
#include "tests/support/temp_dir.h"

namespace fedai::test::e2e {

using namespace std::chrono_literals;

inline constexpr std::chrono::milliseconds kAgentStart{30'000};
inline constexpr std::chrono::milliseconds kRunnerStart{60'000};

// A child process: stdout lines kept (ChildProcess), stderr appended to `<dir>/<name>.stderr`.
class Process {
 public:
  Process(std::string name, const std::vector<std::string>& argv, const std::string& dir);
  const std::string& name() const { return name_; }
  ChildProcess& child() { return *child_; }
  // The first stdout line starting with `prefix`, without the prefix; throws with the
  // process's stderr when it does not come within `timeout`.
  std::string wait_line(std::string_view prefix, std::chrono::milliseconds timeout);
  std::string stdout_text() const;
  std::string stderr_text() const;
  const std::string& stderr_path() const { return stderr_path_; }

 private:
  std::string name_;
  std::string stderr_path_;
  std::unique_ptr<ChildProcess> child_;
};

struct Agent {
  std::string name;
  Keypair keys = Keypair::generate();
  std::string db;
  std::string url;  // router: its API; node: its data-plane endpoint
  std::unique_ptr<Process> process;
  std::string pubkey() const { return keys.public_key().hex(); }
  // How it was started (Cluster::restart starts it again the same way, on the same port) and
  // the line that says it is ready ("router: " or "node: ").
  std::vector<std::string> argv;
  std::string ready_prefix;
  std::size_t restarts = 0;
};

struct NodeSpec {
  std::string name;
  std::string runner_url;
  std::uint64_t in_price = 1'000;  // msat per 1000 tokens
  std::uint64_t out_price = 2'000;
  std::uint64_t min_price = 10;
  std::vector<std::string> extra;  // more flags
};

class Cluster {
 public:
  Cluster();
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const TempDir& dir() const { return dir_; }
  const std::string& relay_url() const { return relay_url_; }
  // The LMDB folder of `fedai relay` ("" with the npm relay).
  const std::string& relay_db() const { return relay_db_; }

  // `fedai relay --listen 127.0.0.1:0`.
  void start_fedai_relay(std::vector<std::string> extra = {});
  // The independent npm relay (tests/interop/independent_relay.mjs), its SQLite file in dir().
  void start_independent_relay();
  // runners/tiny/server.mjs over a tiny GGUF written into dir(); returns its URL.
  std::string start_tiny_runner();
  // fedai_e2e_runner_double (`extra`: more flags, e.g. --delay-ms 200 --log-jobs); returns its
  // process (its URL from runner_url()). `name` names its log (default: by `stall`).
  Process& start_runner_double(bool stall, std::vector<std::string> extra = {},
                               std::string name = {});
  static std::string runner_url(Process& runner_double);

  Agent& start_router(std::vector<std::string> extra = {});
  Agent& start_node(const NodeSpec& spec);
  Agent& router() { return *router_; }
  // The nodes, in the order started.
  std::vector<Agent*> nodes() const;
  // The `fedai relay` process (null with the npm relay).
  Process* relay_process() const { return relay_.get(); }

  // ---- faults (tests/fault) ----

  // Sends `signal` to `p` and waits up to `timeout` for it to exit; returns its wait status, or
  // nullopt when it did not exit in time (it is then killed with SIGKILL and reaped).
  static std::optional<int> stop(Process& p, int signal, std::chrono::milliseconds timeout);
  // Starts `agent` again, stopped beforehand (by stop() or a kill), with the same key, database,
  // flags and port, and waits for its ready line; the old process is kept (its output stays
  // readable). Throws with the new process's stderr when it does not come up in `timeout`.
  void restart(Agent& agent, std::chrono::milliseconds timeout = kAgentStart);
  // Stops `fedai relay` with `signal` (SIGKILL: a crash), leaves it down for `down`, and starts
  // it again on the same port and database; waits for its ready line. Throws when it does not
  // come up.
  void restart_relay(int signal, std::chrono::milliseconds down = {},
                     std::chrono::milliseconds timeout = kAgentStart);

  // Polls the router's GET /v1/models until `model` is offered by `nodes` nodes.
  bool wait_for_nodes(const std::string& model, std::size_t nodes,
                      std::chrono::milliseconds timeout = 20s);

  // Every process started, in order.
  std::vector<Process*> processes() const;
  // The last lines of every process's stderr, to explain a failure.
  std::string diagnostics() const;

 private:
  std::unique_ptr<Process> spawn(const std::string& name, std::vector<std::string> argv);
  std::string write_key(const std::string& name, const Keypair& keys);
  // `old`, which a restart replaced by `fresh`, moves to retired_ (order_ names `fresh`).
  void retire(std::unique_ptr<Process> old, Process* fresh);

  TempDir dir_;
  std::string relay_url_;
  std::string relay_db_;
  std::vector<std::string> relay_argv_;
  std::unique_ptr<Process> relay_;
  std::unique_ptr<IndependentRelay> npm_relay_;
  std::vector<std::unique_ptr<Process>> runners_;
  std::unique_ptr<Agent> router_;
  std::vector<std::unique_ptr<Agent>> nodes_;
  std::vector<Process*> order_;
  std::vector<std::unique_ptr<Process>> retired_;  // processes a restart replaced
};

// argv with the value of `flag` replaced (the flag must be there).
std::vector<std::string> with_flag(std::vector<std::string> argv, const std::string& flag,
                                   const std::string& value);

// ---- HTTP on 127.0.0.1 ----

std::uint16_t port_of(std::string_view url);  // "http://127.0.0.1:PORT[/...]"
std::optional<RawResponse> http_get(const std::string& base_url, const std::string& path,
                                    std::chrono::milliseconds timeout = 5s);
std::optional<RawResponse> http_post(
    const std::string& base_url, const std::string& path, const std::string& body,
    std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type",
                                                                 "application/json"}},
    std::chrono::milliseconds timeout = 60s);

// An OpenAI chat request for model "tiny" with one user message; `fedai` is the extension
// object (null: none).
std::string chat_request(const std::string& prompt, bool stream, unsigned max_tokens,
                         const nlohmann::json& fedai = nullptr);

// The `data:` payloads of a text/event-stream body, in order.
std::vector<std::string> sse_data(const std::string& body);

// The router's GET /fedai/v1/jobs, the job with `job_id` (nullopt when absent or unreadable).
std::optional<nlohmann::json> router_job(const std::string& router_url, const std::string& job_id);

// Calls `done` until it says true or `timeout` passes (polling, with a short pause between
// tries: endpoints, not events, are polled).
bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

// A random lowercase-hex token, for canaries.
std::string random_token(std::size_t bytes = 16);

// Whether `needle` occurs in any file under `dir` (raw bytes); the files it occurs in.
std::vector<std::string> files_containing(const std::string& dir, std::string_view needle);

}  // namespace fedai::test::e2e
