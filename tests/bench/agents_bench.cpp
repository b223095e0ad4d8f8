// fedai_agents_bench: the agents' benchmarks of issue 5, over separate processes on 127.0.0.1.
//
// It starts `fedai relay`, fedai_instant_runner (a model server that answers at once), one
// `fedai router` and `fedai node`s, each with fresh directories, waits until the router lists
// the model from every node (polling /v1/models, no sleeps), then measures:
//   a) sequential latency: the runner called directly vs through router and node (posted price),
//      and the difference, p50/p99 (plain; streamed through the router as well);
//   b) requests/s with C concurrent clients: the runner alone, then through the router;
//   c) RSS (VmRSS) of the router and a node, idle and after the load;
//   d) auction decision time (RFB to AWARD minus the bid window, from /fedai/v1/jobs) with N
//      node processes bidding, for each N of --bidders.
// It prints the figures with their ratios to the anchor (the earlier TypeScript version) and
// the goals of issue 5. Logs of the children go to files in the work directory (kept with
// --keep).
//
//   fedai_agents_bench --fedai build/fedai --runner build/tests/bench/fedai_instant_runner
//       [--sequential 2000] [--requests 20000] [--clients 16] [--bidders 10,50] [--auctions 100]
//       [--bid-window-ms 100] [--durable true|false|both] [--keep] [--metrics]
//       [--agent-arg ARG]... (given to the router and every node: A/B runs of one binary)
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "runners/child_process.h"
#include "runners/http_client.h"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using fedai::Result;
using fedai::runners::ChildProcess;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kModel = "bench-model";
constexpr std::chrono::milliseconds kStartTimeout{30'000};
constexpr std::chrono::milliseconds kReadyTimeout{120'000};

// The anchor: the earlier TypeScript version on this kind of machine (issue 5).
constexpr double kAnchorP50Ms = 12.3, kAnchorP99Ms = 18.2, kAnchorRps = 155.0;
constexpr double kAnchorRouterIdleMb = 79.0, kAnchorRouterLoadMb = 135.0;

struct Options {
  std::string fedai, runner;
  std::size_t sequential = 2'000, requests = 20'000, clients = 16, auctions = 100;
  std::vector<std::size_t> bidders = {10, 50};
  std::uint64_t bid_window_ms = 100;
  std::vector<bool> durable = {true, false};
  bool keep = false;
  bool metrics = false;                 // print the agents' counters after the load
  std::vector<std::string> agent_args;  // given to the router and every node (A/B runs)
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += '\'';
  return out;
}

// A child whose stderr goes to `log` (through /bin/sh's exec, so the pid is the program's).
std::unique_ptr<ChildProcess> spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::string cmd = "exec";
  for (const auto& a : argv) {
    cmd += ' ';
    cmd += shell_quote(a);
  }
  cmd += " 2>>";
  cmd += shell_quote(log);
  return std::make_unique<ChildProcess>(std::vector<std::string>{"/bin/sh", "-c", cmd});
}

std::string wait_url(ChildProcess& child, const std::string& prefix, const std::string& what) {
  auto line = child.wait_for_line(prefix, kStartTimeout);
  if (!line) throw std::runtime_error(what + " did not start (no '" + prefix + "' line)");
  std::string url = line->substr(prefix.size());
  while (!url.empty() && (url.front() == ' ')) url.erase(0, 1);
  while (!url.empty() && (url.back() == '\r' || url.back() == ' ')) url.pop_back();
  return url;
}

double status_mb(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  return 0;
}
double rss_mb(int pid) {
  return status_mb(pid, "VmRSS");
}
// "anon X MB + file Y MB": heap vs mapped files (LMDB's map counts as file pages).
std::string rss_split(int pid) {
  char out[96];
  std::snprintf(out, sizeof out, "anon %.1f MB + file %.1f MB", status_mb(pid, "RssAnon"),
                status_mb(pid, "RssFile") + status_mb(pid, "RssShmem"));
  return out;
}

// CPU time (user + system, all threads) a process has used, in ms. Wall-clock rates on a shared
// 2-core VM swing by a third between runs; CPU per request is steadier and says where it went.
double cpu_ms(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i)
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  return ticks * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// ---- HTTP load on one io_context ----

struct LoadResult {
  std::vector<double> ms;  // per successful request
  std::size_t errors = 0;
  std::string first_error;
  double seconds = 0;
  double rps() const { return seconds > 0 ? static_cast<double>(ms.size()) / seconds : 0; }
};

// The load generator for whole (Content-Length) answers: `concurrency` kept-alive connections on
// plain sockets, each sending its next request when the answer to the last is in. It is lean on
// purpose: on a 2-core machine its CPU is taken from the processes measured, and fedai's
// HttpClient (Beast, timers, a parser per answer) took 34 us a request where this takes about a
// third of that. Answers need a Content-Length; the streamed ones go through Http::load.
class RawLoad {
 public:
  RawLoad(asio::io_context& io, const std::string& url, const std::string& body, std::size_t total,
          std::size_t concurrency, std::function<bool(const std::string&)> ok)
      : io_(io), total_(total), ok_(std::move(ok)) {
    // http://HOST:PORT/PATH
    std::string rest = url.substr(url.find("://") + 3);
    std::string authority = rest.substr(0, rest.find('/'));
    std::string path = rest.substr(authority.size());
    auto colon = authority.rfind(':');
    endpoint_ = tcp::endpoint(asio::ip::make_address(authority.substr(0, colon)),
                              static_cast<unsigned short>(std::stoul(authority.substr(colon + 1))));
    request_ =
        "POST " + path + " HTTP/1.1\r\nHost: " + authority +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    result_.ms.reserve(total);
    for (std::size_t i = 0; i < concurrency && i < total; ++i)
      connections_.push_back(std::make_unique<Connection>(io_));
  }

  LoadResult run() {
    auto started = Clock::now();
    for (auto& c : connections_) {
      c->socket.async_connect(endpoint_,
                              [this, conn = c.get()](const boost::system::error_code& ec) {
                                if (ec) return fail(*conn, "connect: " + ec.message());
                                conn->socket.set_option(tcp::no_delay(true));
                                send(*conn);
                              });
    }
    io_.restart();
    io_.run();
    result_.seconds = std::chrono::duration<double>(ended_ - started).count();
    return std::move(result_);
  }

 private:
  struct Connection {
    explicit Connection(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::string in;
    Clock::time_point sent;
    bool busy = false;
  };

  void send(Connection& c) {
    if (issued_ >= total_) {
      c.busy = false;
      boost::system::error_code ignored;
      c.socket.close(ignored);
      if (answered_ == total_) {
        ended_ = Clock::now();
        io_.stop();
      }
      return;
    }
    ++issued_;
    c.busy = true;
    c.in.clear();
    c.sent = Clock::now();
    asio::async_write(c.socket, asio::buffer(request_),
                      [this, &c](const boost::system::error_code& ec, std::size_t) {
                        if (ec) return fail(c, "write: " + ec.message());
                        read(c);
                      });
  }

  void read(Connection& c) {
    c.socket.async_read_some(
        asio::buffer(buffer_), [this, &c](const boost::system::error_code& ec, std::size_t n) {
          if (ec) return fail(c, "read: " + ec.message());
          c.in.append(buffer_.data(), n);
          auto head_end = c.in.find("\r\n\r\n");
          if (head_end == std::string::npos) return read(c);
          std::size_t length = content_length(std::string_view(c.in).substr(0, head_end));
          if (length == std::string::npos) return fail(c, "an answer without Content-Length");
          if (c.in.size() < head_end + 4 + length) return read(c);
          done(c, head_end, length);
        });
  }

  static std::size_t content_length(std::string_view head) {
    constexpr std::string_view kName = "\r\ncontent-length:";
    for (std::size_t i = 0; i + kName.size() <= head.size(); ++i) {
      bool match = true;
      for (std::size_t j = 0; j < kName.size() && match; ++j)
        match = std::tolower(static_cast<unsigned char>(head[i + j])) == kName[j];
      if (!match) continue;
      std::size_t at = i + kName.size();
      while (at < head.size() && head[at] == ' ') ++at;
      std::size_t value = 0;
      auto [end, err] = std::from_chars(head.data() + at, head.data() + head.size(), value);
      return err == std::errc() && end != head.data() + at ? value : std::string::npos;
    }
    return std::string::npos;
  }

  void done(Connection& c, std::size_t head_end, std::size_t length) {
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - c.sent).count();
    ++answered_;
    std::string_view status = std::string_view(c.in).substr(9, 3);  // "HTTP/1.1 200"
    std::string body = c.in.substr(head_end + 4, length);
    if (status == "200" && (!ok_ || ok_(body))) {
      result_.ms.push_back(ms);
    } else if (result_.errors++ == 0) {
      result_.first_error = std::string(status) + " " + body.substr(0, 300);
    }
    send(c);
  }

  void fail(Connection& c, const std::string& what) {
    ++answered_;
    if (result_.errors++ == 0) result_.first_error = what;
    boost::system::error_code ignored;
    c.socket.close(ignored);
    c.busy = false;
    // The connection is gone: its remaining share of the requests is not sent.
    if (std::none_of(connections_.begin(), connections_.end(),
                     [](const auto& x) { return x->busy; })) {
      ended_ = Clock::now();
      io_.stop();
    }
  }

  asio::io_context& io_;
  tcp::endpoint endpoint_;
  std::string request_;
  std::size_t total_, issued_ = 0, answered_ = 0;
  std::function<bool(const std::string&)> ok_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::array<char, 16 * 1024> buffer_{};
  LoadResult result_;
  Clock::time_point ended_;
};

class Http {
 public:
  Http() : client_(io_, fedai::runners::HttpClientOptions{64, std::chrono::milliseconds{30'000}}) {}
  ~Http() { client_.shutdown(); }

  std::optional<fedai::runners::HttpResponse> get(const std::string& url) {
    fedai::runners::HttpRequest r;
    r.method = "GET";
    r.url = url;
    r.timeout = std::chrono::milliseconds{5'000};
    std::optional<fedai::runners::HttpResponse> out;
    client_.request(r, [&](Result<fedai::runners::HttpResponse> got) {
      if (got) out = std::move(*got);
      io_.stop();  // the client's idle-connection sweep would keep run() going
    });
    run();
    return out;
  }

  // As load() below, through the lean generator (RawLoad): for whole answers.
  LoadResult load_raw(const std::string& url, const std::string& body, std::size_t total,
                      std::size_t concurrency,
                      const std::function<bool(const std::string&)>& ok = nullptr) {
    RawLoad load(io_, url, body, total, concurrency, ok);
    return load.run();
  }

  // `total` POSTs of `body` to `url`, `concurrency` at a time, each client waiting for its answer
  // before it sends the next. A request counts when it answers 200 and `ok` accepts the body.
  LoadResult load(const std::string& url, const std::string& body, std::size_t total,
                  std::size_t concurrency,
                  const std::function<bool(const std::string&)>& ok = nullptr) {
    LoadResult result;
    result.ms.reserve(total);
    std::size_t issued = 0, answered = 0;
    Clock::time_point ended;
    std::function<void()> next = [&] {
      if (issued >= total) {
        // The client's idle-connection sweep would keep run() going: stop at the last answer.
        if (answered == total) {
          ended = Clock::now();
          io_.stop();
        }
        return;
      }
      ++issued;
      fedai::runners::HttpRequest r;
      r.url = url;
      r.body = body;
      r.headers = {{"Content-Type", "application/json"}};
      r.timeout = std::chrono::milliseconds{30'000};
      auto started = Clock::now();
      client_.request(std::move(r), [&, started](Result<fedai::runners::HttpResponse> got) {
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
        ++answered;
        if (got && got->status == 200 && (!ok || ok(got->body))) {
          result.ms.push_back(ms);
        } else {
          if (result.errors++ == 0)
            result.first_error = got ? std::to_string(got->status) + " " + got->body.substr(0, 300)
                                     : got.error().message;
        }
        next();
      });
    };
    auto started = Clock::now();
    for (std::size_t i = 0; i < concurrency; ++i) next();
    run();
    result.seconds = std::chrono::duration<double>(ended - started).count();
    return result;
  }

 private:
  void run() {
    io_.restart();
    io_.run();
  }
  asio::io_context io_;
  fedai::runners::HttpClient client_;
};

std::string chat_body(const std::string& fedai, bool stream = false) {
  json body = {{"model", kModel},
               {"messages", {{{"role", "user"}, {"content", "Say hello to the benchmark."}}}},
               {"max_tokens", 16}};
  if (stream) body["stream"] = true;
  if (!fedai.empty()) body["fedai"] = json::parse(fedai);
  return body.dump();
}

bool has_choices(const std::string& body) {
  return body.find("\"choices\"") != std::string::npos;
}
bool stream_done(const std::string& body) {
  return body.find("[DONE]") != std::string::npos && body.find("\"error\"") == std::string::npos;
}

// ---- the processes ----

class Net {
 public:
  Net(const Options& o, const std::string& dir, bool durable)
      : o_(o), dir_(dir), durable_(durable) {}

  void start_relay_and_runner() {
    relay_ = spawn({o_.fedai, "relay", "--listen", "127.0.0.1:0", "--db", dir_ + "/relay",
                    "--log-level", "warn"},
                   dir_ + "/relay.log");
    relay_url_ = wait_url(*relay_, "relay:", "fedai relay");
    runner_ =
        spawn({o_.runner, "--listen", "127.0.0.1:0", "--model", kModel}, dir_ + "/runner.log");
    runner_url_ = wait_url(*runner_, "runner:", "fedai_instant_runner");
  }

  std::string key(const std::string& name) {
    std::string file = dir_ + "/" + name + ".key";
    ChildProcess k({o_.fedai, "key", "new", "--out", file});
    if (k.wait(kStartTimeout) != 0) throw std::runtime_error("fedai key new failed");
    return file;
  }

  void start_router(const std::string& mode) {
    std::vector<std::string> argv = {o_.fedai,
                                     "router",
                                     "--relay",
                                     relay_url_,
                                     "--key-file",
                                     key("router"),
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--db",
                                     dir_ + "/router",
                                     durable_ ? "--durable=true" : "--durable=false",
                                     "--allow-anonymous=true",
                                     "--mode",
                                     mode};
    argv.insert(argv.end(), o_.agent_args.begin(), o_.agent_args.end());
    router_ = spawn(argv, dir_ + "/router.log");
    router_url_ = wait_url(*router_, "router:", "fedai router");
  }

  // Nodes start together; each waits for its own 'node:' line afterwards.
  void start_nodes(std::size_t n) {
    std::size_t first = nodes_.size();
    for (std::size_t i = first; i < first + n; ++i) {
      std::string name = "node" + std::to_string(i);
      std::vector<std::string> argv = {
          o_.fedai, "node", "--relay", relay_url_, "--key-file", key(name), "--listen",
          "127.0.0.1:0", "--db", dir_ + "/" + name, durable_ ? "--durable=true" : "--durable=false",
          "--runner-url", runner_url_, "--model", kModel,
          // Benchmark settings: the router is one peer sending everything (the default 50/s per
          // peer would throttle it), and 16 clients need 16 slots.
          "--rate-limit", "1000000", "--max-concurrency", "64",
          // Different prices, so each auction has one best bid.
          "--in-price", std::to_string(1000 + 10 * i), "--log-level", "warn"};
      argv.insert(argv.end(), o_.agent_args.begin(), o_.agent_args.end());
      nodes_.push_back(spawn(argv, dir_ + "/" + name + ".log"));
    }
    for (std::size_t i = first; i < nodes_.size(); ++i)
      node_urls_.push_back(wait_url(*nodes_[i], "node:", "fedai node " + std::to_string(i)));
  }

  // Polls the router's /v1/models until the model is offered by `nodes` nodes.
  void wait_ready(Http& http, std::size_t nodes) {
    auto deadline = Clock::now() + kReadyTimeout;
    for (;;) {
      if (auto r = http.get(router_url_ + "/v1/models"); r && r->status == 200) {
        auto doc = json::parse(r->body, nullptr, false);
        if (doc.is_object() && doc["data"].is_array())
          for (const auto& m : doc["data"])
            if (m.value("id", "") == kModel && m.value("fedai_nodes", 0u) >= nodes) return;
      }
      if (Clock::now() > deadline)
        throw std::runtime_error("the router never listed " + std::to_string(nodes) + " nodes");
      // Polling, not a blind sleep: a short pause between polls.
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }

  const std::string& router_url() const { return router_url_; }
  const std::string& runner_url() const { return runner_url_; }
  int router_pid() const { return router_->pid(); }
  int runner_pid() const { return runner_->pid(); }
  int node_pid(std::size_t i) const { return nodes_.at(i)->pid(); }
  std::size_t nodes() const { return nodes_.size(); }
  const std::string& node_url(std::size_t i) const { return node_urls_.at(i); }

  ~Net() {
    for (auto& n : nodes_) n->kill(SIGTERM);
    if (router_) router_->kill(SIGTERM);
    if (runner_) runner_->kill(SIGTERM);
    if (relay_) relay_->kill(SIGTERM);
  }

 private:
  const Options& o_;
  std::string dir_;
  bool durable_;
  std::unique_ptr<ChildProcess> relay_, runner_, router_;
  std::vector<std::unique_ptr<ChildProcess>> nodes_;
  std::string relay_url_, runner_url_, router_url_;
  std::vector<std::string> node_urls_;
};

class WorkDir {
 public:
  explicit WorkDir(bool keep) : keep_(keep) {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/fedai-agents-bench-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~WorkDir() {
    if (keep_) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string sub(const std::string& name) const {
    std::filesystem::create_directories(path_ + "/" + name);
    return path_ + "/" + name;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool keep_;
};

void print_latency(const char* what, const LoadResult& r) {
  std::printf("  %-44s p50 %7.3f ms  p99 %7.3f ms  (n=%zu, errors %zu)\n", what,
              percentile(r.ms, 50), percentile(r.ms, 99), r.ms.size(), r.errors);
  if (r.errors) std::printf("    first error: %s\n", r.first_error.c_str());
}

void check(const LoadResult& r, const char* what) {
  if (r.ms.empty())
    throw std::runtime_error(std::string(what) + ": every request failed: " + r.first_error);
}

const char* verdict(bool met) {
  return met ? "met" : "MISSED";
}

// ---- the benchmarks ----

void latency_and_throughput(const Options& o, const WorkDir& work, bool durable) {
  std::printf(
      "\n== router + node, posted price, LMDB %s ==\n",
      durable ? "durable (fsync each commit, the default)" : "non-durable (--durable=false)");
  Net net(o, work.sub(durable ? "durable" : "nondurable"), durable);
  net.start_relay_and_runner();
  net.start_router("posted");
  net.start_nodes(1);
  Http http;
  net.wait_ready(http, 1);
  double router_idle = rss_mb(net.router_pid()), node_idle = rss_mb(net.node_pid(0));

  const std::string direct = net.runner_url() + "/v1/chat/completions";
  const std::string routed = net.router_url() + "/v1/chat/completions";
  const std::string plain = chat_body(""), posted = chat_body(R"({"mode":"posted"})");
  const std::string posted_stream = chat_body(R"({"mode":"posted"})", true);

  // Warm-up: connections, caches, the router's view of the node.
  http.load_raw(direct, plain, 200, 1, has_choices);
  check(http.load_raw(routed, posted, 200, 1, has_choices), "warm-up through the router");

  // Direct and routed requests in alternating rounds, so that both meet the same spells of a
  // busy host (a shared VM's speed drifts within a run).
  constexpr std::size_t kRounds = 10;
  std::printf("sequential, one client, %zu requests each (in %zu alternating rounds):\n",
              o.sequential, kRounds);
  LoadResult d, r;
  for (std::size_t i = 0; i < kRounds; ++i) {
    std::size_t n = o.sequential / kRounds + (i < o.sequential % kRounds ? 1 : 0);
    for (auto [out, url, body, what] : {std::tuple{&d, &direct, &plain, "runner direct"},
                                        std::tuple{&r, &routed, &posted, "through the router"}}) {
      auto part = http.load_raw(*url, *body, n, 1, has_choices);
      check(part, what);
      out->ms.insert(out->ms.end(), part.ms.begin(), part.ms.end());
      out->seconds += part.seconds;
      out->errors += part.errors;
      if (out->first_error.empty()) out->first_error = part.first_error;
    }
  }
  auto s = http.load(routed, posted_stream, o.sequential / 2, 1, stream_done);
  print_latency("runner direct", d);
  print_latency("client -> router -> node -> runner", r);
  print_latency("same, stream: true", s);
  double added50 = percentile(r.ms, 50) - percentile(d.ms, 50);
  double added99 = percentile(r.ms, 99) - percentile(d.ms, 99);
  std::printf("  added by router + data plane: p50 %.3f ms, p99 %.3f ms  (goal p50 < 1 ms: %s)\n",
              added50, added99, verdict(added50 < 1.0));
  std::printf(
      "  vs anchor (TS, client->router->node end to end p50 %.1f / p99 %.1f ms): "
      "p50 %.1fx faster, p99 %.1fx faster\n",
      kAnchorP50Ms, kAnchorP99Ms, kAnchorP50Ms / percentile(r.ms, 50),
      kAnchorP99Ms / percentile(r.ms, 99));

  std::printf("%zu concurrent clients, %zu requests each run:\n", o.clients, o.requests);
  auto dl = http.load_raw(direct, plain, o.requests, o.clients, has_choices);
  check(dl, "runner direct, concurrent");
  std::printf("  %-44s %9.0f requests/s (errors %zu)\n", "runner direct (the ceiling)", dl.rps(),
              dl.errors);
  double router_cpu = cpu_ms(net.router_pid()), node_cpu = cpu_ms(net.node_pid(0));
  double runner_cpu = cpu_ms(net.runner_pid()), self_cpu = cpu_ms(getpid());
  auto rl = http.load_raw(routed, posted, o.requests, o.clients, has_choices);
  check(rl, "through the router, concurrent");
  router_cpu = cpu_ms(net.router_pid()) - router_cpu;
  node_cpu = cpu_ms(net.node_pid(0)) - node_cpu;
  runner_cpu = cpu_ms(net.runner_pid()) - runner_cpu;
  self_cpu = cpu_ms(getpid()) - self_cpu;
  std::printf("  %-44s %9.0f requests/s (errors %zu; p50 %.2f ms, p99 %.2f ms)\n",
              "client -> router -> node -> runner", rl.rps(), rl.errors, percentile(rl.ms, 50),
              percentile(rl.ms, 99));
  if (rl.errors) std::printf("    first error: %s\n", rl.first_error.c_str());
  std::printf("  vs anchor (%.0f/s): %.1fx  (goal >= 20x, >= 3000/s: %s)\n", kAnchorRps,
              rl.rps() / kAnchorRps, verdict(rl.rps() >= 20 * kAnchorRps));
  double n = static_cast<double>(o.requests);
  std::printf(
      "  CPU per request: router %.0f us, node %.0f us; runner %.0f us, load generator %.0f us "
      "(user + system, all threads; %.2f of %u cores busy)\n",
      router_cpu * 1000.0 / n, node_cpu * 1000.0 / n, runner_cpu * 1000.0 / n,
      self_cpu * 1000.0 / n,
      (router_cpu + node_cpu + runner_cpu + self_cpu) / 1000.0 * rl.rps() / n,
      std::thread::hardware_concurrency());

  double router_load = rss_mb(net.router_pid()), node_load = rss_mb(net.node_pid(0));
  if (o.metrics) {
    for (const auto& [who, url] : {std::pair<std::string, std::string>{"router", net.router_url()},
                                   {"node", net.node_url(0)}}) {
      auto m = http.get(url + "/metrics");
      if (!m) continue;
      std::istringstream lines(m->body);
      for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line[0] != '#' && line.find("_bucket") == std::string::npos)
          std::printf("  [%s] %s\n", who.c_str(), line.c_str());
    }
  }
  std::printf("RSS (VmRSS):\n");
  std::printf(
      "  router idle %6.1f MB, after the load %6.1f MB  (anchor %.0f / %.0f MB: %.1fx / "
      "%.1fx smaller; goal < 30 MB after load: %s)\n",
      router_idle, router_load, kAnchorRouterIdleMb, kAnchorRouterLoadMb,
      kAnchorRouterIdleMb / router_idle, kAnchorRouterLoadMb / router_load,
      verdict(router_load < 30.0));
  std::printf("  node   idle %6.1f MB, after the load %6.1f MB\n", node_idle, node_load);
  std::printf("  after the load: router %s; node %s\n", rss_split(net.router_pid()).c_str(),
              rss_split(net.node_pid(0)).c_str());
  std::fflush(stdout);
}

void auctions(const Options& o, const WorkDir& work, std::size_t bidders, bool durable) {
  std::printf(
      "\n== auction decision time, %zu node processes bidding, bid window %llu ms, LMDB "
      "%s ==\n",
      bidders, static_cast<unsigned long long>(o.bid_window_ms),
      durable ? "durable" : "non-durable");
  Net net(o, work.sub("auction" + std::to_string(bidders) + (durable ? "d" : "n")), durable);
  net.start_relay_and_runner();
  net.start_router("auction");
  auto started = Clock::now();
  net.start_nodes(bidders);
  Http http;
  net.wait_ready(http, bidders);
  std::printf("  %zu nodes up and announced in %.1f s; node RSS idle %.1f MB, router %.1f MB\n",
              bidders, std::chrono::duration<double>(Clock::now() - started).count(),
              rss_mb(net.node_pid(0)), rss_mb(net.router_pid()));

  const std::string routed = net.router_url() + "/v1/chat/completions";
  const std::string body =
      chat_body(R"({"mode":"auction","bid_window_ms":)" + std::to_string(o.bid_window_ms) + "}");
  // The jobs report lists the newest 100 jobs: run in batches and read it after each.
  std::vector<double> decision, bids;
  std::size_t errors = 0, done = 0;
  std::string first_error;
  json seen = json::object();
  http.load_raw(routed, body, 3, 1, has_choices);  // warm-up, not counted
  for (std::size_t left = o.auctions; left > 0;) {
    std::size_t batch = std::min<std::size_t>(left, 50);
    left -= batch;
    auto r = http.load_raw(routed, body, batch, 1, has_choices);
    errors += r.errors;
    if (r.errors && first_error.empty()) first_error = r.first_error;
    auto report = http.get(net.router_url() + "/fedai/v1/jobs");
    if (!report || report->status != 200) throw std::runtime_error("no /fedai/v1/jobs report");
    auto doc = json::parse(report->body);
    std::size_t in_batch = 0;
    for (const auto& j : doc["jobs"]) {
      if (in_batch >= batch) break;
      ++in_batch;
      std::string id = j.value("job_id", "");
      if (seen.contains(id) || j.value("mode", "") != "auction" || j.value("phase", "") != "done")
        continue;
      seen[id] = true;
      auto rfb = j.value("rfb_at_ms", std::int64_t{0}),
           award = j.value("awarded_at_ms", std::int64_t{0});
      if (rfb == 0 || award == 0) continue;
      ++done;
      decision.push_back(static_cast<double>(award - rfb) -
                         static_cast<double>(j.value("bid_window_ms", o.bid_window_ms)));
      if (j.contains("bids") && j["bids"].is_number()) bids.push_back(j["bids"].get<double>());
    }
  }
  std::printf("  %zu auctions done (errors %zu)%s%s\n", done, errors,
              first_error.empty() ? "" : "; first error: ", first_error.c_str());
  if (!bids.empty())
    std::printf("  bids counted per auction: min %.0f, median %.0f, max %.0f\n",
                *std::min_element(bids.begin(), bids.end()), percentile(bids, 50),
                *std::max_element(bids.begin(), bids.end()));
  std::printf(
      "  decision time (RFB to AWARD minus the window; record times, 1 ms resolution): "
      "p50 %.0f ms, p99 %.0f ms, max %.0f ms  (goal p99 < 5 ms: %s)\n",
      percentile(decision, 50), percentile(decision, 99),
      decision.empty() ? 0.0 : *std::max_element(decision.begin(), decision.end()),
      verdict(!decision.empty() && percentile(decision, 99) < 5.0));
  std::printf("  RSS after the auctions: router %.1f MB, node0 %.1f MB\n", rss_mb(net.router_pid()),
              rss_mb(net.node_pid(0)));
  std::fflush(stdout);
}

std::vector<std::size_t> parse_list(const std::string& s) {
  std::vector<std::size_t> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(std::stoul(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string phases = "latency,auction";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--fedai")
        o.fedai = value();
      else if (a == "--runner")
        o.runner = value();
      else if (a == "--sequential")
        o.sequential = std::stoul(value());
      else if (a == "--requests")
        o.requests = std::stoul(value());
      else if (a == "--clients")
        o.clients = std::stoul(value());
      else if (a == "--auctions")
        o.auctions = std::stoul(value());
      else if (a == "--bidders")
        o.bidders = parse_list(value());
      else if (a == "--bid-window-ms")
        o.bid_window_ms = std::stoull(value());
      else if (a == "--only")
        phases = value();
      else if (a == "--durable") {
        std::string v = value();
        o.durable = v == "both" ? std::vector<bool>{true, false} : std::vector<bool>{v == "true"};
      } else if (a == "--keep")
        o.keep = true;
      else if (a == "--metrics")
        o.metrics = true;
      else if (a == "--agent-arg")
        o.agent_args.push_back(value());
      else {
        std::cerr << "usage: fedai_agents_bench --fedai PATH --runner PATH [--sequential N] "
                     "[--requests N] [--clients N] [--bidders N,M] [--auctions N] "
                     "[--bid-window-ms N] [--durable true|false|both] [--only latency,auction] "
                     "[--keep] [--metrics] [--agent-arg ARG]...\n";
        return 2;
      }
    } catch (const std::exception& e) {
      std::cerr << "fedai_agents_bench: " << e.what() << "\n";
      return 2;
    }
  }
  if (o.fedai.empty() || o.runner.empty()) {
    std::cerr << "fedai_agents_bench: --fedai and --runner are required\n";
    return 2;
  }
  try {
    WorkDir work(o.keep);
    std::printf("fedai agents benchmark (work directory %s%s)\n", work.path().c_str(),
                o.keep ? ", kept" : "");
    if (phases.find("latency") != std::string::npos)
      for (bool durable : o.durable) latency_and_throughput(o, work, durable);
    if (phases.find("auction") != std::string::npos)
      for (std::size_t n : o.bidders) auctions(o, work, n, o.durable.front());
  } catch (const std::exception& e) {
    std::cerr << "fedai_agents_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
