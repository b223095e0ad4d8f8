// agents/router: a whole RouterAgent (its HTTP API, state machine on LMDB, relay pool, data
// plane) against fedai's embedded relay and a node's data plane (tests/support/node_double: the
// real checks, a canned answer). The node's CAPS, PRICE and STATUS are in the relay's store
// before the router starts, as a node's would be; the router finds them with its subscription.
//
// What is checked here is what only the whole agent shows: a job larger than every node takes is
// answered 413 at once (F-02 limits, F-06 ERR_TOO_LARGE) without reaching any node, and the
// circuit breaker's state per node is visible on /fedai/v1/peers and /metrics (nips/F-03).
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "agents/http/server.h"
#include "agents/router/router_agent.h"
#include "core/protocol/protocol.h"
#include "relay/server/relay_server.h"
#include "tests/support/node_double.h"
#include "tests/support/raw_http_client.h"
#include "tests/support/temp_dir.h"

namespace fedai::agents {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kNodeMaxBody = 64 << 10;

std::uint16_t port_of(const std::string& url) {
  return static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
}

// A chat request for the router (the body a client sends).
std::string chat(const std::string& prompt) {
  return json{{"model", "tiny"},
              {"max_tokens", 16},
              {"messages", json::array({{{"role", "user"}, {"content", prompt}}})}}
      .dump();
}

// The value of one series in Prometheus text ("name{labels} value"), or -1.
double metric(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

class RouterAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    relay::server::RelayOptions o;
    o.listen_port = 0;
    o.db_path = dir_.sub("relay");
    o.db_map_size_mib = 64;
    o.db_sync = false;
    o.verify_threads = 1;
    o.query_threads = 1;
    auto r = relay::server::RelayServer::start(o);
    ASSERT_TRUE(r) << r.error().to_string();
    relay_ = std::move(*r);

    test::NodeDoubleOptions node_options;
    node_options.limits.max_body_bytes = kNodeMaxBody;
    node_server_ = std::make_unique<http::Server>(node_io_, http::ServerOptions{});
    node_ = std::make_unique<test::NodeDouble>(*node_server_, node_keys_, node_options);
    ASSERT_TRUE(node_server_->start());
    node_thread_ = std::thread([this] { node_io_.run(); });

    announce_node();

    RouterConfig c;
    c.relays = {relay_->url()};
    c.keys = Keypair::generate();
    c.listen = "127.0.0.1:0";
    c.db = dir_.sub("router");
    c.durable = false;
    c.allow_anonymous = true;
    c.mode = router::JobMode::posted;  // one node, no auction fallback: failures are quick
    c.privacy = protocol::PrivacyLevel::pl1;
    router_ = std::make_unique<RouterAgent>(std::move(c), metrics_);
    auto st = router_->start();
    ASSERT_TRUE(st) << st.error().to_string();
    port_ = port_of(router_->url());
  }

  void TearDown() override {
    if (router_) router_->stop();
    router_.reset();
    if (node_server_) node_server_->stop();
    work_.reset();
    node_io_.stop();
    if (node_thread_.joinable()) node_thread_.join();
    node_.reset();
    node_server_.reset();
    if (relay_) relay_->stop();
  }

  // The node's CAPS (body limit 64 KiB), PRICE (the double's rates) and STATUS, stored in the
  // relay as if it had published them.
  void announce_node() {
    const UnixSeconds now = unix_now();
    protocol::CapsAnnounce caps;
    caps.model = "tiny";
    caps.job_types = {"chat"};
    caps.context_tokens = 1'000'000;
    caps.max_output_tokens = 4096;
    caps.endpoint = node_server_->url();
    caps.privacy_max = protocol::PrivacyLevel::pl2;
    caps.streaming = true;
    caps.max_concurrency = 4;
    caps.max_body_bytes = kNodeMaxBody;
    protocol::PriceAnnounce price;
    price.model = "tiny";
    price.job_type = "chat";
    price.in_per_1k_msat = protocol::Msat{1'000};
    price.out_per_1k_msat = protocol::Msat{2'000};
    price.min_msat = protocol::Msat{10};
    protocol::StatusAnnounce status;
    auto c = protocol::build(caps, node_keys_, now);
    auto p = protocol::build(price, node_keys_, now);
    auto s = protocol::build(status, node_keys_, now);
    ASSERT_TRUE(c && p && s);
    const std::vector<Event> events = {*c, *p, *s};
    for (const auto& r : relay_->store().write(events, now)) ASSERT_TRUE(r.accepted()) << r.message;
  }

  std::optional<test::RawResponse> get(const std::string& target) {
    test::RawHttpClient client(port_);
    return client.request("GET", target);
  }
  std::optional<test::RawResponse> post_chat(
      const std::string& prompt, std::vector<std::pair<std::string, std::string>> headers = {
                                     {"Content-Type", "application/json"}}) {
    test::RawHttpClient client(port_);
    return client.request("POST", "/v1/chat/completions", chat(prompt), std::move(headers), 10s);
  }

  json node_entry() {
    auto r = get("/fedai/v1/peers");
    if (!r || r->status != 200) return nullptr;
    const json body = json::parse(r->body);
    for (const auto& p : body["peers"])
      if (p["pubkey"] == node_keys_.public_key().hex()) return p;
    return nullptr;
  }

  // Polls `pred` (each poll a full HTTP round trip) until it holds or 10 s pass.
  static bool eventually(const std::function<bool()>& pred) {
    const auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return pred();
  }

  // The router holds the node's CAPS, PRICE and STATUS: a posted job can find it.
  bool router_knows_node() {
    json n = node_entry();
    return !n.is_null() && !n["models"].empty() && !n["prices"].empty() && !n["status"].empty();
  }

  test::TempDir dir_;
  Keypair node_keys_ = Keypair::generate();
  std::unique_ptr<relay::server::RelayServer> relay_;
  net::io_context node_io_;
  net::executor_work_guard<net::io_context::executor_type> work_ = net::make_work_guard(node_io_);
  std::unique_ptr<http::Server> node_server_;
  std::unique_ptr<test::NodeDouble> node_;
  std::thread node_thread_;
  MetricsRegistry metrics_;
  std::unique_ptr<RouterAgent> router_;
  std::uint16_t port_ = 0;
};

// A 900 KB prompt passes the router's own 1 MiB limit but no node takes it (sealed for PL1 it is
// 1.2 MB, the node takes 64 KiB): 413 ERR_TOO_LARGE at once, and the node never sees it.
TEST_F(RouterAgentTest, AJobLargerThanEveryNodeTakesIs413AtOnce) {
  ASSERT_TRUE(eventually([&] { return router_knows_node(); }));
  json n = node_entry();
  EXPECT_EQ(n["models"][0]["max_body_bytes"], kNodeMaxBody);

  // A small job goes through: the node is there and serves.
  auto ok = post_chat("Say hello");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(node_->accepted(), 1u);

  auto big = post_chat(std::string(900'000, 'a'));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413) << big->body;
  json error = json::parse(big->body)["error"];
  EXPECT_EQ(error["code"], "ERR_TOO_LARGE");
  EXPECT_NE(error["message"].get<std::string>().find("the largest a node takes is 65536"),
            std::string::npos)
      << error;
  EXPECT_EQ(node_->accepted(), 1u);
  EXPECT_EQ(node_->refused(), 0u);

  // Within the node's limit once sealed: served.
  auto fits = post_chat(std::string(40'000, 'a'));
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->status, 200) << fits->body;
  EXPECT_EQ(node_->accepted(), 2u);
}

// A router that serves clients without credentials (the devnet, --allow-anonymous) serves those
// that send a key it does not know too: OpenAI's client libraries always send one.
TEST_F(RouterAgentTest, AnonymousServiceTakesAnyApiKey) {
  ASSERT_TRUE(eventually([&] { return router_knows_node(); }));
  auto r = post_chat("Say hello", {{"Content-Type", "application/json"},
                                   {"Authorization", "Bearer sk-not-a-key-this-router-knows"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // A malformed NIP-98 credential is still refused: it claims an identity and fails to prove it.
  auto bad = post_chat("Say hello", {{"Content-Type", "application/json"},
                                     {"Authorization", "Nostr bm90IGFuIGV2ZW50"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 403) << bad->body;
}

// stream_options.include_usage: OpenAI's shape, the finish chunk and then one with no choices
// and the usage; without it, the usage rides on the finish chunk.
TEST_F(RouterAgentTest, AStreamAskingForUsageEndsWithAUsageChunk) {
  ASSERT_TRUE(eventually([&] { return router_knows_node(); }));
  auto data_lines = [](const std::string& body) {
    std::vector<json> out;
    std::size_t at = 0;
    while ((at = body.find("data: ", at)) != std::string::npos) {
      std::size_t end = body.find('\n', at);
      std::string d = body.substr(at + 6, end - at - 6);
      if (d != "[DONE]") out.push_back(json::parse(d));
      at = end;
    }
    return out;
  };
  json request = json::parse(chat("Say hello"));
  request["stream"] = true;
  request["stream_options"] = {{"include_usage", true}};
  test::RawHttpClient client(port_);
  auto r = client.request("POST", "/v1/chat/completions", request.dump(),
                          {{"Content-Type", "application/json"}}, 10s);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto chunks = data_lines(r->body);
  ASSERT_GE(chunks.size(), 2u) << r->body;
  const json& last = chunks.back();
  EXPECT_TRUE(last["choices"].empty()) << last;
  EXPECT_GT(last["usage"]["completion_tokens"].get<int>(), 0) << last;
  const json& finish = chunks[chunks.size() - 2];
  EXPECT_FALSE(finish["choices"][0]["finish_reason"].is_null()) << finish;
  EXPECT_FALSE(finish.contains("usage")) << finish;

  request.erase("stream_options");
  test::RawHttpClient again(port_);
  auto plain = again.request("POST", "/v1/chat/completions", request.dump(),
                             {{"Content-Type", "application/json"}}, 10s);
  ASSERT_TRUE(plain);
  auto plain_chunks = data_lines(plain->body);
  ASSERT_FALSE(plain_chunks.empty());
  EXPECT_FALSE(plain_chunks.back()["choices"].empty());
  EXPECT_TRUE(plain_chunks.back().contains("usage"));
}

// /v1/models says what the market charges, in fields of its own beside OpenAI's: the node's
// posted rates (its PRICE, surge 1.0) as the range of one.
TEST_F(RouterAgentTest, ModelsListTheNodesAndThePriceRange) {
  ASSERT_TRUE(eventually([&] {
    auto r = get("/v1/models");
    if (!r || r->status != 200) return false;
    const json body = json::parse(r->body);
    return !body["data"].empty() && !body["data"][0]["fedai_pricing"].is_null();
  }));
  const json body = json::parse(get("/v1/models")->body);
  EXPECT_EQ(body["object"], "list");
  ASSERT_EQ(body["data"].size(), 1u);
  const json& m = body["data"][0];
  EXPECT_EQ(m["id"], "tiny");
  EXPECT_EQ(m["object"], "model");
  EXPECT_EQ(m["fedai_nodes"], 1);
  EXPECT_EQ(m["fedai_pricing"]["nodes"], 1);
  EXPECT_EQ(m["fedai_pricing"]["in_per_1k_msat"], (json{{"min", 1000}, {"max", 1000}}));
  EXPECT_EQ(m["fedai_pricing"]["out_per_1k_msat"], (json{{"min", 2000}, {"max", 2000}}));
}

// /fedai/v1/peers says what the breaker is doing: closed after a success, open after three
// failures one after another (bad receipts), with the jobs that led there; /metrics counts it.
TEST_F(RouterAgentTest, PeersShowsTheBreakerOfEachNode) {
  ASSERT_TRUE(eventually([&] { return router_knows_node(); }));
  auto ok = post_chat("Say hello");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  json n = node_entry();
  EXPECT_EQ(n["breaker"], "closed");
  EXPECT_EQ(n["excluded"], false);
  EXPECT_EQ(n["jobs_ok"], 1);
  EXPECT_EQ(n["consecutive_failures"], 0);
  EXPECT_GT(n["reputation_ppm"].get<std::uint32_t>(), 500'000u);

  node_->set_fault(test::NodeFault::wrong_signer);
  for (int i = 0; i < 3; ++i) {
    auto bad = post_chat("Say hello");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 502) << bad->body;
    n = node_entry();
    EXPECT_EQ(n["consecutive_failures"], i + 1);
    EXPECT_EQ(n["breaker"], i < 2 ? "closed" : "open");
  }
  EXPECT_EQ(n["excluded"], true);
  EXPECT_EQ(n["times_opened"], 1);
  EXPECT_EQ(n["jobs_failed"], 3);
  EXPECT_EQ(n["open_for_ms"], 60'000);
  EXPECT_EQ(n["open_until_ms"].get<std::int64_t>() - n["opened_at_ms"].get<std::int64_t>(), 60'000);

  // Open: the next job does not reach the node.
  const std::size_t reached = node_->accepted() + node_->refused();
  auto refused = post_chat("Say hello");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503) << refused->body;
  EXPECT_EQ(node_->accepted() + node_->refused(), reached);

  auto m = get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(metric(m->body, "fedai_router_breaker_opened_total"), 1);
  EXPECT_EQ(metric(m->body, "fedai_router_breakers{state=\"open\"}"), 1);
  EXPECT_EQ(metric(m->body, "fedai_router_breakers{state=\"half_open\"}"), 0);
}

}  // namespace
}  // namespace fedai::agents
