// Differential test: fedai's hand-written event parser against the reference parser built on
// nlohmann::json (tests/support/reference_event_parser.h). Both must accept the same inputs and
// read the same events, on valid events and on thousands of mutations of them.
#include <gtest/gtest.h>

#include <random>

#include "core/nostr/event.h"
#include "tests/support/reference_event_parser.h"

namespace fedai {
namespace {

// JSON.parse reads 1e400 as Infinity; nlohmann refuses it. Where the number is a field fedai
// ignores, fedai follows JSON.parse, so the reference's "number overflow" is not a disagreement.
bool reference_refuses_only_for_overflow(const Result<Event>& ref) {
  return !ref && ref.error().message.find("number overflow") != std::string::npos;
}

void expect_same(const std::string& input) {
  auto fast = parse_event(input);
  auto ref = test::reference_parse_event(input);
  if (reference_refuses_only_for_overflow(ref)) return;
  ASSERT_EQ(fast.ok(), ref.ok()) << "input: " << input
                                 << "\nfast: " << (fast ? "ok" : fast.error().to_string())
                                 << "\nreference: " << (ref ? "ok" : ref.error().to_string());
  if (fast) {
    EXPECT_EQ(*fast, *ref) << input;
  } else {
    EXPECT_EQ(fast.error().code, ErrorCode::invalid);
  }
}

std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {"a",
                                                  "Z",
                                                  " ",
                                                  "\"",
                                                  "\\",
                                                  "/",
                                                  "\n",
                                                  "\t",
                                                  std::string(1, '\0'),
                                                  "\x01",
                                                  "\x1f",
                                                  "\x7f",
                                                  "é",
                                                  "€",
                                                  "😀",
                                                  "日本",
                                                  "\xf4\x8f\xbf\xbf"};
  std::string s;
  int n = static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
  return s;
}

std::string random_event_json(std::mt19937& rng, const Keypair& keys) {
  Tags tags;
  int ntags = static_cast<int>(rng() % 4);
  for (int i = 0; i < ntags; ++i) {
    Tag t;
    int nv = static_cast<int>(rng() % 4);
    for (int j = 0; j < nv; ++j) t.push_back(random_text(rng));
    tags.push_back(t);
  }
  Event e = sign_event(
      {static_cast<Kind>(rng() % 65536), static_cast<UnixSeconds>(rng()), tags, random_text(rng)},
      keys);
  return to_json(e);
}

std::string mutate(std::string s, std::mt19937& rng) {
  static const std::vector<std::string> inserts = {
      ",",        ":",           "{",           "}",
      "[",        "]",           "\"",          "\\",
      "\\u",      "\\ud800",     "\\udc00",     "0",
      "-",        ".",           "e",           "1e400",
      "-0",       "01",          "null",        "true",
      " ",        "\xff",        "\xc0\x80",    "\xed\xa0\x80",
      "\xe2\x82", "\"x\":1,",    "\"kind\":1,", "\"id\":\"\",",
      "[[]]",     "{\"a\":[{}]}"};
  int n = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < n && !s.empty(); ++i) {
    std::size_t pos = rng() % s.size();
    switch (rng() % 4) {
      case 0:
        s.erase(pos, 1 + rng() % 4);
        break;
      case 1:
        s.insert(pos, inserts[rng() % inserts.size()]);
        break;
      case 2:
        s[pos] = static_cast<char>(rng() % 256);
        break;
      default:
        s.resize(pos);
        break;
    }
  }
  return s;
}

TEST(EventParseDifferential, ValidEventsAgree) {
  std::mt19937 rng(1);
  Keypair keys = Keypair::generate();
  for (int i = 0; i < 2000; ++i) {
    std::string json = random_event_json(rng, keys);
    ASSERT_TRUE(parse_event(json)) << json;
    expect_same(json);
  }
}

TEST(EventParseDifferential, MutationsAgree) {
  std::mt19937 rng(2);
  Keypair keys = Keypair::generate();
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string json = mutate(random_event_json(rng, keys), rng);
    expect_same(json);
    if (HasFatalFailure()) return;
    accepted += parse_event(json).ok();
  }
  // The mutations must exercise both outcomes, or this test proves little.
  EXPECT_GT(accepted, 100);
  EXPECT_LT(accepted, 19000);
}

TEST(EventParseDifferential, EdgeCasesAgree) {
  Keypair keys = Keypair::generate();
  std::string base = to_json(sign_event({1, 5, {{"e", "x"}}, "hi"}, keys));
  std::string body = base.substr(1);  // without the opening brace
  for (const std::string& input : std::vector<std::string>{
           "\xEF\xBB\xBF" + base,       // byte order mark
           "{\"extra\":1e400," + body,  // huge float in an ignored field
           "{\"x\":-0," + body,         // -0 in an ignored field
           "{\"x\":" + std::string(70, '[') + std::string(70, ']') + "," + body,  // deep
           "{\"x\":" + std::string(60, '[') + std::string(60, ']') + "," + body,  // not so deep
           "{\"x\":{\"id\":1}," + body,  // a nested "id" is not the event's
           "{}",
           "[]",
           "",
           " ",
           "null",
           "{\"id\"}",
           base + ",",
           base + "}",
       }) {
    expect_same(input);
  }
}

}  // namespace
}  // namespace fedai
