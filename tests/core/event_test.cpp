#include "core/nostr/event.h"
#include "tests/support/param_names.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fedai {
namespace {

const Keypair& test_keys() {
  static Keypair keys(*SecretKey::from_hex(std::string(63, '0') + "3"));
  return keys;
}

Event sample(std::string content = "hello", Tags tags = {{"t", "x"}}) {
  return sign_event({1, 1700000000, std::move(tags), std::move(content)}, test_keys());
}

std::string escaped(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(Escaping, FollowsNip01) {
  EXPECT_EQ(escaped("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(escaped("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(escaped(std::string("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(escaped("\x0b\x1a"), R"("\u000b\u001a")");  // lowercase hex
  EXPECT_EQ(escaped("\x7f"), "\"\x7f\"");               // DEL verbatim
  EXPECT_EQ(escaped("/ é 😀"), "\"/ é 😀\"");             // '/' and UTF-8 verbatim
}

TEST(Escaping, MatchesNlohmannForEveryControlCharacter) {
  // nlohmann::json's dump escapes exactly like JSON.stringify for C0 controls.
  for (int c = 0; c < 0x20; ++c) {
    std::string s(1, static_cast<char>(c));
    EXPECT_EQ(escaped(s), nlohmann::json(s).dump()) << c;
  }
}

TEST(Event, SignAndVerify) {
  Event e = sample();
  EXPECT_EQ(e.pubkey, test_keys().public_key());
  EXPECT_EQ(e.id, compute_event_id(e));
  EXPECT_TRUE(verify_event(e));
}

TEST(Event, IdOfReadsTheStatedIdOnly) {
  Event e = sample("content with \"quotes\" and an \"id\" key", {{"id", "not this"}});
  EXPECT_EQ(event_id_of(to_json(e)), e.id);
  // Whatever the member order (nlohmann writes them sorted), and a nested "id" doesn't count.
  auto reordered = nlohmann::json::parse(to_json(e));
  reordered["extra"] = {{"id", std::string(64, 'a')}};
  EXPECT_EQ(event_id_of(reordered.dump()), e.id);
  std::string hex = e.id.hex();
  EXPECT_EQ(event_id_of(R"({"kind":1,"id":")" + hex + R"("})"), e.id);  // nothing else checked
  std::string upper = hex;
  upper[0] = 'A';
  for (std::string bad :
       {std::string(R"({"kind":1})"), R"({"id":")" + hex.substr(1) + R"("})",
        R"({"id":")" + upper + R"("})", std::string(R"({"id":1})"), R"({"id":")" + hex + R"("} x)",
        R"([{"id":")" + hex + R"("}])", R"({"id":")" + hex + R"(",})", std::string("")})
    EXPECT_FALSE(event_id_of(bad)) << bad;
}

TEST(Event, TamperingIsDetected) {
  Event e = sample();
  Event changed = e;
  changed.content = "hellO";
  auto st = verify_event(changed);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().to_string(), "invalid: event id does not match its content");

  Event bad_sig = e;
  bad_sig.sig.bytes[10] ^= 1;
  st = verify_event(bad_sig);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().to_string(), "invalid: bad signature");
}

TEST(Event, JsonRoundTrip) {
  Event e = sample("line\nbreak \"quoted\" \x01 é", {{"e", "abc", "", "wss://r"}, {}, {"d", ""}});
  auto back = parse_verified_event(to_json(e));
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, e);
}

TEST(Event, FieldOrderAndUnknownFieldsDoNotMatter) {
  Event e = sample();
  auto j = nlohmann::json::parse(to_json(e));
  j["extra"] = {{"nested", {1, 2, {{"x", nullptr}}}}};
  j["seen_on"] = {"a", "b"};
  auto back = parse_verified_event(j.dump());
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, e);
}

TEST(Event, TagAccessors) {
  Event e = sample("", {{"p"}, {"p", "a"}, {"d", "x", "y"}, {"p", "b"}});
  EXPECT_EQ(e.tag_value("p"), "a");
  EXPECT_EQ(e.d_tag(), "x");
  EXPECT_FALSE(e.tag_value("e"));
  EXPECT_EQ(sample("", {}).d_tag(), "");
}

TEST(Event, SignRejectsOutOfRangeCreatedAt) {
  EXPECT_THROW(sign_event({1, -1, {}, ""}, test_keys()), std::invalid_argument);
  EXPECT_THROW(sign_event({1, kMaxCreatedAt + 1, {}, ""}, test_keys()), std::invalid_argument);
  EXPECT_NO_THROW(sign_event({1, kMaxCreatedAt, {}, ""}, test_keys()));
}

struct BadCase {
  const char* name;
  std::function<void(nlohmann::json&)> mutate;
  const char* reason;
};

class ParseRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(ParseRejects, WithReason) {
  auto j = nlohmann::json::parse(to_json(sample()));
  GetParam().mutate(j);
  auto r = parse_event(j.dump());
  ASSERT_FALSE(r) << GetParam().name;
  EXPECT_EQ(r.error().to_string(), GetParam().reason);
}

INSTANTIATE_TEST_SUITE_P(
    Event, ParseRejects,
    ::testing::Values(
        BadCase{"uppercase id",
                [](nlohmann::json& j) { j["id"] = "AB" + j["id"].get<std::string>().substr(2); },
                "invalid: id must be 64 lowercase hex characters"},
        BadCase{"short pubkey", [](nlohmann::json& j) { j["pubkey"] = "abcd"; },
                "invalid: pubkey must be 64 lowercase hex characters"},
        BadCase{"sig number", [](nlohmann::json& j) { j["sig"] = 5; },
                "invalid: sig must be 128 lowercase hex characters"},
        BadCase{"kind too big", [](nlohmann::json& j) { j["kind"] = 65536; },
                "invalid: kind must be an integer between 0 and 65535"},
        BadCase{"kind negative", [](nlohmann::json& j) { j["kind"] = -1; },
                "invalid: kind must be an integer between 0 and 65535"},
        BadCase{"kind float", [](nlohmann::json& j) { j["kind"] = 1.5; },
                "invalid: kind must be an integer between 0 and 65535"},
        BadCase{"kind string", [](nlohmann::json& j) { j["kind"] = "1"; },
                "invalid: kind must be an integer between 0 and 65535"},
        BadCase{"created_at huge", [](nlohmann::json& j) { j["created_at"] = 9007199254740992ull; },
                "invalid: created_at must be an integer between 0 and 9007199254740991"},
        BadCase{"tags object", [](nlohmann::json& j) { j["tags"] = nlohmann::json::object(); },
                "invalid: tags must be an array of arrays of strings"},
        BadCase{"tag not array", [](nlohmann::json& j) { j["tags"] = {"x"}; },
                "invalid: tags must be an array of arrays of strings"},
        BadCase{"tag value number",
                [](nlohmann::json& j) {
                  j["tags"] = {{"x", 1}};
                },
                "invalid: tags must be an array of arrays of strings"},
        BadCase{"tag nested array",
                [](nlohmann::json& j) {
                  j["tags"] = {{"x", {"y"}}};
                },
                "invalid: tags must be an array of arrays of strings"},
        BadCase{"content null", [](nlohmann::json& j) { j["content"] = nullptr; },
                "invalid: content must be a string"},
        BadCase{"missing sig", [](nlohmann::json& j) { j.erase("sig"); },
                "invalid: missing field: sig"},
        BadCase{"missing tags", [](nlohmann::json& j) { j.erase("tags"); },
                "invalid: missing field: tags"}),
    test::ByName{});

TEST(Event, RejectsNonObjectsAndBadJson) {
  EXPECT_EQ(parse_event("[]").error().to_string(), "invalid: event must be a JSON object");
  EXPECT_EQ(parse_event("42").error().to_string(), "invalid: event must be a JSON object");
  auto r = parse_event("{\"id\":");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().message.starts_with("malformed JSON")) << r.error().message;
  std::string good = to_json(sample());
  EXPECT_FALSE(parse_event(good + "x"));
  EXPECT_FALSE(parse_event(good + "{}"));
  EXPECT_TRUE(parse_event(good + " \n"));
}

TEST(Event, RejectsDuplicateFields) {
  std::string json = to_json(sample());
  json.insert(1, "\"kind\":1,");
  auto r = parse_event(json);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "invalid: duplicate field: kind");
}

TEST(Event, RejectsInvalidUtf8AndLoneSurrogates) {
  Event e = sample("ok");
  std::string json = to_json(e);
  std::string bad_utf8 = json;
  bad_utf8.replace(bad_utf8.find("\"ok\""), 4, "\"\xff\"");
  EXPECT_FALSE(parse_event(bad_utf8));
  std::string lone = json;
  lone.replace(lone.find("\"ok\""), 4, R"("\ud800")");
  EXPECT_FALSE(parse_event(lone));
}

TEST(Event, DecodesEscapesBeforeHashing) {
  // \u00e9 and \/ on the wire are the same content as é and /; the id is over the canonical form.
  Event e = sample("é/");
  std::string json = to_json(e);
  json.replace(json.find("é/"), std::string("é/").size(), R"(\u00e9\/)");
  auto back = parse_verified_event(json);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->content, "é/");
}

TEST(Event, Limits) {
  EventLimits limits;
  limits.max_json_bytes = 100;
  auto r = parse_event(to_json(sample()), limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "invalid: event is larger than 100 bytes");

  limits = {};
  limits.max_tags = 2;
  EXPECT_FALSE(parse_event(to_json(sample("", {{"a"}, {"b"}, {"c"}})), limits));
  EXPECT_TRUE(parse_event(to_json(sample("", {{"a"}, {"b"}})), limits));
  limits.max_tag_values = 2;
  EXPECT_FALSE(parse_event(to_json(sample("", {{"a", "b", "c"}})), limits));
}

TEST(EventTemplate, ParsesAndDefaults) {
  auto t = parse_event_template(R"({"kind":7,"content":"+"})", 42);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind, 7);
  EXPECT_EQ(t->created_at, 42);
  EXPECT_TRUE(t->tags.empty());
  t = parse_event_template(R"({"kind":1,"tags":[["e","x"]],"created_at":5})", 42);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->created_at, 5);
  EXPECT_EQ(t->tags, (Tags{{"e", "x"}}));
  EXPECT_EQ(parse_event_template(R"({"content":""})", 0).error().to_string(),
            "invalid: missing field: kind");
  EXPECT_FALSE(parse_event_template(R"({"kind":1,"tags":[[1]]})", 0));
  EXPECT_FALSE(parse_event_template("nope", 0));
}

TEST(KindClass, Boundaries) {
  EXPECT_EQ(kind_class(0), KindClass::replaceable);
  EXPECT_EQ(kind_class(1), KindClass::regular);
  EXPECT_EQ(kind_class(3), KindClass::replaceable);
  EXPECT_EQ(kind_class(9999), KindClass::regular);
  EXPECT_EQ(kind_class(10000), KindClass::replaceable);
  EXPECT_EQ(kind_class(19999), KindClass::replaceable);
  EXPECT_EQ(kind_class(20000), KindClass::ephemeral);
  EXPECT_EQ(kind_class(29999), KindClass::ephemeral);
  EXPECT_EQ(kind_class(30000), KindClass::addressable);
  EXPECT_EQ(kind_class(39999), KindClass::addressable);
  EXPECT_EQ(kind_class(40000), KindClass::regular);
  EXPECT_EQ(kind_class(36090), KindClass::addressable);
  EXPECT_EQ(kind_class(26090), KindClass::ephemeral);
}

}  // namespace
}  // namespace fedai
