#include "core/nostr/nip98.h"

#include <gtest/gtest.h>

#include <string>

#include "core/util/base64.h"
#include "tests/support/param_names.h"

namespace fedai {
namespace {

constexpr UnixSeconds kNow = 1700000000;
const std::string kUrl = "https://node.example/v1/jobs?x=1&y=%20";

const Keypair& test_keys() {
  static Keypair keys(*SecretKey::from_hex(std::string(63, '0') + "3"));
  return keys;
}

// Signs an arbitrary kind-27235-like event, for the refusals a well-behaved builder can't make.
std::string header_for(EventTemplate t) {
  return authorization_header(sign_event(std::move(t), test_keys()));
}

EventTemplate get_template(UnixSeconds at = kNow) {
  return {kHttpAuthKind, at, {{"u", kUrl}, {"method", "GET"}}, ""};
}

std::string refusal(const Result<Event>& r) {
  return r ? std::string("(accepted)") : r.error().to_string();
}

TEST(Nip98, PayloadHashIsLowercaseHexSha256) {
  EXPECT_EQ(payload_hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(payload_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Nip98, GetRoundTrip) {
  Event e = make_http_auth(test_keys(), kUrl, "GET", std::nullopt, kNow);
  EXPECT_EQ(e.kind, 27235);
  EXPECT_EQ(e.created_at, kNow);
  EXPECT_EQ(e.content, "");
  EXPECT_EQ(e.tags, (Tags{{"u", kUrl}, {"method", "GET"}}));
  std::string header = authorization_header(e);
  EXPECT_EQ(header, "Nostr " + base64::encode(to_json(e)));
  auto r = verify_http_auth(header, kUrl, "GET", std::nullopt, kNow);
  ASSERT_TRUE(r) << refusal(r);
  EXPECT_EQ(*r, e);
}

TEST(Nip98, PostWithBody) {
  std::string body = R"({"model":"m","prompt":"hi"})";
  Event e = make_http_auth(test_keys(), kUrl, "POST", body, kNow);
  EXPECT_EQ(e.tag_value("payload"), payload_hash(body));
  auto r = verify_http_auth(authorization_header(e), kUrl, "POST", body, kNow);
  ASSERT_TRUE(r) << refusal(r);
  EXPECT_EQ(r->id, e.id);

  auto other = verify_http_auth(authorization_header(e), kUrl, "POST", body + " ", kNow);
  EXPECT_EQ(refusal(other), "invalid: NIP-98 payload does not match the request body");
  // A payload tag binds the absence of a body too.
  EXPECT_EQ(refusal(verify_http_auth(authorization_header(e), kUrl, "POST", std::nullopt, kNow)),
            "invalid: NIP-98 payload does not match the request body");
}

TEST(Nip98, EmptyBodyNeedsNoPayloadButAnEmptyPayloadMatches) {
  Event no_payload = make_http_auth(test_keys(), kUrl, "POST", std::nullopt, kNow);
  EXPECT_TRUE(verify_http_auth(authorization_header(no_payload), kUrl, "POST", "", kNow));
  Event empty_payload = make_http_auth(test_keys(), kUrl, "POST", "", kNow);
  EXPECT_TRUE(verify_http_auth(authorization_header(empty_payload), kUrl, "POST", "", kNow));
  EXPECT_TRUE(
      verify_http_auth(authorization_header(empty_payload), kUrl, "POST", std::nullopt, kNow));
}

TEST(Nip98, BodyWithoutPayloadTagIsRefused) {
  Event e = make_http_auth(test_keys(), kUrl, "POST", std::nullopt, kNow);
  EXPECT_EQ(refusal(verify_http_auth(authorization_header(e), kUrl, "POST", "x", kNow)),
            "invalid: NIP-98 event has no payload tag for a request with a body");
}

TEST(Nip98, TimeWindowIsInclusive) {
  std::string header = header_for(get_template());
  EXPECT_TRUE(verify_http_auth(header, kUrl, "GET", std::nullopt, kNow + 60));
  EXPECT_TRUE(verify_http_auth(header, kUrl, "GET", std::nullopt, kNow - 60));
  EXPECT_EQ(refusal(verify_http_auth(header, kUrl, "GET", std::nullopt, kNow + 61)),
            "invalid: NIP-98 event is too old (created 61 s ago, window 60 s)");
  EXPECT_EQ(refusal(verify_http_auth(header, kUrl, "GET", std::nullopt, kNow - 61)),
            "invalid: NIP-98 event is dated 61 s in the future (window 60 s)");
  EXPECT_TRUE(verify_http_auth(header, kUrl, "GET", std::nullopt, kNow + 5, 5));
  EXPECT_FALSE(verify_http_auth(header, kUrl, "GET", std::nullopt, kNow + 6, 5));
  EXPECT_TRUE(verify_http_auth(header, kUrl, "GET", std::nullopt, kNow, 0));
  // Extreme clocks don't overflow.
  EXPECT_FALSE(verify_http_auth(header, kUrl, "GET", std::nullopt, INT64_MIN));
  EXPECT_FALSE(verify_http_auth(header, kUrl, "GET", std::nullopt, INT64_MAX));
  EXPECT_TRUE(verify_http_auth(header, kUrl, "GET", std::nullopt, INT64_MAX, INT64_MAX));
}

TEST(Nip98, SchemeAndWhitespace) {
  Event e = make_http_auth(test_keys(), kUrl, "GET", std::nullopt, kNow);
  std::string token = base64::encode(to_json(e));
  for (std::string h :
       {"Nostr " + token, "nostr " + token, "NOSTR\t" + token, "  Nostr   " + token + " \t"})
    EXPECT_TRUE(verify_http_auth(h, kUrl, "GET", std::nullopt, kNow)) << h;
}

TEST(Nip98, MethodComparisonIgnoresCase) {
  // nostr-tools compares methods case-insensitively, and fetch() upper-cases "post" on the wire
  // while the token says "post".
  std::string header = header_for({kHttpAuthKind, kNow, {{"u", kUrl}, {"method", "post"}}, ""});
  EXPECT_TRUE(verify_http_auth(header, kUrl, "POST", std::nullopt, kNow));
  EXPECT_EQ(refusal(verify_http_auth(header, kUrl, "PUT", std::nullopt, kNow)),
            "invalid: NIP-98 event is for a different method");
}

TEST(Nip98, AcceptsATokenFromNostrTools) {
  // nostr-tools 2.25.2: getToken(kUrl, 'get', finalizeEvent(., secret 3), true) at 1700000000.
  // Its JSON has the fields in another order (kind, tags, created_at, content, pubkey, id, sig).
  const std::string header =
      "Nostr "
      "eyJraW5kIjoyNzIzNSwidGFncyI6W1sidSIsImh0dHBzOi8vbm9kZS5leGFtcGxlL3YxL2pvYnM/"
      "eD0xJnk9JTIwIl0sWyJtZXRob2QiLCJnZXQiXV0sImNyZWF0ZWRfYXQiOjE3MDAwMDAwMDAsImNvbnRlbnQiOiIiLCJw"
      "dWJrZXkiOiJmOTMwOGEwMTkyNThjMzEwNDkzNDRmODVmODlkNTIyOWI1MzFjODQ1ODM2Zjk5YjA4NjAxZjExM2JjZTAz"
      "NmY5IiwiaWQiOiJkN2E4NDQwYmQzZGZkMDgzMmFhNTg5OTliMzdjMTMyNGM4ZTU4NTE1MTQwNmYzM2I4MTAwYzBlOGM2"
      "ZDExY2ZmIiwic2lnIjoiOGYxMjZiOGZkNDQ5NDg3NGRhODFlMDdiZTRhZGZkM2E1ZGMwZGI0OGQ0MjExZWY5M2VjZjY3"
      "MTRlYmZiOWQxYmUzNGI3ODZlNjk3M2ZlOWY1ZTIwMTRlMzI2ZGQxNGNjYjM2YzE1YWEyYmI1NmNjZmRiZjU1ZTE1ODMy"
      "N2UzZGYifQ==";
  auto r = verify_http_auth(header, kUrl, "GET", std::nullopt, kNow + 3);
  ASSERT_TRUE(r) << refusal(r);
  EXPECT_EQ(r->pubkey, test_keys().public_key());
  EXPECT_EQ(r->id.hex(), "d7a8440bd3dfd0832aa58999b37c1324c8e585151406f33b8100c0e8c6d11cff");
}

struct Refusal {
  const char* name;
  std::string header;
  std::string reason;
  std::string url = kUrl;
  std::string method = "GET";
  std::optional<std::string> body = std::nullopt;
};

class Nip98Refuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(Nip98Refuses, WithReason) {
  const Refusal& c = GetParam();
  std::optional<std::string_view> body;
  if (c.body) body = *c.body;
  auto r = verify_http_auth(c.header, c.url, c.method, body, kNow);
  ASSERT_FALSE(r) << c.name;
  EXPECT_EQ(r.error().to_string(), c.reason);
}

std::string good_token() {
  return base64::encode(to_json(sign_event(get_template(), test_keys())));
}

std::string tampered_header(void (*mutate)(Event&)) {
  Event e = sign_event(get_template(), test_keys());
  mutate(e);
  return authorization_header(e);
}

std::vector<Refusal> refusals() {
  std::vector<Refusal> out = {
      {"empty header", "", "auth-required: NIP-98 Authorization header is missing"},
      {"blank header", " \t ", "auth-required: NIP-98 Authorization header is missing"},
      {"bearer scheme", "Bearer " + good_token(), "invalid: Authorization scheme must be Nostr"},
      {"token without scheme", good_token(), "invalid: Authorization scheme must be Nostr"},
      {"scheme glued to token", "Nostr" + good_token(),
       "invalid: Authorization scheme must be Nostr"},
      {"no token", "Nostr", "invalid: NIP-98 token is missing"},
      {"no token but spaces", "Nostr   ", "invalid: NIP-98 token is missing"},
      {"not base64", "Nostr !!!!", "invalid: NIP-98 token is not valid base64"},
      {"truncated base64", "Nostr " + good_token().substr(0, good_token().size() - 1),
       "invalid: NIP-98 token is not valid base64"},
      {"base64 with inner space",
       "Nostr " + good_token().substr(0, 8) + " " + good_token().substr(8),
       "invalid: NIP-98 token is not valid base64"},
      {"oversized token", "Nostr " + std::string(30000, 'A'),
       "invalid: NIP-98 token is larger than 16384 bytes decoded"},
      {"json string", "Nostr " + base64::encode("\"hello\""),
       "invalid: NIP-98 event: event must be a JSON object"},
      {"json array", "Nostr " + base64::encode("[1]"),
       "invalid: NIP-98 event: event must be a JSON object"},
      {"missing sig", "Nostr " + base64::encode(R"({"kind":27235})"),
       "invalid: NIP-98 event: missing field: id"},
      {"bad signature", tampered_header([](Event& e) { e.sig.bytes[5] ^= 1; }),
       "invalid: NIP-98 event: bad signature"},
      {"id mismatch", tampered_header([](Event& e) { e.content = "x"; }),
       "invalid: NIP-98 event: event id does not match its content"},
      {"wrong kind", header_for({1, kNow, {{"u", kUrl}, {"method", "GET"}}, ""}),
       "invalid: NIP-98 event must be kind 27235, not 1"},
      {"too old", header_for(get_template(kNow - 3600)),
       "invalid: NIP-98 event is too old (created 3600 s ago, window 60 s)"},
      {"future", header_for(get_template(kNow + 120)),
       "invalid: NIP-98 event is dated 120 s in the future (window 60 s)"},
      {"other url", header_for(get_template()), "invalid: NIP-98 event is for a different URL",
       "https://node.example/v1/jobs?x=1&y=%21"},
      {"url without query", header_for(get_template()),
       "invalid: NIP-98 event is for a different URL", "https://node.example/v1/jobs"},
      {"url other scheme", header_for(get_template()),
       "invalid: NIP-98 event is for a different URL", "http://node.example/v1/jobs?x=1&y=%20"},
      {"other method", header_for(get_template()),
       "invalid: NIP-98 event is for a different method", kUrl, "DELETE"},
      {"no u tag", header_for({kHttpAuthKind, kNow, {{"method", "GET"}}, ""}),
       "invalid: NIP-98 event has no u tag"},
      {"url tag named url",
       header_for({kHttpAuthKind, kNow, {{"url", kUrl}, {"method", "GET"}}, ""}),
       "invalid: NIP-98 event has no u tag"},
      {"u without value", header_for({kHttpAuthKind, kNow, {{"u"}, {"method", "GET"}}, ""}),
       "invalid: NIP-98 event has a u tag without a value"},
      {"two u tags",
       header_for({kHttpAuthKind, kNow, {{"u", kUrl}, {"method", "GET"}, {"u", "https://x"}}, ""}),
       "invalid: NIP-98 event has more than one u tag"},
      {"no method tag", header_for({kHttpAuthKind, kNow, {{"u", kUrl}}, ""}),
       "invalid: NIP-98 event has no method tag"},
      {"two method tags",
       header_for({kHttpAuthKind, kNow, {{"u", kUrl}, {"method", "GET"}, {"method", "POST"}}, ""}),
       "invalid: NIP-98 event has more than one method tag"},
      {"two payload tags",
       header_for({kHttpAuthKind,
                   kNow,
                   {{"u", kUrl},
                    {"method", "GET"},
                    {"payload", payload_hash("")},
                    {"payload", payload_hash("x")}},
                   ""}),
       "invalid: NIP-98 event has more than one payload tag"},
      {"uppercase payload hash",
       header_for(
           {kHttpAuthKind,
            kNow,
            {{"u", kUrl},
             {"method", "POST"},
             {"payload", "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"}},
            ""}),
       "invalid: NIP-98 payload does not match the request body", kUrl, "POST", "abc"},
  };
  return out;
}

INSTANTIATE_TEST_SUITE_P(Nip98, Nip98Refuses, ::testing::ValuesIn(refusals()), test::ByName{});

TEST(Nip98, MalformedJsonInTheToken) {
  auto r =
      verify_http_auth("Nostr " + base64::encode("{\"kind\":"), kUrl, "GET", std::nullopt, kNow);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().to_string().starts_with("invalid: NIP-98 event: malformed JSON: "))
      << r.error().to_string();
}

TEST(Nip98, CheapChecksComeBeforeTheSignature) {
  // A forged event for another URL is refused for the URL: the signature is checked last.
  Event e = sign_event(get_template(), test_keys());
  e.sig.bytes[0] ^= 1;
  EXPECT_EQ(refusal(verify_http_auth(authorization_header(e), "https://other", "GET", std::nullopt,
                                     kNow)),
            "invalid: NIP-98 event is for a different URL");
}

}  // namespace
}  // namespace fedai
