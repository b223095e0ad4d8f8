// The OpenAI wire format the router answers clients in: what any OpenAI client library reads.
#include "agents/router/openai.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace fedai::agents::openai
