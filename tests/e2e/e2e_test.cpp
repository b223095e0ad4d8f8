// fedai end to end (issue 5, "Done means"), every participant a separate process on 127.0.0.1:
// `fedai relay` (or the independent npm relay), `fedai router`, `fedai node` x N, and the tiny
// REAL llama.cpp model (runners/tiny/server.mjs, node-llama-cpp) or a runner double in a process
// of its own (fedai_e2e_runner_double). The tests talk to the router's OpenAI API and its
// operator endpoint (/fedai/v1/jobs) over HTTP, act as a router themselves against a node's
// data plane, kill a node mid-job, and grep every log and database for a prompt canary.
// Nothing waits by sleeping: processes are awaited from their own output lines, endpoints are
// polled with deadlines.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <ctime>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/protocol/protocol.h"
#include "tests/e2e/cluster.h"
#include "tests/support/dataplane_fixtures.h"

namespace fedai::test::e2e {
namespace {

using nlohmann::json;

// Long enough for every node's BID to arrive on 2 shared cores under load (bids take a few ms
// over the embedded relay when the machine is idle).
constexpr int kBidWindowMs = 1'000;

json parse(const std::string& body) {
  return json::parse(body, nullptr, false);
}

// Common to the tests: the cluster, and its logs when a test fails.
class E2e : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) std::cout << cluster.diagnostics();
  }

  // A plain chat through the router; asserts the OpenAI shape and returns the answer.
  json chat(const std::string& prompt, const json& fedai = nullptr, unsigned max_tokens = 8) {
    auto r = http_post(cluster.router().url, "/v1/chat/completions",
                       chat_request(prompt, false, max_tokens, fedai));
    EXPECT_TRUE(r) << "no answer from the router";
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    json j = parse(r->body);
    EXPECT_TRUE(j.is_object()) << r->body;
    return j;
  }

  static std::string content_of(const json& completion) {
    if (!completion.contains("choices") || completion["choices"].empty()) return "";
    return completion["choices"][0]["message"].value("content", "");
  }

  Cluster cluster;
};

class E2eLlama : public E2e {};
class E2eDataPlane : public E2e {};

// ---- 1. Chat completions, plain and streamed, through the router with real llama.cpp --------

TEST_F(E2eLlama, ChatCompletionPlainAndStreamedThroughTheRouter) {
  cluster.start_fedai_relay();
  std::string runner = cluster.start_tiny_runner();
  cluster.start_router({"--bid-window-ms", std::to_string(kBidWindowMs)});
  // The CLI's default min price (100 msat) is above what 8 tokens cost at these rates: METERING
  // charges the floor, and the router must accept it at the bid's (or price's) min.
  Agent& node = cluster.start_node({"node-1", runner, 1'000, 2'000, 100, {}});
  ASSERT_TRUE(cluster.wait_for_nodes("tiny", 1)) << "the router never learned the node's CAPS";

  auto models = http_get(cluster.router().url, "/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(parse(models->body)["data"][0]["id"], "tiny") << models->body;

  // Plain, bought at the posted price (the default mode) or in an auction.
  for (const char* mode : {"posted_then_auction", "auction"}) {
    SCOPED_TRACE(mode);
    json answer = chat("Hello there, router.", {{"mode", mode}}, 8);
    EXPECT_EQ(answer["object"], "chat.completion") << answer.dump();
    EXPECT_FALSE(content_of(answer).empty()) << answer.dump();
    EXPECT_GT(answer["usage"].value("prompt_tokens", 0), 0) << answer.dump();
    // The tiny model never stops by itself: it writes exactly max_tokens.
    EXPECT_EQ(answer["usage"].value("completion_tokens", 0), 8) << answer.dump();
    EXPECT_EQ(answer["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(answer["fedai"]["node"], node.pubkey()) << answer.dump();
  }

  // Streamed: chat.completion.chunk events with the text, the last one with usage, then [DONE].
  for (const char* mode : {"posted_then_auction", "auction"}) {
    SCOPED_TRACE(mode);
    auto r = http_post(cluster.router().url, "/v1/chat/completions",
                       chat_request("Stream me a story.", true, 12, {{"mode", mode}}));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_TRUE(r->header("Content-Type").starts_with("text/event-stream"))
        << r->header("Content-Type");
    auto events = sse_data(r->body);
    ASSERT_GE(events.size(), 2u) << r->body;
    EXPECT_EQ(events.back(), "[DONE]") << r->body;
    std::string text;
    json last;
    std::size_t chunks = 0;
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
      json c = parse(events[i]);
      ASSERT_TRUE(c.is_object()) << events[i];
      ASSERT_FALSE(c.contains("error")) << events[i];
      EXPECT_EQ(c["object"], "chat.completion.chunk") << events[i];
      ++chunks;
      if (!c["choices"].empty()) text += c["choices"][0]["delta"].value("content", "");
      last = c;
    }
    EXPECT_GE(chunks, 2u) << "text chunks, then the final one";
    EXPECT_FALSE(text.empty()) << r->body;
    ASSERT_TRUE(last.contains("usage")) << last.dump();
    EXPECT_GT(last["usage"].value("prompt_tokens", 0), 0) << last.dump();
    EXPECT_EQ(last["usage"].value("completion_tokens", 0), 12) << last.dump();
    EXPECT_EQ(last["choices"][0]["finish_reason"], "length") << last.dump();
    EXPECT_EQ(last["fedai"]["node"], node.pubkey()) << last.dump();
  }
}

// ---- 2. The best bid wins ----------------------------------------------------------------------

TEST_F(E2eLlama, TheNodeWithTheBestBidWinsTheAuction) {
  cluster.start_fedai_relay();
  std::string runner = cluster.start_tiny_runner();
  cluster.start_router();
  Agent& dear = cluster.start_node({"node-dear", runner, 1'400, 2'800, 10, {}});
  Agent& cheap = cluster.start_node({"node-cheap", runner, 700, 1'400, 10, {}});
  Agent& middle = cluster.start_node({"node-middle", runner, 1'000, 2'000, 10, {}});
  ASSERT_TRUE(cluster.wait_for_nodes("tiny", 3)) << "the router never learned all three nodes";

  // A watcher on the relay sees who bids (BIDs are sealed, their authors are not): proof that
  // the cheapest node won against real competition.
  auto watcher = std::make_unique<Process>(
      "watcher",
      std::vector<std::string>{FEDAI_BIN, "req", "--relay", cluster.relay_url(), "--live",
                               json{{"kinds", {protocol::kCapsAnnounce, protocol::kBid}}}.dump()},
      cluster.dir().path());
  auto seen_from = [&](Kind kind, const Agent& a) {
    for (const auto& line : watcher->child().lines("{")) {
      json e = parse(line);
      if (e.is_object() && e.value("kind", Kind{0}) == kind && e.value("pubkey", "") == a.pubkey())
        return true;
    }
    return false;
  };
  ASSERT_TRUE(poll_until(
      [&] {
        return seen_from(protocol::kCapsAnnounce, dear) &&
               seen_from(protocol::kCapsAnnounce, cheap) &&
               seen_from(protocol::kCapsAnnounce, middle);
      },
      20s))
      << "the watcher never saw the nodes' CAPS";

  json answer = chat("Who sells cheapest?", {{"mode", "auction"}, {"bid_window_ms", kBidWindowMs}});
  EXPECT_FALSE(content_of(answer).empty()) << answer.dump();
  EXPECT_EQ(answer["fedai"]["node"], cheap.pubkey()) << answer.dump();
  ASSERT_TRUE(poll_until(
      [&] { return seen_from(protocol::kBid, dear) && seen_from(protocol::kBid, middle); }, 10s))
      << "the other nodes did not bid";
  EXPECT_TRUE(seen_from(protocol::kBid, cheap));

  auto job = router_job(cluster.router().url, answer["fedai"].value("job_id", ""));
  ASSERT_TRUE(job) << "the job is not in /fedai/v1/jobs";
  EXPECT_EQ((*job)["node"], cheap.pubkey()) << job->dump();
  EXPECT_EQ((*job)["mode"], "auction") << job->dump();
  EXPECT_EQ((*job)["phase"], "done") << job->dump();
  EXPECT_EQ((*job)["attempts"], 1) << job->dump();
  EXPECT_GT((*job)["price_msat"].get<std::uint64_t>(), 0u) << job->dump();

  // The router timed its RFB's round trip through the relay, and found the bid window long
  // enough for two hops.
  auto metrics = http_get(cluster.router().url, "/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  std::string echo = "fedai_router_relay_echo_ms{relay=\"" + cluster.relay_url() + "\"} ";
  auto at = metrics->body.find(echo);
  ASSERT_NE(at, std::string::npos) << "no " << echo << "in\n" << metrics->body;
  EXPECT_LT(std::stoll(metrics->body.substr(at + echo.size())), kBidWindowMs / 2);
  EXPECT_EQ(metrics->body.find("fedai_router_bid_window_short_total 1"), std::string::npos);
}

// ---- 3. A node killed mid-job: the router retries the next bidder -----------------------------

TEST_F(E2eLlama, ANodeKilledMidJobMakesTheRouterRetryTheNextBidder) {
  cluster.start_fedai_relay();
  std::string runner = cluster.start_tiny_runner();
  Process& stalling = cluster.start_runner_double(/*stall=*/true);
  cluster.start_router({"--retry-budget", "3"});
  // The best price, on a runner that never answers: it wins, takes the job, and hangs.
  Agent& doomed =
      cluster.start_node({"node-doomed", Cluster::runner_url(stalling), 500, 1'000, 10, {}});
  Agent& second = cluster.start_node({"node-second", runner, 1'000, 2'000, 10, {}});
  Agent& third = cluster.start_node({"node-third", runner, 1'500, 3'000, 10, {}});
  ASSERT_TRUE(cluster.wait_for_nodes("tiny", 3));

  auto answer = std::async(std::launch::async, [&] {
    return http_post(cluster.router().url, "/v1/chat/completions",
                     chat_request("Survive a crash, please.", false, 8,
                                  {{"mode", "auction"}, {"bid_window_ms", kBidWindowMs}}),
                     {{"Content-Type", "application/json"}}, 90s);
  });
  // The job reached the doomed node's runner: the node is mid-job. Kill it like a crash.
  ASSERT_NO_THROW(stalling.wait_line("chat: 1", 30s)) << "the job never reached the best bidder";
  doomed.process->child().kill(SIGKILL);

  ASSERT_EQ(answer.wait_for(90s), std::future_status::ready) << "the client got no answer";
  auto r = answer.get();
  ASSERT_TRUE(r) << "the router dropped the client";
  ASSERT_EQ(r->status, 200) << r->body;
  json j = parse(r->body);
  EXPECT_FALSE(content_of(j).empty()) << r->body;
  EXPECT_NE(j["fedai"].value("node", ""), doomed.pubkey()) << r->body;
  EXPECT_EQ(j["fedai"].value("attempts", 0), 2) << r->body;

  auto job = router_job(cluster.router().url, j["fedai"].value("job_id", ""));
  ASSERT_TRUE(job);
  EXPECT_EQ((*job)["phase"], "done") << job->dump();
  EXPECT_EQ((*job)["attempts"], 2) << job->dump();
  // The next best bidder, not just any node.
  EXPECT_EQ((*job)["node"], second.pubkey()) << job->dump();
  EXPECT_NE((*job)["node"], third.pubkey()) << job->dump();
}

// ---- 4. JOB_SUBMIT refusals over real HTTP, against a node process ----------------------------

class JobSubmitRefusals : public E2eDataPlane {
 protected:
  void SetUp() override {
    cluster.start_fedai_relay();
    // Each job takes a moment on the runner, so that jobs can fill the node's slots.
    runner_ = &cluster.start_runner_double(/*stall=*/false, {"--delay-ms", "300"});
    node_ = &cluster.start_node({"node",
                                 Cluster::runner_url(*runner_),
                                 1'000,
                                 2'000,
                                 10,
                                 {"--max-concurrency", std::to_string(kSlots)}});
    jobs_url_ = protocol::jobs_url(node_->url);
    // A posted-price AWARD names the node's PRICE event: read it from the relay, as a router
    // would.
    std::string filter =
        json{{"kinds", {protocol::kPriceAnnounce}}, {"authors", {node_->pubkey()}}}.dump();
    Process req("price-reader",
                {FEDAI_BIN, "req", "--relay", cluster.relay_url(), "--live", filter},
                cluster.dir().path());
    json price = parse(req.wait_line("{", 20s).insert(0, "{"));
    ASSERT_TRUE(price.is_object());
    auto id = EventId::from_hex(price.value("id", ""));
    ASSERT_TRUE(id) << price.dump();
    price_id_ = *id;
  }

  // A posted-price job (the AWARD travels with the JOB_SUBMIT), signed now by `router_` with
  // the core/protocol builders, bound to this node's jobs URL.
  JobSpec spec() const {
    JobSpec s;
    s.url = jobs_url_;
    s.privacy = protocol::PrivacyLevel::pl1;
    s.plaintext = chat_body("What is the time window?", false, 4);
    s.price = protocol::Msat{1'000'000};
    s.max_output_tokens = 16;
    s.posted_price = true;
    s.price_id = price_id_;
    s.now = std::time(nullptr);
    return s;
  }
  SignedJob job(const JobSpec& s) const { return make_job(router_, node_->keys, s); }

  // POSTs the job as a router would; `body` replaces the signed body.
  std::optional<RawResponse> submit(const SignedJob& j,
                                    std::optional<std::string> body = std::nullopt) {
    RawHttpClient client(port_of(node_->url));
    if (!client.connected()) return std::nullopt;
    return client.request("POST", "/fedai/v1/jobs", body.value_or(j.body),
                          {{"Authorization", j.authorization()},
                           {"X-Fedai-Award", j.award_header()},
                           {"Content-Type", j.content_type}},
                          10s);
  }

  // Asserts the HTTP status, the F-06 code and the NIP-01-style prefix of the reason.
  static void expect_refused(const std::optional<RawResponse>& r, int status, std::string_view code,
                             std::string_view prefix, std::string_view mentions = {}) {
    ASSERT_TRUE(r) << "no answer from the node";
    EXPECT_EQ(r->status, status) << r->body;
    json j = parse(r->body);
    ASSERT_TRUE(j.is_object()) << r->body;
    EXPECT_EQ(j.value("code", ""), code) << r->body;
    std::string reason = j.value("error", "");
    EXPECT_TRUE(reason.starts_with(prefix)) << reason;
    if (!mentions.empty()) {
      EXPECT_NE(reason.find(mentions), std::string::npos) << reason;
    }
  }

  // The runner double's "chat: N" lines reach this process through a pipe and a reader thread,
  // so after an answer the N-th line is awaited (bounded) before the count is read.
  std::size_t runner_calls(std::size_t at_least = 0) {
    if (at_least > 0) runner_->child().wait_for_line("chat: " + std::to_string(at_least), 10s);
    return runner_->child().lines("chat: ").size();
  }

  static constexpr unsigned kSlots = 2;
  Keypair router_ = Keypair::generate();
  Process* runner_ = nullptr;
  Agent* node_ = nullptr;
  std::string jobs_url_;
  EventId price_id_;
};

TEST_F(JobSubmitRefusals, ARealJobIsAnsweredAndItsReplayRefused) {
  SignedJob j = job(spec());
  auto first = submit(j);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  json answer = parse(first->body);
  EXPECT_TRUE(answer.contains("result") && answer.contains("metering")) << first->body;
  EXPECT_EQ(answer["metering"].value("pubkey", ""), node_->pubkey());
  EXPECT_EQ(runner_calls(1), 1u);

  // Replayed: the very same request again.
  expect_refused(submit(j), 409, "ERR_DUPLICATE", "duplicate:");
  // Or a fresh JOB_SUBMIT (another created_at, so another id) for the award already used.
  JobSpec s = spec();
  auto again = make_submit(router_, j.submit_fields, s.now - 1);
  SignedJob reuse = j;
  reuse.submit = again;
  expect_refused(submit(reuse), 409, "ERR_DUPLICATE", "duplicate:");
  EXPECT_EQ(runner_calls(), 1u) << "a replay reached the runner";
}

// The refusals the node's state machine decides (core/node's reducer, not the data plane's
// checks) reach the router with their F-06 code and its HTTP status: the reducer returns the
// code, and the node answers with it (a second use of an award, 409, is in the test above).
TEST_F(JobSubmitRefusals, TheStateMachinesRefusalsKeepTheirF06Status) {
  // ERR_INVALID, 400: a posted-price award that names no PRICE of this node's.
  {
    JobSpec s = spec();
    s.price_id = EventId::from_hex(std::string(64, 'a')).value();
    expect_refused(submit(job(s)), 400, "ERR_INVALID", "invalid:", "PRICE");
  }
  // ERR_INVALID, 400: a price below the node's posted price for the job.
  {
    JobSpec s = spec();
    s.price = protocol::Msat{1};
    expect_refused(submit(job(s)), 400, "ERR_INVALID", "invalid:", "posted price");
  }
  // ERR_BUSY, 503: every slot taken by a job still running.
  std::vector<std::unique_ptr<RawHttpClient>> running;
  for (unsigned i = 0; i < kSlots; ++i) {
    SignedJob j = job(spec());
    auto& c = running.emplace_back(std::make_unique<RawHttpClient>(port_of(node_->url)));
    ASSERT_TRUE(c->connected());
    std::string request =
        "POST /fedai/v1/jobs HTTP/1.1\r\nHost: node\r\nAuthorization: " + j.authorization() +
        "\r\nX-Fedai-Award: " + j.award_header() + "\r\nContent-Type: " + j.content_type +
        "\r\nContent-Length: " + std::to_string(j.body.size()) + "\r\n\r\n" + j.body;
    ASSERT_TRUE(c->send(request));
  }
  ASSERT_TRUE(poll_until(
      [&] {
        auto h = http_get(node_->url, "/health");
        return h && h->status == 200 &&
               parse(h->body).value("active_jobs", 0u) == static_cast<unsigned>(kSlots);
      },
      10s))
      << "the node never ran " << kSlots << " jobs at once";
  expect_refused(submit(job(spec())), 503, "ERR_BUSY", "error:", "no free slot");
  for (auto& c : running) {
    auto answer = c->read_response(10s);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 200) << answer->body;
  }
}

TEST_F(JobSubmitRefusals, UnboundTamperedAndLateSubmitsAreRefusedWithAReason) {
  // Unbound: the JOB_SUBMIT's u names another URL.
  {
    JobSpec s = spec();
    s.url = jobs_url_ + "/elsewhere";
    expect_refused(submit(job(s)), 400, "ERR_INVALID", "invalid:", "URL");
  }
  // Unbound: the request's method is not the signed one (the builders only sign POST, the
  // one method F-04 allows, so the request is what changes).
  {
    SignedJob j = job(spec());
    RawHttpClient client(port_of(node_->url));
    auto r = client.request("PUT", "/fedai/v1/jobs", j.body,
                            {{"Authorization", j.authorization()},
                             {"X-Fedai-Award", j.award_header()},
                             {"Content-Type", j.content_type}},
                            10s);
    expect_refused(r, 405, "ERR_INVALID", "invalid:", "PUT");
  }
  // Unbound: the AWARD header is another award than the one the JOB_SUBMIT's e tag names.
  {
    SignedJob a = job(spec());
    SignedJob b = job(spec());
    a.award = b.award;
    expect_refused(submit(a), 400, "ERR_INVALID", "invalid:", "AWARD");
  }
  // Unbound: the AWARD names another node.
  {
    JobSpec s = spec();
    SignedJob j = make_job(router_, Keypair::generate(), s);
    expect_refused(submit(j), 400, "ERR_INVALID", "invalid:");
  }
  // Tampered: the body changed after signing (its hash is in the signed payload tag).
  {
    SignedJob j = job(spec());
    std::string body = j.body;
    body[body.size() / 2] = body[body.size() / 2] == 'A' ? 'B' : 'A';
    expect_refused(submit(j, body), 400, "ERR_INVALID", "invalid:", "payload");
  }
  // Late: the JOB_SUBMIT was signed two minutes ago (the window is 60 s).
  {
    JobSpec s = spec();
    SignedJob j = job(s);
    j.submit = make_submit(router_, j.submit_fields, s.now - 120);
    expect_refused(submit(j), 400, "ERR_INVALID", "invalid:", "time window");
  }
  // Late: the AWARD's submit_by has passed.
  {
    JobSpec s = spec();
    s.now -= 50;
    s.submit_by_in = 20;
    SignedJob j = job(s);
    j.submit = make_submit(router_, j.submit_fields, std::time(nullptr));
    expect_refused(submit(j), 410, "ERR_AWARD_EXPIRED", "invalid:", "submit_by");
  }
  // No Authorization at all.
  {
    SignedJob j = job(spec());
    RawHttpClient client(port_of(node_->url));
    auto r = client.request("POST", "/fedai/v1/jobs", j.body,
                            {{"X-Fedai-Award", j.award_header()}, {"Content-Type", j.content_type}},
                            10s);
    expect_refused(r, 401, "ERR_AUTH", "auth-required:");
  }
  EXPECT_EQ(runner_calls(), 0u) << "a refused JOB_SUBMIT reached the runner";
  // And the node still works: a good job after all that is answered.
  auto ok = submit(job(spec()));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(runner_calls(1), 1u);
}

// ---- 5. A prompt canary appears in no log and no relay database -------------------------------

TEST_F(E2eLlama, APromptCanaryAppearsInNoLogAndNoRelayDatabase) {
  std::string canary = "canary-" + random_token();
  cluster.start_fedai_relay({"--log-level", "debug"});
  std::string runner = cluster.start_tiny_runner();
  cluster.start_router({"--log-level", "trace"});
  cluster.start_node({"node-a", runner, 800, 1'600, 10, {"--log-level", "trace"}});
  cluster.start_node({"node-b", runner, 1'000, 2'000, 10, {"--log-level", "trace"}});
  ASSERT_TRUE(cluster.wait_for_nodes("tiny", 2));

  std::string prompt = "Keep this secret: " + canary + ". Now say hello.";
  // Every way a prompt travels: posted and auction, plain and streamed, sealed (PL1, the
  // default) and in the clear on the data plane (PL0).
  struct Case {
    json fedai;
    bool stream;
  };
  std::vector<Case> cases = {
      {json{{"mode", "posted"}}, false},
      {json{{"mode", "auction"}, {"bid_window_ms", kBidWindowMs}}, false},
      {json{{"mode", "auction"}, {"bid_window_ms", kBidWindowMs}}, true},
      {json{{"mode", "posted"}, {"privacy", "PL2"}}, true},
      {json{{"mode", "auction"}, {"bid_window_ms", kBidWindowMs}, {"privacy", "PL0"}}, false}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fedai.dump() + (c.stream ? " stream" : ""));
    auto r = http_post(cluster.router().url, "/v1/chat/completions",
                       chat_request(prompt, c.stream, 6, c.fedai));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->body.find("\"error\""), std::string::npos) << r->body;
  }
  // A refused request (bad field) with the canary in it: refusals must not echo prompts into
  // logs either.
  auto bad = http_post(cluster.router().url, "/v1/chat/completions",
                       R"({"model":"tiny","messages":[{"role":"user","content":")" + canary +
                           R"("}],"max_tokens":"many"})");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);

  // Stop every process cleanly (their databases flushed, their logs complete), then look.
  auto procs = cluster.processes();
  for (Process* p : procs) ::kill(p->child().pid(), SIGTERM);
  for (Process* p : procs)
    EXPECT_TRUE(p->child().wait(15s)) << p->name() << " did not stop on SIGTERM";

  for (Process* p : procs) {
    EXPECT_EQ(p->stdout_text().find(canary), std::string::npos) << p->name() << "'s stdout";
    EXPECT_EQ(p->stderr_text().find(canary), std::string::npos) << p->name() << "'s stderr";
  }
  // The control: the logs were written and are read (the router logs at trace level).
  EXPECT_FALSE(cluster.router().process->stderr_text().empty());

  // The relay never sees a prompt: not in its LMDB files, in any form.
  ASSERT_FALSE(cluster.relay_db().empty());
  EXPECT_EQ(files_containing(cluster.relay_db(), canary), std::vector<std::string>{})
      << "the prompt reached the relay's database";
  // The control: the relay's database is read (the CAPS events name the model).
  EXPECT_FALSE(files_containing(cluster.relay_db(), "tiny").empty());

  // The agents keep prompts in memory only: their own LMDB (sealed payloads at most) must not
  // hold the plain prompt either. Nor may any other file in the test's folder.
  EXPECT_EQ(files_containing(cluster.dir().path(), canary), std::vector<std::string>{})
      << "the prompt was written to disk";
  // The control: the agents' databases (sparse when mapped writable) are read too.
  EXPECT_FALSE(files_containing(cluster.dir().path() + "/router-db", "tiny").empty());
}

// ---- 6. The same flow over the independent npm relay ------------------------------------------

TEST_F(E2eLlama, TheSameFlowWorksOverTheIndependentNpmRelay) {
  cluster.start_independent_relay();
  std::string runner = cluster.start_tiny_runner();
  cluster.start_router();
  Agent& cheap = cluster.start_node({"node-cheap", runner, 800, 1'600, 10, {}});
  Agent& dear = cluster.start_node({"node-dear", runner, 1'200, 2'400, 10, {}});
  ASSERT_TRUE(cluster.wait_for_nodes("tiny", 2)) << "no CAPS came through the npm relay";

  // An auction over the npm relay: RFB, sealed BIDs and AWARD travel through it.
  json auction = chat("Hello over an independent relay.",
                      {{"mode", "auction"}, {"bid_window_ms", kBidWindowMs}});
  EXPECT_FALSE(content_of(auction).empty()) << auction.dump();
  EXPECT_GT(auction["usage"].value("completion_tokens", 0), 0) << auction.dump();
  EXPECT_EQ(auction["fedai"]["node"], cheap.pubkey()) << auction.dump();
  EXPECT_NE(auction["fedai"]["node"], dear.pubkey());

  // The default mode (posted price from the PRICE announcements, else an auction).
  json posted = chat("And at the posted price?");
  EXPECT_FALSE(content_of(posted).empty()) << posted.dump();

  // Streamed too.
  auto r = http_post(cluster.router().url, "/v1/chat/completions",
                     chat_request("Stream over npm.", true, 6,
                                  {{"mode", "auction"}, {"bid_window_ms", kBidWindowMs}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  auto events = sse_data(r->body);
  ASSERT_FALSE(events.empty()) << r->body;
  EXPECT_EQ(events.back(), "[DONE]") << r->body;
  EXPECT_EQ(r->body.find("\"error\""), std::string::npos) << r->body;
}

}  // namespace
}  // namespace fedai::test::e2e
