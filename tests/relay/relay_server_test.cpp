// fedai's embedded relay over real sockets on 127.0.0.1: a RelayServer started in-process on a
// free port, and WebSocket/HTTP clients (tests/support/ws_test_client.h) talking to it. Every
// wait is on a message or a condition, with a timeout.
#include "relay/server/relay_server.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <set>

#include "core/nostr/message.h"
#include "core/nostr/nip40.h"
#include "tests/support/temp_dir.h"
#include "tests/support/ws_test_client.h"

namespace fedai {
namespace {

using relay::server::RelayOptions;
using relay::server::RelayServer;
using test::Json;
using test::WsTestClient;
using namespace std::chrono_literals;

const Keypair& alice() {
  static Keypair k = Keypair::generate();
  return k;
}
const Keypair& bob() {
  static Keypair k = Keypair::generate();
  return k;
}

Event make(const Keypair& k, Kind kind, UnixSeconds at, Tags tags = {}, std::string content = "") {
  return sign_event({kind, at, std::move(tags), std::move(content)}, k);
}
Event note(const std::string& content, UnixSeconds at = 0, const Keypair& k = alice()) {
  return make(k, 1, at != 0 ? at : unix_now(), {}, content);
}

// "prefix<i>". (Appending: GCC 12's -Wrestrict misfires on "x" + std::to_string(i).)
std::string numbered(std::string_view prefix, int i) {
  std::string out(prefix);
  out += std::to_string(i);
  return out;
}

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.rfind(prefix, 0) == 0;
}

// Polls `pred` until it holds or `timeout` passes: for effects with no message to wait on
// (a counter in /metrics, a connection count).
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

// The value of one series in Prometheus text ("name{labels} value"), or -1.
double metric(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override { spdlog::set_level(spdlog::level::warn); }

  RelayOptions defaults() {
    RelayOptions o;
    o.listen_host = "127.0.0.1";
    o.listen_port = 0;
    o.db_path = dir.sub("db");
    o.db_map_size_mib = 256;
    o.verify_threads = 2;
    o.query_threads = 2;
    return o;
  }
  void start(RelayOptions o) {
    auto s = RelayServer::start(std::move(o));
    ASSERT_TRUE(s) << s.error().to_string();
    server = std::move(*s);
  }
  void start() { start(defaults()); }

  // A connected client that has read its AUTH challenge.
  std::unique_ptr<WsTestClient> connect() {
    auto c = std::make_unique<WsTestClient>("127.0.0.1", server->port());
    last_challenge = c->challenge();
    return c;
  }

  Event auth_event(const Keypair& k, const std::string& challenge) {
    return make(k, 22242, unix_now(), {{"relay", server->relay_url()}, {"challenge", challenge}});
  }

  test::TempDir dir;
  std::unique_ptr<RelayServer> server;
  std::string last_challenge;
};

// ---- NIP-01: EVENT / OK ----

TEST_F(RelayTest, PublishesAndAnswersOk) {
  start();
  auto c = connect();
  Event e = note("hello");
  auto ok = c->publish(e);
  EXPECT_TRUE(ok.accepted) << ok.message;
  EXPECT_EQ(ok.message, "");
  auto stored = server->store().get(e.id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(*parse_verified_event(*stored), e);
}

TEST_F(RelayTest, RefusesDuplicates) {
  start();
  auto c = connect();
  Event e = note("once");
  EXPECT_TRUE(c->publish(e).accepted);
  auto again = c->publish(e);
  EXPECT_FALSE(again.accepted);
  EXPECT_TRUE(starts_with(again.message, "duplicate:")) << again.message;
}

TEST_F(RelayTest, RefusesBadIdAndBadSignature) {
  start();
  auto c = connect();
  Event bad_id = note("original");
  bad_id.content = "tampered";  // the id no longer matches
  auto r1 = c->publish(bad_id);
  EXPECT_FALSE(r1.accepted);
  EXPECT_EQ(r1.message, "invalid: event id does not match its content");

  Event bad_sig = note("signed");
  bad_sig.sig.bytes[10] ^= 0x01;
  auto r2 = c->publish(bad_sig);
  EXPECT_FALSE(r2.accepted);
  EXPECT_EQ(r2.message, "invalid: bad signature");
  EXPECT_FALSE(server->store().get(bad_id.id));
  EXPECT_FALSE(server->store().get(bad_sig.id));
}

TEST_F(RelayTest, RefusesEventsFromTheFarFuture) {
  start();
  auto c = connect();
  auto r = c->publish(note("later", unix_now() + 3600));
  EXPECT_FALSE(r.accepted);
  EXPECT_TRUE(starts_with(r.message, "invalid: created_at")) << r.message;
  EXPECT_TRUE(c->publish(note("soon", unix_now() + 60)).accepted);
}

TEST_F(RelayTest, MalformedMessagesGetNoticeOkOrClosed) {
  start();
  auto c = connect();
  c->send(std::string("not json"));
  auto m = c->next();
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[0], "NOTICE");
  EXPECT_TRUE(starts_with((*m)[1].get<std::string>(), "invalid:")) << *m;

  // An EVENT whose id can be read but whose shape is wrong: OK false for that id.
  Event e = note("x");
  Json j = Json::parse(to_json(e));
  j["kind"] = "one";
  c->send(Json::array({"EVENT", j}));
  m = c->next();
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[0], "OK");
  EXPECT_EQ((*m)[1], e.id.hex());
  EXPECT_EQ((*m)[2], false);
  EXPECT_TRUE(starts_with((*m)[3].get<std::string>(), "invalid:")) << *m;

  // A REQ with a bad filter: CLOSED with the reason.
  c->send(Json::array({"REQ", "bad", {{"kinds", {"one"}}}}));
  m = c->next();
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[0], "CLOSED");
  EXPECT_EQ((*m)[1], "bad");
  EXPECT_TRUE(starts_with((*m)[2].get<std::string>(), "invalid: filters[0]")) << *m;

  // Unknown verbs get a NOTICE, and the connection keeps working.
  c->send(Json::array({"HELLO"}));
  m = c->next();
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[0], "NOTICE");
  EXPECT_TRUE(c->publish(note("still here")).accepted);
}

// ---- REQ / EOSE ----

TEST_F(RelayTest, ReqSendsStoredEventsNewestFirstThenEose) {
  start();
  auto c = connect();
  UnixSeconds now = unix_now();
  std::vector<Event> events;
  for (int i = 0; i < 6; ++i) events.push_back(note(numbered("n", i), now - 100 + (i / 2)));
  for (const auto& e : events) ASSERT_TRUE(c->publish(e).accepted);
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.id < b.id;
  });

  auto all = c->req("all", {{"kinds", {1}}});
  EXPECT_TRUE(all.eose);
  ASSERT_EQ(all.events.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(all.events[i].id, events[i].id) << i;

  auto limited = c->req("limited", {{"kinds", {1}}, {"limit", 3}});
  ASSERT_EQ(limited.events.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(limited.events[i].id, events[i].id);

  // Several filters: the union, each event once.
  auto both = c->req("both", Json::array({{{"ids", {events[0].id.hex()}}},
                                          {{"authors", {alice().public_key().hex()}}}}));
  EXPECT_EQ(both.events.size(), events.size());

  auto none = c->req("none", {{"kinds", {7}}});
  EXPECT_TRUE(none.eose);
  EXPECT_TRUE(none.events.empty());
}

TEST_F(RelayTest, MaxLimitCapsAnyFilter) {
  RelayOptions o = defaults();
  o.default_limit = 2;
  o.max_limit = 3;
  start(o);
  auto c = connect();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c->publish(note(numbered("m", i))).accepted);
  EXPECT_EQ(c->req("default", {{"kinds", {1}}}).events.size(), 2u);
  EXPECT_EQ(c->req("capped", {{"kinds", {1}}, {"limit", 100}}).events.size(), 3u);
}

TEST_F(RelayTest, DeliversLiveEventsAfterEose) {
  start();
  auto sub = connect();
  auto pub = connect();
  Event old = note("stored before");
  ASSERT_TRUE(pub->publish(old).accepted);
  sub->send(Json::array({"REQ", "live", {{"kinds", {1}}}}));
  // Stored event, then EOSE.
  auto m = sub->next();
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[0], "EVENT");
  EXPECT_EQ((*m)[2]["id"], old.id.hex());
  m = sub->next();
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, Json::array({"EOSE", "live"}));

  Event fresh = note("live one");
  ASSERT_TRUE(pub->publish(fresh).accepted);
  auto got = sub->next_event("live");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, fresh.id);

  // Events the filter doesn't match are not delivered: the next one is the matching one.
  ASSERT_TRUE(pub->publish(make(alice(), 7, unix_now(), {{"e", fresh.id.hex()}}, "+")).accepted);
  Event second = note("live two");
  ASSERT_TRUE(pub->publish(second).accepted);
  m = sub->next();
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[0], "EVENT");
  EXPECT_EQ((*m)[2]["id"], second.id.hex());
}

TEST_F(RelayTest, CloseEndsASubscription) {
  start();
  auto sub = connect();
  auto pub = connect();
  EXPECT_TRUE(sub->req("a", {{"kinds", {1}}}).eose);
  sub->send(Json::array({"CLOSE", "a"}));
  // Messages of one connection are handled in order: "b" is open only after "a" is closed.
  EXPECT_TRUE(sub->req("b", {{"kinds", {1}}}).eose);
  Event e = note("after close");
  ASSERT_TRUE(pub->publish(e).accepted);
  auto m = sub->next();
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[0], "EVENT");
  EXPECT_EQ((*m)[1], "b");  // never "a"
  EXPECT_EQ((*m)[2]["id"], e.id.hex());
}

TEST_F(RelayTest, ReqWithAnOpenIdReplacesTheSubscription) {
  start();
  auto sub = connect();
  auto pub = connect();
  EXPECT_TRUE(sub->req("s", {{"kinds", {1}}}).eose);
  EXPECT_TRUE(sub->req("s", {{"kinds", {7}}}).eose);
  ASSERT_TRUE(pub->publish(note("kind 1")).accepted);
  Event reaction = make(bob(), 7, unix_now(), {}, "+");
  ASSERT_TRUE(pub->publish(reaction).accepted);
  auto got = sub->next_event("s");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, reaction.id);
}

TEST_F(RelayTest, NoEventIsLostBetweenQueryAndLiveSubscription) {
  start();
  auto pub = connect();
  auto sub = connect();
  // Publish a stream without waiting; subscribe in the middle of it.
  std::vector<Event> events;
  for (int i = 0; i < 300; ++i) events.push_back(note(numbered("stream ", i)));
  for (int i = 0; i < 150; ++i) pub->send(event_message(events[i]));
  sub->send(Json::array({"REQ", "s", {{"kinds", {1}}, {"limit", 5000}}}));
  for (int i = 150; i < 300; ++i) pub->send(event_message(events[i]));
  int accepted = 0;
  for (int i = 0; i < 300; ++i) {
    auto m = pub->next_matching([](const Json& j) { return j[0] == "OK"; });
    ASSERT_TRUE(m);
    accepted += (*m)[2].get<bool>() ? 1 : 0;
  }
  ASSERT_EQ(accepted, 300);
  Event sentinel = note("sentinel");
  ASSERT_TRUE(pub->publish(sentinel).accepted);

  std::set<std::string> seen;
  bool eose = false;
  for (;;) {
    auto m = sub->next(10s);
    ASSERT_TRUE(m) << "sentinel never arrived; saw " << seen.size();
    if ((*m)[0] == "EOSE") {
      EXPECT_FALSE(eose);
      eose = true;
      continue;
    }
    ASSERT_EQ((*m)[0], "EVENT");
    std::string id = (*m)[2]["id"];
    if (id == sentinel.id.hex()) break;
    seen.insert(id);
  }
  EXPECT_TRUE(eose);
  for (const auto& e : events) EXPECT_TRUE(seen.contains(e.id.hex())) << "missed " << e.id.hex();
}

// ---- NIP-45 ----

TEST_F(RelayTest, CountsMatchingEvents) {
  start();
  auto c = connect();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c->publish(note(numbered("c", i))).accepted);
  ASSERT_TRUE(c->publish(make(bob(), 7, unix_now())).accepted);
  c->send(Json::array({"COUNT", "n", {{"kinds", {1}}}}));
  auto m = c->next();
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, Json::parse(R"(["COUNT","n",{"count":3}])"));
  c->send(Json::array({"COUNT", "all", {{"kinds", {1}}}, {{"kinds", {7}}}}));
  m = c->next();
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[2]["count"], 4);
}

// ---- replaceable, addressable, ephemeral, NIP-40, NIP-09 ----

TEST_F(RelayTest, ReplaceableAndAddressableEventsAreReplaced) {
  start();
  auto c = connect();
  UnixSeconds now = unix_now();
  Event profile1 = make(alice(), 0, now - 10, {}, R"({"name":"a1"})");
  Event profile2 = make(alice(), 0, now - 5, {}, R"({"name":"a2"})");
  ASSERT_TRUE(c->publish(profile1).accepted);
  ASSERT_TRUE(c->publish(profile2).accepted);
  auto older = c->publish(make(alice(), 0, now - 20, {}, R"({"name":"old"})"));
  EXPECT_FALSE(older.accepted);
  EXPECT_TRUE(starts_with(older.message, "duplicate:")) << older.message;
  auto profiles = c->req("p", {{"kinds", {0}}, {"authors", {alice().public_key().hex()}}});
  ASSERT_EQ(profiles.events.size(), 1u);
  EXPECT_EQ(profiles.events[0].id, profile2.id);

  Event caps_x1 = make(alice(), 36090, now - 10, {{"d", "x"}}, "v1");
  Event caps_x2 = make(alice(), 36090, now - 5, {{"d", "x"}}, "v2");
  Event caps_y = make(alice(), 36090, now - 8, {{"d", "y"}}, "y");
  for (const auto& e : {caps_x1, caps_x2, caps_y}) ASSERT_TRUE(c->publish(e).accepted);
  auto caps = c->req("c", {{"kinds", {36090}}});
  ASSERT_EQ(caps.events.size(), 2u);
  EXPECT_EQ(caps.events[0].id, caps_x2.id);
  EXPECT_EQ(caps.events[1].id, caps_y.id);
  auto by_d = c->req("d", {{"kinds", {36090}}, {"#d", {"x"}}});
  ASSERT_EQ(by_d.events.size(), 1u);
  EXPECT_EQ(by_d.events[0].id, caps_x2.id);
}

TEST_F(RelayTest, EphemeralEventsAreFannedOutNeverStored) {
  start();
  auto sub = connect();
  auto pub = connect();
  EXPECT_TRUE(sub->req("auction", {{"kinds", {26090}}}).eose);
  Event rfb =
      make(bob(), 26090, unix_now(), {{"expiration", std::to_string(unix_now() + 60)}}, "rfb");
  auto ok = pub->publish(rfb);
  EXPECT_TRUE(ok.accepted) << ok.message;
  auto got = sub->next_event("auction");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, rfb.id);
  auto dup = pub->publish(rfb);
  EXPECT_FALSE(dup.accepted);
  EXPECT_TRUE(starts_with(dup.message, "duplicate:")) << dup.message;

  auto later = connect();
  auto stored = later->req("s", {{"kinds", {26090}}});
  EXPECT_TRUE(stored.eose);
  EXPECT_TRUE(stored.events.empty());
  EXPECT_FALSE(server->store().get(rfb.id));
}

TEST_F(RelayTest, ExpiredEventsAreRefusedNeverServedAndPurged) {
  RelayOptions o = defaults();
  o.purge_interval_seconds = 1;
  start(o);
  auto c = connect();
  UnixSeconds now = unix_now();
  auto r = c->publish(note("gone", now - 10));
  ASSERT_TRUE(r.accepted);
  auto expired = c->publish(make(alice(), 1, now - 10, {expiration_tag(now - 1)}, "expired"));
  EXPECT_FALSE(expired.accepted);
  EXPECT_EQ(expired.message, "invalid: event has expired");
  auto malformed = c->publish(make(alice(), 1, now, {{"expiration", "soon"}}, "?"));
  EXPECT_FALSE(malformed.accepted);
  EXPECT_TRUE(starts_with(malformed.message, "invalid: expiration")) << malformed.message;
  // An ephemeral event that has expired is refused too.
  auto eph = c->publish(make(alice(), 26090, now - 10, {expiration_tag(now - 1)}, "rfb"));
  EXPECT_FALSE(eph.accepted);

  // Stored while still valid (the store is told it is an hour ago), expired by now: the relay
  // never serves it, and the periodic purge removes it.
  Event stale = make(alice(), 1, now - 7200, {expiration_tag(now - 60)}, "stale");
  auto written = server->store().write(std::span(&stale, 1), now - 3600);
  ASSERT_TRUE(written[0].accepted()) << written[0].message;
  auto served = c->req("s", {{"kinds", {1}}});
  ASSERT_EQ(served.events.size(), 1u);
  EXPECT_NE(served.events[0].id, stale.id);
  EXPECT_TRUE(eventually([&] { return !server->store().get(stale.id); }));
  // The counter moves just after the purge commits.
  EXPECT_TRUE(eventually(
      [&] { return metric(server->metrics_text(), "fedai_relay_expired_purged_total") >= 1; }));
}

TEST_F(RelayTest, DeletionRemovesAndBlocksTheAuthorsEvents) {
  start();
  auto c = connect();
  Event target = note("regret");
  Event others = note("not mine", 0, bob());
  ASSERT_TRUE(c->publish(target).accepted);
  ASSERT_TRUE(c->publish(others).accepted);
  Event deletion =
      make(alice(), 5, unix_now(), {{"e", target.id.hex()}, {"e", others.id.hex()}}, "oops");
  ASSERT_TRUE(c->publish(deletion).accepted);
  auto left = c->req("ids", {{"ids", {target.id.hex(), others.id.hex()}}});
  ASSERT_EQ(left.events.size(), 1u);  // alice can't delete bob's event
  EXPECT_EQ(left.events[0].id, others.id);
  auto again = c->publish(target);
  EXPECT_FALSE(again.accepted);
  EXPECT_TRUE(starts_with(again.message, "blocked:")) << again.message;
}

// ---- NIP-11 ----

TEST_F(RelayTest, ServesNip11WithCorsAndItsLimits) {
  RelayOptions o = defaults();
  o.max_subscriptions = 7;
  o.max_limit = 1234;
  o.name = "test relay";
  start(o);
  auto r = test::http_request("127.0.0.1", server->port(), "GET", "/",
                              {{"Accept", "application/nostr+json"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/nostr+json");
  EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
  EXPECT_EQ(r.headers["access-control-allow-headers"], "*");
  Json doc = Json::parse(r.body);
  EXPECT_EQ(doc["name"], "test relay");
  EXPECT_EQ(doc["software"], "fedai");
  EXPECT_TRUE(doc["version"].is_string());
  for (int nip : {1, 9, 11, 40, 42, 45})
    EXPECT_NE(std::find(doc["supported_nips"].begin(), doc["supported_nips"].end(), nip),
              doc["supported_nips"].end())
        << nip;
  EXPECT_EQ(doc["limitation"]["max_subscriptions"], 7);
  EXPECT_EQ(doc["limitation"]["max_limit"], 1234);
  EXPECT_EQ(doc["limitation"]["max_message_length"], o.max_message_bytes);
  EXPECT_EQ(doc["limitation"]["auth_required"], false);

  auto plain = test::http_request("127.0.0.1", server->port(), "GET", "/");
  EXPECT_EQ(plain.status, 200);
  EXPECT_TRUE(starts_with(plain.headers["content-type"], "text/plain"));
  EXPECT_NE(plain.body.find("fedai relay"), std::string::npos);

  auto preflight = test::http_request(
      "127.0.0.1", server->port(), "OPTIONS", "/",
      {{"Origin", "https://example.com"}, {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.headers["access-control-allow-origin"], "*");
}

// ---- NIP-42 ----

TEST_F(RelayTest, AuthenticatesWithNip42) {
  start();
  auto c = std::make_unique<WsTestClient>("127.0.0.1", server->port());
  std::string challenge = c->challenge();
  EXPECT_EQ(challenge.size(), 32u);

  auto wrong_challenge = c->auth(auth_event(alice(), "not-the-challenge"));
  EXPECT_FALSE(wrong_challenge.accepted);
  EXPECT_EQ(wrong_challenge.message, "invalid: AUTH challenge does not match");
  Event other_relay = make(alice(), 22242, unix_now(),
                           {{"relay", "wss://elsewhere.example"}, {"challenge", challenge}});
  auto wrong_relay = c->auth(other_relay);
  EXPECT_FALSE(wrong_relay.accepted);
  EXPECT_TRUE(starts_with(wrong_relay.message, "invalid: AUTH relay tag")) << wrong_relay.message;
  Event stale = make(alice(), 22242, unix_now() - 3600,
                     {{"relay", server->relay_url()}, {"challenge", challenge}});
  EXPECT_FALSE(c->auth(stale).accepted);
  Event forged = auth_event(alice(), challenge);
  forged.sig.bytes[0] ^= 1;
  EXPECT_EQ(c->auth(forged).message, "invalid: bad signature");
  auto ok = c->auth(auth_event(alice(), challenge));
  EXPECT_TRUE(ok.accepted) << ok.message;

  // AUTH events are for AUTH only: publishing one is refused.
  auto published = c->publish(auth_event(alice(), challenge));
  EXPECT_FALSE(published.accepted);
}

TEST_F(RelayTest, AuthRequiredModeRefusesUntilAuthenticated) {
  RelayOptions o = defaults();
  o.auth_required = true;
  start(o);
  auto c = std::make_unique<WsTestClient>("127.0.0.1", server->port());
  std::string challenge = c->challenge();
  auto refused = c->publish(note("before auth"));
  EXPECT_FALSE(refused.accepted);
  EXPECT_TRUE(starts_with(refused.message, "auth-required:")) << refused.message;
  auto req = c->req("s", {{"kinds", {1}}});
  ASSERT_TRUE(req.closed);
  EXPECT_TRUE(starts_with(*req.closed, "auth-required:")) << *req.closed;

  ASSERT_TRUE(c->auth(auth_event(bob(), challenge)).accepted);
  Event e = note("after auth");
  EXPECT_TRUE(c->publish(e).accepted);
  auto after = c->req("s", {{"kinds", {1}}});
  EXPECT_TRUE(after.eose);
  ASSERT_EQ(after.events.size(), 1u);
  EXPECT_EQ(after.events[0].id, e.id);

  auto info = test::http_request("127.0.0.1", server->port(), "GET", "/",
                                 {{"Accept", "application/nostr+json"}});
  EXPECT_EQ(Json::parse(info.body)["limitation"]["auth_required"], true);
}

// ---- policy and limits ----

TEST_F(RelayTest, WritePolicyAllowsKindsAndAuthors) {
  RelayOptions o = defaults();
  o.allow_kinds = {1, 36090};
  o.block_authors = {bob().public_key()};
  start(o);
  auto c = connect();
  EXPECT_TRUE(c->publish(note("fine")).accepted);
  auto kind = c->publish(make(alice(), 7, unix_now(), {}, "+"));
  EXPECT_FALSE(kind.accepted);
  EXPECT_EQ(kind.message, "blocked: kind 7 is not accepted here");
  auto author = c->publish(note("blocked", 0, bob()));
  EXPECT_FALSE(author.accepted);
  EXPECT_TRUE(starts_with(author.message, "blocked:")) << author.message;
}

TEST_F(RelayTest, AllowedAuthorsOnly) {
  RelayOptions o = defaults();
  o.allow_authors = {alice().public_key()};
  start(o);
  auto c = connect();
  EXPECT_TRUE(c->publish(note("alice")).accepted);
  auto r = c->publish(note("bob", 0, bob()));
  EXPECT_FALSE(r.accepted);
  EXPECT_TRUE(starts_with(r.message, "blocked:")) << r.message;
}

TEST_F(RelayTest, LimitsSubscriptionsPerConnection) {
  RelayOptions o = defaults();
  o.max_subscriptions = 2;
  start(o);
  auto c = connect();
  EXPECT_TRUE(c->req("a", {{"kinds", {1}}}).eose);
  EXPECT_TRUE(c->req("b", {{"kinds", {1}}}).eose);
  auto third = c->req("c", {{"kinds", {1}}});
  ASSERT_TRUE(third.closed);
  EXPECT_TRUE(starts_with(*third.closed, "blocked: too many open subscriptions")) << *third.closed;
  // Replacing an open one is fine, and closing one makes room.
  EXPECT_TRUE(c->req("a", {{"kinds", {7}}}).eose);
  c->send(Json::array({"CLOSE", "b"}));
  EXPECT_TRUE(c->req("c", {{"kinds", {1}}}).eose);
  // Too many filters in one REQ.
  Json filters = Json::array();
  for (int i = 0; i < 11; ++i) filters.push_back({{"kinds", {i}}});
  auto wide = c->req("wide", filters);
  ASSERT_TRUE(wide.closed);
  EXPECT_TRUE(starts_with(*wide.closed, "invalid: more than 10 filters")) << *wide.closed;
}

TEST_F(RelayTest, RefusesOversizedMessagesAndKeepsTheConnection) {
  RelayOptions o = defaults();
  o.max_message_bytes = 4096;
  o.max_pending_bytes = 64 * 1024;
  start(o);
  auto c = connect();
  Event big = note(std::string(10000, 'x'));
  auto r = c->publish(big);
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.message, "invalid: message is larger than 4096 bytes");
  // The id after a large content (nostr-tools' field order) is found too.
  Json j = Json::parse(to_json(big));
  std::string reordered = R"(["EVENT",{"content":)" + j["content"].dump() +
                          R"(,"kind":1,"tags":[],"created_at":)" + std::to_string(big.created_at) +
                          R"(,"pubkey":")" + big.pubkey.hex() + R"(","id":")" + big.id.hex() +
                          R"(","sig":")" + big.sig.hex() + R"("}])";
  c->send(reordered);
  auto m = c->next_matching([](const Json& x) { return x[0] == "OK"; });
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[1], big.id.hex());
  EXPECT_EQ((*m)[2], false);

  Json many = Json::array();
  for (int i = 0; i < 200; ++i) many.push_back(Bytes32{}.hex());
  auto req = c->req("huge", {{"ids", many}});
  ASSERT_TRUE(req.closed);
  EXPECT_TRUE(starts_with(*req.closed, "invalid: message is larger")) << *req.closed;
  EXPECT_TRUE(c->publish(note("small")).accepted);
  EXPECT_EQ(metric(server->metrics_text(), "fedai_relay_oversized_messages_total"), 3);
}

TEST_F(RelayTest, AFloodIsRateLimitedWhileOthersAreServed) {
  RelayOptions o = defaults();
  o.messages_per_second = 20;
  o.message_burst = 20;
  start(o);
  auto flood = connect();
  auto calm = connect();
  auto watcher = connect();
  EXPECT_TRUE(watcher->req("w", {{"authors", {bob().public_key().hex()}}}).eose);

  constexpr int kFlood = 400;
  for (int i = 0; i < kFlood; ++i) flood->send(event_message(note(numbered("flood ", i))));
  // Meanwhile another connection publishes and is heard.
  for (int i = 0; i < 5; ++i) {
    Event e = note(numbered("calm ", i), 0, bob());
    auto ok = calm->publish(e);
    EXPECT_TRUE(ok.accepted) << ok.message;
    auto got = watcher->next_event("w");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->id, e.id);
  }
  int accepted = 0, limited = 0;
  for (int i = 0; i < kFlood; ++i) {
    auto m = flood->next_matching([](const Json& j) { return j[0] == "OK"; });
    ASSERT_TRUE(m) << "missing OK " << i;
    if ((*m)[2].get<bool>())
      ++accepted;
    else if (starts_with((*m)[3].get<std::string>(), "rate-limited:"))
      ++limited;
  }
  EXPECT_GE(accepted, 20);
  EXPECT_GT(limited, 0);
  EXPECT_EQ(accepted + limited, kFlood);
  EXPECT_GE(metric(server->metrics_text(), "fedai_relay_rejections_total{prefix=\"rate-limited\"}"),
            limited);
}

TEST_F(RelayTest, PerAuthorRateLimit) {
  RelayOptions o = defaults();
  o.pubkey_events_per_second = 1;
  o.pubkey_burst = 3;
  start(o);
  auto c = connect();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(c->publish(note(numbered("a", i))).accepted);
  auto r = c->publish(note("too many"));
  EXPECT_FALSE(r.accepted);
  EXPECT_TRUE(starts_with(r.message, "rate-limited:")) << r.message;
  EXPECT_TRUE(c->publish(note("another author", 0, bob())).accepted);
}

TEST_F(RelayTest, ASlowReaderIsCutOffWhileOthersAreServed) {
  RelayOptions o = defaults();
  o.max_pending_bytes = 256 * 1024;
  start(o);
  // 40 stored events of ~60 KB: each REQ for them is ~2.4 MB to send.
  UnixSeconds now = unix_now();
  std::vector<Event> big;
  for (int i = 0; i < 40; ++i)
    big.push_back(make(alice(), 30023, now - i, {{"d", std::to_string(i)}},
                       std::string(60000, 'a' + i % 26)));
  auto written = server->store().write(big, now);
  for (const auto& w : written) ASSERT_TRUE(w.accepted()) << w.message;

  WsTestClient slow("127.0.0.1", server->port(), {.read = false, .receive_buffer = 4096});
  for (int i = 0; i < 20; ++i)
    slow.send(Json::array({"REQ", numbered("s", i), {{"kinds", {30023}}}}));

  EXPECT_TRUE(eventually([&] {
    return metric(server->metrics_text(), "fedai_relay_slow_readers_closed_total") >= 1;
  })) << server->metrics_text();

  // Others are served meanwhile and after.
  auto fast = connect();
  Event e = note("still serving");
  EXPECT_TRUE(fast->publish(e).accepted);
  auto got = fast->req("f", {{"kinds", {30023}}, {"limit", 2}});
  EXPECT_EQ(got.events.size(), 2u);

  // The slow reader finds its connection closed once it reads, well short of what it asked for.
  slow.start_reading();
  EXPECT_TRUE(slow.wait_closed(10s));
  EXPECT_LT(slow.bytes_received(), std::size_t{20} * 40 * 60000);
  EXPECT_TRUE(
      eventually([&] { return metric(server->metrics_text(), "fedai_relay_connections") == 1; }));
}

// ---- metrics ----

TEST_F(RelayTest, ServesPrometheusMetrics) {
  RelayOptions o = defaults();
  o.metrics_host = "127.0.0.1";
  o.metrics_port = 0;
  start(o);
  ASSERT_GT(server->metrics_port(), 0);
  auto c = connect();
  Event counted = note("counted");
  ASSERT_TRUE(c->publish(counted).accepted);
  ASSERT_TRUE(c->publish(make(alice(), 36091, unix_now(), {{"d", "m"}}, "price")).accepted);
  ASSERT_TRUE(c->publish(make(alice(), 12345, unix_now(), {}, "rare kind")).accepted);
  EXPECT_FALSE(c->publish(counted).accepted);
  c->send(Json::array({"CLOSE", "none"}));
  EXPECT_TRUE(c->req("q", {{"kinds", {1}}}).eose);

  auto r = test::http_request("127.0.0.1", server->metrics_port(), "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(starts_with(r.headers["content-type"], "text/plain"));
  const std::string& t = r.body;
  EXPECT_EQ(metric(t, R"(fedai_relay_events_total{kind="1",outcome="stored"})"), 1);
  EXPECT_EQ(metric(t, R"(fedai_relay_events_total{kind="1",outcome="duplicate"})"), 1);
  EXPECT_EQ(metric(t, R"(fedai_relay_events_total{kind="36091",outcome="stored"})"), 1);
  EXPECT_EQ(metric(t, R"(fedai_relay_events_total{kind="other",outcome="stored"})"), 1);
  EXPECT_EQ(metric(t, R"(fedai_relay_messages_total{verb="EVENT"})"), 4);
  EXPECT_EQ(metric(t, R"(fedai_relay_messages_total{verb="CLOSE"})"), 1);
  EXPECT_EQ(metric(t, R"(fedai_relay_messages_total{verb="REQ"})"), 1);
  EXPECT_EQ(metric(t, R"(fedai_relay_rejections_total{prefix="duplicate"})"), 1);
  EXPECT_EQ(metric(t, "fedai_relay_connections"), 1);
  EXPECT_GE(metric(t, "fedai_relay_write_batch_size_count"), 1);
  EXPECT_GE(metric(t, "fedai_relay_query_seconds_count"), 1);
  EXPECT_NE(t.find(R"(fedai_relay_queue_depth{queue="write"})"), std::string::npos);
  EXPECT_NE(t.find("fedai_relay_pending_outbound_bytes"), std::string::npos);

  // Fan-out counts subscriptions as it registers them, independently of the EOSE above.
  EXPECT_TRUE(
      eventually([&] { return metric(server->metrics_text(), "fedai_relay_subscriptions") == 1; }));

  auto missing = test::http_request("127.0.0.1", server->metrics_port(), "GET", "/other");
  EXPECT_EQ(missing.status, 404);
}

TEST_F(RelayTest, StartFailsClearlyWhenThePortIsTaken) {
  start();
  RelayOptions o = defaults();
  o.db_path = dir.sub("db2");
  o.listen_port = static_cast<std::uint16_t>(server->port());
  auto second = RelayServer::start(o);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("cannot listen on 127.0.0.1:"), std::string::npos)
      << second.error().message;
}

TEST_F(RelayTest, StopsWithClientsConnected) {
  start();
  auto a = connect();
  auto b = connect();
  EXPECT_TRUE(a->req("s", {{"kinds", {1}}}).eose);
  server->stop();
  EXPECT_TRUE(a->wait_closed(5s));
  EXPECT_TRUE(b->wait_closed(5s));
}

}  // namespace
}  // namespace fedai
