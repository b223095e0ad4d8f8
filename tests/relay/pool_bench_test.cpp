// The pool's ingest with dedupe from three relays, in events/s. Disabled by default (it is a
// measurement, not a check); run with
//   fedai_pool_tests --gtest_also_run_disabled_tests --gtest_filter='*IngestWithDedupe*'
// Each of three scripted relays answers the REQ with the same N pre-signed events, so the pool
// reads 3N EVENT messages, verifies N (dedupe skips the others before any crypto) and delivers N.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "relay/pool/relay_pool.h"
#include "tests/relay/pool_test_util.h"
#include "tests/support/relay_processes.h"
#include "tests/support/temp_dir.h"

namespace fedai::test {
namespace {

TEST(RelayPoolBench, DISABLED_IngestWithDedupeFromThreeRelays) {
  const int n =
      std::getenv("FEDAI_BENCH_EVENTS") ? std::atoi(std::getenv("FEDAI_BENCH_EVENTS")) : 20'000;
  TempDir dir;
  auto keys = Keypair::generate();
  nlohmann::json frames = nlohmann::json::array();
  for (int i = 0; i < n; ++i) {
    // ~400 bytes, like the strfry anchor's events.
    auto e = make_event(keys, std::string(220, 'x') + std::to_string(i), 1,
                        {{"t", "bench"}, {"model", "tiny"}});
    frames.push_back("[\"EVENT\",\"$SUB\"," + to_json(e) + "]");
  }
  frames.push_back("[\"EOSE\",\"$SUB\"]");
  std::string script = dir.sub("script.json");
  std::ofstream(script) << nlohmann::json{{"on_req", frames}}.dump();
  ScriptedRelay r1(script), r2(script), r3(script);

  std::atomic<int> delivered{0};
  std::promise<void> done;
  relay::RelayPool pool;
  for (auto* r : {&r1, &r2, &r3}) ASSERT_TRUE(pool.add_relay(r->url()));
  relay::SubscriptionHandlers h;
  h.on_event = [&](const Event&, const std::string&) { ++delivered; };
  h.on_all_eose = [&] { done.set_value(); };
  Filter f;
  f.kinds = std::vector<Kind>{1};
  auto cpu = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  double cpu_start = cpu();
  auto start = std::chrono::steady_clock::now();
  pool.subscribe({f}, h);
  ASSERT_EQ(done.get_future().wait_for(120s), std::future_status::ready);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu_seconds = cpu() - cpu_start;  // the pool's threads only, not the relays'
  EXPECT_EQ(delivered.load(), n);
  std::uint64_t hits = 0, received = 0;
  for (const auto& s : pool.stats()) {
    hits += s.dedupe_hits;
    received += s.events_received;
  }
  EXPECT_EQ(hits, 2u * static_cast<std::uint64_t>(n));
  std::printf(
      "ingest with dedupe: %llu EVENT messages from 3 relays, %d delivered, in %.3f s: "
      "%.0f messages/s, %.0f unique events/s; pool CPU %.3f s = %.1f us per message\n",
      static_cast<unsigned long long>(received), n, seconds,
      static_cast<double>(received) / seconds, n / seconds, cpu_seconds,
      cpu_seconds * 1e6 / static_cast<double>(received));
}

}  // namespace
}  // namespace fedai::test
