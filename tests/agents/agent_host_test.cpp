// AgentHost (agents/runtime/agent_host.h): its start order and its stop order, over a real
// MachineStore (LMDB), a real relay pool, a real HTTP listener, with the ledger machine of
// tests/support and a small agent that records what the host asks of it.
#include "agents/runtime/agent_host.h"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/ledger_machine.h"
#include "tests/support/ports.h"
#include "tests/support/raw_http_client.h"
#include "tests/support/temp_dir.h"

namespace fedai::agents {
namespace {

using namespace std::chrono_literals;
using test::LedgerMachine;

std::uint16_t port_of(const std::string& url) {
  return static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
}

// Records the order of the host's calls; its one effect handler checks what exists when an
// effect left by an earlier run is resumed.
class RecordingAgent final : public HostedAgent {
 public:
  explicit RecordingAgent(AgentHost& host) : host_(host) {}

  void register_effects() override {
    note("effects");
    state->on_effect(1, [this](const machine::Effect& effect) {
      // The relays exist before anything left from the last run is carried out (it may publish),
      // and clients are not let in yet.
      if (!subscribed_) resumed_before_subscribe = true;
      listener_refused_during_resume = !test::RawHttpClient(port_of(host_.url())).connected();
      note("resumed " + effect.id);
      state->complete(effect);
    });
  }
  std::vector<machine::Record> startup_records() override {
    note("startup");
    // A deposit of 10 emits an effect, as a router's Startup does when it cancels the jobs its
    // last run left: it waits for the relays too.
    return {LedgerMachine::deposit("startup", 10)};
  }
  void subscribe() override {
    note("subscribe");
    subscribed_ = true;
  }
  void register_routes() override {
    note("routes");
    server->route("POST", "/slow", [this](http::Request, std::shared_ptr<http::Responder> w) {
      held_.push_back(std::move(w));
      arrived.fetch_add(1);
    });
  }
  void on_ready() override { note("ready"); }
  void on_draining() override {
    note("draining");
    // The work in flight finishes after the drain began: answered, not dropped.
    timer_ = std::make_shared<boost::asio::steady_timer>(host_.loop().strand(), 100ms);
    timer_->async_wait([this](const boost::system::error_code&) {
      for (auto& w : held_) w->reply(200, "text/plain", "done");
      held_.clear();
    });
  }
  std::size_t in_flight() const override { return held_.size(); }
  void on_stop() override { note("stop"); }

  std::vector<std::string> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }

  std::atomic<bool> resumed_before_subscribe{false};
  std::atomic<bool> listener_refused_during_resume{false};
  std::atomic<int> arrived{0};

 private:
  void note(std::string call) {
    std::lock_guard lock(mutex_);
    calls_.push_back(std::move(call));
  }
  AgentHost& host_;
  bool subscribed_ = false;
  std::vector<std::shared_ptr<http::Responder>> held_;
  std::shared_ptr<boost::asio::steady_timer> timer_;
  std::mutex mutex_;
  std::vector<std::string> calls_;
};

AgentHostOptions options_for(const test::TempDir& dir) {
  AgentHostOptions o;
  o.name = "test";
  // No relay listens there: the pool keeps trying, which is all a start needs.
  o.relays = {"ws://127.0.0.1:" + std::to_string(test::unused_port())};
  o.store.path = dir.path();
  o.store.map_size = std::size_t{64} << 20;
  o.store.sync = false;
  o.drain_grace = 10s;
  return o;
}

// An effect in the outbox, as a run killed before carrying it out leaves it.
void leave_an_effect(const std::string& path) {
  LedgerMachine machine;
  store::MachineStoreOptions o;
  o.path = path;
  o.map_size = std::size_t{64} << 20;
  o.sync = false;
  auto store = store::MachineStore::open(o, machine);
  ASSERT_TRUE(store) << store.error().message;
  auto results = (*store)->append({LedgerMachine::deposit("alice", 10)});
  ASSERT_EQ(results.size(), 1u);
  ASSERT_EQ(results[0].effects.size(), 1u);
}

TEST(AgentHost, ResumesLeftoverEffectsAfterTheRelaysAndBeforeClients) {
  test::TempDir dir;
  leave_an_effect(dir.path());
  LedgerMachine machine;
  MetricsRegistry metrics;
  AgentHost host(machine, metrics);
  RecordingAgent agent(host);
  ASSERT_TRUE(host.start(agent, options_for(dir)));
  EXPECT_FALSE(agent.resumed_before_subscribe);
  EXPECT_TRUE(agent.listener_refused_during_resume);
  // Once start() returns, clients are served.
  EXPECT_TRUE(test::RawHttpClient(port_of(host.url())).connected());
  host.stop();
  // The effect the last run left and the one the startup record emitted, both after the relays.
  std::vector<std::string> want = {"effects",
                                   "startup",
                                   "subscribe",
                                   "routes",
                                   "resumed notify:alice:1",
                                   "resumed notify:startup:2",
                                   "ready",
                                   "draining",
                                   "stop"};
  EXPECT_EQ(agent.calls(), want);

  // Both effects were marked done: the second run resumes only its own startup's effect.
  AgentHost again(machine, metrics);
  RecordingAgent second(again);
  ASSERT_TRUE(again.start(second, options_for(dir)));
  again.stop();
  std::vector<std::string> resumed;
  for (const auto& call : second.calls())
    if (call.starts_with("resumed")) resumed.push_back(call);
  EXPECT_EQ(resumed, std::vector<std::string>{"resumed notify:startup:3"});
}

TEST(AgentHost, StopAnswersTheWorkInFlightAndRefusesNewRequests) {
  test::TempDir dir;
  LedgerMachine machine;
  MetricsRegistry metrics;
  AgentHost host(machine, metrics);
  RecordingAgent agent(host);
  ASSERT_TRUE(host.start(agent, options_for(dir)));
  auto port = port_of(host.url());

  // Two requests in flight, and one idle keep-alive connection.
  test::RawHttpClient first(port), second(port), idle(port);
  first.send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  second.send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (agent.arrived.load() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  ASSERT_EQ(agent.arrived.load(), 2);

  std::thread stopper([&] { host.stop(); });
  // While draining, a request on the idle connection is answered 503 and the connection closed.
  auto late_deadline = std::chrono::steady_clock::now() + 10s;
  bool draining = false;
  while (!draining && std::chrono::steady_clock::now() < late_deadline) {
    auto calls = agent.calls();
    draining = std::find(calls.begin(), calls.end(), "draining") != calls.end();
    if (!draining) std::this_thread::yield();
  }
  ASSERT_TRUE(draining);
  idle.send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  auto refused = idle.read_response(5s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(refused->body.find("ERR_BUSY"), std::string::npos);
  EXPECT_EQ(refused->header("Retry-After"), "1");
  EXPECT_TRUE(idle.wait_closed(5s));

  // The requests in flight are answered, not reset.
  auto a = first.read_response(10s);
  auto b = second.read_response(10s);
  stopper.join();
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(b->body, "done");
  // Nothing listens any more.
  EXPECT_FALSE(test::RawHttpClient(port).connected());
}

TEST(AgentHost, AStartThatFailsLetsItsPortGo) {
  test::TempDir dir;
  LedgerMachine machine;
  MetricsRegistry metrics;
  AgentHost host(machine, metrics);
  RecordingAgent agent(host);
  auto o = options_for(dir);
  o.relays = {"not a relay url"};
  ASSERT_TRUE(host.bind(o));
  auto port = port_of(host.url());
  auto st = host.start(agent, o);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("not a relay url"), std::string::npos);
  EXPECT_FALSE(test::RawHttpClient(port).connected());
  // The same port can be taken again.
  http::ServerOptions so;
  so.listen = "127.0.0.1:" + std::to_string(port);
  boost::asio::io_context io;
  http::Server again(io, so);
  EXPECT_TRUE(again.start());
  again.stop();
}

}  // namespace
}  // namespace fedai::agents
