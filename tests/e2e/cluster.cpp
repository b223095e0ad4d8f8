#include "tests/e2e/cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/nostr/nip19.h"

namespace fedai::test::e2e {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string tail(const std::string& text, std::size_t lines) {
  std::size_t start = text.size();
  for (std::size_t n = 0; n <= lines; ++n) {
    if (start == 0) return text;
    auto nl = text.rfind('\n', start - 1);
    if (nl == std::string::npos) return text;
    start = nl;
  }
  return text.substr(start + 1);
}

}  // namespace

// ---- Process ----

Process::Process(std::string name, const std::vector<std::string>& argv, const std::string& dir)
    : name_(std::move(name)), stderr_path_(dir + "/" + name_ + ".stderr") {
  // The shell only redirects stderr and then becomes the program (exec): the pid is the
  // program's, so a signal reaches it directly.
  std::vector<std::string> args{"/bin/sh", "-c", "exec \"$@\" 2>>\"$0\"", stderr_path_};
  args.insert(args.end(), argv.begin(), argv.end());
  child_ = std::make_unique<ChildProcess>(std::move(args));
}

std::string Process::wait_line(std::string_view prefix, std::chrono::milliseconds timeout) {
  auto line = child_->wait_for_line(prefix, timeout);
  if (!line)
    throw std::runtime_error(name_ + " printed no '" + std::string(prefix) + "' line; stderr:\n" +
                             tail(stderr_text(), 30));
  return line->substr(prefix.size());
}

std::string Process::stdout_text() const {
  std::string out;
  for (const auto& l : child_->lines("")) out += l + "\n";
  return out;
}

std::string Process::stderr_text() const {
  return read_file(stderr_path_);
}

// ---- Cluster ----

Cluster::Cluster() = default;

Cluster::~Cluster() {
  // Agents first (they talk to the relay and the runners), then the rest; each ChildProcess
  // kills and reaps its process.
  nodes_.clear();
  router_.reset();
  runners_.clear();
  relay_.reset();
  npm_relay_.reset();
  retired_.clear();
}

std::unique_ptr<Process> Cluster::spawn(const std::string& name, std::vector<std::string> argv) {
  auto p = std::make_unique<Process>(name, argv, dir_.path());
  order_.push_back(p.get());
  return p;
}

std::string Cluster::write_key(const std::string& name, const Keypair& keys) {
  std::string path = dir_.sub(name + ".nsec");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  std::string line = nip19::encode_nsec(keys.secret_key()) + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + path);
  return path;
}

void Cluster::start_fedai_relay(std::vector<std::string> extra) {
  relay_db_ = dir_.sub("relay-db");
  std::vector<std::string> argv{FEDAI_BIN,           "relay", "--listen",
                                "127.0.0.1:0",       "--db",  relay_db_,
                                "--db-map-size-mib", "256",   "--db-sync=false"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  relay_argv_ = argv;
  relay_ = spawn("relay", std::move(argv));
  relay_url_ = relay_->wait_line("relay: ", kAgentStart);
}

void Cluster::start_independent_relay() {
  IndependentRelayOptions o;
  o.db = dir_.sub("npm-relay.sqlite");
  npm_relay_ = std::make_unique<IndependentRelay>(o);
  relay_url_ = npm_relay_->url();
}

std::string Cluster::start_tiny_runner() {
  std::string tiny = FEDAI_TINY_DIR;
  if (!fs::exists(tiny + "/node_modules/node-llama-cpp"))
    throw std::runtime_error("node-llama-cpp is not installed in " + tiny + ": run scripts/setup");
  auto p = spawn("tiny-runner", {FEDAI_NODE, tiny + "/server.mjs", "--port", "0", "--model",
                                 dir_.sub("tiny.gguf")});
  std::string url = p->wait_line("runner: ", kRunnerStart);
  runners_.push_back(std::move(p));
  return url;
}

Process& Cluster::start_runner_double(bool stall, std::vector<std::string> extra,
                                      std::string name) {
  std::vector<std::string> argv{FEDAI_RUNNER_DOUBLE};
  if (stall) argv.push_back("--stall");
  argv.insert(argv.end(), extra.begin(), extra.end());
  if (name.empty()) name = stall ? "stalling-runner" : "runner-double";
  auto p = spawn(name, std::move(argv));
  p->wait_line("runner: ", kAgentStart);
  runners_.push_back(std::move(p));
  return *runners_.back();
}

std::string Cluster::runner_url(Process& runner_double) {
  return runner_double.wait_line("runner: ", kAgentStart);
}

Agent& Cluster::start_router(std::vector<std::string> extra) {
  router_ = std::make_unique<Agent>();
  Agent& a = *router_;
  a.name = "router";
  a.db = dir_.sub("router-db");
  std::vector<std::string> argv{FEDAI_BIN,  "router",          "--relay",
                                relay_url_, "--key-file",      write_key("router", a.keys),
                                "--listen", "127.0.0.1:0",     "--db",
                                a.db,       "--durable=false", "--allow-anonymous=true"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  a.argv = argv;
  a.ready_prefix = "router: ";
  a.process = spawn("router", std::move(argv));
  a.url = a.process->wait_line("router: ", kAgentStart);
  return a;
}

Agent& Cluster::start_node(const NodeSpec& spec) {
  nodes_.push_back(std::make_unique<Agent>());
  Agent& a = *nodes_.back();
  a.name = spec.name;
  a.db = dir_.sub(spec.name + "-db");
  std::vector<std::string> argv{FEDAI_BIN,
                                "node",
                                "--relay",
                                relay_url_,
                                "--key-file",
                                write_key(spec.name, a.keys),
                                "--listen",
                                "127.0.0.1:0",
                                "--db",
                                a.db,
                                "--durable=false",
                                "--runner-url",
                                spec.runner_url,
                                "--in-price",
                                std::to_string(spec.in_price),
                                "--out-price",
                                std::to_string(spec.out_price),
                                "--min-price",
                                std::to_string(spec.min_price)};
  argv.insert(argv.end(), spec.extra.begin(), spec.extra.end());
  a.argv = argv;
  a.ready_prefix = "node: ";
  a.process = spawn(spec.name, std::move(argv));
  std::string line = a.process->wait_line("node: ", kAgentStart);  // "URL npub"
  a.url = line.substr(0, line.find(' '));
  return a;
}

bool Cluster::wait_for_nodes(const std::string& model, std::size_t nodes,
                             std::chrono::milliseconds timeout) {
  return poll_until(
      [&] {
        auto r = http_get(router_->url, "/v1/models");
        if (!r || r->status != 200) return false;
        auto j = json::parse(r->body, nullptr, false);
        if (!j.is_object() || !j["data"].is_array()) return false;
        for (const auto& m : j["data"])
          if (m.value("id", "") == model && m.value("fedai_nodes", std::size_t{0}) >= nodes)
            return true;
        return false;
      },
      timeout);
}

std::vector<Agent*> Cluster::nodes() const {
  std::vector<Agent*> out;
  for (const auto& n : nodes_) out.push_back(n.get());
  return out;
}

std::optional<int> Cluster::stop(Process& p, int signal, std::chrono::milliseconds timeout) {
  ::kill(p.child().pid(), signal);
  // wait() sees the child close its stdout (it exits), then reaps it.
  if (auto status = p.child().wait(timeout)) return status;
  p.child().kill(SIGKILL);
  return std::nullopt;
}

void Cluster::retire(std::unique_ptr<Process> old, Process* fresh) {
  for (auto& slot : order_)
    if (slot == old.get()) slot = fresh;
  retired_.push_back(std::move(old));
}

void Cluster::restart(Agent& agent, std::chrono::milliseconds timeout) {
  // It must be down: a live one is stopped as a crash would stop it.
  agent.process->child().kill(SIGKILL);
  ++agent.restarts;
  {
    std::ofstream mark(agent.process->stderr_path(), std::ios::app);
    mark << "==== fault test: restart " << agent.restarts << " of " << agent.name << " ====\n";
  }
  // The same port: clients (and the CAPS the node announced) keep pointing at it.
  std::vector<std::string> argv =
      with_flag(agent.argv, "--listen", "127.0.0.1:" + std::to_string(port_of(agent.url)));
  auto fresh = std::make_unique<Process>(agent.name, argv, dir_.path());
  retire(std::move(agent.process), fresh.get());
  agent.process = std::move(fresh);
  std::string line;
  try {
    line = agent.process->wait_line(agent.ready_prefix, timeout);
  } catch (const std::runtime_error& e) {
    // Say how it ended, when it did (a crash on start-up shows as a signal).
    auto status = agent.process->child().wait(2s);
    std::string how =
        !status                ? "still running"
        : WIFEXITED(*status)   ? "exited with status " + std::to_string(WEXITSTATUS(*status))
        : WIFSIGNALED(*status) ? "killed by signal " + std::to_string(WTERMSIG(*status))
                               : "ended";
    throw std::runtime_error(std::string(e.what()) + "(the process " + how + ")");
  }
  std::string url = line.substr(0, line.find(' '));
  if (url != agent.url)
    throw std::runtime_error(agent.name + " came back at " + url + ", not " + agent.url);
}

void Cluster::restart_relay(int signal, std::chrono::milliseconds down,
                            std::chrono::milliseconds timeout) {
  if (!relay_) throw std::runtime_error("no fedai relay to restart");
  if (!stop(*relay_, signal, timeout)) throw std::runtime_error("the relay did not stop");
  std::this_thread::sleep_for(down);  // the outage itself, not a wait for an event
  {
    std::ofstream mark(relay_->stderr_path(), std::ios::app);
    mark << "==== fault test: relay restart ====\n";
  }
  std::string listen = "127.0.0.1:" + std::to_string(port_of(relay_url_));
  auto fresh =
      std::make_unique<Process>("relay", with_flag(relay_argv_, "--listen", listen), dir_.path());
  retire(std::move(relay_), fresh.get());
  relay_ = std::move(fresh);
  std::string url = relay_->wait_line("relay: ", timeout);
  if (url != relay_url_)
    throw std::runtime_error("the relay came back at " + url + ", not " + relay_url_);
}

std::vector<std::string> with_flag(std::vector<std::string> argv, const std::string& flag,
                                   const std::string& value) {
  for (std::size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag) {
      argv[i + 1] = value;
      return argv;
    }
  throw std::runtime_error("no " + flag + " in the command line");
}

std::vector<Process*> Cluster::processes() const {
  std::vector<Process*> out = order_;
  return out;
}

std::string Cluster::diagnostics() const {
  std::string out;
  for (const Process* p : order_) {
    out += "---- " + p->name() + " stderr (last lines) ----\n" + tail(p->stderr_text(), 25);
    out += "---- " + p->name() + " stdout (last lines) ----\n" + tail(p->stdout_text(), 10);
  }
  if (npm_relay_) out += "---- npm relay: its stderr is ctest's ----\n";
  return out;
}

// ---- HTTP ----

std::uint16_t port_of(std::string_view url) {
  auto scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find('/'));
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) throw std::runtime_error("no port in " + std::string(url));
  return static_cast<std::uint16_t>(std::stoi(std::string(rest.substr(colon + 1))));
}

std::optional<RawResponse> http_get(const std::string& base_url, const std::string& path,
                                    std::chrono::milliseconds timeout) {
  RawHttpClient client(port_of(base_url));
  if (!client.connected()) return std::nullopt;
  return client.request("GET", path, {}, {}, timeout);
}

std::optional<RawResponse> http_post(const std::string& base_url, const std::string& path,
                                     const std::string& body,
                                     std::vector<std::pair<std::string, std::string>> headers,
                                     std::chrono::milliseconds timeout) {
  RawHttpClient client(port_of(base_url));
  if (!client.connected()) return std::nullopt;
  return client.request("POST", path, body, std::move(headers), timeout);
}

std::string chat_request(const std::string& prompt, bool stream, unsigned max_tokens,
                         const json& fedai) {
  json j = {{"model", "tiny"},
            {"messages", json::array({{{"role", "user"}, {"content", prompt}}})},
            {"max_tokens", max_tokens},
            {"stream", stream}};
  if (!fedai.is_null()) j["fedai"] = fedai;
  return j.dump();
}

std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.starts_with("data:")) {
      std::string data = line.substr(5);
      if (!data.empty() && data.front() == ' ') data.erase(0, 1);
      out.push_back(std::move(data));
    }
  }
  return out;
}

std::optional<json> router_job(const std::string& router_url, const std::string& job_id) {
  auto r = http_get(router_url, "/fedai/v1/jobs");
  if (!r || r->status != 200) return std::nullopt;
  auto j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j["jobs"].is_array()) return std::nullopt;
  for (const auto& job : j["jobs"])
    if (job.value("job_id", "") == job_id) return job;
  return std::nullopt;
}

bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);  // between polls of an endpoint, not a wait for an event
  }
}

std::string random_token(std::size_t bytes) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rd() & 0xff);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

namespace {

// Whether a file holds `needle`, reading only its data: LMDB files mapped writable are sparse
// and as large as the map (gigabytes of holes), so holes are skipped (SEEK_DATA / SEEK_HOLE).
// Each extent is read with needle.size() - 1 bytes of overlap into the next.
bool file_contains(const std::string& path, std::string_view needle) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  ::fstat(fd, &st);
  bool found = false;
  std::string chunk;
  off_t pos = 0;
  while (!found && pos < st.st_size) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) break;  // no more data
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) hole = st.st_size;
    for (off_t at = data; at < hole && !found;) {
      std::size_t want = static_cast<std::size_t>(std::min<off_t>(hole - at, 1 << 20));
      chunk.resize(want + needle.size());
      ssize_t got = ::pread(fd, chunk.data(), want + needle.size() - 1, at);
      if (got <= 0) break;
      chunk.resize(static_cast<std::size_t>(got));
      found = chunk.find(needle) != std::string::npos;
      at += static_cast<off_t>(want);
    }
    pos = hole;
  }
  ::close(fd);
  return found;
}

}  // namespace

std::vector<std::string> files_containing(const std::string& dir, std::string_view needle) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    if (file_contains(it->path().string(), needle)) out.push_back(it->path().string());
  }
  return out;
}

}  // namespace fedai::test::e2e
