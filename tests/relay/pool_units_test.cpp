// The relay pool's pure parts: URLs, backoff, the dedupe set, the catch-up rule, NIP-11 parsing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "relay/pool/backoff.h"
#include "relay/pool/catch_up.h"
#include "relay/pool/relay_information.h"
#include "relay/pool/relay_url.h"
#include "relay/pool/seen_events.h"

namespace fedai::relay {
namespace {

// FEDAI_LOG_LEVEL=debug (or trace) shows the pool's logs while the tests run.
const bool kLogLevelSet = [] {
  if (const char* level = std::getenv("FEDAI_LOG_LEVEL"))
    spdlog::set_level(spdlog::level::from_str(level));
  return true;
}();

using namespace std::chrono_literals;

// ---- URLs ----------------------------------------------------------------------------------

TEST(RelayUrl, NormalizesSchemeHostDefaultPortAndLoneSlash) {
  auto a = parse_relay_url("WSS://Relay.Example.COM:443/");
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_TRUE(a->secure);
  EXPECT_EQ(a->host, "relay.example.com");
  EXPECT_EQ(a->port, 443);
  EXPECT_EQ(a->path, "/");
  EXPECT_EQ(a->text, "wss://relay.example.com");
  auto b = parse_relay_url("wss://relay.example.com");
  ASSERT_TRUE(b);
  EXPECT_EQ(*a, *b);
}

TEST(RelayUrl, KeepsPortsPathsQueriesAndIpv6) {
  auto a = parse_relay_url("ws://127.0.0.1:7447/nostr?x=1");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->secure);
  EXPECT_EQ(a->port, 7447);
  EXPECT_EQ(a->path, "/nostr?x=1");
  EXPECT_EQ(a->text, "ws://127.0.0.1:7447/nostr?x=1");
  EXPECT_EQ(a->http_url(), "http://127.0.0.1:7447/nostr?x=1");
  EXPECT_EQ(a->host_header(), "127.0.0.1:7447");

  auto q = parse_relay_url("ws://h?x=1");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->path, "/?x=1");

  auto v6 = parse_relay_url("wss://[::1]:8443");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->text, "wss://[::1]:8443");
  EXPECT_EQ(v6->http_url(), "https://[::1]:8443/");
}

TEST(RelayUrl, RefusesWhatIsNotARelayAddress) {
  for (const char* bad :
       {"", "relay.example.com", "http://relay.example.com", "ws://", "ws://:80", "ws://host:0",
        "ws://host:65536", "ws://host:12x", "ws://user@host", "ws://host/#frag", "ws://ho st",
        "ws://host\n", "ws://[::1", "ws://[zz::1]", "ws://bad!host"}) {
    auto r = parse_relay_url(bad);
    EXPECT_FALSE(r) << "accepted '" << bad << "'";
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::invalid);
    }
  }
}

// ---- backoff -------------------------------------------------------------------------------

constexpr auto kRecent = 1s;  // well inside the recent window
constexpr auto kLong = 10min;

TEST(Backoff, GrowsGeometricallyUpToTheCap) {
  BackoffPolicy p;
  p.initial = 100ms;
  p.recent_max = 300ms;
  p.max = 1000ms;
  p.multiplier = 2;
  p.jitter = 0;
  // A long outage: up to `max`.
  EXPECT_EQ(p.delay(1, kLong, 0.5), 100ms);
  EXPECT_EQ(p.delay(2, kLong, 0.5), 200ms);
  EXPECT_EQ(p.delay(3, kLong, 0.5), 400ms);
  EXPECT_EQ(p.delay(4, kLong, 0.5), 800ms);
  EXPECT_EQ(p.delay(5, kLong, 0.5), 1000ms);
  EXPECT_EQ(p.delay(1'000'000, kLong, 0.5), 1000ms);  // no overflow after a very long outage
  // A relay healthy until recently: up to `recent_max`.
  EXPECT_EQ(p.delay(1, kRecent, 0.5), 100ms);
  EXPECT_EQ(p.delay(2, kRecent, 0.5), 200ms);
  EXPECT_EQ(p.delay(3, kRecent, 0.5), 300ms);
  EXPECT_EQ(p.delay(1'000'000, kRecent, 0.5), 300ms);
  // `max` bounds everything, the recent cap included.
  p.max = 150ms;
  EXPECT_EQ(p.delay(3, kRecent, 0.5), 150ms);
}

TEST(Backoff, TheDefaultsBoundEveryWait) {
  BackoffPolicy p;
  for (unsigned failures : {1u, 2u, 3u, 5u, 10u, 100u, 100'000u}) {
    for (double u : {0.0, 0.25, 0.5, 0.75, 0.999999}) {
      // A restart (the relay was healthy a moment ago, or up to a minute ago): 2 s at most.
      for (auto down : {0ms, 500ms, 10'000ms, 59'999ms}) {
        auto d = p.delay(failures, down, u);
        EXPECT_GE(d, 1ms);
        EXPECT_LE(d, 2000ms) << failures << " failures, down " << down.count() << " ms";
      }
      // Gone for longer: 30 s at most.
      for (auto down : {60'000ms, 3'600'000ms}) {
        auto d = p.delay(failures, down, u);
        EXPECT_GE(d, 1ms);
        EXPECT_LE(d, 30'000ms);
      }
    }
  }
  // ... and reached: a relay gone for long is not retried every 2 s forever.
  EXPECT_GE(p.delay(100, 60'000ms, 0.0), 15'000ms);
  EXPECT_GE(p.delay(100, 1s, 0.0), 1000ms);
}

TEST(Backoff, JitterStaysWithinItsBandAndSpreadsRetries) {
  BackoffPolicy p;
  p.initial = 1000ms;
  p.jitter = 0.2;
  EXPECT_EQ(p.delay(1, kRecent, 0.0), 1000ms);
  EXPECT_EQ(p.delay(1, kRecent, 0.5), 900ms);
  EXPECT_GE(p.delay(1, kRecent, 0.999999), 800ms);
  std::set<long> distinct;
  for (int i = 0; i < 100; ++i) {
    auto d = p.delay(1, kRecent, i / 100.0).count();
    EXPECT_GT(d, 800);
    EXPECT_LE(d, 1000);  // downward only: the caps are true bounds
    distinct.insert(d);
  }
  EXPECT_GT(distinct.size(), 50u);  // spread, not synchronized
  // At the cap too: clients that have failed for a while don't line up on it.
  BackoffPolicy defaults;
  std::set<long> at_cap;
  for (int i = 0; i < 100; ++i) at_cap.insert(defaults.delay(50, kRecent, i / 100.0).count());
  EXPECT_GT(at_cap.size(), 50u);
  EXPECT_LT(*at_cap.begin(), 1100);
}

TEST(Backoff, NeverZero) {
  BackoffPolicy p;
  p.initial = 0ms;
  p.jitter = 1.0;
  EXPECT_GE(p.delay(1, kRecent, 0.999999), 1ms);
  p.recent_max = 0ms;
  EXPECT_GE(p.delay(5, kRecent, 0.5), 1ms);
}

// ---- reconnection bookkeeping ----------------------------------------------------------------

using Time = ReconnectBackoff::Clock::time_point;

BackoffPolicy no_jitter() {
  BackoffPolicy p;
  p.jitter = 0;
  return p;
}

TEST(ReconnectBackoff, AHealthyRelayThatDropsIsRetriedWithinHalfASecond) {
  Time t{};
  ReconnectBackoff b(BackoffPolicy{}, t);
  EXPECT_EQ(b.failures(), 0u);
  b.connected(t + 1s);
  // Hours of service, then the relay goes away.
  Time lost = t + 3h;
  for (double u : {0.0, 0.5, 0.999999}) {
    ReconnectBackoff copy = b;
    auto d = copy.failed(lost, u);
    EXPECT_LE(d, 500ms);
    EXPECT_GE(d, 250ms);
    EXPECT_EQ(copy.failures(), 1u);
  }
}

// The issue-13 outage: every refused attempt of a restart used to double the wait (17-19 s
// after 15 s down). Now the waits stay at most 2 s apart for the first minute, so the relay's
// return is noticed within 2 s.
TEST(ReconnectBackoff, ARestartingRelayIsRetriedAtMostTwoSecondsApart) {
  Time t{};
  ReconnectBackoff b(no_jitter(), t);
  b.connected(t);
  Time now = t + 1h;
  std::vector<long> waits;
  auto outage_start = now;
  while (now - outage_start < 59s) {
    auto d = b.failed(now, 0.5);
    waits.push_back(d.count());
    now += d;
  }
  ASSERT_GE(waits.size(), 4u);
  EXPECT_EQ(waits[0], 500);
  EXPECT_EQ(waits[1], 1000);
  for (std::size_t i = 2; i < waits.size(); ++i) EXPECT_EQ(waits[i], 2000) << i;
  // A minute on the relay is really gone: back off further, up to 30 s.
  now = outage_start + 61s;
  EXPECT_EQ(b.failed(now, 0.5), 30s);
  EXPECT_EQ(b.down_for(now), 61s);
}

TEST(ReconnectBackoff, AStableConnectionResetsTheCountAndTheOutageClock) {
  Time t{};
  ReconnectBackoff b(no_jitter(), t);
  // Down for ten minutes: long waits.
  Time now = t;
  while (now < t + 10min) now += b.failed(now, 0);
  EXPECT_EQ(b.failed(now, 0), 30s);
  // Back: the count is reset at once.
  b.connected(now);
  EXPECT_EQ(b.failures(), 0u);
  // It served for 5 s (stable_after) and dropped: healthy until a moment ago.
  now += 5s;
  EXPECT_EQ(b.failed(now, 0), 500ms);
  EXPECT_EQ(b.failures(), 1u);
  EXPECT_EQ(b.down_for(now), 0ms);
  EXPECT_EQ(b.failed(now + 500ms, 0), 1000ms);
  EXPECT_EQ(b.failed(now + 1500ms, 0), 2000ms);
}

TEST(ReconnectBackoff, AcceptingAndDroppingAtOnceStillCountsAsAFailure) {
  Time t{};
  ReconnectBackoff b(no_jitter(), t);
  Time now = t;
  std::vector<long> waits;
  for (int i = 0; i < 6; ++i) {
    b.connected(now);
    now += 10ms;  // the relay closes right after the handshake
    auto d = b.failed(now, 0);
    waits.push_back(d.count());
    now += d;
  }
  EXPECT_EQ(waits, (std::vector<long>{500, 1000, 2000, 2000, 2000, 2000}));
  EXPECT_EQ(b.failures(), 6u);
  // A quick drop does not restart the outage clock: after a minute of this, the long cap.
  now = t + 2min;
  b.connected(now);
  EXPECT_EQ(b.failed(now + 10ms, 0), 30s);
}

TEST(ReconnectBackoff, ANewRelayCountsAsHealthyWhenAdded) {
  Time t{};
  ReconnectBackoff b(no_jitter(), t);
  // Started before its relay (a deployment bringing both up): found quickly.
  EXPECT_EQ(b.failed(t + 10ms, 0), 500ms);
  EXPECT_EQ(b.failed(t + 1s, 0), 1000ms);
  EXPECT_EQ(b.failed(t + 2s, 0), 2000ms);
  EXPECT_EQ(b.failed(t + 4s, 0), 2000ms);
  // Never there (a wrong address): every 2 s for the first minute, then up to 30 s apart.
  Time now = t + 6s;
  while (now < t + 60s) {
    EXPECT_EQ(b.failed(now, 0), 2000ms);
    now += 2s;
  }
  EXPECT_EQ(b.failed(now, 0), 30s);
}

// ---- dedupe set ----------------------------------------------------------------------------

EventId id_of(int n) {
  EventId id;
  for (int i = 0; i < 4; ++i)
    id.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  return id;
}

TEST(SeenEvents, DeliversOncePerSubscription) {
  SeenEvents seen(16);
  EXPECT_EQ(seen.offer(id_of(1), 7), SeenEvents::Offer::first_sighting);
  EXPECT_EQ(seen.offer(id_of(1), 7), SeenEvents::Offer::duplicate);
  EXPECT_EQ(seen.offer(id_of(1), 8), SeenEvents::Offer::new_subscription);
  EXPECT_EQ(seen.offer(id_of(1), 8), SeenEvents::Offer::duplicate);
  EXPECT_TRUE(seen.contains(id_of(1)));
  EXPECT_TRUE(seen.delivered(id_of(1), 8));
  EXPECT_FALSE(seen.delivered(id_of(1), 9));
  EXPECT_FALSE(seen.contains(id_of(2)));
}

TEST(SeenEvents, MemoryIsBoundedByCapacity) {
  SeenEvents seen(100);
  for (int i = 0; i < 10'000; ++i) (void)seen.offer(id_of(i), 1);
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(seen.evictions(), 9'900u);
  EXPECT_TRUE(seen.contains(id_of(9'999)));  // the newest stay
  EXPECT_FALSE(seen.contains(id_of(0)));     // the oldest went
}

TEST(SeenEvents, ARepeatedIdGetsASecondChance) {
  SeenEvents seen(4);
  for (int i = 0; i < 4; ++i) (void)seen.offer(id_of(i), 1);
  // id 0 keeps arriving (from other relays): its bit is set, so the sweep passes it over.
  EXPECT_EQ(seen.offer(id_of(0), 1), SeenEvents::Offer::duplicate);
  (void)seen.offer(id_of(100), 1);
  EXPECT_TRUE(seen.contains(id_of(0)));
  EXPECT_FALSE(seen.contains(id_of(1)));
  EXPECT_TRUE(seen.contains(id_of(100)));
}

// ---- catch-up ------------------------------------------------------------------------------

TEST(CatchUp, NothingChangesBeforeTheFirstEose) {
  CatchUpState s;
  s.newest_created = 1000;
  s.disconnected_at = 2000;
  EXPECT_EQ(catch_up_since(s, 60s), std::nullopt);
  Filter f;
  f.limit = 10;
  auto out = catch_up_filters({f}, s, 60s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], f);
}

TEST(CatchUp, SinceIsTheNewestDeliveredMinusTheMargin) {
  CatchUpState s;
  s.reached_eose = true;
  s.newest_created = 1000;
  s.disconnected_at = 2000;
  EXPECT_EQ(catch_up_since(s, 60s), 940);
}

TEST(CatchUp, WithoutEventsSinceIsTheDisconnectTimeMinusTheMargin) {
  CatchUpState s;
  s.reached_eose = true;
  s.disconnected_at = 2000;
  EXPECT_EQ(catch_up_since(s, 60s), 1940);
}

TEST(CatchUp, AnEventFromTheFutureCannotSkipTheOutage) {
  CatchUpState s;
  s.reached_eose = true;
  s.newest_created = 999'999;  // a skewed or hostile created_at
  s.disconnected_at = 2000;
  EXPECT_EQ(catch_up_since(s, 60s), 1940);
}

TEST(CatchUp, KeepsALaterSinceAndDropsLimit) {
  CatchUpState s;
  s.reached_eose = true;
  s.disconnected_at = 2000;
  Filter early, late;
  early.since = 100;
  early.limit = 5;
  late.since = 5000;
  auto out = catch_up_filters({early, late, Filter{}}, s, 60s);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].since, 1940);
  EXPECT_FALSE(out[0].limit);
  EXPECT_EQ(out[1].since, 5000);
  EXPECT_EQ(out[2].since, 1940);
}

// ---- NIP-11 --------------------------------------------------------------------------------

TEST(RelayInformation, ReadsTheDocumentAndSkipsOddFields) {
  auto info = parse_relay_information(R"({
    "name": "r", "description": "d", "pubkey": 5, "supported_nips": [1, "11", 42],
    "software": "s", "version": "1", "limitation": {"max_message_length": 1000,
    "auth_required": true, "max_subscriptions": "20", "max_limit": -1}})");
  ASSERT_TRUE(info) << info.error().to_string();
  EXPECT_EQ(info->name, "r");
  EXPECT_EQ(info->pubkey, "");  // wrong type: skipped
  EXPECT_EQ(info->supported_nips, (std::vector<int>{1, 42}));
  EXPECT_TRUE(info->supports(42));
  EXPECT_FALSE(info->supports(11));
  EXPECT_EQ(info->limitation.max_message_length, 1000u);
  EXPECT_EQ(info->limitation.auth_required, true);
  EXPECT_FALSE(info->limitation.max_subscriptions);
  EXPECT_FALSE(info->limitation.max_limit);
  EXPECT_FALSE(parse_relay_information("[1,2]"));
  EXPECT_FALSE(parse_relay_information("<html>"));
}

}  // namespace
}  // namespace fedai::relay
