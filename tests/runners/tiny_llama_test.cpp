// The OpenAI adapter against REAL llama.cpp: node-llama-cpp 3.21.1 running the tiny
// random-weight GGUF model behind runners/tiny/server.mjs. The text is gibberish; the request,
// streaming, token counts and cancellation are llama.cpp's own. Needs `scripts/setup` (npm ci in
// runners/tiny); without it these tests fail, they are never skipped.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runners/http_client.h"
#include "runners/runner.h"
#include "tests/runners/run_until.h"
#include "tests/support/child_process.h"
#include "tests/support/temp_dir.h"

namespace fedai::runners {
namespace {

using namespace std::chrono_literals;
using test::run_until;

bool printable_ascii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

class TinyLlama : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = FEDAI_TINY_DIR;
    ASSERT_TRUE(std::filesystem::exists(dir + "/node_modules/node-llama-cpp"))
        << "node-llama-cpp is not installed in " << dir << ": run scripts/setup";
    auto start = std::chrono::steady_clock::now();
    shim_ = std::make_unique<test::ChildProcess>(
        std::vector<std::string>{FEDAI_NODE, dir + "/server.mjs", "--port", "0", "--model",
                                 tmp_.sub("tiny.gguf"), "--max-body", "4096"});
    auto line = shim_->wait_for_line("runner: ", 60s);
    ASSERT_TRUE(line) << "the llama.cpp shim did not become ready";
    ready_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    url_ = line->substr(std::string("runner: ").size());
    RunnerOptions options;
    options.kind = "openai";
    options.base_url = url_;
    auto made = make_runner(io_, options);
    ASSERT_TRUE(made) << made.error().to_string();
    runner_ = std::move(*made);
  }

  InferenceRequest chat(std::string text, std::uint32_t max_tokens = 16) {
    InferenceRequest r;
    r.model = "tiny";
    r.messages = {{"user", std::move(text)}};
    r.max_tokens = max_tokens;
    r.timeout = 30s;
    return r;
  }

  Result<InferenceResult> infer(InferenceRequest r) {
    std::optional<Result<InferenceResult>> out;
    runner_->infer(std::move(r), [&](Result<InferenceResult> res) { out.emplace(std::move(res)); });
    if (!run_until(
            io_, [&] { return out.has_value(); }, 60s))
      return make_error(ErrorCode::error, "test: no answer");
    return std::move(*out);
  }

  test::TempDir tmp_;
  std::unique_ptr<test::ChildProcess> shim_;
  std::string url_;
  double ready_ms_ = 0;
  boost::asio::io_context io_;
  std::unique_ptr<Runner> runner_;
};

TEST_F(TinyLlama, ServesItsModelAndHealth) {
  std::optional<Result<std::vector<std::string>>> models;
  runner_->models([&](auto r) { models.emplace(std::move(r)); });
  ASSERT_TRUE(run_until(io_, [&] { return models.has_value(); }));
  ASSERT_TRUE(*models) << models->error().to_string();
  EXPECT_EQ(models->value(), std::vector<std::string>{"tiny"});
  std::optional<Status> health;
  runner_->health([&](Status s) { health = s; });
  ASSERT_TRUE(run_until(io_, [&] { return health.has_value(); }));
  EXPECT_TRUE(*health) << health->error().to_string();
  EXPECT_TRUE(std::filesystem::exists(tmp_.sub("tiny.gguf")));
  std::cout << "[ figures  ] shim ready (node start, GGUF written, llama.cpp loaded) in "
            << static_cast<int>(ready_ms_) << " ms\n";
}

TEST_F(TinyLlama, InfersWithRealUsage) {
  auto start = std::chrono::steady_clock::now();
  auto r = infer(chat("Hello there", 32));
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_FALSE(r->text.empty());
  EXPECT_TRUE(printable_ascii(r->text)) << r->text;
  EXPECT_FALSE(r->usage.estimated);
  // The tiny model never picks its end token: it writes exactly max_tokens.
  EXPECT_EQ(r->usage.completion_tokens, 32u);
  EXPECT_EQ(r->finish_reason, "length");
  EXPECT_GT(r->usage.prompt_tokens, 5u);
  // A longer prompt is more tokens: the count comes from the tokenizer, not a guess.
  auto longer = infer(chat("Hello there, and a much longer question about the market", 4));
  ASSERT_TRUE(longer) << longer.error().to_string();
  EXPECT_GT(longer->usage.prompt_tokens, r->usage.prompt_tokens);
  EXPECT_EQ(longer->usage.completion_tokens, 4u);
  std::cout << "[ figures  ] 32 tokens in " << static_cast<int>(ms) << " ms ("
            << static_cast<int>(32 / (ms / 1000)) << " tokens/s end to end)\n";
}

TEST_F(TinyLlama, StreamedDeltasAddUpToTheText) {
  std::string concatenated;
  int deltas = 0;
  std::optional<Result<InferenceResult>> done;
  StreamCallbacks cb;
  cb.on_delta = [&](std::string_view d) {
    concatenated.append(d);
    ++deltas;
    return true;
  };
  cb.on_done = [&](Result<InferenceResult> r) { done.emplace(std::move(r)); };
  runner_->stream(chat("Tell me about relays", 24), cb);
  ASSERT_TRUE(run_until(
      io_, [&] { return done.has_value(); }, 60s));
  ASSERT_TRUE(*done) << done->error().to_string();
  EXPECT_GT(deltas, 1);
  EXPECT_EQ(concatenated, done->value().text);
  EXPECT_FALSE(done->value().usage.estimated);
  EXPECT_EQ(done->value().usage.completion_tokens, 24u);
  EXPECT_GT(done->value().usage.prompt_tokens, 0u);
}

TEST_F(TinyLlama, CancelsMidStreamAndKeepsServing) {
  int deltas = 0;
  std::optional<Result<InferenceResult>> done;
  StreamCallbacks cb;
  cb.on_delta = [&](std::string_view) { return ++deltas < 3; };
  cb.on_done = [&](Result<InferenceResult> r) { done.emplace(std::move(r)); };
  runner_->stream(chat("Count to a thousand", 200), cb);
  ASSERT_TRUE(run_until(
      io_, [&] { return done.has_value(); }, 60s));
  ASSERT_FALSE(*done);
  EXPECT_EQ(done->error().to_string(), "error: cancelled");
  EXPECT_EQ(deltas, 3);
  // The shim stopped that generation and serves the next request.
  auto next = infer(chat("Still there?", 4));
  ASSERT_TRUE(next) << next.error().to_string();
  EXPECT_EQ(next->usage.completion_tokens, 4u);
}

TEST_F(TinyLlama, RefusesAnUnknownModel) {
  auto req = chat("Hello");
  req.model = "gpt-5";
  auto r = infer(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "error: runner answered HTTP 404: model 'gpt-5' not found");
}

TEST_F(TinyLlama, SerialisesConcurrentRequests) {
  int done = 0;
  for (std::uint32_t n : {3u, 5u, 7u}) {
    runner_->infer(chat("Concurrent " + std::to_string(n), n), [&, n](Result<InferenceResult> r) {
      ASSERT_TRUE(r) << r.error().to_string();
      EXPECT_EQ(r->usage.completion_tokens, n);
      ++done;
    });
  }
  ASSERT_TRUE(run_until(
      io_, [&] { return done == 3; }, 60s));
}

TEST_F(TinyLlama, AnswersBadRequestsWithJsonErrors) {
  HttpClient client(io_);
  auto post = [&](std::string body) {
    HttpRequest r;
    r.url = url_ + "/v1/chat/completions";
    r.body = std::move(body);
    r.headers = {{"Content-Type", "application/json"}};
    std::optional<Result<HttpResponse>> out;
    client.request(r, [&](Result<HttpResponse> res) { out.emplace(std::move(res)); });
    EXPECT_TRUE(run_until(
        io_, [&] { return out.has_value(); }, 30s));
    return std::move(*out);
  };
  struct Case {
    std::string body;
    int status;
    const char* message;
  };
  for (const auto& c : {Case{"{not json", 400, "request body is not JSON"},
                        Case{R"({"messages":[]})", 400, "messages must be a non-empty array"},
                        Case{R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})", 400,
                             "max_tokens must be a positive integer"},
                        Case{std::string(5000, ' '), 413, "request body larger than 4096 bytes"}}) {
    auto r = post(c.body);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->status, c.status) << c.message;
    EXPECT_EQ(r->header("content-type"), "application/json");
    EXPECT_NE(r->body.find(c.message), std::string::npos) << r->body;
  }
}

TEST_F(TinyLlama, ModelGeneratorIsDeterministic) {
  auto write = [&](const std::string& path, const char* seed) {
    test::ChildProcess gen(
        {FEDAI_NODE, std::string(FEDAI_TINY_DIR) + "/make_gguf.mjs", path, "--seed", seed});
    EXPECT_TRUE(gen.wait_for_line("wrote ", 30s));
    EXPECT_EQ(gen.wait(30s), std::optional<int>(0));
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto a = write(tmp_.sub("a.gguf"), "1");
  auto b = write(tmp_.sub("b.gguf"), "1");
  auto c = write(tmp_.sub("c.gguf"), "2");
  ASSERT_GT(a.size(), 400'000u);
  ASSERT_LT(a.size(), 600'000u);
  EXPECT_EQ(a.substr(0, 4), "GGUF");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // The shim's model (seed 1 by default) is the same file.
  std::ifstream in(tmp_.sub("tiny.gguf"), std::ios::binary);
  EXPECT_EQ(a, std::string(std::istreambuf_iterator<char>(in), {}));
}

}  // namespace
}  // namespace fedai::runners
