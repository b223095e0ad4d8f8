// RelayPool against an independent relay installed from npm (@nostr-relay/core 0.0.40 with its
// SQLite repository), over real sockets on 127.0.0.1: subscriptions and EOSE, live delivery,
// dedupe across relays, per-relay publish results, NIP-11 and NIP-42.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util/metrics.h"
#include "relay/pool/relay_pool.h"
#include "tests/relay/pool_test_util.h"
#include "tests/support/relay_processes.h"
#include "tests/support/temp_dir.h"

namespace fedai::test {
namespace {

using relay::PublishOutcome;
using relay::RelayPool;
using relay::RelayPoolOptions;
using relay::RelayStatus;

// A 127.0.0.1 port nobody listens on: bound, then released (the kernel hands out ports in
// sequence, so it stays free for the length of a test).
int closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

RelayPoolOptions fast_options() {
  RelayPoolOptions o;
  o.backoff.initial = 100ms;
  o.backoff.max = 500ms;
  o.connect_timeout = 5s;
  return o;
}

// Publishes through a pool of its own and checks that every relay accepted.
void publish_everywhere(const std::vector<std::string>& urls, const std::vector<Event>& events) {
  RelayPool publisher(fast_options());
  for (const auto& u : urls) ASSERT_TRUE(publisher.add_relay(u));
  for (const auto& e : events) {
    auto results = publish_and_wait(publisher, e);
    ASSERT_TRUE(results);
    ASSERT_EQ(results->size(), urls.size());
    for (const auto& r : *results)
      ASSERT_EQ(r.outcome, PublishOutcome::accepted) << r.relay << ": " << r.message;
  }
}

std::uint64_t total(const std::vector<relay::RelayStats>& stats,
                    std::uint64_t relay::RelayStats::*field) {
  std::uint64_t sum = 0;
  for (const auto& s : stats) sum += s.*field;
  return sum;
}

TEST(RelayPool, StoredEventsThenEoseThenLiveEvents) {
  IndependentRelay relay;
  auto keys = Keypair::generate();
  std::vector<Event> stored{make_event(keys, "one"), make_event(keys, "two"),
                            make_event(keys, "three")};
  publish_everywhere({relay.url()}, stored);

  MetricsRegistry metrics;
  auto options = fast_options();
  options.metrics = &metrics;
  // Callback targets outlive the pool: its callbacks may run until it is destroyed.
  Inbox<std::string> log;  // callbacks in the order they ran
  RelayPool pool(options);
  ASSERT_TRUE(pool.add_relay(relay.url()));
  relay::SubscriptionHandlers h;
  h.on_event = [&](const Event& e, const std::string& r) {
    EXPECT_EQ(r, relay.url());
    log.push("event " + e.content);
  };
  h.on_eose = [&](const std::string& r) { log.push("eose " + r); };
  h.on_all_eose = [&] { log.push("all_eose"); };
  pool.subscribe({author_filter(keys.public_key())}, h);

  ASSERT_TRUE(log.wait_for_count(5));
  auto seen = log.items();
  std::vector<std::string> first_three(seen.begin(), seen.begin() + 3);
  std::sort(first_three.begin(), first_three.end());
  EXPECT_EQ(first_three, (std::vector<std::string>{"event one", "event three", "event two"}));
  EXPECT_EQ(seen[3], "eose " + relay.url());
  EXPECT_EQ(seen[4], "all_eose");

  // Live: published after EOSE, delivered without a new REQ.
  publish_everywhere({relay.url()}, {make_event(keys, "live")});
  ASSERT_TRUE(log.wait_for_count(6));
  EXPECT_EQ(log.items()[5], "event live");

  auto stats = pool.stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].status, RelayStatus::connected);
  EXPECT_EQ(stats[0].events_delivered, 4u);
  EXPECT_EQ(stats[0].verify_failures, 0u);
  EXPECT_EQ(stats[0].connections, 1u);
  EXPECT_GT(stats[0].bytes_received, 0u);
  EXPECT_GT(stats[0].bytes_sent, 0u);
  auto text = metrics.render();
  EXPECT_NE(text.find("fedai_pool_events_delivered_total{pool=\"default\",relay=\"" + relay.url() +
                      "\"} 4"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("fedai_pool_relay_status{pool=\"default\",relay=\"" + relay.url() +
                      "\",status=\"connected\"} 1"),
            std::string::npos);
}

TEST(RelayPool, AnEventOnTwoRelaysIsDeliveredOnce) {
  IndependentRelay a, b;
  auto keys = Keypair::generate();
  auto shared = make_event(keys, "on both");
  auto only_a = make_event(keys, "on a");
  publish_everywhere({a.url(), b.url()}, {shared});
  publish_everywhere({a.url()}, {only_a});

  // Callback targets outlive the pool: its callbacks may run until it is destroyed.
  SubscriptionProbe probe;
  SubscriptionProbe barrier;
  RelayPool pool(fast_options());
  ASSERT_TRUE(pool.add_relay(a.url()));
  ASSERT_TRUE(pool.add_relay(b.url()));
  pool.subscribe({author_filter(keys.public_key())}, probe.handlers());
  ASSERT_TRUE(probe.all_eose.wait_for_count(1));
  EXPECT_EQ(probe.eose.size(), 2u);
  auto events = probe.events.items();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].event.id, events[1].event.id);
  EXPECT_EQ(total(pool.stats(), &relay::RelayStats::dedupe_hits), 1u);

  // Live on both relays: once again. A second subscription's EOSE on each relay is a barrier:
  // each relay sent the live event on the connection before that EOSE.
  auto live = make_event(keys, "live on both");
  publish_everywhere({a.url(), b.url()}, {live});
  pool.subscribe({author_filter(keys.public_key(), 7)}, barrier.handlers());
  ASSERT_TRUE(barrier.all_eose.wait_for_count(1));
  ASSERT_TRUE(probe.events.wait_for_count(3));
  EXPECT_EQ(probe.events.size(), 3u);
  EXPECT_TRUE(probe.has_event(live.id));
  EXPECT_EQ(total(pool.stats(), &relay::RelayStats::dedupe_hits), 2u);
}

TEST(RelayPool, PublishReportsOneResultPerRelay) {
  IndependentRelay a, b;
  RelayPool pool(fast_options());
  ASSERT_TRUE(pool.add_relay(a.url()));
  ASSERT_TRUE(pool.add_relay(b.url()));
  auto keys = Keypair::generate();

  auto good = make_event(keys, "accepted everywhere");
  auto results = publish_and_wait(pool, good);
  ASSERT_TRUE(results);
  ASSERT_EQ(results->size(), 2u);
  for (const auto& r : *results) {
    EXPECT_EQ(r.outcome, PublishOutcome::accepted) << r.relay << ": " << r.message;
    EXPECT_GT(r.latency.count(), 0);
  }
  EXPECT_NE(result_for(*results, a.url()), nullptr);
  EXPECT_NE(result_for(*results, b.url()), nullptr);

  // Again: still accepted (this relay answers a repeat from its cache, without "duplicate:").
  auto again = publish_and_wait(pool, good);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 2u);
  for (const auto& r : *again) EXPECT_EQ(r.outcome, PublishOutcome::accepted) << r.message;

  // Tampered after signing: each relay rejects it with its reason.
  auto bad = make_event(keys, "original");
  bad.content = "tampered";
  auto rejected = publish_and_wait(pool, bad);
  ASSERT_TRUE(rejected);
  ASSERT_EQ(rejected->size(), 2u);
  for (const auto& r : *rejected) {
    EXPECT_EQ(r.outcome, PublishOutcome::rejected);
    EXPECT_EQ(r.message.rfind("invalid:", 0), 0u) << r.message;
  }
  EXPECT_EQ(total(pool.stats(), &relay::RelayStats::rejections), 2u);
  EXPECT_EQ(total(pool.stats(), &relay::RelayStats::accepted), 4u);

  // Only the relays asked for.
  auto one = publish_and_wait(pool, make_event(keys, "only b"), 5s, {b.url()});
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].relay, b.url());
  EXPECT_EQ((*one)[0].outcome, PublishOutcome::accepted);
}

TEST(RelayPool, ThreeRelaysOneDeadPublishSucceedsOnTwoAndReportsTheThird) {
  IndependentRelay a, b;
  std::string dead = "ws://127.0.0.1:" + std::to_string(closed_port());
  StatusProbe status;
  auto options = fast_options();
  options.on_status = status.callback();
  // Callback targets outlive the pool: its callbacks may run until it is destroyed.
  SubscriptionProbe probe;
  RelayPool pool(options);
  for (const auto& u : {a.url(), b.url(), dead}) ASSERT_TRUE(pool.add_relay(u));

  auto keys = Keypair::generate();
  auto event = make_event(keys, "two of three");
  auto results = publish_and_wait(pool, event);
  ASSERT_TRUE(results);
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ(outcome_for(*results, a.url()), PublishOutcome::accepted);
  EXPECT_EQ(outcome_for(*results, b.url()), PublishOutcome::accepted);
  auto* failed = result_for(*results, dead);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->outcome, PublishOutcome::failed);
  EXPECT_EQ(failed->message.rfind("not connected", 0), 0u) << failed->message;
  EXPECT_TRUE(relay::any_accepted(*results));

  // The dead relay keeps backing off (more than one attempt) and never counts against EOSE.
  EXPECT_TRUE(status.wait_for(dead, RelayStatus::backing_off, 2));
  pool.subscribe({author_filter(keys.public_key())}, probe.handlers());
  ASSERT_TRUE(probe.all_eose.wait_for_count(1));
  EXPECT_EQ(probe.events.size(), 1u);
  for (const auto& s : pool.stats()) {
    if (s.url == dead) {
      EXPECT_NE(s.status, RelayStatus::connected);
      EXPECT_GE(s.attempts, 2u);
      EXPECT_EQ(s.connections, 0u);
      EXPECT_FALSE(s.last_error.empty());
    }
  }
}

TEST(RelayPool, FetchesTheNip11Document) {
  IndependentRelay relay;
  // Callback targets outlive the pool: its callbacks may run until it is destroyed.
  std::promise<Result<relay::RelayInformation>> got;
  std::promise<Result<relay::RelayInformation>> none;
  RelayPool pool(fast_options());
  pool.fetch_info(relay.url(), 5s, [&](const std::string& url, Result<relay::RelayInformation> r) {
    EXPECT_EQ(url, relay.url());
    got.set_value(std::move(r));
  });
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  auto info = future.get();
  ASSERT_TRUE(info) << info.error().to_string();
  EXPECT_EQ(info->name, "fedai interop relay");
  EXPECT_TRUE(info->supports(1));
  EXPECT_TRUE(info->supports(11));
  EXPECT_EQ(info->limitation.max_message_length, 131072u);
  EXPECT_NE(info->json.find("\"software\""), std::string::npos);

  // Nothing listening: an error, not a hang.
  pool.fetch_info(
      "http://127.0.0.1:" + std::to_string(closed_port()), 5s,
      [&](const std::string&, Result<relay::RelayInformation> r) { none.set_value(std::move(r)); });
  auto nf = none.get_future();
  ASSERT_EQ(nf.wait_for(kWait), std::future_status::ready);
  EXPECT_FALSE(nf.get());
}

TEST(RelayPool, AnswersAuthChallengesAndRetriesWhatWasRefused) {
  IndependentRelayOptions auth_only;
  auth_only.auth = true;
  IndependentRelay relay(auth_only);
  auto keys = Keypair::generate();
  auto options = fast_options();
  options.auth_key = keys;
  // Callback targets outlive the pool: its callbacks may run until it is destroyed.
  SubscriptionProbe probe;
  SubscriptionProbe refused;
  RelayPool pool(options);
  ASSERT_TRUE(pool.add_relay(relay.url()));

  // The publish is refused with auth-required: until AUTH is done, then retried once.
  auto event = make_event(keys, "after auth");
  auto results = publish_and_wait(pool, event);
  ASSERT_TRUE(results);
  ASSERT_EQ(results->size(), 1u);
  EXPECT_EQ((*results)[0].outcome, PublishOutcome::accepted) << (*results)[0].message;

  pool.subscribe({author_filter(keys.public_key())}, probe.handlers());
  ASSERT_TRUE(probe.all_eose.wait_for_count(1));
  EXPECT_TRUE(probe.has_event(event.id));
  EXPECT_EQ(probe.closed.size(), 0u);

  // Without a key the refusals are reported, and EOSE waiting ends.
  RelayPool anonymous(fast_options());
  ASSERT_TRUE(anonymous.add_relay(relay.url()));
  anonymous.subscribe({author_filter(keys.public_key())}, refused.handlers());
  ASSERT_TRUE(refused.all_eose.wait_for_count(1));
  ASSERT_EQ(refused.closed.size(), 1u);
  EXPECT_EQ(refused.closed.items()[0].second.rfind("auth-required:", 0), 0u);
  EXPECT_EQ(refused.events.size(), 0u);
  auto denied = publish_and_wait(anonymous, make_event(keys, "no auth"));
  ASSERT_TRUE(denied);
  EXPECT_EQ((*denied)[0].outcome, PublishOutcome::rejected);
  EXPECT_EQ((*denied)[0].message.rfind("auth-required:", 0), 0u);
}

TEST(RelayPool, RemovedRelayIsClosedAndLeavesThePool) {
  IndependentRelay a, b;
  StatusProbe status;
  auto options = fast_options();
  options.on_status = status.callback();
  RelayPool pool(options);
  ASSERT_TRUE(pool.add_relay(a.url()));
  ASSERT_TRUE(pool.add_relay(b.url()));
  ASSERT_TRUE(pool.add_relay(a.url()));  // twice: one relay
  EXPECT_EQ(pool.relay_urls().size(), 2u);
  EXPECT_FALSE(pool.add_relay("http://not-a-relay"));
  ASSERT_TRUE(status.wait_for(a.url(), RelayStatus::connected));
  pool.remove_relay(a.url());
  ASSERT_TRUE(status.wait_for(a.url(), RelayStatus::closed));
  EXPECT_EQ(pool.relay_urls(), std::vector<std::string>{b.url()});
  auto results = publish_and_wait(pool, make_event(Keypair::generate(), "after removal"));
  ASSERT_TRUE(results);
  ASSERT_EQ(results->size(), 1u);
  EXPECT_EQ((*results)[0].relay, b.url());
}

// wss:// with certificate verification: trusted through ca_file, refused without it.
TEST(RelayPool, SpeaksWssAndVerifiesTheCertificate) {
  TempDir dir;
  std::string cert = dir.sub("cert.pem"), key = dir.sub("key.pem");
  ChildProcess openssl({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key,
                        "-out", cert});
  auto status = openssl.wait(kWait);
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "openssl req failed";
  IndependentRelayOptions tls;
  tls.tls_cert = cert;
  tls.tls_key = key;
  IndependentRelay relay(tls);
  ASSERT_EQ(relay.url().rfind("wss://", 0), 0u);

  auto keys = Keypair::generate();
  auto event = make_event(keys, "over tls");
  StatusProbe untrusted_status;
  {
    auto options = fast_options();
    options.ca_file = cert;
    RelayPool pool(options);
    ASSERT_TRUE(pool.add_relay(relay.url()));
    auto results = publish_and_wait(pool, event);
    ASSERT_TRUE(results);
    EXPECT_EQ((*results)[0].outcome, PublishOutcome::accepted) << (*results)[0].message;

    std::promise<Result<relay::RelayInformation>> got;
    pool.fetch_info(relay.url(), 5s, [&](const std::string&, Result<relay::RelayInformation> r) {
      got.set_value(std::move(r));
    });
    auto info = got.get_future();
    ASSERT_EQ(info.wait_for(kWait), std::future_status::ready);
    EXPECT_TRUE(info.get());  // https:// for the NIP-11 document
  }
  // The system store does not know this self-signed certificate: no connection.
  auto options = fast_options();
  options.on_status = untrusted_status.callback();
  RelayPool untrusted(options);
  ASSERT_TRUE(untrusted.add_relay(relay.url()));
  ASSERT_TRUE(untrusted_status.wait_for(relay.url(), RelayStatus::backing_off));
  auto stats = untrusted.stats();
  EXPECT_EQ(stats[0].connections, 0u);
  EXPECT_FALSE(stats[0].last_error.empty());
}

}  // namespace
}  // namespace fedai::test
