// HttpClient against HttpTestServer, a scripted server on real loopback sockets.
#include "runners/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/runners/run_until.h"
#include "tests/support/http_test_server.h"

namespace fedai::runners {
namespace {

using namespace std::chrono_literals;
using test::HttpTestServer;
using test::run_until;
using test::TestExchange;

HttpRequest get(std::string url) {
  HttpRequest r;
  r.method = "GET";
  r.url = std::move(url);
  r.timeout = 5s;
  return r;
}

// One request, run to completion.
Result<HttpResponse> fetch(boost::asio::io_context& io, HttpClient& client, HttpRequest request) {
  std::optional<Result<HttpResponse>> out;
  client.request(std::move(request), [&](Result<HttpResponse> r) { out.emplace(std::move(r)); });
  if (!run_until(
          io, [&] { return out.has_value(); }, 15s))
    return make_error(ErrorCode::error, "test: no answer in time");
  return std::move(*out);
}

std::string message(const Result<HttpResponse>& r) {
  return r ? "ok" : r.error().to_string();
}

TEST(HttpClient, ReturnsStatusHeadersAndBody) {
  HttpTestServer server([](TestExchange& ex) {
    ex.reply(201, "text/plain", "made " + ex.request().body, {{"X-Thing", "42"}});
  });
  boost::asio::io_context io;
  HttpClient client(io);
  HttpRequest r;
  r.url = server.url("/things?kind=a");
  r.body = "a thing";
  r.headers = {{"X-Api-Key", "k1"}};
  auto res = fetch(io, client, r);
  ASSERT_TRUE(res) << message(res);
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(res->body, "made a thing");
  ASSERT_TRUE(res->header("x-thing"));
  EXPECT_EQ(*res->header("X-THING"), "42");
  EXPECT_FALSE(res->header("missing"));

  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/things?kind=a");
  EXPECT_EQ(seen[0].header("Host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen[0].header("Content-Length"), "7");
  EXPECT_EQ(seen[0].header("x-api-key"), "k1");
  EXPECT_EQ(seen[0].body, "a thing");
}

TEST(HttpClient, ReusesKeptAliveConnections) {
  HttpTestServer server([](TestExchange& ex) { ex.reply(200, "text/plain", "ok"); });
  boost::asio::io_context io;
  HttpClient client(io);
  for (int i = 0; i < 5; ++i) {
    auto res = fetch(io, client, get(server.url("/")));
    ASSERT_TRUE(res) << message(res);
    EXPECT_EQ(res->body, "ok");
  }
  EXPECT_EQ(server.requests(), 5u);
  EXPECT_EQ(server.connections(), 1u);
}

TEST(HttpClient, ConcurrentRequestsGetTheirOwnConnectionsThenShareThem) {
  HttpTestServer server([](TestExchange& ex) { ex.reply(200, "text/plain", ex.request().target); });
  boost::asio::io_context io;
  HttpClient client(io);
  for (int round = 0; round < 2; ++round) {
    int done = 0;
    for (const std::string path : {"/0", "/1", "/2"}) {
      client.request(get(server.url(path)), [&, path](Result<HttpResponse> r) {
        ASSERT_TRUE(r) << message(r);
        EXPECT_EQ(r->body, path);
        ++done;
      });
    }
    ASSERT_TRUE(run_until(io, [&] { return done == 3; }));
  }
  EXPECT_EQ(server.requests(), 6u);
  EXPECT_EQ(server.connections(), 3u);
}

TEST(HttpClient, KeepsAtMostMaxIdlePerHost) {
  HttpTestServer server([](TestExchange& ex) { ex.reply(200, "text/plain", "ok"); });
  boost::asio::io_context io;
  HttpClient client(io, {.max_idle_per_host = 1, .idle_timeout = 30s});
  int done = 0;
  for (int i = 0; i < 3; ++i)
    client.request(get(server.url("/")), [&](Result<HttpResponse> r) {
      EXPECT_TRUE(r);
      ++done;
    });
  ASSERT_TRUE(run_until(io, [&] { return done == 3; }));
  EXPECT_EQ(server.connections(), 3u);
  // Two of the three went back over the limit and were closed.
  EXPECT_TRUE(server.wait_client_closes(2, 5s));
  auto res = fetch(io, client, get(server.url("/")));
  ASSERT_TRUE(res);
  EXPECT_EQ(server.connections(), 3u);
}

TEST(HttpClient, ClosesConnectionsIdleTooLong) {
  HttpTestServer server([](TestExchange& ex) { ex.reply(200, "text/plain", "ok"); });
  boost::asio::io_context io;
  HttpClient client(io, {.max_idle_per_host = 4, .idle_timeout = 100ms});
  ASSERT_TRUE(fetch(io, client, get(server.url("/"))));
  EXPECT_EQ(server.client_closes(), 0u);
  // The idle sweep is the only work left: run it out, then the server sees the close.
  io.restart();
  io.run_for(5s);
  EXPECT_TRUE(server.wait_client_closes(1, 5s));
  ASSERT_TRUE(fetch(io, client, get(server.url("/"))));
  EXPECT_EQ(server.connections(), 2u);
}

TEST(HttpClient, HonoursConnectionClose) {
  HttpTestServer server([](TestExchange& ex) {
    ex.close_after();
    ex.reply(200, "text/plain", "bye");
  });
  boost::asio::io_context io;
  HttpClient client(io);
  ASSERT_TRUE(fetch(io, client, get(server.url("/"))));
  ASSERT_TRUE(fetch(io, client, get(server.url("/"))));
  EXPECT_EQ(server.connections(), 2u);
}

// The server closes after answering without saying so: the pooled connection is dead. Checked
// before reuse (check_idle_after 0: every reuse is checked), the client skips it; reused at once
// (the default for a connection idle under a second), the request meets the close and is retried
// on a new connection. Either way the second request is answered, on a second connection.
class StaleConnection : public ::testing::TestWithParam<std::chrono::milliseconds> {};

TEST_P(StaleConnection, IsSkippedOrRetried) {
  HttpTestServer server([](TestExchange& ex) {
    ex.close_after(/*announce=*/false);
    ex.reply(200, "text/plain", "ok");
  });
  boost::asio::io_context io;
  HttpClient client(io,
                    {.max_idle_per_host = 16, .idle_timeout = 30s, .check_idle_after = GetParam()});
  ASSERT_TRUE(fetch(io, client, get(server.url("/"))));
  // The server has closed its end (on loopback the FIN is then already at the client) before
  // the next request takes the connection from the pool.
  ASSERT_TRUE(server.wait_ended_connections(1, 5s));
  auto res = fetch(io, client, get(server.url("/")));
  ASSERT_TRUE(res) << message(res);
  EXPECT_EQ(server.connections(), 2u);
  EXPECT_EQ(server.requests(), 2u);
}

INSTANTIATE_TEST_SUITE_P(CheckedOrNot, StaleConnection,
                         ::testing::Values(std::chrono::milliseconds{0},
                                           std::chrono::milliseconds{1'000}));

TEST(HttpClient, RetriesOnceWhenAReusedConnectionDiesBeforeAnswering) {
  std::atomic<int> on_first{0};
  HttpTestServer server([&](TestExchange& ex) {
    // The second request on the first connection: hang up without an answer, as a server
    // whose keep-alive timer fired just as the request arrived.
    if (ex.request().connection == 1 && on_first++ == 1) return;
    ex.reply(200, "text/plain", "conn " + std::to_string(ex.request().connection));
  });
  boost::asio::io_context io;
  HttpClient client(io);
  auto first = fetch(io, client, get(server.url("/")));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, "conn 1");
  auto second = fetch(io, client, get(server.url("/")));
  ASSERT_TRUE(second) << message(second);
  EXPECT_EQ(second->body, "conn 2");
  EXPECT_EQ(server.requests(), 3u);
  EXPECT_EQ(server.connections(), 2u);
}

TEST(HttpClient, DoesNotRetryOnAFreshConnection) {
  HttpTestServer server([](TestExchange&) {});  // hangs up on every request
  boost::asio::io_context io;
  HttpClient client(io);
  auto res = fetch(io, client, get(server.url("/")));
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("closed before the response began"), std::string::npos)
      << message(res);
  EXPECT_EQ(server.requests(), 1u);
}

TEST(HttpClient, TimesOut) {
  HttpTestServer server([](TestExchange& ex) { ex.wait_release(20s); });
  boost::asio::io_context io;
  HttpClient client(io);
  auto r = get(server.url("/slow"));
  r.timeout = 200ms;
  auto start = std::chrono::steady_clock::now();
  auto res = fetch(io, client, r);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, ErrorCode::error);
  EXPECT_NE(res.error().message.find("timed out after 200 ms"), std::string::npos) << message(res);
  EXPECT_LT(took, 5s);
  server.release();
}

TEST(HttpClient, ReportsARefusedConnection) {
  auto port = test::unused_port();
  boost::asio::io_context io;
  HttpClient client(io);
  auto res = fetch(io, client, get("http://127.0.0.1:" + std::to_string(port) + "/"));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().to_string(),
            "error: connect to 127.0.0.1:" + std::to_string(port) + " refused");
}

TEST(HttpClient, ResolvesHostNames) {
  HttpTestServer server([](TestExchange& ex) { ex.reply(200, "text/plain", "named"); });
  boost::asio::io_context io;
  HttpClient client(io);
  auto res = fetch(io, client, get("http://localhost:" + std::to_string(server.port()) + "/"));
  ASSERT_TRUE(res) << message(res);
  EXPECT_EQ(res->body, "named");
}

TEST(HttpClient, RefusesAResponseOverTheLimit) {
  HttpTestServer server([](TestExchange& ex) {
    if (ex.request().target == "/chunked") {
      ex.start_chunked(200, "text/plain");
      for (int i = 0; i < 20 && ex.chunk(std::string(100, 'c')); ++i) {
      }
      ex.end_chunked();
    } else {
      ex.reply(200, "text/plain", std::string(2000, 'x'));
    }
  });
  boost::asio::io_context io;
  HttpClient client(io);
  for (const char* path : {"/whole", "/chunked"}) {
    auto r = get(server.url(path));
    r.max_response_bytes = 1000;
    auto res = fetch(io, client, r);
    ASSERT_FALSE(res) << path;
    EXPECT_EQ(res.error().message, "response larger than 1000 bytes") << path;
  }
  // Exactly at the limit is fine.
  auto r = get(server.url("/whole"));
  r.max_response_bytes = 2000;
  EXPECT_TRUE(fetch(io, client, r));
}

TEST(HttpClient, ReadsChunkedAndUnframedBodies) {
  HttpTestServer server([](TestExchange& ex) {
    if (ex.request().target == "/chunked") {
      ex.start_chunked(200, "text/plain");
      ex.chunk("hel");
      ex.chunk("lo ");
      ex.chunk("there");
      ex.end_chunked();
    } else {
      // No length: the body runs to the end of the connection.
      ex.write_raw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close");
      ex.close_after(false);
    }
  });
  boost::asio::io_context io;
  HttpClient client(io);
  auto chunked = fetch(io, client, get(server.url("/chunked")));
  ASSERT_TRUE(chunked) << message(chunked);
  EXPECT_EQ(chunked->body, "hello there");
  auto unframed = fetch(io, client, get(server.url("/unframed")));
  ASSERT_TRUE(unframed) << message(unframed);
  EXPECT_EQ(unframed->body, "until close");
}

TEST(HttpClient, ReportsAMalformedResponse) {
  HttpTestServer server([](TestExchange& ex) {
    ex.write_raw("HTTP/1.1 two hundred\r\n\r\n");
    ex.close_after(false);
  });
  boost::asio::io_context io;
  HttpClient client(io);
  auto res = fetch(io, client, get(server.url("/")));
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("bad response from 127.0.0.1:"), std::string::npos)
      << message(res);
}

TEST(HttpClient, RefusesBadUrlsAndHeadersWithoutCallingBackInline) {
  boost::asio::io_context io;
  HttpClient client(io);
  std::vector<std::string> errors;
  auto collect = [&](Result<HttpResponse> r) {
    ASSERT_FALSE(r);
    errors.push_back(r.error().to_string());
  };
  client.request(get("https://127.0.0.1/"), collect);
  auto injected = get("http://127.0.0.1:1/");
  injected.headers = {{"X-A", "b\r\nX-Evil: 1"}};
  client.request(injected, collect);
  auto framed = get("http://127.0.0.1:1/");
  framed.headers = {{"Content-Length", "5"}};
  client.request(framed, collect);
  EXPECT_TRUE(errors.empty());
  ASSERT_TRUE(run_until(io, [&] { return errors.size() == 3; }));
  EXPECT_EQ(errors[0], "invalid: url: https is not supported (http only)");
  EXPECT_EQ(errors[1], "invalid: bad value for header X-A");
  EXPECT_EQ(errors[2], "invalid: header Content-Length is set by the client");
}

TEST(HttpClient, StreamsBodyBytesAsTheyArrive) {
  HttpTestServer server([](TestExchange& ex) {
    ex.start_chunked(200, "text/event-stream");
    ex.chunk("data: one\n\n");
    // The second piece goes out only once the client has seen the first.
    if (!ex.wait_release(10s)) return;
    ex.chunk("data: two\n\n");
    ex.end_chunked();
  });
  boost::asio::io_context io;
  HttpClient client(io);
  int status = 0;
  std::string content_type;
  std::vector<std::string> events;
  std::optional<Status> done;
  SseParser parser;
  StreamHandlers h;
  h.on_headers = [&](int s, const Headers& headers) {
    status = s;
    for (const auto& [k, v] : headers)
      if (k == "Content-Type") content_type = v;
  };
  h.on_data = [&](std::string_view bytes) {
    return parser.feed(bytes, [&](const SseParser::Event& e) {
      events.push_back(e.data);
      if (events.size() == 1) server.release();
    });
  };
  h.on_done = [&](Status s) { done = s; };
  client.stream(get(server.url("/events")), h);
  ASSERT_TRUE(run_until(io, [&] { return done.has_value(); }));
  ASSERT_TRUE(*done) << done->error().to_string();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(content_type, "text/event-stream");
  EXPECT_EQ(events, (std::vector<std::string>{"one", "two"}));
  // The finished stream's connection is reused (the release lets the second answer finish).
  server.release();
  ASSERT_TRUE(fetch(io, client, get(server.url("/events"))));
  EXPECT_EQ(server.connections(), 1u);
}

TEST(HttpClient, CancelsAStreamFromTheDataHandler) {
  HttpTestServer server([](TestExchange& ex) {
    ex.start_chunked(200, "text/event-stream");
    ex.chunk("data: first\n\n");
    ex.wait_client_gone(20s);
  });
  boost::asio::io_context io;
  HttpClient client(io);
  int chunks = 0;
  std::optional<Status> done;
  StreamHandlers h;
  h.on_data = [&](std::string_view) {
    ++chunks;
    return false;
  };
  h.on_done = [&](Status s) { done = s; };
  client.stream(get(server.url("/")), h);
  ASSERT_TRUE(run_until(io, [&] { return done.has_value(); }));
  ASSERT_FALSE(*done);
  EXPECT_EQ(done->error().to_string(), "error: cancelled");
  EXPECT_EQ(chunks, 1);
  // The server sees the connection go.
  EXPECT_TRUE(server.wait_client_closes(1, 5s));
}

TEST(HttpClient, ShutdownCancelsRequestsInFlight) {
  HttpTestServer server([](TestExchange& ex) { ex.wait_client_gone(20s); });
  boost::asio::io_context io;
  HttpClient client(io);
  std::optional<Result<HttpResponse>> plain;
  std::optional<Status> streamed;
  client.request(get(server.url("/a")),
                 [&](Result<HttpResponse> r) { plain.emplace(std::move(r)); });
  StreamHandlers h;
  h.on_data = [](std::string_view) { return true; };
  h.on_done = [&](Status s) { streamed = s; };
  client.stream(get(server.url("/b")), h);
  ASSERT_TRUE(run_until(io, [&] { return server.requests() == 2; }));
  client.shutdown();
  ASSERT_TRUE(run_until(io, [&] { return plain.has_value() && streamed.has_value(); }));
  ASSERT_FALSE(*plain);
  EXPECT_EQ(plain->error().to_string(), "error: cancelled");
  ASSERT_FALSE(*streamed);
  EXPECT_EQ(streamed->error().to_string(), "error: cancelled");
  EXPECT_TRUE(server.wait_client_closes(2, 5s));
  // The client still works after a shutdown.
  HttpTestServer other([](TestExchange& ex) { ex.reply(200, "text/plain", "again"); });
  auto res = fetch(io, client, get(other.url("/")));
  ASSERT_TRUE(res) << message(res);
}

TEST(HttpClient, StreamReportsTimeoutMidBody) {
  HttpTestServer server([](TestExchange& ex) {
    ex.start_chunked(200, "text/event-stream");
    ex.chunk("data: first\n\n");
    ex.wait_client_gone(20s);
  });
  boost::asio::io_context io;
  HttpClient client(io);
  std::string got;
  std::optional<Status> done;
  StreamHandlers h;
  h.on_data = [&](std::string_view b) {
    got.append(b);
    return true;
  };
  h.on_done = [&](Status s) { done = s; };
  auto r = get(server.url("/"));
  r.timeout = 300ms;
  client.stream(r, h);
  ASSERT_TRUE(run_until(io, [&] { return done.has_value(); }));
  ASSERT_FALSE(*done);
  EXPECT_NE(done->error().message.find("timed out after 300 ms"), std::string::npos);
  EXPECT_EQ(got, "data: first\n\n");
}

// The io_context run by two threads and requests issued from three more: the client's state
// lives on its strand, so nothing races (a thread sanitizer would say otherwise; there is no
// TSan build yet, and ASan runs it).
TEST(HttpClient, WorksWithAThreadedIoContextAndCallersOnOtherThreads) {
  HttpTestServer server([](TestExchange& ex) { ex.reply(200, "text/plain", ex.request().body); });
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::vector<std::thread> io_threads;
  for (int i = 0; i < 2; ++i) io_threads.emplace_back([&] { io.run(); });
  HttpClient client(io, {.max_idle_per_host = 4, .idle_timeout = 30s});
  std::mutex m;
  std::condition_variable cv;
  int finished = 0, good = 0;
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        HttpRequest r;
        r.url = server.url("/");
        r.body = std::to_string(t * 1000 + i);
        std::string expect = r.body;
        client.request(std::move(r), [&, expect](Result<HttpResponse> res) {
          {
            std::lock_guard lock(m);
            ++finished;
            if (res && res->body == expect) ++good;
          }
          cv.notify_all();
        });
      }
    });
  }
  for (auto& c : callers) c.join();
  {
    std::unique_lock lock(m);
    EXPECT_TRUE(cv.wait_for(lock, 30s, [&] { return finished == 300; }));
    EXPECT_EQ(good, 300);
  }
  client.shutdown();
  work.reset();
  for (auto& t : io_threads) t.join();
}

// Not a benchmark (the server is a thread per connection), but the figure shows what keep-alive
// buys: many requests over few connections.
TEST(HttpClient, ManyConcurrentRequestsOverFewConnections) {
  HttpTestServer server([](TestExchange& ex) { ex.reply(200, "application/json", "{}"); });
  boost::asio::io_context io;
  HttpClient client(io);
  constexpr int kTotal = 4000;
  constexpr int kInFlight = 16;
  int started = 0, ok = 0, failed = 0;
  std::function<void()> launch = [&] {
    ++started;
    HttpRequest r;
    r.url = server.url("/job");
    r.body = R"({"kind":26094})";
    client.request(std::move(r), [&](Result<HttpResponse> res) {
      res && res->status == 200 ? ++ok : ++failed;
      if (started < kTotal) launch();
    });
  };
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kInFlight; ++i) launch();
  ASSERT_TRUE(run_until(
      io, [&] { return ok + failed == kTotal; }, 60s));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(ok, kTotal);
  EXPECT_LE(server.connections(), static_cast<std::size_t>(kInFlight));
  std::cout << "[ figures  ] " << kTotal << " POSTs, " << kInFlight << " in flight, "
            << server.connections() << " connections: " << static_cast<int>(kTotal / secs)
            << " requests/s\n";
  RecordProperty("requests_per_second", static_cast<int>(kTotal / secs));
}

}  // namespace
}  // namespace fedai::runners
