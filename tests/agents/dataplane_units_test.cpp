// agents/dataplane without sockets: the key cache, the cached-key codecs against the Keypair forms,
// the chat body, the node's answer builders and the router's answer checks.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agents/dataplane/answer.h"
#include "agents/dataplane/answer_reader.h"
#include "agents/dataplane/job_body.h"
#include "agents/router/openai.h"
#include "core/nostr/bech32.h"
#include "core/nostr/sha256.h"
#include "core/protocol/protocol.h"
#include "tests/support/dataplane_fixtures.h"

namespace fedai::agents::dataplane {
namespace {

using protocol::Msat;
using protocol::PrivacyLevel;
using protocol::ProtocolError;

constexpr UnixSeconds kNow = 1767225600;

struct Keys {
  test::DataplaneKeys k;
  protocol::ConversationKeyCache router{k.router};
  protocol::ConversationKeyCache node{k.node};
  protocol::ConversationKeyCache stranger{k.stranger};
};

// ---- Conversation keys --------------------------------------------------------------------------

TEST(ConversationKeys, ComputedOncePerPeerAndEqualToNip44s) {
  test::DataplaneKeys k;
  protocol::ConversationKeyCache cache(k.router, 2);
  auto a = cache.get(k.node.public_key());
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, *nip44::conversation_key(k.router.secret_key(), k.node.public_key()));
  ASSERT_TRUE(cache.get(k.node.public_key()));
  EXPECT_EQ(cache.misses(), 1u);
  ASSERT_TRUE(cache.get(k.stranger.public_key()));
  ASSERT_TRUE(cache.get(Keypair::generate().public_key()));  // over capacity: one makes room
  EXPECT_EQ(cache.size(), 2u);
  PublicKey off_curve;
  off_curve.bytes.fill(0xff);
  EXPECT_FALSE(cache.get(off_curve));
}

// ---- Cached-key codecs against core/protocol ----------------------------------------------------

TEST(SealedCodecs, OpenAwardMatchesParseAward) {
  Keys keys;
  for (bool posted : {false, true}) {
    test::JobSpec s;
    s.posted_price = posted;
    Event award = test::make_award(keys.k.router, keys.k.node.public_key(), s);
    auto ours = protocol::parse_award(award, keys.node);
    auto theirs = protocol::parse_award(award, keys.k.node);
    ASSERT_TRUE(ours) << ours.error().to_string();
    ASSERT_TRUE(theirs);
    EXPECT_EQ(*ours, *theirs);
    EXPECT_EQ(*protocol::parse_award(award, keys.router), *theirs);  // the author reads it back
    EXPECT_EQ(protocol::parse_award(award, keys.stranger).error().to_string(),
              protocol::parse_award(award, keys.k.stranger).error().to_string());
  }
}

TEST(SealedCodecs, JobResultBuiltWithACachedKeyParsesWithCoreAndBack) {
  Keys keys;
  for (auto level : {PrivacyLevel::pl0, PrivacyLevel::pl1, PrivacyLevel::pl2}) {
    protocol::JobResult r;
    r.job_submit_id.bytes.fill(1);
    r.award_id.bytes.fill(2);
    r.router = keys.k.router.public_key();
    r.privacy = level;
    r.job_id = protocol::new_job_id();
    r.text = "line one\nline \"two\"";
    auto ours = protocol::build(r, keys.node, kNow);
    ASSERT_TRUE(ours) << ours.error().to_string();
    EXPECT_TRUE(verify_event(*ours));
    auto parsed = protocol::parse_job_result(*ours, keys.k.router, level);
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    EXPECT_EQ(*parsed, r);
    auto core_built = protocol::build(r, keys.k.node, kNow);
    auto opened = protocol::parse_job_result(*core_built, keys.router, level);
    ASSERT_TRUE(opened) << opened.error().to_string();
    EXPECT_EQ(*opened, r);
  }
  // Sealed against the level, or addressed elsewhere: the core's reasons.
  protocol::JobResult r;
  r.router = keys.k.router.public_key();
  r.privacy = PrivacyLevel::pl0;
  auto clear = protocol::build(r, keys.node, kNow);
  EXPECT_EQ(protocol::parse_job_result(*clear, keys.router, PrivacyLevel::pl1).error().to_string(),
            "invalid: JOB_RESULT must be sealed for a PL1 job");
  r.privacy = PrivacyLevel::pl1;
  auto sealed = protocol::build(r, keys.node, kNow);
  EXPECT_EQ(protocol::parse_job_result(*sealed, keys.router, PrivacyLevel::pl0).error().to_string(),
            "invalid: JOB_RESULT must be in the clear for a PL0 job");
  EXPECT_EQ(
      protocol::parse_job_result(*sealed, keys.stranger, PrivacyLevel::pl1).error().to_string(),
      "invalid: JOB_RESULT is not addressed to us");
}

TEST(SealedCodecs, JobBodySealedWithACachedKeyOpensWithCore) {
  Keys keys;
  std::string plain = test::chat_body("secret prompt");
  auto body =
      protocol::seal_job_body(plain, PrivacyLevel::pl2, keys.router, keys.k.node.public_key());
  ASSERT_TRUE(body);
  EXPECT_EQ(body->content_type, protocol::kContentTypeSealed);
  EXPECT_EQ(body->payload_hash, sha256(body->bytes));
  EXPECT_EQ(body->input_hash, sha256(plain));
  protocol::JobSubmit s;
  s.privacy = PrivacyLevel::pl2;
  s.input_hash = body->input_hash;
  EXPECT_EQ(*protocol::open_job_body(body->bytes, body->content_type, s, keys.k.router.public_key(),
                                     keys.k.node),
            plain);
  EXPECT_EQ(*open_job_body(body->bytes, s, keys.k.router.public_key(), keys.node), plain);
  auto clear =
      protocol::seal_job_body(plain, PrivacyLevel::pl0, keys.router, keys.k.node.public_key());
  EXPECT_EQ(clear->bytes, plain);
  EXPECT_EQ(clear->payload_hash, clear->input_hash);
  EXPECT_FALSE(
      protocol::seal_job_body(plain, PrivacyLevel::pl3, keys.router, keys.k.node.public_key()));
}

TEST(JobBody, ContentTypeMatchesTheLevel) {
  EXPECT_TRUE(content_type_matches("application/json", PrivacyLevel::pl0));
  EXPECT_TRUE(content_type_matches("Application/JSON; charset=utf-8", PrivacyLevel::pl0));
  EXPECT_FALSE(content_type_matches("application/json", PrivacyLevel::pl1));
  EXPECT_TRUE(content_type_matches("application/nostr-nip44", PrivacyLevel::pl2));
  EXPECT_FALSE(content_type_matches("application/nostr-nip44x", PrivacyLevel::pl2));
  EXPECT_FALSE(content_type_matches("", PrivacyLevel::pl0));
}

TEST(JobBody, ParsesTheChatFieldsANodeReads) {
  auto r = parse_job_input(R"({"model":"m","messages":[{"role":"system","content":"be brief"},
    {"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{}},
    {"type":"text","text":"b"}]},{"role":"assistant","content":null}],"max_tokens":20,
    "temperature":0.5,"stream":true,"n":1,"extra":{"deep":[1,2,{"x":null}]}})");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->model, "m");
  ASSERT_EQ(r->messages.size(), 3u);
  EXPECT_EQ(r->messages[1].content, "ab");
  EXPECT_EQ(r->messages[2].content, "");
  EXPECT_EQ(r->max_tokens, 20u);
  EXPECT_DOUBLE_EQ(*r->sampling.temperature, 0.5);
  EXPECT_TRUE(r->stream);

  auto nulls = parse_job_input(
      R"({"messages":[{"role":"user","content":"x"}],"temperature":null,"max_tokens":null})");
  ASSERT_TRUE(nulls);
  EXPECT_FALSE(nulls->sampling.temperature);
  EXPECT_FALSE(nulls->max_tokens);

  auto reason = [](std::string_view json) {
    auto parsed = parse_job_input(json);
    return parsed ? std::string("(accepted)") : parsed.error().to_string();
  };
  EXPECT_EQ(reason("[]"), "invalid: job body must be a JSON object");
  EXPECT_EQ(reason(R"({"messages":[]})"), "invalid: job body must have a non-empty messages array");
  EXPECT_EQ(reason(R"({"messages":[{"role":"user"}]})"),
            "invalid: job body messages must be objects with role and content");
  EXPECT_EQ(reason(R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})"),
            "invalid: job body max_tokens must be an integer from 1 to 4294967295");
  EXPECT_EQ(reason(R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})"),
            "invalid: job body stream must be true or false");
  EXPECT_TRUE(reason(R"({"messages":[{"role":"user","content":"x"}] trailing)")
                  .starts_with("invalid: job body is not valid JSON"));
  std::string deep = R"({"messages":[{"role":"user","content":"x"}],"x":)" + std::string(100, '[') +
                     std::string(100, ']') + "}";
  EXPECT_TRUE(reason(deep).starts_with("invalid: job body is not valid JSON")) << reason(deep);
}

// Issue 14: each sampling parameter the router writes (agents/router/openai) reads back at the node
// as the runner's request field.
TEST(JobBody, SamplingParametersRoundTripFromTheRouter) {
  auto routed = openai::parse_chat_request(
      R"({"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":100,
          "max_completion_tokens":40,"temperature":0.25,"top_p":0.5,"seed":-7,
          "presence_penalty":1.25,"frequency_penalty":-0.75,"stop":["END","\n\n"],
          "response_format":{"type":"json_object"},"stream":true,
          "stream_options":{"include_usage":true}})",
      256, 4096);
  ASSERT_TRUE(routed) << routed.error().to_string();
  auto r = parse_job_input(routed->job_body);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->max_tokens, 40u);
  EXPECT_DOUBLE_EQ(*r->sampling.temperature, 0.25);
  ASSERT_TRUE(r->sampling.top_p);
  EXPECT_DOUBLE_EQ(*r->sampling.top_p, 0.5);
  EXPECT_EQ(r->sampling.seed, std::optional<std::int64_t>{-7});
  ASSERT_TRUE(r->sampling.presence_penalty && r->sampling.frequency_penalty);
  EXPECT_DOUBLE_EQ(*r->sampling.presence_penalty, 1.25);
  EXPECT_DOUBLE_EQ(*r->sampling.frequency_penalty, -0.75);
  EXPECT_EQ(r->sampling.stop, (std::vector<std::string>{"END", "\n\n"}));
  EXPECT_TRUE(r->sampling.json_object);
  EXPECT_TRUE(r->stream);

  // None given: none read.
  auto plain = openai::parse_chat_request(
      R"({"model":"tiny","messages":[{"role":"user","content":"hi"}]})", 256, 4096);
  ASSERT_TRUE(plain);
  auto p = parse_job_input(plain->job_body);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_FALSE(p->sampling.top_p || p->sampling.seed || p->sampling.presence_penalty ||
               p->sampling.frequency_penalty);
  EXPECT_TRUE(p->sampling.stop.empty());
  EXPECT_FALSE(p->sampling.json_object);
}

TEST(JobBody, SamplingParametersAreReadOrRefusedNeverDropped) {
  auto read = [](std::string_view extra) {
    return parse_job_input(R"({"messages":[{"role":"user","content":"x"}],)" + std::string(extra) +
                           "}");
  };
  auto reason = [&](std::string_view extra) {
    auto parsed = read(extra);
    return parsed ? std::string("(accepted)") : parsed.error().to_string();
  };
  // OpenAI's forms a body may hold beside the router's own.
  auto one = read(R"("stop":"END","seed":9223372036854775807,"response_format":{"type":"text"})");
  ASSERT_TRUE(one) << one.error().to_string();
  EXPECT_EQ(one->sampling.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(one->sampling.seed, std::optional<std::int64_t>{INT64_MAX});
  EXPECT_FALSE(one->sampling.json_object);
  auto nulls = read(R"("stop":null,"top_p":null,"seed":null,"presence_penalty":null,)"
                    R"("frequency_penalty":null,"response_format":null)");
  ASSERT_TRUE(nulls) << nulls.error().to_string();
  EXPECT_FALSE(nulls->sampling.top_p || nulls->sampling.seed || nulls->sampling.json_object);
  EXPECT_EQ(read(R"("seed":-9223372036854775808)")->sampling.seed,
            std::optional<std::int64_t>{INT64_MIN});

  EXPECT_EQ(reason(R"("stop":["a","b","c","d","e"])"),
            "invalid: job body stop must have at most 4 strings");
  EXPECT_EQ(reason(R"("stop":[1])"),
            "invalid: job body stop must be a string or an array of strings");
  EXPECT_EQ(reason(R"("top_p":1.01)"), "invalid: job body top_p must be a number from 0 to 1");
  EXPECT_EQ(reason(R"("seed":1.5)"), "invalid: job body seed must be a 64-bit integer");
  EXPECT_EQ(reason(R"("seed":9223372036854775808)"),
            "invalid: job body seed must be a 64-bit integer");
  EXPECT_EQ(reason(R"("presence_penalty":-2.5)"),
            "invalid: job body presence_penalty must be a number from -2 to 2");
  EXPECT_EQ(reason(R"("frequency_penalty":"1")"),
            "invalid: job body frequency_penalty must be a number from -2 to 2");
  EXPECT_EQ(reason(R"("response_format":{"type":"json_schema","json_schema":{}})"),
            "invalid: job body response_format type must be text or json_object");
  EXPECT_EQ(reason(R"("response_format":[])"),
            "invalid: job body response_format must be an object");
}

// ---- The answer, both ends ----------------------------------------------------------------------

class Answers : public ::testing::Test {
 protected:
  JobContext job(PrivacyLevel level = PrivacyLevel::pl0) {
    JobContext c;
    c.submit_id.bytes.fill(0x51);
    c.award_id.bytes.fill(0x52);
    c.router = keys.k.router.public_key();
    c.node = keys.k.node.public_key();
    c.job_id = job_id;
    c.privacy = level;
    c.input_hash = sha256("the prompt");
    c.max_output_tokens = 10;
    c.awarded_price = Msat{5'000};
    return c;
  }
  RunOutcome outcome(std::string text = "the output") {
    RunOutcome o;
    o.text = std::move(text);
    o.tokens_in = 100;
    o.tokens_out = 8;
    o.wall = protocol::Millis{42};
    o.started_at = kNow;
    o.finished_at = kNow + 1;
    return o;
  }
  Refused<VerifiedAnswer> check(const std::string& json, const JobContext& c,
                                std::optional<std::string_view> streamed = std::nullopt) {
    return verify_answer(json, c, rates, keys.router, streamed);
  }
  static void expect_bad(const Refused<VerifiedAnswer>& r, std::string_view prefix) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ProtocolError::bad_result);
    EXPECT_TRUE(r.error().reason.to_string().starts_with(prefix)) << r.error().reason.to_string();
  }

  Keys keys;
  protocol::JobId job_id = protocol::new_job_id();
  Rates rates{Msat{1'000}, Msat{2'000}, Msat{10}};
};

TEST_F(Answers, BuiltAnswerPassesTheRoutersChecksAtEveryLevel) {
  for (auto level : {PrivacyLevel::pl0, PrivacyLevel::pl1, PrivacyLevel::pl2}) {
    auto c = job(level);
    auto a = build_answer(c, outcome(), rates, keys.node, kNow);
    ASSERT_TRUE(a) << a.error().to_string();
    EXPECT_EQ(a->json.find("the output") != std::string::npos, level == PrivacyLevel::pl0);
    auto v = check(a->json, c);
    ASSERT_TRUE(v) << v.error().reason.to_string();
    EXPECT_EQ(v->result.text, "the output");
    EXPECT_EQ(v->metering.tokens_in, 100u);
    EXPECT_EQ(v->metering.tokens_out, 8u);
    // ceil((100 * 1000 + 8 * 2000) / 1000) = 116
    EXPECT_EQ(v->metering.price_msat, Msat{116});
    EXPECT_EQ(v->metering.input_hash, c.input_hash);
    EXPECT_EQ(v->metering.output_hash, sha256("the output"));
    EXPECT_EQ(v->metering.wall_ms, protocol::Millis{42});
  }
}

TEST_F(Answers, MeteringPriceIsCappedAtTheAward) {
  auto c = job();
  c.awarded_price = Msat{50};
  auto p = metering_price(c, rates, 100, 8);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, Msat{50});
}

TEST_F(Answers, RoutersChecksRefuseEachKindOfBadAnswer) {
  auto c = job();
  auto a = build_answer(c, outcome(), rates, keys.node, kNow);
  ASSERT_TRUE(a);

  expect_bad(check("{\"result\":" + to_json(a->result) + "}", c),
             "invalid: the answer has no metering");
  expect_bad(check("not json", c), "invalid: the answer is not a JSON object");
  expect_bad(check("{\"result\":", c), "invalid: the answer is not valid JSON");

  // Signed by someone else.
  auto forged = build_answer(c, outcome(), rates, keys.stranger, kNow);
  expect_bad(check(forged->json, c), "invalid: JOB_RESULT is not signed by the awarded node");
  expect_bad(check(answer_json(a->result, forged->metering), c),
             "invalid: METERING is not signed by the awarded node");

  // A signature that does not verify.
  Event broken = a->result;
  broken.sig.bytes[3] ^= 1;
  expect_bad(check(answer_json(broken, a->metering), c), "invalid: JOB_RESULT does not verify");

  // For another JOB_SUBMIT.
  auto other = c;
  other.submit_id.bytes.fill(0x99);
  expect_bad(check(a->json, other), "invalid: JOB_RESULT names another JOB_SUBMIT");

  // Output that does not match the hash.
  auto o = outcome();
  auto a2 = build_answer(c, o, rates, keys.node, kNow);
  protocol::JobResult r;
  r.job_submit_id = c.submit_id;
  r.award_id = c.award_id;
  r.router = c.router;
  r.job_id = c.job_id;
  r.text = "tampered";
  auto tampered = protocol::build(r, keys.node, kNow);
  expect_bad(check(answer_json(*tampered, a2->metering), c),
             "invalid: METERING output_hash does not match the output");

  // A streamed answer whose deltas differ from what was signed.
  expect_bad(check(a->json, c, std::string_view("the outpu")),
             "invalid: METERING output_hash does not match the streamed text");
  EXPECT_TRUE(check(a->json, c, std::string_view("the output")));

  // Another input, too many tokens, a price over the award or off the rates.
  auto other_input = c;
  other_input.input_hash = sha256("another prompt");
  expect_bad(check(a->json, other_input), "invalid: METERING input_hash is not the JOB_SUBMIT's");
  auto fewer = c;
  fewer.max_output_tokens = 7;
  expect_bad(check(a->json, fewer), "invalid: METERING tokens_out 8 is over max_output_tokens 7");
  auto cheaper = c;
  cheaper.awarded_price = Msat{100};
  expect_bad(check(a->json, cheaper), "invalid: METERING price_msat 116 is over the awarded 100");
  rates.out_per_1k = Msat{1'000};
  expect_bad(check(a->json, c), "invalid: METERING price_msat 116 does not follow the bid's rates");
}

TEST_F(Answers, PaymentRequestMustNameThisMetering) {
  auto c = job();
  auto a = build_answer(c, outcome(), rates, keys.node, kNow);
  protocol::PaymentRequest pr;
  pr.metering_id = a->metering.id;
  pr.payer = c.router;
  pr.job_id = c.job_id;
  pr.amount_msat = Msat{116};
  // A bech32 string with an invoice's prefix: the amount (1160 pico-BTC = 116 msat) is all the
  // codec reads of it.
  std::vector<std::uint8_t> words(60, 3);
  pr.bolt11 = bech32::encode("lnbcrt1160p", words);
  pr.expires_at = kNow + 600;
  auto pr_event = protocol::build(pr, keys.k.node, kNow);
  ASSERT_TRUE(pr_event) << pr_event.error().to_string();
  auto ok = check(answer_json(a->result, a->metering, &*pr_event), c);
  ASSERT_TRUE(ok) << ok.error().reason.to_string();
  ASSERT_TRUE(ok->payment_request);
  EXPECT_EQ(ok->payment_request->id, pr_event->id);
  pr.metering_id.bytes.fill(7);
  auto wrong = protocol::build(pr, keys.k.node, kNow);
  expect_bad(check(answer_json(a->result, a->metering, &*wrong), c),
             "invalid: PAYMENT_REQUEST names another METERING");
}

TEST_F(Answers, DeltasRoundTripInTheClearAndSealed) {
  for (auto level : {PrivacyLevel::pl0, PrivacyLevel::pl2}) {
    auto c = job(level);
    auto d = delta_data(3, "piece \"of\"\ntext", c, keys.node);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->find("piece") != std::string::npos, level == PrivacyLevel::pl0);
    auto back = read_delta(*d, 3, c, keys.router);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(*back, "piece \"of\"\ntext");
    EXPECT_EQ(read_delta(*d, 4, c, keys.router).error().to_string(),
              "invalid: delta 3 arrived where 4 was due");
  }
  auto clear = delta_data(0, "x", job(PrivacyLevel::pl0), keys.node);
  EXPECT_EQ(*clear, R"({"i":0,"text":"x"})");
  EXPECT_EQ(read_delta(*clear, 0, job(PrivacyLevel::pl1), keys.router).error().to_string(),
            "invalid: a PL1 delta must be sealed");
}

TEST(ErrorBodies, ReadBackAsRefusals) {
  auto r =
      read_error(R"({"error":"duplicate: JOB_SUBMIT seen before","code":"ERR_DUPLICATE"})", 409);
  EXPECT_EQ(r.code, ProtocolError::duplicate);
  EXPECT_EQ(r.reason.to_string(), "duplicate: JOB_SUBMIT seen before");
  auto from_status = read_error("<html>busy</html>", 503);
  EXPECT_EQ(from_status.code, ProtocolError::busy);
  EXPECT_EQ(from_status.reason.to_string(),
            "error: the node answered HTTP 503 without an F-06 reason");
  auto event =
      read_error(R"({"error":"error: the model server failed","code":"ERR_RUNNER"})", std::nullopt);
  EXPECT_EQ(event.code, ProtocolError::runner);
}

TEST(Refusals, CarryTheF06StatusPrefixAndBody) {
  auto r = refuse(ProtocolError::award_expired, "AWARD passed its submit_by");
  EXPECT_EQ(r.http_status(), 410);
  EXPECT_EQ(r.reason.to_string(), "invalid: AWARD passed its submit_by");
  EXPECT_EQ(r.body(),
            R"({"error":"invalid: AWARD passed its submit_by","code":"ERR_AWARD_EXPIRED"})");
  EXPECT_EQ(refuse(ProtocolError::auth, "x").reason.to_string(), "auth-required: x");
  EXPECT_EQ(refuse(ProtocolError::busy, "x").http_status(), 503);
}

}  // namespace
}  // namespace fedai::agents::dataplane
