#include "core/nostr/filter.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/nostr/filter_reader.h"
#include "tests/support/param_names.h"

namespace fedai {
namespace {

const std::string kHexA(64, 'a');
const std::string kHexB(64, 'b');
const std::string kHexC(64, 'c');

std::string reason(const Result<Filter>& r) {
  return r ? std::string("(accepted)") : r.error().to_string();
}

Event event_with(Kind kind, UnixSeconds created_at, Tags tags = {}) {
  Event e;
  e.id = *EventId::from_hex(kHexA);
  e.pubkey = *PublicKey::from_hex(kHexB);
  e.kind = kind;
  e.created_at = created_at;
  e.tags = std::move(tags);
  return e;
}

Filter must_parse(std::string_view json) {
  auto r = parse_filter(json);
  if (!r) throw std::runtime_error(std::string(json) + " -> " + r.error().to_string());
  return *r;
}

TEST(Filter, ParsesEveryFieldAndNormalizes) {
  auto r = parse_filter(R"({"ids":[")" + kHexB + R"(",")" + kHexA + R"(",")" + kHexB +
                        R"("],"authors":[")" + kHexC + R"("],"kinds":[7,1,7,36090],)" +
                        R"("#t":["z","a","z"],"#e":[")" + kHexA + R"("],"#T":["x"],)" +
                        R"("since":10,"until":20,"limit":5})");
  ASSERT_TRUE(r) << reason(r);
  const Filter& f = *r;
  ASSERT_TRUE(f.ids);
  EXPECT_EQ(*f.ids, (std::vector<EventId>{*EventId::from_hex(kHexA), *EventId::from_hex(kHexB)}));
  EXPECT_EQ(*f.authors, (std::vector<PublicKey>{*PublicKey::from_hex(kHexC)}));
  EXPECT_EQ(*f.kinds, (std::vector<Kind>{1, 7, 36090}));
  ASSERT_EQ(f.tags.size(), 3u);
  EXPECT_EQ(f.tags[0].letter, 'T');  // ASCII order: uppercase first
  EXPECT_EQ(f.tags[1].letter, 'e');
  EXPECT_EQ(f.tags[2].letter, 't');
  EXPECT_EQ(f.tags[2].values, (std::vector<std::string>{"a", "z"}));
  EXPECT_EQ(f.tag('t'), &f.tags[2]);
  EXPECT_EQ(f.tag('x'), nullptr);
  EXPECT_EQ(f.since, 10);
  EXPECT_EQ(f.until, 20);
  EXPECT_EQ(f.limit, 5u);
  EXPECT_TRUE(f.is_normalized());
  EXPECT_FALSE(f.matches_nothing());
}

TEST(Filter, EmptyObjectMatchesEverything) {
  Filter f = must_parse("{}");
  EXPECT_EQ(f, Filter{});
  EXPECT_TRUE(matches(f, event_with(1, 0)));
  EXPECT_TRUE(matches(f, event_with(65535, kMaxCreatedAt, {{"x"}})));
  EXPECT_EQ(to_json(f), "{}");
}

TEST(Filter, EmptyListsArePresentAndMatchNothing) {
  for (const char* json :
       {R"({"ids":[]})", R"({"authors":[]})", R"({"kinds":[]})", R"({"#t":[]})"}) {
    Filter f = must_parse(json);
    EXPECT_TRUE(f.matches_nothing()) << json;
    EXPECT_FALSE(matches(f, event_with(1, 5, {{"t", "x"}}))) << json;
    EXPECT_EQ(to_json(f), json);
  }
  Filter f = must_parse(R"({"ids":[]})");
  ASSERT_TRUE(f.ids);
  EXPECT_TRUE(f.ids->empty());
}

TEST(Filter, SinceAfterUntilMatchesNothing) {
  Filter f = must_parse(R"({"since":11,"until":10})");
  EXPECT_TRUE(f.matches_nothing());
  for (UnixSeconds t : {9, 10, 11, 12}) EXPECT_FALSE(matches(f, event_with(1, t)));
}

TEST(Filter, AcceptsEdgeValues) {
  Filter f = must_parse(R"( { "since" : -0 , "until" : 9007199254740991, "limit": 0 } )");
  EXPECT_EQ(f.since, 0);
  EXPECT_EQ(f.until, kMaxCreatedAt);
  EXPECT_EQ(f.limit, 0u);
  // A limit beyond 32 bits saturates: the relay caps it anyway.
  EXPECT_EQ(must_parse(R"({"limit":18446744073709551615})").limit, UINT32_MAX);
  EXPECT_EQ(must_parse(R"({"limit":4294967296})").limit, UINT32_MAX);
  EXPECT_EQ(must_parse(R"({"kinds":[0,65535]})").kinds, (std::vector<Kind>{0, 65535}));
  // Escapes in tag values decode; any string is a value for letters other than e and p.
  EXPECT_EQ(must_parse(R"({"#t":["a\"b\u00e9\n",""]})").tag('t')->values,
            (std::vector<std::string>{"", "a\"bé\n"}));
  // "#E" and "#P" are other letters: any string.
  EXPECT_EQ(must_parse(R"({"#E":["x"]})").tag('E')->values, std::vector<std::string>{"x"});
}

struct BadFilter {
  const char* name;
  std::string json;
  std::string reason;
};

class FilterRejects : public ::testing::TestWithParam<BadFilter> {};

TEST_P(FilterRejects, WithReason) {
  auto r = parse_filter(GetParam().json);
  ASSERT_FALSE(r) << GetParam().json;
  EXPECT_EQ(r.error().to_string(), GetParam().reason);
  // The DOM overload refuses it for the same reason when the text is valid JSON.
  auto j = nlohmann::json::parse(GetParam().json, nullptr, false);
  if (!j.is_discarded() && GetParam().reason.find("duplicate") == std::string::npos) {
    auto r2 = parse_filter(j);
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().to_string(), GetParam().reason);
  }
}

const std::string kSinceReason = "invalid: since must be an integer between 0 and 9007199254740991";

INSTANTIATE_TEST_SUITE_P(
    Filter, FilterRejects,
    ::testing::Values(
        BadFilter{"array", "[]", "invalid: filter must be a JSON object"},
        BadFilter{"number", "42", "invalid: filter must be a JSON object"},
        BadFilter{"empty input", "", "invalid: filter must be a JSON object"},
        BadFilter{"unknown field", R"({"foo":1})", "invalid: unknown filter field 'foo'"},
        BadFilter{"unknown after good", R"({"kinds":[1],"foo":[]})",
                  "invalid: unknown filter field 'foo'"},
        BadFilter{"control bytes in key", R"({"\u0001x\u00e9":1})",
                  "invalid: unknown filter field '?x?"
                  "?'"},
        BadFilter{"long key", R"({")" + std::string(50, 'k') + R"(":1})",
                  "invalid: unknown filter field '" + std::string(40, 'k') + "...'"},
        BadFilter{"nip50 search", R"({"search":"bitcoin"})",
                  "invalid: unsupported filter field 'search' (NIP-50)"},
        BadFilter{"ids not array", R"({"ids":")" + kHexA + R"("})",
                  "invalid: ids must be an array"},
        BadFilter{"ids null", R"({"ids":null})", "invalid: ids must be an array"},
        BadFilter{
            "ids[2] uppercase",
            R"({"ids":[")" + kHexA + R"(",")" + kHexB + R"(","AA)" + kHexA.substr(2) + R"("]})",
            "invalid: ids[2] must be 64 lowercase hex characters"},
        BadFilter{"ids prefix", R"({"ids":["abcd"]})",
                  "invalid: ids[0] must be 64 lowercase hex characters"},
        BadFilter{"ids number", R"({"ids":[1]})",
                  "invalid: ids[0] must be 64 lowercase hex characters"},
        BadFilter{"ids nested", R"({"ids":[[]]})",
                  "invalid: ids[0] must be 64 lowercase hex characters"},
        BadFilter{"authors[1] short", R"({"authors":[")" + kHexA + R"(","ab"]})",
                  "invalid: authors[1] must be 64 lowercase hex characters"},
        BadFilter{"authors object", R"({"authors":{}})", "invalid: authors must be an array"},
        BadFilter{"kinds number", R"({"kinds":1})", "invalid: kinds must be an array"},
        BadFilter{"kinds too big", R"({"kinds":[1,65536]})",
                  "invalid: kinds[1] must be an integer between 0 and 65535"},
        BadFilter{"kinds negative", R"({"kinds":[-1]})",
                  "invalid: kinds[0] must be an integer between 0 and 65535"},
        BadFilter{"kinds float", R"({"kinds":[1.5]})",
                  "invalid: kinds[0] must be an integer between 0 and 65535"},
        BadFilter{"kinds exponent", R"({"kinds":[1e2]})",
                  "invalid: kinds[0] must be an integer between 0 and 65535"},
        BadFilter{"kinds string", R"({"kinds":["1"]})",
                  "invalid: kinds[0] must be an integer between 0 and 65535"},
        BadFilter{"tag two letters", R"({"#ab":["x"]})",
                  "invalid: tag filter '#ab' must name a single letter a-z or A-Z"},
        BadFilter{"tag digit", R"({"#1":["x"]})",
                  "invalid: tag filter '#1' must name a single letter a-z or A-Z"},
        BadFilter{"tag bare hash", R"({"#":["x"]})",
                  "invalid: tag filter '#' must name a single letter a-z or A-Z"},
        BadFilter{"tag non-ascii", R"({"#é":["x"]})",
                  "invalid: tag filter '#?"
                  "?' must name a single letter a-z or A-Z"},
        BadFilter{"tag not array", R"({"#t":"x"})", "invalid: #t must be an array"},
        BadFilter{"tag number value", R"({"#t":["x",1]})", "invalid: #t[1] must be a string"},
        BadFilter{"tag null value", R"({"#t":[null]})", "invalid: #t[0] must be a string"},
        BadFilter{"#e not hex", R"({"#e":["note1xyz"]})",
                  "invalid: #e[0] must be 64 lowercase hex characters"},
        BadFilter{"#p uppercase", R"({"#p":[")" + std::string(64, 'A') + R"("]})",
                  "invalid: #p[0] must be 64 lowercase hex characters"},
        BadFilter{"#p number", R"({"#p":[5]})",
                  "invalid: #p[0] must be 64 lowercase hex characters"},
        BadFilter{"since negative", R"({"since":-1})", kSinceReason},
        BadFilter{"since float", R"({"since":1.5})", kSinceReason},
        BadFilter{"since string", R"({"since":"1"})", kSinceReason},
        BadFilter{"since null", R"({"since":null})", kSinceReason},
        BadFilter{"since too big", R"({"since":9007199254740992})", kSinceReason},
        BadFilter{"since beyond 64 bits", R"({"since":99999999999999999999})", kSinceReason},
        BadFilter{"until array", R"({"until":[1]})",
                  "invalid: until must be an integer between 0 and 9007199254740991"},
        BadFilter{"limit negative", R"({"limit":-5})",
                  "invalid: limit must be a non-negative integer"},
        BadFilter{"limit float", R"({"limit":10.0})",
                  "invalid: limit must be a non-negative integer"},
        BadFilter{"limit string", R"({"limit":"10"})",
                  "invalid: limit must be a non-negative integer"},
        BadFilter{"limit true", R"({"limit":true})",
                  "invalid: limit must be a non-negative integer"},
        BadFilter{"duplicate kinds", R"({"kinds":[1],"kinds":[2]})",
                  "invalid: duplicate filter field 'kinds'"},
        BadFilter{"duplicate since", R"({"since":1,"since":1})",
                  "invalid: duplicate filter field 'since'"},
        BadFilter{"duplicate tag", R"({"#t":["a"],"#t":["b"]})",
                  "invalid: duplicate filter field '#t'"},
        BadFilter{"trailing garbage", R"({"kinds":[1]} x)",
                  "invalid: malformed JSON: unexpected characters after the filter at byte 14"}),
    test::ByName{});

TEST(Filter, MalformedJsonIsReportedAsSuch) {
  for (const char* json :
       {"{", R"({"kinds":[1,]})", R"({"kinds" [1]})", R"({"ids":[")", R"({"#t":["\x"]})",
        "{\"#t\":[\"\xff\"]}", R"({"since":01})", R"({"since":1}})", R"({"ids":[tru]})"}) {
    auto r = parse_filter(json);
    ASSERT_FALSE(r) << json;
    EXPECT_TRUE(r.error().to_string().starts_with("invalid: malformed JSON: ")) << reason(r);
  }
}

TEST(Filter, Limits) {
  FilterLimits limits;
  limits.max_ids = 2;
  limits.max_authors = 1;
  limits.max_kinds = 3;
  limits.max_tag_filters = 2;
  limits.max_tag_values = 2;
  limits.max_tag_value_bytes = 4;
  auto check = [&](const std::string& json, const std::string& why) {
    auto r = parse_filter(json, limits);
    ASSERT_FALSE(r) << json;
    EXPECT_EQ(r.error().to_string(), why);
  };
  auto ok = [&](const std::string& json) { EXPECT_TRUE(parse_filter(json, limits)) << json; };
  ok(R"({"ids":[")" + kHexA + R"(",")" + kHexA + R"("]})");
  check(R"({"ids":[")" + kHexA + R"(",")" + kHexA + R"(",")" + kHexA + R"("]})",
        "invalid: ids has more than 2 values");
  check(R"({"authors":[")" + kHexA + R"(",")" + kHexB + R"("]})",
        "invalid: authors has more than 1 values");
  ok(R"({"kinds":[1,2,3]})");
  check(R"({"kinds":[1,2,3,4]})", "invalid: kinds has more than 3 values");
  ok(R"({"#a":[],"#b":[]})");
  check(R"({"#a":[],"#b":[],"#c":[]})", "invalid: more than 2 tag filters");
  check(R"({"#t":["a","b","c"]})", "invalid: #t has more than 2 values");
  ok(R"({"#t":["abcd"]})");
  check(R"({"#t":["x","abcde"]})", "invalid: #t[1] is longer than 4 bytes");

  limits = {};
  limits.max_json_bytes = 10;
  ok("{}");
  check(R"({"kinds":[1]})", "invalid: filter is larger than 10 bytes");
}

TEST(Filter, DomOverloadMatchesTextParse) {
  std::string text = R"({"authors":[")" + kHexB + R"(",")" + kHexA + R"("],"#t":["b","a"],)" +
                     R"("kinds":[3,1],"limit":7,"since":1,"until":2})";
  auto from_text = parse_filter(text);
  auto from_dom = parse_filter(nlohmann::json::parse(text));
  ASSERT_TRUE(from_text) << reason(from_text);
  ASSERT_TRUE(from_dom) << reason(from_dom);
  EXPECT_EQ(*from_text, *from_dom);

  nlohmann::json bad = {{"#t", {std::string("\xff")}}};
  auto r = parse_filter(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "invalid: filter contains a string that is not valid UTF-8");
}

TEST(Filter, ReadFilterLeavesTheCursorAfterTheObject) {
  std::string msg = R"({"kinds":[1]},{"#t":["x"]}])";
  JsonReader r(msg);
  auto a = read_filter(r);
  ASSERT_TRUE(a) << reason(a);
  ASSERT_TRUE(r.consume(','));
  auto b = read_filter(r);
  ASSERT_TRUE(b) << reason(b);
  EXPECT_TRUE(r.consume(']'));
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(*a->kinds, std::vector<Kind>{1});
  EXPECT_EQ(b->tag('t')->values, std::vector<std::string>{"x"});
}

TEST(Filters, ParsesAListWithReasonsPerFilter) {
  auto r = parse_filters(R"([{"kinds":[1]},{"#t":["x"]},{}])");
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[2], Filter{});
  EXPECT_TRUE(parse_filters("[]"));
  EXPECT_TRUE(parse_filters(nlohmann::json::parse(R"([{"limit":1}])")));

  auto bad = parse_filters(R"([{"kinds":[1]},{"kinds":[70000]}])");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().to_string(),
            "invalid: filters[1]: kinds[0] must be an integer between 0 and 65535");
  EXPECT_EQ(parse_filters(R"([{},5])").error().to_string(),
            "invalid: filters[1]: filter must be a JSON object");
  EXPECT_EQ(parse_filters(R"({"kinds":[1]})").error().to_string(),
            "invalid: filters must be a JSON array");
  FilterLimits limits;
  limits.max_filters = 2;
  EXPECT_EQ(parse_filters("[{},{},{}]", limits).error().to_string(),
            "invalid: more than 2 filters");
  EXPECT_TRUE(parse_filters("[{},{}]", limits));
  EXPECT_TRUE(parse_filters(R"([{}] )").ok());
  EXPECT_FALSE(parse_filters(R"([{}] [])"));
}

TEST(Filter, MatchesPerNip01) {
  Filter f = must_parse(R"({"kinds":[1],"since":100,"until":200})");
  EXPECT_FALSE(matches(f, event_with(1, 99)));
  EXPECT_TRUE(matches(f, event_with(1, 100)));  // since <= created_at
  EXPECT_TRUE(matches(f, event_with(1, 200)));  // created_at <= until
  EXPECT_FALSE(matches(f, event_with(1, 201)));
  EXPECT_FALSE(matches(f, event_with(2, 150)));

  Filter ids = must_parse(R"({"ids":[")" + kHexA + R"("],"authors":[")" + kHexB + R"("]})");
  EXPECT_TRUE(matches(ids, event_with(1, 0)));
  Event other = event_with(1, 0);
  other.pubkey = *PublicKey::from_hex(kHexC);
  EXPECT_FALSE(matches(ids, other));
  other = event_with(1, 0);
  other.id = *EventId::from_hex(kHexC);
  EXPECT_FALSE(matches(ids, other));
}

TEST(Filter, TagMatchingLooksAtTheFirstValueOfTagsNamedByTheLetter) {
  Filter f = must_parse(R"({"#t":["x","y"]})");
  EXPECT_TRUE(matches(f, event_with(1, 0, {{"t", "y"}})));
  EXPECT_TRUE(matches(f, event_with(1, 0, {{"a", "b"}, {"t", "q"}, {"t", "x", "extra"}})));
  EXPECT_FALSE(matches(f, event_with(1, 0, {{"t", "q", "x"}})));  // only the first value counts
  EXPECT_FALSE(matches(f, event_with(1, 0, {{"t"}})));
  EXPECT_FALSE(matches(f, event_with(1, 0, {{"tt", "x"}})));
  EXPECT_FALSE(matches(f, event_with(1, 0, {{"T", "x"}})));  // letters are case-sensitive
  EXPECT_FALSE(matches(f, event_with(1, 0, {{"x", "t"}})));
  EXPECT_FALSE(matches(f, event_with(1, 0)));

  // Several tag filters: each must be satisfied (AND), by possibly different tags.
  Filter two = must_parse(R"({"#t":["x"],"#d":["k"]})");
  EXPECT_TRUE(matches(two, event_with(1, 0, {{"d", "k"}, {"t", "x"}})));
  EXPECT_FALSE(matches(two, event_with(1, 0, {{"t", "x"}})));
  EXPECT_FALSE(matches(two, event_with(1, 0, {{"d", "k"}})));
}

TEST(Filter, MatchesAnyIsAnOr) {
  std::vector<Filter> fs = {must_parse(R"({"kinds":[1]})"), must_parse(R"({"kinds":[2]})")};
  EXPECT_TRUE(matches_any(fs, event_with(1, 0)));
  EXPECT_TRUE(matches_any(fs, event_with(2, 0)));
  EXPECT_FALSE(matches_any(fs, event_with(3, 0)));
  EXPECT_FALSE(matches_any({}, event_with(1, 0)));
}

TEST(Filter, ToJsonIsCanonical) {
  Filter f = must_parse(R"({"limit":3,"#t":["b","a\n"],"until":9,"since":8,"kinds":[2,1],)" +
                        std::string(R"("authors":[")") + kHexB + R"("],"ids":[")" + kHexA +
                        R"("],"#T":["\u007f"]})");
  EXPECT_EQ(to_json(f), R"({"ids":[")" + kHexA + R"("],"authors":[")" + kHexB +
                            R"("],"kinds":[1,2],"#T":[")" + "\x7f" + R"("],"#t":["a\n","b"],)" +
                            R"("since":8,"until":9,"limit":3})");
  EXPECT_EQ(must_parse(to_json(f)), f);
  std::vector<Filter> list = {f, Filter{}};
  auto back = parse_filters(to_json(list));
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, list);
}

TEST(Filter, NormalizeSortsAndRefusesWhatJsonCannotSay) {
  Filter f;
  f.kinds = {5, 1, 5};
  f.tags = {{'t', {"b", "a", "b"}}, {'e', {kHexB, kHexA}}};
  f.authors = std::vector<PublicKey>{*PublicKey::from_hex(kHexB), *PublicKey::from_hex(kHexA)};
  EXPECT_FALSE(f.is_normalized());
  f.normalize();
  EXPECT_TRUE(f.is_normalized());
  EXPECT_EQ(*f.kinds, (std::vector<Kind>{1, 5}));
  EXPECT_EQ(f.tags[0].letter, 'e');
  EXPECT_EQ(f.tags[1].values, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(must_parse(to_json(f)), f);

  Filter twice;
  twice.tags = {{'t', {"a"}}, {'t', {"b"}}};
  EXPECT_THROW(twice.normalize(), std::invalid_argument);
  Filter digit;
  digit.tags = {{'1', {"a"}}};
  EXPECT_THROW(digit.normalize(), std::invalid_argument);
}

// ---- Randomized property test: matches() against a simple reimplementation. ----

// The reference reads the filter as JSON, the way nostr-tools' matchFilter does: linear scans,
// no sorting, no parsing into typed values.
bool reference_match(const nlohmann::json& f, const Event& e) {
  for (const auto& [key, value] : f.items()) {
    auto contains = [&](const nlohmann::json& v) {
      return std::find(value.begin(), value.end(), v) != value.end();
    };
    if (key == "ids") {
      if (!contains(e.id.hex())) return false;
    } else if (key == "authors") {
      if (!contains(e.pubkey.hex())) return false;
    } else if (key == "kinds") {
      if (!contains(e.kind)) return false;
    } else if (key == "since") {
      if (e.created_at < value.get<std::int64_t>()) return false;
    } else if (key == "until") {
      if (e.created_at > value.get<std::int64_t>()) return false;
    } else if (key[0] == '#') {
      bool any = false;
      for (const Tag& t : e.tags)
        if (t.size() >= 2 && t[0] == key.substr(1) && contains(t[1])) any = true;
      if (!any) return false;
    }
  }
  return true;
}

class RandomWorld {
 public:
  explicit RandomWorld(std::uint32_t seed) : rng_(seed) {
    for (int i = 0; i < 6; ++i) hexes_.push_back(random_hex());
  }

  Event event() {
    Event e;
    e.id = *EventId::from_hex(pick(hexes_));
    e.pubkey = *PublicKey::from_hex(pick(hexes_));
    e.kind = pick(kKinds);
    e.created_at = uniform(0, 20);
    int n = static_cast<int>(uniform(0, 4));
    for (int i = 0; i < n; ++i) {
      Tag t{std::string(1, pick(kLetters))};
      int values = static_cast<int>(uniform(0, 2));
      for (int v = 0; v < values; ++v) t.push_back(tag_value(t[0][0]));
      if (uniform(0, 9) == 0) t[0] += "x";  // multi-letter names never match
      e.tags.push_back(std::move(t));
    }
    return e;
  }

  nlohmann::json filter() {
    nlohmann::json f = nlohmann::json::object();
    if (chance()) f["ids"] = list([&] { return nlohmann::json(pick(hexes_)); });
    if (chance()) f["authors"] = list([&] { return nlohmann::json(pick(hexes_)); });
    if (chance()) f["kinds"] = list([&] { return nlohmann::json(pick(kKinds)); });
    if (chance()) f["since"] = uniform(0, 20);
    if (chance()) f["until"] = uniform(0, 20);
    if (chance()) f["limit"] = uniform(0, 100);
    for (char letter : kLetters)
      if (uniform(0, 4) == 0)
        f[std::string("#") + letter] = list([&] { return nlohmann::json(tag_value(letter)); });
    return f;
  }

 private:
  static constexpr Kind kKinds[] = {0, 1, 7, 30000, 36090};
  static constexpr char kLetters[] = {'e', 'p', 't', 'T', 'd'};

  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  bool chance() { return uniform(0, 2) == 0; }
  template <class T, std::size_t N>
  T pick(const T (&a)[N]) {
    return a[uniform(0, N - 1)];
  }
  std::string pick(const std::vector<std::string>& v) {
    return v[static_cast<std::size_t>(uniform(0, static_cast<std::int64_t>(v.size()) - 1))];
  }
  std::string random_hex() {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < 64; ++i) s += kDigits[uniform(0, 15)];
    return s;
  }
  std::string tag_value(char letter) {
    if (letter == 'e' || letter == 'p') return pick(hexes_);
    static const std::vector<std::string> kWords = {"", "a", "b", "c", "é", "a b"};
    return pick(kWords);
  }
  template <class Make>
  nlohmann::json list(Make make) {
    nlohmann::json a = nlohmann::json::array();
    int n = static_cast<int>(uniform(0, 3));  // 0: an empty list, which matches nothing
    for (int i = 0; i < n; ++i) a.push_back(make());
    return a;
  }

  std::mt19937 rng_;
  std::vector<std::string> hexes_;
};

TEST(FilterProperty, MatchesAgreesWithAReferenceAndRoundTrips) {
  RandomWorld world(20240611);
  std::vector<Event> events;
  for (int i = 0; i < 2000; ++i) events.push_back(world.event());
  int matched = 0, compared = 0;
  for (int i = 0; i < 1000; ++i) {
    nlohmann::json fj = world.filter();
    auto parsed = parse_filter(fj.dump());
    ASSERT_TRUE(parsed) << fj.dump() << " -> " << parsed.error().to_string();
    ASSERT_TRUE(parsed->is_normalized());
    auto again = parse_filter(to_json(*parsed));
    ASSERT_TRUE(again) << to_json(*parsed);
    ASSERT_EQ(*again, *parsed) << fj.dump();
    // Each filter against a slice of the events: 1000 filters x 200 events.
    for (int k = 0; k < 200; ++k) {
      const Event& e = events[static_cast<std::size_t>((i * 7 + k * 13) % 2000)];
      bool expected = reference_match(fj, e);
      ASSERT_EQ(matches(*parsed, e), expected)
          << "filter " << fj.dump() << "\nevent " << to_json(e);
      ++compared;
      matched += expected;
    }
  }
  // The generator must exercise both outcomes, or the comparison proves little.
  EXPECT_EQ(compared, 200000);
  EXPECT_GT(matched, 2000);
  EXPECT_LT(matched, compared - 2000);
}

}  // namespace
}  // namespace fedai
