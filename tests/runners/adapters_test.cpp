// Each runner adapter against a test double of the API it speaks (tests/support/runner_doubles):
// the request it sends, the text, finish reason and usage it maps back, streaming, errors,
// cancellation, and the usage estimate when the server reports none.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "runners/chat_prompt.h"
#include "runners/runner.h"
#include "runners/usage_estimate.h"
#include "tests/runners/run_until.h"
#include "tests/support/http_test_server.h"
#include "tests/support/runner_doubles.h"

namespace fedai::runners {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::HttpTestServer;
using test::run_until;
using test::RunnerScript;

struct Api {
  const char* kind;
  test::TestHandler (*make)(RunnerScript);
  const char* chat_path;
};

const Api kOpenAi{"openai", test::openai_double, "/v1/chat/completions"};
const Api kLlamaCpp{"llamacpp", test::llamacpp_double, "/completion"};
const Api kOllama{"ollama", test::ollama_double, "/api/chat"};

RunnerOptions options_for(std::string kind, std::string url,
                          std::optional<std::string> api_key = std::nullopt) {
  RunnerOptions o;
  o.kind = std::move(kind);
  o.base_url = std::move(url);
  o.api_key = std::move(api_key);
  return o;
}

InferenceRequest chat(std::string text = "Say hello") {
  InferenceRequest r;
  r.model = "tiny-a";
  r.messages = {{"system", "Be brief."}, {"user", std::move(text)}};
  r.max_tokens = 32;
  r.timeout = 5s;
  return r;
}

class Adapter : public ::testing::TestWithParam<Api> {
 protected:
  void start(RunnerScript script = {}) {
    script_ = script;
    server_.emplace(GetParam().make(script));
    RunnerOptions options;
    options.kind = GetParam().kind;
    options.base_url = server_->url();
    auto made = make_runner(io_, options);
    ASSERT_TRUE(made) << made.error().to_string();
    runner_ = std::move(*made);
  }

  Result<InferenceResult> infer(InferenceRequest r = chat()) {
    std::optional<Result<InferenceResult>> out;
    runner_->infer(std::move(r), [&](Result<InferenceResult> res) { out.emplace(std::move(res)); });
    if (!run_until(
            io_, [&] { return out.has_value(); }, 15s))
      return make_error(ErrorCode::error, "test: no answer");
    return std::move(*out);
  }

  struct Streamed {
    std::vector<std::string> deltas;
    std::optional<Result<InferenceResult>> done;
  };
  // `cancel_after`: return false from on_delta once that many deltas arrived (0: never).
  Streamed stream(InferenceRequest r = chat(), std::size_t cancel_after = 0) {
    Streamed s;
    StreamCallbacks cb;
    cb.on_delta = [&](std::string_view d) {
      s.deltas.emplace_back(d);
      return cancel_after == 0 || s.deltas.size() < cancel_after;
    };
    cb.on_done = [&](Result<InferenceResult> res) {
      EXPECT_FALSE(s.done.has_value()) << "on_done called twice";
      s.done.emplace(std::move(res));
    };
    runner_->stream(std::move(r), cb);
    EXPECT_TRUE(run_until(
        io_, [&] { return s.done.has_value(); }, 15s));
    return s;
  }

  json last_body() {
    auto seen = server_->seen();
    for (auto it = seen.rbegin(); it != seen.rend(); ++it) {
      if (it->target == GetParam().chat_path) return json::parse(it->body);
    }
    return {};
  }

  boost::asio::io_context io_;
  RunnerScript script_;
  std::optional<HttpTestServer> server_;
  std::unique_ptr<Runner> runner_;
};

TEST_P(Adapter, ReportsItsKind) {
  start();
  EXPECT_EQ(runner_->kind(), GetParam().kind);
}

TEST_P(Adapter, ListsModels) {
  start();
  std::optional<Result<std::vector<std::string>>> out;
  runner_->models([&](auto r) { out.emplace(std::move(r)); });
  ASSERT_TRUE(run_until(io_, [&] { return out.has_value(); }));
  ASSERT_TRUE(*out) << out->error().to_string();
  EXPECT_EQ(out->value(), (std::vector<std::string>{"tiny-a", "tiny-b"}));
}

TEST_P(Adapter, ChecksHealth) {
  start();
  std::optional<Status> out;
  runner_->health([&](Status s) { out = s; });
  ASSERT_TRUE(run_until(io_, [&] { return out.has_value(); }));
  EXPECT_TRUE(*out) << out->error().to_string();
}

TEST_P(Adapter, InfersWithReportedUsage) {
  start();
  auto r = infer();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->text, "Hello, world!");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->usage.prompt_tokens, 11u);
  EXPECT_EQ(r->usage.completion_tokens, 4u);
  EXPECT_FALSE(r->usage.estimated);
}

TEST_P(Adapter, SendsTheRequestInTheServersTerms) {
  start();
  auto req = chat();
  req.sampling.temperature = 0.25;
  ASSERT_TRUE(infer(req));
  json body = last_body();
  std::string kind = GetParam().kind;
  if (kind == "openai") {
    EXPECT_EQ(body["model"], "tiny-a");
    EXPECT_EQ(body["max_tokens"], 32);
    EXPECT_EQ(body["temperature"], 0.25);
    EXPECT_EQ(body["stream"], false);
    EXPECT_EQ(body["messages"], json::parse(R"([{"role":"system","content":"Be brief."},
                                                 {"role":"user","content":"Say hello"}])"));
  } else if (kind == "llamacpp") {
    EXPECT_EQ(body["prompt"], "system: Be brief.\nuser: Say hello\nassistant:");
    EXPECT_EQ(body["prompt"], simple_chat_prompt(req.messages));
    EXPECT_EQ(body["n_predict"], 32);
    EXPECT_EQ(body["temperature"], 0.25);
    EXPECT_EQ(body["stop"], json::parse(R"(["\nuser:","\nsystem:"])"));
  } else {
    EXPECT_EQ(body["model"], "tiny-a");
    EXPECT_EQ(body["options"]["num_predict"], 32);
    EXPECT_EQ(body["options"]["temperature"], 0.25);
    EXPECT_EQ(body["stream"], false);
    EXPECT_EQ(body["messages"].size(), 2u);
  }
  ASSERT_FALSE(stream().deltas.empty());
  body = last_body();
  EXPECT_EQ(body["stream"], true);
  if (kind == "openai") {
    EXPECT_EQ(body["stream_options"]["include_usage"], true);
  }
  // No bearer token unless configured.
  EXPECT_FALSE(server_->seen().back().header("Authorization"));
}

// Each of OpenAI's sampling parameters (nips/F-04's job body) reaches the server, in its terms,
// plain and streamed; one test a parameter, each against all three servers.
class AdapterParams : public Adapter {
 protected:
  // The request the server saw for `req`, plain then streamed.
  std::vector<json> bodies_for(const InferenceRequest& req) {
    start();
    std::vector<json> out;
    auto r = infer(req);
    EXPECT_TRUE(r) << r.error().to_string();
    out.push_back(last_body());
    auto s = stream(req);
    EXPECT_TRUE(s.done && *s.done);
    out.push_back(last_body());
    EXPECT_EQ(out[1]["stream"], true);
    return out;
  }
  // Where a sampling option sits: top level (OpenAI, llama.cpp) or in `options` (Ollama).
  json option(const json& body, const char* name) {
    const json& where = std::string(GetParam().kind) == "ollama" ? body["options"] : body;
    return where.contains(name) ? where[name] : json();
  }
};

TEST_P(AdapterParams, PassesStop) {
  auto req = chat();
  req.sampling.stop = {"END", "\n\n"};
  for (const json& body : bodies_for(req)) {
    if (std::string(GetParam().kind) == "llamacpp") {  // after the prompt template's own
      EXPECT_EQ(body["stop"], json::parse(R"(["\nuser:","\nsystem:","END","\n\n"])"));
    } else {
      EXPECT_EQ(option(body, "stop"), json::parse(R"(["END","\n\n"])"));
    }
  }
  // None given: none sent (llama.cpp keeps its template's).
  start();
  ASSERT_TRUE(infer());
  if (std::string(GetParam().kind) != "llamacpp") {
    EXPECT_TRUE(option(last_body(), "stop").is_null());
  }
}

TEST_P(AdapterParams, PassesTopP) {
  auto req = chat();
  req.sampling.top_p = 0.125;
  for (const json& body : bodies_for(req)) EXPECT_EQ(option(body, "top_p"), 0.125);
  start();
  ASSERT_TRUE(infer());
  EXPECT_TRUE(option(last_body(), "top_p").is_null());
}

TEST_P(AdapterParams, PassesSeed) {
  auto req = chat();
  req.sampling.seed = -9'007'199'254'740'993;  // beyond a double's exact integers: sent as written
  for (const json& body : bodies_for(req)) {
    ASSERT_TRUE(option(body, "seed").is_number_integer());
    EXPECT_EQ(option(body, "seed").get<std::int64_t>(), -9'007'199'254'740'993);
  }
  start();
  ASSERT_TRUE(infer());
  EXPECT_TRUE(option(last_body(), "seed").is_null());
}

TEST_P(AdapterParams, PassesPresencePenalty) {
  auto req = chat();
  req.sampling.presence_penalty = -1.5;
  for (const json& body : bodies_for(req)) {
    EXPECT_EQ(option(body, "presence_penalty"), -1.5);
    EXPECT_TRUE(option(body, "frequency_penalty").is_null());
  }
}

TEST_P(AdapterParams, PassesFrequencyPenalty) {
  auto req = chat();
  req.sampling.frequency_penalty = 1.75;
  for (const json& body : bodies_for(req)) {
    EXPECT_EQ(option(body, "frequency_penalty"), 1.75);
    EXPECT_TRUE(option(body, "presence_penalty").is_null());
  }
}

TEST_P(AdapterParams, PassesJsonMode) {
  auto req = chat();
  req.sampling.json_object = true;
  std::string kind = GetParam().kind;
  for (const json& body : bodies_for(req)) {
    if (kind == "openai") {
      EXPECT_EQ(body["response_format"], json::parse(R"({"type":"json_object"})"));
    } else if (kind == "llamacpp") {
      EXPECT_EQ(body["json_schema"], json::parse(R"({"type":"object"})"));
    } else {
      EXPECT_EQ(body["format"], "json");
    }
  }
  start();
  ASSERT_TRUE(infer());
  json plain = last_body();
  EXPECT_FALSE(plain.contains("response_format") || plain.contains("json_schema") ||
               plain.contains("format"))
      << plain.dump();
}

INSTANTIATE_TEST_SUITE_P(Apis, AdapterParams, ::testing::Values(kOpenAi, kLlamaCpp, kOllama),
                         [](const ::testing::TestParamInfo<Api>& p) {
                           return std::string(p.param.kind);
                         });

TEST_P(Adapter, StreamsDeltasThatAddUpToTheText) {
  start();
  auto s = stream();
  ASSERT_TRUE(s.done && *s.done) << (s.done ? s.done->error().to_string() : "no result");
  EXPECT_EQ(s.deltas, script_.pieces);
  EXPECT_EQ(s.done->value().text, "Hello, world!");
  EXPECT_EQ(s.done->value().finish_reason, "stop");
  EXPECT_EQ(s.done->value().usage.prompt_tokens, 11u);
  EXPECT_EQ(s.done->value().usage.completion_tokens, 4u);
  EXPECT_FALSE(s.done->value().usage.estimated);
}

TEST_P(Adapter, MapsTheLengthLimit) {
  RunnerScript script;
  script.finish = "length";
  start(script);
  auto r = infer();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->finish_reason, "length");
  auto s = stream();
  ASSERT_TRUE(s.done && *s.done);
  EXPECT_EQ(s.done->value().finish_reason, "length");
}

TEST_P(Adapter, EstimatesUsageTheServerDidNotReport) {
  RunnerScript script;
  script.usage = false;
  start(script);
  auto req = chat();
  std::uint32_t prompt_estimate = estimate_prompt_tokens(req.messages);
  // ceil(9/4)+4 + ceil(9/4)+4 for "Be brief." and "Say hello".
  EXPECT_EQ(prompt_estimate, 14u);
  std::string kind = GetParam().kind;
  // Ollama still reports eval_count: only the prompt side is estimated.
  std::uint32_t completion = kind == "ollama" ? 4u : estimate_tokens("Hello, world!");
  for (int streamed = 0; streamed < 2; ++streamed) {
    std::optional<Result<InferenceResult>> r;
    if (streamed) {
      r = stream(req).done;
    } else {
      r = infer(req);
    }
    ASSERT_TRUE(r && *r);
    EXPECT_TRUE(r->value().usage.estimated);
    EXPECT_EQ(r->value().usage.prompt_tokens, prompt_estimate);
    EXPECT_EQ(r->value().usage.completion_tokens, completion);
  }
}

TEST_P(Adapter, MapsErrorStatuses) {
  struct Case {
    int status;
    const char* prefix;
  };
  for (auto [status, prefix] : {Case{500, "error"}, Case{400, "invalid"}, Case{429, "rate-limited"},
                                Case{503, "rate-limited"}}) {
    RunnerScript script;
    script.error_status = status;
    start(script);
    std::string want = std::string(prefix) + ": runner answered HTTP " + std::to_string(status) +
                       ": model is on fire";
    auto r = infer();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), want);
    auto s = stream();
    ASSERT_TRUE(s.done && !*s.done);
    EXPECT_EQ(s.done->error().to_string(), want);
    EXPECT_TRUE(s.deltas.empty());
  }
}

TEST_P(Adapter, ReportsAFailureMidStream) {
  RunnerScript script;
  script.fail_mid_stream = true;
  start(script);
  auto s = stream();
  ASSERT_TRUE(s.done && !*s.done);
  EXPECT_EQ(s.deltas, std::vector<std::string>{"Hello"});
  EXPECT_NE(s.done->error().message.find("runner failed mid-stream: "), std::string::npos)
      << s.done->error().to_string();
}

TEST_P(Adapter, CancelsMidStream) {
  RunnerScript script;
  script.stall_after_first = true;
  start(script);
  auto s = stream(chat(), /*cancel_after=*/1);
  ASSERT_TRUE(s.done && !*s.done);
  EXPECT_EQ(s.done->error().to_string(), "error: cancelled");
  EXPECT_EQ(s.deltas.size(), 1u);
  // The server sees the client hang up.
  EXPECT_TRUE(server_->wait_client_closes(1, 5s));
}

TEST_P(Adapter, TimesOutAStalledStream) {
  RunnerScript script;
  script.stall_after_first = true;
  start(script);
  auto req = chat();
  req.timeout = 300ms;
  auto s = stream(req);
  ASSERT_TRUE(s.done && !*s.done);
  EXPECT_NE(s.done->error().message.find("timed out after 300 ms"), std::string::npos)
      << s.done->error().to_string();
}

TEST_P(Adapter, ReportsAnUnreachableServer) {
  RunnerOptions options;
  options.kind = GetParam().kind;
  options.base_url = "http://127.0.0.1:" + std::to_string(test::unused_port());
  auto made = make_runner(io_, options);
  ASSERT_TRUE(made);
  runner_ = std::move(*made);
  std::optional<Status> health;
  runner_->health([&](Status s) { health = s; });
  ASSERT_TRUE(run_until(io_, [&] { return health.has_value(); }));
  ASSERT_FALSE(*health);
  EXPECT_NE(health->error().message.find("refused"), std::string::npos);
  auto r = infer();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("refused"), std::string::npos);
}

TEST_P(Adapter, DestroyedRunnerCancelsWhatIsInFlight) {
  RunnerScript script;
  script.stall_after_first = true;
  start(script);
  std::optional<Result<InferenceResult>> done;
  StreamCallbacks cb;
  cb.on_delta = [&](std::string_view) {
    runner_.reset();  // from inside a callback, the harshest moment
    return true;
  };
  cb.on_done = [&](Result<InferenceResult> r) { done.emplace(std::move(r)); };
  runner_->stream(chat(), cb);
  ASSERT_TRUE(run_until(io_, [&] { return done.has_value(); }));
  ASSERT_FALSE(*done);
  EXPECT_EQ(done->error().to_string(), "error: cancelled");
}

std::string api_name(const ::testing::TestParamInfo<Api>& param) {
  return param.param.kind;
}

INSTANTIATE_TEST_SUITE_P(Apis, Adapter, ::testing::Values(kOpenAi, kLlamaCpp, kOllama), api_name);

// Adapter-specific behaviour.

TEST(OpenAiAdapter, FallsBackToModelsWithoutHealthAndSendsTheApiKey) {
  RunnerScript script;
  script.legacy = true;
  HttpTestServer server(test::openai_double(script));
  boost::asio::io_context io;
  // The SDK spelling of the base URL, with /v1.
  auto made = make_runner(io, options_for("openai", server.url("/v1/"), "sk-test"));
  ASSERT_TRUE(made) << made.error().to_string();
  std::optional<Status> health;
  (*made)->health([&](Status s) { health = s; });
  ASSERT_TRUE(run_until(io, [&] { return health.has_value(); }));
  EXPECT_TRUE(*health);
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].target, "/health");
  EXPECT_EQ(seen[1].target, "/v1/models");
  EXPECT_EQ(seen[1].header("Authorization"), "Bearer sk-test");
}

// The OpenAI adapter reads whole completions with JsonReader. A reference reading with
// nlohmann (as the adapter once did) must give the same answer for each of these bodies: odd
// shapes, absent and mistyped members, repeated members, bad JSON.
TEST(OpenAiAdapter, ReadsCompletionsAsTheNlohmannReadingDid) {
  struct Expect {
    bool ok = false;
    std::string error, text, finish = "stop";
    std::optional<std::uint32_t> prompt, completion;
  };
  auto reference = [](const std::string& body) {
    Expect e;
    auto doc = json::parse(body, nullptr, false);
    if (!doc.is_object()) return e.error = "not a JSON object", e;
    auto choices = doc.find("choices");
    if (choices == doc.end() || !choices->is_array() || choices->empty() ||
        !(*choices)[0].is_object())
      return e.error = "no choices", e;
    const json& choice = (*choices)[0];
    auto message = choice.find("message");
    if (message == choice.end() || !message->is_object()) return e.error = "no message", e;
    e.ok = true;
    if (auto c = message->find("content"); c != message->end() && c->is_string()) e.text = *c;
    if (auto f = choice.find("finish_reason"); f != choice.end() && f->is_string())
      e.finish = *f == "length" ? "length" : "stop";
    if (auto u = doc.find("usage"); u != doc.end() && u->is_object()) {
      auto count = [&](const char* key) -> std::optional<std::uint32_t> {
        auto it = u->find(key);
        if (it == u->end()) return std::nullopt;
        if (it->is_number_unsigned() && it->get<std::uint64_t>() <= 0xffffffffull)
          return static_cast<std::uint32_t>(it->get<std::uint64_t>());
        if (it->is_number_integer() && it->get<std::int64_t>() >= 0 &&
            it->get<std::int64_t>() <= 0xffffffffll)
          return static_cast<std::uint32_t>(it->get<std::int64_t>());
        return std::nullopt;
      };
      e.prompt = count("prompt_tokens");
      e.completion = count("completion_tokens");
    }
    return e;
  };
  const std::vector<std::string> bodies = {
      R"({"choices":[{"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2}})",
      R"({"usage":{"completion_tokens":3,"prompt_tokens":5},"choices":[{"finish_reason":"length","message":{"content":"a\nb \u00e9 \ud83d\ude00"}}]})",
      R"({"choices":[{"message":{"content":null},"finish_reason":null}]})",
      R"({"choices":[{"message":{"content":42}}],"usage":{"prompt_tokens":-1,"completion_tokens":1.5}})",
      R"({"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":4294967296,"completion_tokens":4294967295}})",
      R"({"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":-0,"completion_tokens":1e2}})",
      R"({"choices":[{"message":{"content":"first"}},{"message":{"content":"second"}}]})",
      R"({"choices":[{"message":{"content":"old"}}],"choices":[{"message":{"content":"new"}}]})",
      R"({"choices":[{"message":"text"}]})",
      R"({"choices":[{"delta":{"content":"x"}}]})",
      R"({"choices":[]})",
      R"({"choices":["x"]})",
      R"({"choices":{"message":{"content":"x"}}})",
      R"({"id":"x","object":"chat.completion","extra":{"deep":[1,[2,{"a":null}]]},"choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","content":"ok","tool_calls":[]}}]})",
      R"([{"choices":[]}])",
      R"({"choices":[{"message":{"content":"x"}}]} trailing)",
      R"({"choices":[{"message":{"content":"x"}}])",
      R"("just a string")",
      "",
  };
  std::size_t next = 0;
  HttpTestServer server([&](test::TestExchange& ex) { ex.json(200, bodies.at(next)); });
  boost::asio::io_context io;
  auto made = make_runner(io, options_for("openai", server.url()));
  ASSERT_TRUE(made) << made.error().to_string();
  auto& runner = **made;
  for (next = 0; next < bodies.size(); ++next) {
    const std::string& body = bodies[next];
    Expect want = reference(body);
    std::optional<Result<InferenceResult>> got;
    runner.infer(chat(), [&](Result<InferenceResult> r) { got.emplace(std::move(r)); });
    ASSERT_TRUE(run_until(
        io, [&] { return got.has_value(); }, 15s))
        << body;
    ASSERT_EQ(static_cast<bool>(*got), want.ok) << body;
    if (!want.ok) {
      EXPECT_NE(got->error().message.find(want.error), std::string::npos)
          << body << " -> " << got->error().message;
      continue;
    }
    const InferenceResult& r = got->value();
    EXPECT_EQ(r.text, want.text) << body;
    EXPECT_EQ(r.finish_reason, want.finish) << body;
    InferenceRequest req = chat();
    auto usage = complete_usage(want.prompt, want.completion, req.messages, want.text);
    EXPECT_EQ(r.usage.prompt_tokens, usage.prompt_tokens) << body;
    EXPECT_EQ(r.usage.completion_tokens, usage.completion_tokens) << body;
    EXPECT_EQ(r.usage.estimated, usage.estimated) << body;
  }
}

// The request is written directly; text that is not UTF-8 goes the nlohmann way, which replaces
// the bad bytes, so the server still gets JSON.
TEST(OpenAiAdapter, WritesRequestsAsJsonWhateverTheText) {
  std::vector<std::string> seen;
  HttpTestServer server([&](test::TestExchange& ex) {
    seen.push_back(ex.request().body);
    ex.json(200, R"({"choices":[{"message":{"content":"ok"}}]})");
  });
  boost::asio::io_context io;
  auto made = make_runner(io, options_for("openai", server.url()));
  ASSERT_TRUE(made) << made.error().to_string();
  for (std::string text : {std::string("quote \" back \\ tab \t nl \n \x01 \u00e9"),
                           std::string("bad \xff\xfe byte")}) {
    InferenceRequest req = chat(text);
    req.sampling.temperature = 0.7;
    std::optional<Result<InferenceResult>> got;
    (*made)->infer(req, [&](Result<InferenceResult> r) { got.emplace(std::move(r)); });
    ASSERT_TRUE(run_until(
        io, [&] { return got.has_value(); }, 15s));
    ASSERT_TRUE(*got) << got->error().to_string();
    auto body = json::parse(seen.back(), nullptr, false);
    ASSERT_TRUE(body.is_object()) << seen.back();
    EXPECT_EQ(body["model"], "tiny-a");
    EXPECT_EQ(body["max_tokens"], 32);
    EXPECT_EQ(body["temperature"], 0.7);
    EXPECT_EQ(body["stream"], false);
    ASSERT_EQ(body["messages"].size(), 2u);
    EXPECT_EQ(body["messages"][0]["role"], "system");
    std::string content = body["messages"][1]["content"];
    if (text.find('\xff') == std::string::npos)
      EXPECT_EQ(content, text);
    else
      EXPECT_EQ(content, "bad \xef\xbf\xbd\xef\xbf\xbd byte");  // U+FFFD twice
  }
}

TEST(LlamaCppAdapter, NamesTheModelFromPropsOnOlderServers) {
  RunnerScript script;
  script.legacy = true;
  HttpTestServer server(test::llamacpp_double(script));
  boost::asio::io_context io;
  auto made = make_runner(io, options_for("llamacpp", server.url()));
  ASSERT_TRUE(made);
  std::optional<Result<std::vector<std::string>>> out;
  (*made)->models([&](auto r) { out.emplace(std::move(r)); });
  ASSERT_TRUE(run_until(io, [&] { return out.has_value(); }));
  ASSERT_TRUE(*out) << out->error().to_string();
  EXPECT_EQ(out->value(), std::vector<std::string>{"tiny-a"});
}

TEST(MakeRunner, RefusesUnknownKindsAndBadUrls) {
  boost::asio::io_context io;
  auto kind = make_runner(io, options_for("tgi", "http://127.0.0.1:1"));
  ASSERT_FALSE(kind);
  EXPECT_EQ(kind.error().to_string(),
            "invalid: unknown runner kind 'tgi' (openai, llamacpp or ollama)");
  auto tls = make_runner(io, options_for("openai", "https://api.example.com/v1"));
  ASSERT_FALSE(tls);
  EXPECT_EQ(tls.error().to_string(), "invalid: url: https is not supported (http only)");
  auto query = make_runner(io, options_for("ollama", "http://127.0.0.1:1/?x=1"));
  ASSERT_FALSE(query);
  EXPECT_EQ(query.error().code, ErrorCode::invalid);
  auto key = make_runner(io, options_for("openai", "http://a", "a\r\nb"));
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, ErrorCode::invalid);
}

TEST(UsageEstimate, FollowsTheDocumentedRule) {
  EXPECT_EQ(estimate_tokens(""), 0u);
  EXPECT_EQ(estimate_tokens("abc"), 1u);
  EXPECT_EQ(estimate_tokens("abcd"), 1u);
  EXPECT_EQ(estimate_tokens("abcde"), 2u);
  std::vector<ChatMessage> messages = {{"user", std::string(40, 'x')}, {"user", ""}};
  EXPECT_EQ(estimate_prompt_tokens(messages), 10u + 4u + 0u + 4u);
  auto full = complete_usage(5, 6, messages, "ignored");
  EXPECT_FALSE(full.estimated);
  EXPECT_EQ(full.prompt_tokens, 5u);
  auto half = complete_usage(std::nullopt, 6, messages, "ignored");
  EXPECT_TRUE(half.estimated);
  EXPECT_EQ(half.prompt_tokens, 18u);
  EXPECT_EQ(half.completion_tokens, 6u);
}

}  // namespace
}  // namespace fedai::runners
