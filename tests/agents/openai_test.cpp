// The OpenAI wire format the router speaks to clients: the requests it takes (and its refusals,
// which name the field) and the answers any OpenAI client library reads.
#include "agents/router/openai.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fedai::agents::openai {
namespace {

using nlohmann::json;

// Text that needs every kind of escaping JSON has, and some that needs none.
const std::string kAwkward =
    "say \"hi\"\\ \n\r\t\b\f\x01\x1f caf\xc3\xa9 \xf0\x9f\x98\x80 \x7f end";

FedaiInfo info() {
  return {"0a1b", "c2d3", 18'446'744'073'709'551'615u, 2, true};
}

json fedai_object(const FedaiInfo& i) {
  return {{"job_id", i.job_id},
          {"node", i.node},
          {"price_msat", i.price_msat},
          {"attempts", i.attempts},
          {"bought", i.posted ? "posted_price" : "auction"}};
}

TEST(OpenAiAnswers, ACompletionIsTheChatCompletionObject) {
  std::string out =
      completion_json("chatcmpl-1", 1'700'000'000, "tiny", kAwkward, "stop", Usage{11, 4}, info());
  json expected = {
      {"id", "chatcmpl-1"},
      {"object", "chat.completion"},
      {"created", 1'700'000'000},
      {"model", "tiny"},
      {"choices", json::array({{{"index", 0},
                                {"message", {{"role", "assistant"}, {"content", kAwkward}}},
                                {"finish_reason", "stop"}}})},
      {"usage", {{"prompt_tokens", 11}, {"completion_tokens", 4}, {"total_tokens", 15}}},
      {"fedai", fedai_object(info())}};
  EXPECT_EQ(json::parse(out), expected) << out;
  FedaiInfo auction = info();
  auction.posted = false;
  EXPECT_EQ(
      json::parse(completion_json("x", 0, "m", "", "length", Usage{}, auction))["fedai"]["bought"],
      "auction");
}

TEST(OpenAiAnswers, ChunksCarryADeltaAndTheLastOneItsFinishUsageAndInfo) {
  auto head = [](json j) {
    j["id"] = "chatcmpl-2";
    j["object"] = "chat.completion.chunk";
    j["created"] = 5;
    j["model"] = "tiny";
    return j;
  };
  std::string delta = chunk_json("chatcmpl-2", 5, "tiny", kAwkward, std::nullopt);
  EXPECT_EQ(json::parse(delta), head({{"choices", json::array({{{"index", 0},
                                                                {"delta", {{"content", kAwkward}}},
                                                                {"finish_reason", nullptr}}})}}))
      << delta;

  std::string last = chunk_json("chatcmpl-2", 5, "tiny", "", "stop", Usage{3, 2}, info());
  EXPECT_EQ(
      json::parse(last),
      head({{"choices",
             json::array({{{"index", 0}, {"delta", json::object()}, {"finish_reason", "stop"}}})},
            {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 2}, {"total_tokens", 5}}},
            {"fedai", fedai_object(info())}}))
      << last;

  std::string bare = chunk_json("chatcmpl-2", 5, "tiny", "", std::nullopt);
  json b = json::parse(bare);
  EXPECT_FALSE(b.contains("usage"));
  EXPECT_FALSE(b.contains("fedai"));
  EXPECT_EQ(b["choices"][0]["delta"], json::object());
}

// ---- requests ----

TEST(OpenAiRequests, AChatRequestBecomesTheNodesJobBody) {
  auto r = parse_chat_request(R"({
      "model": "tiny",
      "messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]}
      ],
      "max_completion_tokens": 64, "stream": true, "temperature": 0.5, "n": 1,
      "fedai": {"mode": "auction", "privacy": "PL2", "max_price_msat": 5000, "bid_window_ms": 150}
    })",
                              256, 4096);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->model, "tiny");
  EXPECT_EQ(r->max_tokens, 64u);
  EXPECT_TRUE(r->stream);
  EXPECT_EQ(r->mode, router::JobMode::auction);
  EXPECT_EQ(r->privacy, protocol::PrivacyLevel::pl2);
  EXPECT_EQ(r->max_price, protocol::Msat{5000});
  EXPECT_EQ(r->bid_window, protocol::Millis{150});
  // runners/usage_estimate.h's rule, the one the node meters with: per message, its bytes / 4
  // rounded up, plus 4.
  EXPECT_EQ(r->input_tokens_estimate, (9u + 3) / 4 + 4 + (5u + 3) / 4 + 4);
  // The node gets the messages only (a developer message as system), and nothing of fedai's.
  EXPECT_EQ(json::parse(r->job_body), (json{{"model", "tiny"},
                                            {"messages",
                                             {{{"role", "system"}, {"content", "Be brief."}},
                                              {{"role", "user"}, {"content", "Hello"}}}},
                                            {"max_tokens", 64},
                                            {"stream", true},
                                            {"temperature", 0.5}}));

  auto defaults = parse_chat_request(
      R"({"model":"tiny","messages":[{"role":"user","content":""}]})", 256, 4096);
  ASSERT_TRUE(defaults) << defaults.error().to_string();
  EXPECT_EQ(defaults->max_tokens, 256u);
  EXPECT_FALSE(defaults->stream);
  EXPECT_FALSE(defaults->mode);
}

TEST(OpenAiRequests, JsonAsAnyClientMayWriteIt) {
  // Spaces anywhere, a repeated name (the last one counts), unknown fields of any shape (a number
  // beyond a double's range too: RFC 8259 allows it), an integral temperature.
  auto r = parse_chat_request(
      " {\n \"model\" : \"other\" , \"model\":\"tiny\", \"user\": {\"id\": [1, {}]},\n"
      " \"messages\" : [ { \"content\" : \"a\\u00e9\" , \"role\" : \"user\" } ] ,"
      " \"temperature\": 1, \"stream\": null, \"max_tokens\": null, \"huge\": -1E99999 } ",
      256, 4096);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->model, "tiny");
  EXPECT_FALSE(r->stream);
  EXPECT_EQ(r->max_tokens, 256u);
  json body = json::parse(r->job_body);
  EXPECT_EQ(body["messages"][0]["content"], "a\u00e9");
  EXPECT_EQ(body["temperature"], 1);
  EXPECT_FALSE(body.contains("user"));
}

// ---- sampling parameters (issue 14): each reaches the job body, or is refused by name ----

// The job body written for `extra` (members added to a minimal request), or the refusal.
json job_body_with(const std::string& extra, std::uint32_t cap = 4096) {
  auto r = parse_chat_request(
      R"({"model":"tiny","messages":[{"role":"user","content":"hi"}],)" + extra + "}", 256, cap);
  if (!r) return json{{"refused", r.error().to_string()}};
  return json::parse(r->job_body);
}

TEST(OpenAiParameters, NoneGivenNoneWritten) {
  json body = job_body_with(R"("stream":false)");
  for (const char* name : {"stop", "top_p", "seed", "presence_penalty", "frequency_penalty",
                           "response_format", "temperature", "stream_options"})
    EXPECT_FALSE(body.contains(name)) << name;
}

TEST(OpenAiParameters, StopReachesTheJobBody) {
  EXPECT_EQ(job_body_with(R"("stop":"\nEND")")["stop"], json::parse(R"(["\nEND"])"));
  EXPECT_EQ(job_body_with(R"("stop":["a","b \"q\"","c","d"])")["stop"],
            json::parse(R"(["a","b \"q\"","c","d"])"));
  EXPECT_FALSE(job_body_with(R"("stop":[])").contains("stop"));
  EXPECT_FALSE(job_body_with(R"("stop":null)").contains("stop"));
}

TEST(OpenAiParameters, TopPReachesTheJobBody) {
  EXPECT_EQ(job_body_with(R"("top_p":0.9)")["top_p"], 0.9);
  EXPECT_EQ(job_body_with(R"("top_p":0)")["top_p"], 0);
  EXPECT_EQ(job_body_with(R"("top_p":1)")["top_p"], 1);
}

TEST(OpenAiParameters, SeedReachesTheJobBody) {
  EXPECT_EQ(job_body_with(R"("seed":42)")["seed"], 42);
  EXPECT_EQ(job_body_with(R"("seed":-9223372036854775808)")["seed"].get<std::int64_t>(), INT64_MIN);
  EXPECT_EQ(job_body_with(R"("seed":9223372036854775807)")["seed"].get<std::int64_t>(), INT64_MAX);
}

TEST(OpenAiParameters, PresencePenaltyReachesTheJobBody) {
  json body = job_body_with(R"("presence_penalty":-2)");
  EXPECT_EQ(body["presence_penalty"], -2);
  EXPECT_FALSE(body.contains("frequency_penalty"));
  EXPECT_EQ(job_body_with(R"("presence_penalty":1.5)")["presence_penalty"], 1.5);
}

TEST(OpenAiParameters, FrequencyPenaltyReachesTheJobBody) {
  json body = job_body_with(R"("frequency_penalty":2)");
  EXPECT_EQ(body["frequency_penalty"], 2);
  EXPECT_FALSE(body.contains("presence_penalty"));
  EXPECT_EQ(job_body_with(R"("frequency_penalty":-0.5)")["frequency_penalty"], -0.5);
}

TEST(OpenAiParameters, ResponseFormatJsonObjectReachesTheJobBody) {
  EXPECT_EQ(job_body_with(R"("response_format":{"type":"json_object"})")["response_format"],
            json::parse(R"({"type":"json_object"})"));
  // text is the default: nothing to carry.
  json text = job_body_with(R"("response_format":{"type":"text"})");
  EXPECT_FALSE(text.contains("refused")) << text.dump();
  EXPECT_FALSE(text.contains("response_format"));
}

TEST(OpenAiParameters, MaxCompletionTokensIsMaxTokensAndTheSmallerOfBothHolds) {
  EXPECT_EQ(job_body_with(R"("max_completion_tokens":77)")["max_tokens"], 77);
  EXPECT_EQ(job_body_with(R"("max_tokens":100,"max_completion_tokens":30)")["max_tokens"], 30);
  EXPECT_EQ(job_body_with(R"("max_completion_tokens":30,"max_tokens":20)")["max_tokens"], 20);
  EXPECT_EQ(job_body_with(R"("max_tokens":null,"max_completion_tokens":12)")["max_tokens"], 12);
  auto r = parse_chat_request(
      R"({"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":9,
          "max_completion_tokens":10})",
      256, 4096);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->max_tokens, 9u);  // what the router asks the market for, too
  EXPECT_FALSE(json::parse(r->job_body).contains("max_completion_tokens"));
}

TEST(OpenAiParameters, StreamOptionsIncludeUsageIsReadForTheRoutersOwnAnswer) {
  auto parse = [](const std::string& extra) {
    return parse_chat_request(
        R"({"model":"tiny","messages":[{"role":"user","content":"hi"}],)" + extra + "}", 256, 4096);
  };
  auto yes = parse(R"("stream":true,"stream_options":{"include_usage":true})");
  ASSERT_TRUE(yes) << yes.error().to_string();
  EXPECT_EQ(yes->include_usage, std::optional<bool>{true});
  auto no = parse(R"("stream":true,"stream_options":{"include_usage":false})");
  ASSERT_TRUE(no) << no.error().to_string();
  EXPECT_EQ(no->include_usage, std::optional<bool>{false});
  auto unset = parse(R"("stream":true,"stream_options":{})");
  ASSERT_TRUE(unset) << unset.error().to_string();
  EXPECT_FALSE(unset->include_usage);
  // The router's streamed answer carries usage in its last chunk.
  json last = json::parse(chunk_json("c", 1, "tiny", "", "stop", Usage{3, 4}));
  EXPECT_EQ(last["usage"]["total_tokens"], 7);
  // Not the node's business: not in the job body.
  EXPECT_FALSE(json::parse(yes->job_body).contains("stream_options"));
}

TEST(OpenAiParameters, WhatCannotBeCarriedIsRefusedByName) {
  struct Case {
    std::string extra, reason;
  };
  const std::string text_only = " is not supported: fedai's nodes answer with text only";
  const std::string no_logprobs = " is not supported: fedai's answers carry no log probabilities";
  const std::vector<Case> cases = {
      {R"("n":2)", "n must be 1 (fedai returns one choice)"},
      {R"("n":0)", "n must be 1 (fedai returns one choice)"},
      {R"("tools":[{"type":"function","function":{"name":"f"}}])", "tools" + text_only},
      {R"("tools":{})", "tools" + text_only},
      {R"("functions":[{"name":"f"}])", "functions" + text_only},
      {R"("tool_choice":"auto")", "tool_choice" + text_only},
      {R"("tool_choice":{"type":"function","function":{"name":"f"}})", "tool_choice" + text_only},
      {R"("function_call":"auto")", "function_call" + text_only},
      {R"("logprobs":true)", "logprobs" + no_logprobs},
      {R"("top_logprobs":3)", "top_logprobs" + no_logprobs},
      {R"("logit_bias":{"50256":-100})",
       "logit_bias is not supported: fedai's nodes take no token biases"},
      {R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}})",
       "response_format json_schema is not supported: fedai's nodes take text or json_object"},
      {R"("response_format":{"type":"xml"})", "response_format.type must be text or json_object"},
      {R"("response_format":"json_object")", "response_format.type must be text or json_object"},
      {R"("response_format":{})", "response_format.type must be text or json_object"},
      {R"("stop":["a","b","c","d","e"])",
       "stop must be a string or an array of up to 4 non-empty strings"},
      {R"("stop":[1])", "stop must be a string or an array of up to 4 non-empty strings"},
      {R"("stop":"")", "stop must be a string or an array of up to 4 non-empty strings"},
      {R"("stop":5)", "stop must be a string or an array of up to 4 non-empty strings"},
      {R"("top_p":1.5)", "top_p must be a number between 0 and 1"},
      {R"("top_p":-0.1)", "top_p must be a number between 0 and 1"},
      {R"("top_p":"0.5")", "top_p must be a number between 0 and 1"},
      {R"("seed":1.5)", "seed must be an integer"},
      {R"("seed":"7")", "seed must be an integer"},
      {R"("seed":9223372036854775808)", "seed must be an integer"},
      {R"("seed":-9223372036854775809)", "seed must be an integer"},
      {R"("presence_penalty":2.5)", "presence_penalty must be a number between -2 and 2"},
      {R"("presence_penalty":true)", "presence_penalty must be a number between -2 and 2"},
      {R"("frequency_penalty":-3)", "frequency_penalty must be a number between -2 and 2"},
      {R"("frequency_penalty":"1")", "frequency_penalty must be a number between -2 and 2"},
      {R"("max_completion_tokens":5000)", "max_completion_tokens must be at most 4096"},
      {R"("max_tokens":10,"max_completion_tokens":0)",
       "max_completion_tokens must be a positive integer"},
      {R"("stream_options":{"include_usage":true})",
       "stream_options is only allowed when stream is true"},
      {R"("stream":true,"stream_options":true)", "stream_options must be an object"},
      {R"("stream":true,"stream_options":{"include_usage":"yes"})",
       "stream_options.include_usage must be true or false"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(job_body_with(c.extra), (json{{"refused", "invalid: " + c.reason}})) << c.extra;

  // Asking for nothing is no reason to refuse.
  json off = job_body_with(
      R"("n":1,"tools":[],"functions":null,"tool_choice":"none","logprobs":false,)"
      R"("top_logprobs":0,"logit_bias":{},"function_call":"none","stream_options":null)");
  EXPECT_FALSE(off.contains("refused")) << off.dump();
  for (const char* name : {"n", "tools", "tool_choice", "logprobs", "top_logprobs", "logit_bias"})
    EXPECT_FALSE(off.contains(name)) << name;
}

TEST(OpenAiRequests, EachRefusalNamesTheField) {
  struct Case {
    std::string body, reason;
  };
  const std::string msgs = R"("messages":[{"role":"user","content":"hi"}])";
  auto with = [&](const std::string& extra) {
    return R"({"model":"tiny",)" + msgs + (extra.empty() ? "" : "," + extra) + "}";
  };
  const std::vector<Case> cases = {
      {"not json", "the body is not JSON"},
      {"[1]", "the body must be a JSON object"},
      {"{" + msgs + "}", "model must be a non-empty string"},
      {R"({"model":"",)" + msgs + "}", "model must be a non-empty string"},
      {R"({"model":"a b",)" + msgs + "}", "model 'a b' is not a valid model id"},
      {R"({"model":"tiny","messages":[]})", "messages must be a non-empty array"},
      {R"({"model":"tiny","messages":[1]})", "messages[0] must be an object"},
      {R"({"model":"tiny","messages":[{"content":"x"}]})", "messages[0].role must be a string"},
      {R"({"model":"tiny","messages":[{"role":"tool","content":"x"}]})",
       "messages[0].role must be system, user, assistant or developer"},
      {R"({"model":"tiny","messages":[{"role":"user","content":"a"},{"role":"user"}]})",
       "messages[1].content must be a string or an array of text parts"},
      {R"({"model":"tiny","messages":[{"role":"user","content":[{"type":"image_url"}]}]})",
       R"(messages[0].content parts must be {"type":"text","text":...})"},
      {with(R"("max_tokens":0)"), "max_tokens must be a positive integer"},
      {with(R"("max_completion_tokens":-1)"), "max_completion_tokens must be a positive integer"},
      {with(R"("max_tokens":5000)"), "max_tokens must be at most 4096"},
      {with(R"("stream":"yes")"), "stream must be true or false"},
      {with(R"("temperature":3)"), "temperature must be a number between 0 and 2"},
      {with(R"("n":2)"), "n must be 1 (fedai returns one choice)"},
      {with(R"("fedai":[])"), "fedai must be an object"},
      {with(R"("fedai":{"mode":"cheapest"})"),
       "fedai.mode must be auction, posted or posted_then_auction"},
      {with(R"("fedai":{"privacy":"PL9"})"), "fedai.privacy must be PL0, PL1, PL2 or PL3"},
      {with(R"("fedai":{"max_price_msat":0})"), "fedai.max_price_msat must be a positive integer"},
      {with(R"("fedai":{"bid_window_ms":10})"), "fedai.bid_window_ms must be between 50 and 10000"},
      {with(R"("max_tokens":1.0)"), "max_tokens must be a positive integer"},
      {with(R"("max_tokens":99999999999999999999999)"), "max_tokens must be a positive integer"},
      {with(R"("temperature":"0.5")"), "temperature must be a number between 0 and 2"},
      {with(R"("fedai":{"mode":null})"),
       "fedai.mode must be auction, posted or posted_then_auction"},
      {R"({"model":"tiny","messages":[{"role":"user","content":[{"type":5,"text":"a"}]}]})",
       R"(messages[0].content parts must be {"type":"text","text":...})"},
      {R"({"model":"tiny","messages":[{"role":"user","content":[{"type":"text"}]}]})",
       R"(messages[0].content parts must be {"type":"text","text":...})"},
      {R"({"model":"tiny","messages":{}})", "messages must be a non-empty array"},
      {R"({"model":"tiny","messages":[ ]})", "messages must be a non-empty array"},
      {with("") + " x", "the body is not JSON"},
      {R"({"model":"tiny","messages":[{"role":"user","content":"\xff"}]})", "the body is not JSON"},
      {with(R"("deep":)" + std::string(70, '[') + std::string(70, ']')), "the body is not JSON"},
  };
  for (const auto& c : cases) {
    auto r = parse_chat_request(c.body, 256, 4096);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().to_string(), "invalid: " + c.reason) << c.body;
  }
}

}  // namespace
}  // namespace fedai::agents::openai
