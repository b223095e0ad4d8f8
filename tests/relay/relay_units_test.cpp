// The relay server's small parts on their own: options, the message peek used for refusals,
// NIP-42 checks, the token bucket, the recent-id cache and the bounded queue.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "core/nostr/message.h"
#include "relay/server/bounded_queue.h"
#include "relay/server/message_peek.h"
#include "relay/server/nip11.h"
#include "relay/server/nip42.h"
#include "relay/server/recent_ids.h"
#include "relay/server/relay_metrics.h"
#include "relay/server/relay_options.h"
#include "relay/server/token_bucket.h"

namespace fedai::relay::server {
namespace {

using namespace std::chrono_literals;

Status set(RelayOptions& o, const std::string& name, std::vector<std::string> values) {
  const RelayOptionSpec* spec = options::find(relay_option_specs(), name);
  if (spec == nullptr) return invalid("no option " + name);
  return spec->set(o, values);
}

TEST(RelayOptions, EveryOptionHasHelpADefaultAndAUniqueName) {
  RelayOptions defaults;
  std::set<std::string> names;
  for (const auto& spec : relay_option_specs()) {
    EXPECT_TRUE(names.insert(spec.name).second) << spec.name;
    EXPECT_FALSE(spec.help.empty()) << spec.name;
    // Setting an option to the default it shows is accepted (round trip), except the lists
    // and empty texts, whose shown default is a description.
    std::string shown = spec.show(defaults);
    if (spec.type == OptionType::integer || spec.type == OptionType::boolean) {
      RelayOptions o;
      EXPECT_TRUE(spec.set(o, {shown})) << spec.name << " = " << shown;
      EXPECT_EQ(spec.show(o), shown) << spec.name;
    }
  }
  EXPECT_GE(names.size(), 30u);
}

TEST(RelayOptions, DocsListEveryOption) {
  std::ifstream in(std::string(FEDAI_DOCS_DIR) + "/relay.md");
  ASSERT_TRUE(in) << "cannot read docs/relay.md";
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& spec : relay_option_specs())
    EXPECT_NE(text.str().find("| `--" + spec.name + "` |"), std::string::npos)
        << "docs/relay.md has no row for --" << spec.name;
}

TEST(RelayOptions, ParsesAndRefusesValues) {
  RelayOptions o;
  EXPECT_TRUE(set(o, "listen", {"0.0.0.0:0"}));
  EXPECT_EQ(o.listen_host, "0.0.0.0");
  EXPECT_EQ(o.listen_port, 0);
  EXPECT_TRUE(set(o, "listen", {"[::1]:7447"}));
  EXPECT_EQ(o.listen_host, "::1");
  EXPECT_EQ(o.listen_port, 7447);
  EXPECT_FALSE(set(o, "listen", {"7447"}));
  EXPECT_FALSE(set(o, "listen", {"host:99999"}));
  EXPECT_FALSE(set(o, "listen", {"::1:80"}));

  EXPECT_TRUE(set(o, "max-limit", {"100"}));
  EXPECT_EQ(o.max_limit, 100u);
  auto zero = set(o, "max-limit", {"0"});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().message, "0 is out of range (1..1000000)");
  EXPECT_FALSE(set(o, "max-limit", {"12abc"}));
  EXPECT_FALSE(set(o, "max-limit", {"-1"}));

  EXPECT_TRUE(set(o, "auth-required", {"true"}));
  EXPECT_TRUE(o.auth_required);
  EXPECT_FALSE(set(o, "auth-required", {"maybe"}));

  EXPECT_TRUE(set(o, "allow-kind", {"36090", "1", "36090"}));
  EXPECT_EQ(o.allow_kinds, (std::vector<Kind>{1, 36090}));
  EXPECT_FALSE(set(o, "allow-kind", {"70000"}));

  Keypair k = Keypair::generate();
  EXPECT_TRUE(set(o, "block-author", {k.public_key().hex()}));
  ASSERT_EQ(o.block_authors.size(), 1u);
  EXPECT_FALSE(set(o, "block-author", {"npub1nothing"}));

  EXPECT_FALSE(set(o, "relay-url", {"http://example.com"}));
  EXPECT_TRUE(set(o, "relay-url", {"wss://relay.example.com"}));
  EXPECT_FALSE(set(o, "log-level", {"loud"}));
}

TEST(RelayOptions, ValidateChecksCombinations) {
  RelayOptions o;
  EXPECT_TRUE(validate(o));
  o.default_limit = 10;
  o.max_limit = 5;
  auto st = validate(o);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("default-limit"), std::string::npos);

  RelayOptions p;
  Keypair k = Keypair::generate();
  p.allow_authors = {k.public_key()};
  p.block_authors = {k.public_key()};
  EXPECT_FALSE(validate(p));

  RelayOptions q;
  q.operator_pubkey = "not a key";
  EXPECT_FALSE(validate(q));
}

TEST(MessagePeek, FindsWhatARefusalNeeds) {
  Event e = sign_event({1, 1700000000, {}, "hi \"id\": no"}, Keypair::generate());
  std::string msg = event_message(e);
  auto peek = peek_message(msg);
  EXPECT_EQ(peek.verb, "EVENT");
  ASSERT_TRUE(peek.event_id);
  EXPECT_EQ(*peek.event_id, e.id);
  EXPECT_EQ(refusal_for(peek, "rate-limited: slow down"),
            ok_message(e.id, false, "rate-limited: slow down"));

  // Only the tail has the id (content first, as nostr-tools writes events).
  std::string head = R"(["EVENT",{"content":"xxxxxxxx)";
  std::string tail = R"(xxx","id" : ")" + e.id.hex() + R"(","sig":"00"}])";
  auto split = peek_message(head, tail);
  ASSERT_TRUE(split.event_id);
  EXPECT_EQ(*split.event_id, e.id);

  auto req = peek_message(R"(["REQ","sub 1",{"kinds":[1]}])");
  EXPECT_EQ(req.verb, "REQ");
  EXPECT_EQ(req.subscription_id, "sub 1");
  EXPECT_EQ(refusal_for(req, "invalid: x"), closed_message("sub 1", "invalid: x"));

  auto junk = peek_message("{{{");
  EXPECT_EQ(junk.verb, "");
  EXPECT_EQ(refusal_for(junk, "invalid: x"), notice_message("invalid: x"));
  // An escaped "id" inside a string is not a key; a short id is not an id.
  EXPECT_FALSE(find_event_id(R"(["EVENT",{"content":"\"id\":\"abc\""}])"));
  EXPECT_FALSE(find_event_id(R"({"id":"ABCDEF"})"));
}

TEST(Nip42, ComparesRelayUrlsAsTheyAreMeant) {
  EXPECT_TRUE(same_relay_url("wss://Relay.Example.com/", "wss://relay.example.com"));
  EXPECT_TRUE(same_relay_url("ws://127.0.0.1:80", "ws://127.0.0.1"));
  EXPECT_TRUE(same_relay_url("wss://r.example:443/nostr/", "wss://r.example/nostr"));
  EXPECT_FALSE(same_relay_url("ws://r.example", "wss://r.example"));
  EXPECT_FALSE(same_relay_url("ws://127.0.0.1:7447", "ws://127.0.0.1:7448"));
  EXPECT_FALSE(same_relay_url("wss://r.example/a", "wss://r.example/b"));
}

TEST(Nip42, ChecksAuthEvents) {
  Keypair k = Keypair::generate();
  UnixSeconds now = 1'700'000'000;
  auto make = [&](Tags tags, UnixSeconds at = 1'700'000'000, Kind kind = kAuthKind) {
    return sign_event({kind, at, std::move(tags), ""}, k);
  };
  Tags good = {{"relay", "ws://r.example"}, {"challenge", "abc"}};
  EXPECT_TRUE(check_auth_event(make(good), "abc", "ws://r.example/", now));
  EXPECT_TRUE(check_auth_event(make(good, now + 599), "abc", "ws://r.example", now));
  EXPECT_FALSE(check_auth_event(make(good, now - 601), "abc", "ws://r.example", now));
  EXPECT_FALSE(check_auth_event(make(good, now, 1), "abc", "ws://r.example", now));
  EXPECT_FALSE(check_auth_event(make(good), "abd", "ws://r.example", now));
  EXPECT_FALSE(check_auth_event(make(good), "abc", "ws://other.example", now));
  EXPECT_TRUE(check_auth_event(make(good), "abc", "", now));  // no URL to compare against
  EXPECT_FALSE(check_auth_event(make({{"challenge", "abc"}}), "abc", "", now));
  EXPECT_EQ(make_challenge().size(), 32u);
  EXPECT_NE(make_challenge(), make_challenge());
}

TEST(Nip11, DocumentStatesTheLimits) {
  RelayOptions o;
  o.max_filters = 3;
  o.allow_kinds = {1};
  auto doc = nlohmann::json::parse(nip11_document(o));
  EXPECT_EQ(doc["limitation"]["max_filters"], 3);
  EXPECT_EQ(doc["limitation"]["restricted_writes"], true);
  EXPECT_EQ(doc["limitation"]["created_at_upper_limit"], 900);
  EXPECT_FALSE(doc.contains("pubkey"));
}

TEST(RelayMetrics, BoundsTheKindLabel) {
  EXPECT_EQ(kind_label(1), "1");
  EXPECT_EQ(kind_label(36090), "36090");
  EXPECT_EQ(kind_label(26098), "26098");
  EXPECT_EQ(kind_label(12345), "other");
  EXPECT_EQ(kind_label(36094), "other");
  MetricsRegistry registry;
  RelayMetrics m(registry);
  for (int k = 0; k < 65536; k += 7) m.event(static_cast<Kind>(k), EventOutcome::stored);
  std::string text = registry.render();
  std::size_t series = 0;
  for (std::size_t at = text.find("fedai_relay_events_total{"); at != std::string::npos;
       at = text.find("fedai_relay_events_total{", at + 1))
    ++series;
  EXPECT_LE(series, 40u);
  EXPECT_EQ(RelayMetrics::outcome_of_reason("duplicate: have a newer version"),
            EventOutcome::superseded);
  EXPECT_EQ(RelayMetrics::outcome_of_reason("blocked: this event was deleted by its author"),
            EventOutcome::deleted);
}

TEST(TokenBucket, RefillsAtItsRate) {
  auto t0 = TokenBucket::Clock::now();
  TokenBucket b(10, 3, t0);
  EXPECT_TRUE(b.take(t0));
  EXPECT_TRUE(b.take(t0));
  EXPECT_TRUE(b.take(t0));
  EXPECT_FALSE(b.take(t0));
  EXPECT_FALSE(b.take(t0 + 50ms));
  EXPECT_TRUE(b.take(t0 + 100ms));
  EXPECT_FALSE(b.full_at(t0 + 100ms));
  EXPECT_TRUE(b.full_at(t0 + 10s));
  TokenBucket unlimited(0, 0, t0);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(unlimited.take(t0));
}

TEST(RecentIds, ForgetsTheOldestBeyondItsCapacity) {
  RecentIds ids(3);
  std::vector<EventId> v(5);
  for (std::size_t i = 0; i < v.size(); ++i) v[i].bytes[0] = static_cast<std::uint8_t>(i + 1);
  EXPECT_TRUE(ids.insert(v[0]));
  EXPECT_FALSE(ids.insert(v[0]));
  EXPECT_TRUE(ids.insert(v[1]));
  EXPECT_TRUE(ids.insert(v[2]));
  EXPECT_TRUE(ids.insert(v[3]));  // forgets v[0]
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_TRUE(ids.insert(v[0]));
  EXPECT_FALSE(ids.insert(v[3]));
}

TEST(BoundedQueue, BlocksProducersWhenFullAndHandsOutBatches) {
  BoundedQueue<int> q(2);
  int x = 1;
  EXPECT_TRUE(q.try_push(x));
  x = 2;
  EXPECT_TRUE(q.try_push(x));
  x = 3;
  EXPECT_FALSE(q.try_push(x));
  EXPECT_TRUE(q.push_control(99));  // ignores the bound
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    q.push(4);  // waits for room
    pushed = true;
  });
  std::vector<int> out;
  ASSERT_TRUE(q.pop_all(out));
  EXPECT_EQ(out, (std::vector<int>{1, 2, 99}));
  producer.join();
  EXPECT_TRUE(pushed);
  out.clear();
  ASSERT_TRUE(q.pop_all(out, std::chrono::steady_clock::now() + 1s, 1));
  EXPECT_EQ(out, std::vector<int>{4});
  // A deadline with nothing queued returns true (still open) with nothing.
  out.clear();
  EXPECT_TRUE(q.pop_all(out, std::chrono::steady_clock::now() + 10ms));
  EXPECT_TRUE(out.empty());
  q.push_control(5);
  q.close();
  EXPECT_FALSE(q.push(6));
  ASSERT_TRUE(q.pop_all(out));  // what was queued before close still comes out
  EXPECT_EQ(out, std::vector<int>{5});
  out.clear();
  EXPECT_FALSE(q.pop_all(out));
}

}  // namespace
}  // namespace fedai::relay::server
