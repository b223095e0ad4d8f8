// agents/dataplane: the router's Dispatcher against a node's data plane on a real Server over
// 127.0.0.1 (tests/support/node_double: the real checks and answer builders, a canned output),
// with one test per kind of bad answer. Node and router each run their own io_context thread,
// as two agents would.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "agents/dataplane/dispatcher.h"
#include "agents/http/server.h"
#include "tests/support/dataplane_fixtures.h"
#include "tests/support/node_double.h"
#include "tests/support/raw_http_client.h"

namespace fedai::agents::dataplane {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using market::Outcome;
using protocol::Msat;
using protocol::PrivacyLevel;
using protocol::ProtocolError;
using test::NodeFault;
using Clock = std::chrono::steady_clock;

struct Outcome_ {
  DispatchResult result;
  std::vector<std::string> deltas;
};

class DispatcherTest : public ::testing::Test {
 protected:
  void start(test::NodeDoubleOptions options = {}) {
    start_with([&](http::Server& server) {
      node_ = std::make_unique<test::NodeDouble>(server, keys_.node, options);
    });
  }
  // A node's data plane whose routes `routes` sets (instead of the node double's).
  void start_with(const std::function<void(http::Server&)>& routes) {
    node_server_ = std::make_unique<http::Server>(node_io_, http::ServerOptions{});
    routes(*node_server_);
    ASSERT_TRUE(node_server_->start());
    node_thread_ = std::thread([this] { node_io_.run(); });
    router_thread_ = std::thread([this] { router_io_.run(); });
  }

  void TearDown() override {
    client_.shutdown();
    if (node_server_) node_server_->stop();
    node_work_.reset();
    router_work_.reset();
    node_io_.stop();
    router_io_.stop();
    if (node_thread_.joinable()) node_thread_.join();
    if (router_thread_.joinable()) router_thread_.join();
    node_.reset();
    node_server_.reset();
  }

  DispatchRequest request(PrivacyLevel privacy = PrivacyLevel::pl0, bool stream = false) {
    test::JobSpec spec;
    spec.now = unix_now();
    spec.privacy = privacy;
    spec.stream = stream;
    DispatchRequest d;
    d.endpoint = node_server_ ? node_server_->url() : "http://127.0.0.1:1";
    d.set_award(test::make_award(keys_.router, keys_.node.public_key(), spec));
    d.node = keys_.node.public_key();
    d.job_id = spec.job_id;
    d.privacy = privacy;
    d.body = test::chat_body("Say hello", stream);
    d.max_output_tokens = spec.max_output_tokens;
    d.stream = stream;
    d.awarded_price = spec.price;
    d.rates = rates_;
    d.timeout = 5s;
    return d;
  }

  // Dispatches on the router's thread and waits (bounded) for the outcome.
  Outcome_ run(DispatchRequest d, std::shared_ptr<Dispatch>* handle = nullptr,
               std::chrono::milliseconds wait = 10s) {
    auto out = std::make_shared<Outcome_>();
    auto done = std::make_shared<std::promise<void>>();
    auto started = std::make_shared<std::promise<std::shared_ptr<Dispatch>>>();
    auto result = done->get_future();
    auto handle_future = started->get_future();
    net::post(router_io_, [this, d = std::move(d), out, done, started]() mutable {
      DispatchCallbacks cb;
      cb.on_delta = [out](std::string_view t) { out->deltas.emplace_back(t); };
      cb.on_done = [out, done](DispatchResult r) {
        out->result = std::move(r);
        done->set_value();
      };
      started->set_value(dispatcher_.dispatch(std::move(d), std::move(cb)));
    });
    auto h = handle_future.get();
    if (handle) *handle = h;
    if (result.wait_for(wait) != std::future_status::ready) {
      ADD_FAILURE() << "no outcome within the bound";
      return {};
    }
    return std::move(*out);
  }

  static void expect_failure(const DispatchResult& r, ProtocolError code, Outcome kind,
                             std::string_view reason_prefix) {
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, code) << protocol::to_string(r.error);
    EXPECT_EQ(r.kind, kind);
    EXPECT_TRUE(r.reason.starts_with(reason_prefix)) << r.reason;
  }

  test::DataplaneKeys keys_;
  Rates rates_{Msat{1'000}, Msat{2'000}, Msat{10}};
  net::io_context node_io_{1};
  net::io_context router_io_{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> node_work_{
      node_io_.get_executor()};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> router_work_{
      router_io_.get_executor()};
  std::unique_ptr<http::Server> node_server_;
  std::unique_ptr<test::NodeDouble> node_;
  runners::HttpClient client_{router_io_};
  protocol::ConversationKeyCache router_keys_{keys_.router};
  Dispatcher dispatcher_{router_io_, client_, router_keys_};
  std::thread node_thread_, router_thread_;
};

TEST_F(DispatcherTest, Pl0JsonAnswerIsVerified) {
  start();
  auto d = request();
  auto job_id = d.job_id;
  auto o = run(std::move(d));
  const auto& r = o.result;
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.kind, Outcome::success);
  EXPECT_EQ(r.text, "Hello from the node double.");
  EXPECT_EQ(r.status, protocol::JobStatus::ok);
  EXPECT_EQ(r.finish_reason, protocol::FinishReason::stop);
  EXPECT_EQ(r.tokens_in, 12u);
  EXPECT_EQ(r.tokens_out, 5u);
  EXPECT_EQ(r.price, Msat{22});  // ceil((12 * 1000 + 5 * 2000) / 1000)
  EXPECT_EQ(r.wall, protocol::Millis{3});
  ASSERT_TRUE(r.metering_event);
  EXPECT_EQ(r.metering_id, r.metering_event->id);
  EXPECT_EQ(r.metering_event->pubkey, keys_.node.public_key());
  EXPECT_TRUE(o.deltas.empty());
  EXPECT_EQ(node_->accepted(), 1u);

  auto record = to_outcome(r, job_id, 2);
  EXPECT_TRUE(record.ok);
  EXPECT_EQ(record.attempt, 2u);
  EXPECT_EQ(record.price, Msat{22});
  EXPECT_EQ(record.metering_id, r.metering_id);
}

TEST_F(DispatcherTest, Pl1JsonAnswerIsOpened) {
  start();
  auto o = run(request(PrivacyLevel::pl1));
  ASSERT_TRUE(o.result.ok) << o.result.reason;
  EXPECT_EQ(o.result.text, "Hello from the node double.");
}

TEST_F(DispatcherTest, Pl2StreamForwardsOpenedDeltasAsTheyArrive) {
  start();
  auto o = run(request(PrivacyLevel::pl2, true));
  ASSERT_TRUE(o.result.ok) << o.result.reason;
  EXPECT_EQ(o.deltas, (std::vector<std::string>{"Hello ", "from ", "the ", "node ", "double."}));
  EXPECT_EQ(o.result.deltas, 5u);
  EXPECT_EQ(o.result.text, "Hello from the node double.");
}

TEST_F(DispatcherTest, Pl0StreamWorksAndTheConnectionIsReused) {
  start();
  for (int i = 0; i < 5; ++i) {
    auto o = run(request(PrivacyLevel::pl0, i % 2 == 0));
    ASSERT_TRUE(o.result.ok) << i << ": " << o.result.reason;
  }
  EXPECT_EQ(node_->accepted(), 5u);
}

struct BadAnswer {
  const char* name;
  NodeFault fault;
  bool stream;
  const char* reason;
};

class DispatcherBadAnswer : public DispatcherTest,
                            public ::testing::WithParamInterface<BadAnswer> {};

TEST_P(DispatcherBadAnswer, IsRefusedAsABadReceipt) {
  start();
  node_->set_fault(GetParam().fault);
  auto o = run(request(PrivacyLevel::pl0, GetParam().stream));
  expect_failure(o.result, ProtocolError::bad_result, Outcome::bad_receipt, GetParam().reason);
  EXPECT_EQ(o.result.text, "");
}

INSTANTIATE_TEST_SUITE_P(
    Faults, DispatcherBadAnswer,
    ::testing::Values(BadAnswer{"WrongSigner", NodeFault::wrong_signer, false,
                                "invalid: JOB_RESULT is not signed by the awarded node"},
                      BadAnswer{"WrongSignerStreamed", NodeFault::wrong_signer, true,
                                "invalid: JOB_RESULT is not signed by the awarded node"},
                      BadAnswer{"TamperedOutput", NodeFault::tamper_output, false,
                                "invalid: METERING output_hash does not match the output"},
                      BadAnswer{"PriceAboveAward", NodeFault::price_above_award, false,
                                "invalid: METERING price_msat 5001 is over the awarded 5000"},
                      BadAnswer{"TokensOverMax", NodeFault::tokens_over_max, false,
                                "invalid: METERING tokens_out 65 is over max_output_tokens 64"},
                      BadAnswer{"MissingMetering", NodeFault::missing_metering, false,
                                "invalid: the answer has no metering"},
                      BadAnswer{"StreamedDeltasDifferFromTheSignedHash", NodeFault::stream_mismatch,
                                true,
                                "invalid: METERING output_hash does not match the streamed text"}),
    [](const ::testing::TestParamInfo<BadAnswer>& p) { return p.param.name; });

TEST_F(DispatcherTest, ErrorEventMidStreamIsTheNodesFailure) {
  start();
  node_->set_fault(NodeFault::error_mid_stream);
  auto o = run(request(PrivacyLevel::pl0, true));
  expect_failure(o.result, ProtocolError::runner, Outcome::failure,
                 "error: the model server failed");
  EXPECT_EQ(o.deltas, std::vector<std::string>{"Hello "});
}

TEST_F(DispatcherTest, NodeThatNeverAnswersTimesOut) {
  start();
  node_->set_fault(NodeFault::never_answer);
  auto d = request();
  d.timeout = 300ms;
  auto t0 = Clock::now();
  auto o = run(std::move(d));
  expect_failure(o.result, ProtocolError::timeout, Outcome::timeout,
                 "error: the node did not answer within 300 ms");
  EXPECT_GE(Clock::now() - t0, 290ms);
}

TEST_F(DispatcherTest, ConnectionRefusedIsAFailure) {
  start();
  auto d = request();
  d.endpoint = "http://127.0.0.1:" + std::to_string(test::unused_port());
  auto o = run(std::move(d));
  expect_failure(o.result, ProtocolError::internal, Outcome::failure,
                 "error: the node could not be reached (connect to");
  EXPECT_NE(o.result.reason.find("refused"), std::string::npos) << o.result.reason;
}

TEST_F(DispatcherTest, NodesRefusalsComeBackWithTheirCodes) {
  test::NodeDoubleOptions options;
  options.limits.privacy_max = PrivacyLevel::pl1;
  start(options);
  auto o = run(request(PrivacyLevel::pl2));
  expect_failure(o.result, ProtocolError::privacy_unsupported, Outcome::failure,
                 "invalid: PL2 is above this node's privacy_max PL1");

  // An award already past its submit_by.
  auto d = request();
  test::JobSpec spec;
  spec.now = unix_now() - 100;
  spec.job_id = d.job_id;
  d.set_award(test::make_award(keys_.router, keys_.node.public_key(), spec));
  auto expired = run(std::move(d));
  expect_failure(expired.result, ProtocolError::award_expired, Outcome::failure,
                 "invalid: AWARD passed its submit_by");
  EXPECT_EQ(node_->refused(), 2u);
  EXPECT_EQ(node_->accepted(), 0u);
}

// Backpressure: the node's 429 or 503 comes back with its code and its Retry-After (seconds),
// which the router's state machine honours (nips/F-03); an HTTP-date or no header gives 0.
TEST_F(DispatcherTest, BackpressureComesBackWithItsRetryAfter) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  start_with([&](http::Server& server) {
    server.route("POST", std::string(protocol::kJobsPath),
                 [calls](http::Request, std::shared_ptr<http::Responder> w) {
                   switch ((*calls)++) {
                     case 0:
                       w->reply(429, "application/json",
                                protocol::error_body_json(
                                    ProtocolError::rate_limited,
                                    protocol::to_error(ProtocolError::rate_limited, "slow down")),
                                {{"Retry-After", " 7 "}});
                       break;
                     case 1:
                       w->reply(503, "application/json",
                                protocol::error_body_json(
                                    ProtocolError::busy,
                                    protocol::to_error(ProtocolError::busy, "no free slot")),
                                {{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"}});
                       break;
                     default:
                       w->reply(503, "application/json",
                                protocol::error_body_json(
                                    ProtocolError::busy,
                                    protocol::to_error(ProtocolError::busy, "no free slot")));
                   }
                 });
  });
  auto limited = run(request());
  expect_failure(limited.result, ProtocolError::rate_limited, Outcome::failure,
                 "rate-limited: slow down");
  EXPECT_EQ(limited.result.retry_after, protocol::Millis{7'000});
  auto outcome = to_outcome(limited.result, protocol::JobId{}, 1);
  EXPECT_EQ(outcome.retry_after, protocol::Millis{7'000});
  EXPECT_EQ(outcome.error, ProtocolError::rate_limited);
  for (int i = 0; i < 2; ++i) {
    auto busy = run(request());
    expect_failure(busy.result, ProtocolError::busy, Outcome::failure, "error: no free slot");
    EXPECT_EQ(busy.result.retry_after, protocol::Millis{0});
  }
  EXPECT_EQ(calls->load(), 3);
}

TEST_F(DispatcherTest, CancelReportsAtOnceWhenTheClientGoesAway) {
  start();
  node_->set_fault(NodeFault::never_answer);
  auto d = request();
  d.timeout = 30s;
  auto out = std::make_shared<std::promise<DispatchResult>>();
  auto started = std::make_shared<std::promise<std::shared_ptr<Dispatch>>>();
  auto handle_future = started->get_future();
  net::post(router_io_, [this, d = std::move(d), out, started]() mutable {
    DispatchCallbacks cb;
    cb.on_done = [out](DispatchResult r) { out->set_value(std::move(r)); };
    started->set_value(dispatcher_.dispatch(std::move(d), std::move(cb)));
  });
  auto handle = handle_future.get();
  // Cancel once the node holds the job (the dispatch is in flight).
  ASSERT_TRUE(node_->wait_held(1, 5s));
  net::post(router_io_, [handle] { handle->cancel(); });
  auto f = out->get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  auto r = f.get();
  expect_failure(r, ProtocolError::cancelled, Outcome::failure, "error: the client went away");
  EXPECT_EQ(r.submit_id, handle->submit_id());
}

TEST_F(DispatcherTest, Pl3NeverLeavesTheRouter) {
  start();
  auto o = run(request(PrivacyLevel::pl3));
  expect_failure(o.result, ProtocolError::privacy_unsupported, Outcome::failure, "invalid: ");
  EXPECT_EQ(node_->accepted() + node_->refused(), 0u);
}

// The figures the issue asks about, on loopback with both ends in this process: the data plane's
// round trip against a bare HTTP round trip to the same server, and dispatches per second with
// 16 in flight. Prints them; asserts only that every dispatch was verified.
TEST_F(DispatcherTest, FiguresRoundTripAndThroughput) {
  node_server_ = std::make_unique<http::Server>(node_io_, http::ServerOptions{});
  node_ = std::make_unique<test::NodeDouble>(*node_server_, keys_.node);
  node_server_->route("POST", "/bare", [](http::Request, std::shared_ptr<http::Responder> out) {
    out->reply(200, "application/json", R"({"text":"Hello from the node double."})");
  });
  ASSERT_TRUE(node_server_->start());
  node_thread_ = std::thread([this] { node_io_.run(); });
  router_thread_ = std::thread([this] { router_io_.run(); });

  auto percentile = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
  };
  constexpr int kRounds = 300;
  std::vector<double> bare, dispatched;
  for (int i = 0; i < kRounds; ++i) {
    auto done = std::make_shared<std::promise<void>>();
    auto t0 = Clock::now();
    runners::HttpRequest req;
    req.url = node_server_->url() + "/bare";
    req.body = test::chat_body("Say hello");
    client_.request(std::move(req), [done](Result<runners::HttpResponse>) { done->set_value(); });
    done->get_future().wait();
    bare.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  for (int i = 0; i < kRounds; ++i) {
    auto d = request();  // the AWARD is the auction's cost, not the data plane's
    auto t0 = Clock::now();
    auto o = run(std::move(d));
    ASSERT_TRUE(o.result.ok) << o.result.reason;
    dispatched.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::printf(
      "[ figures  ] bare HTTP round trip p50 %.0f us p99 %.0f us; dispatch (PL0, signed "
      "and verified) p50 %.0f us p99 %.0f us; added p50 %.0f us\n",
      percentile(bare, 0.5), percentile(bare, 0.99), percentile(dispatched, 0.5),
      percentile(dispatched, 0.99), percentile(dispatched, 0.5) - percentile(bare, 0.5));

  // 16 in flight on the router's thread; awards are made ahead so that only the data plane is
  // timed.
  constexpr int kTotal = 1600, kInFlight = 16;
  std::vector<DispatchRequest> pending;
  for (int i = 0; i < kTotal; ++i) pending.push_back(request());
  std::atomic<int> ok{0}, finished{0};
  auto all = std::make_shared<std::promise<void>>();
  std::function<void()> next;
  std::size_t cursor = 0;
  next = [&] {
    if (cursor >= pending.size()) return;
    DispatchCallbacks cb;
    cb.on_done = [&, all](DispatchResult r) {
      if (r.ok) ++ok;
      next();
      // Last: once it is set, this test's locals go away.
      if (++finished == kTotal) all->set_value();
    };
    dispatcher_.dispatch(std::move(pending[cursor++]), std::move(cb));
  };
  auto t0 = Clock::now();
  std::clock_t cpu0 = std::clock();
  net::post(router_io_, [&] {
    for (int i = 0; i < kInFlight; ++i) next();
  });
  ASSERT_EQ(all->get_future().wait_for(60s), std::future_status::ready);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  EXPECT_EQ(ok.load(), kTotal);
  std::printf(
      "[ figures  ] %d dispatches, %d in flight: %.0f verified jobs/s, %.0f us of CPU per "
      "job (router and node together)\n",
      kTotal, kInFlight, kTotal / secs, cpu * 1e6 / kTotal);
}

}  // namespace
}  // namespace fedai::agents::dataplane
