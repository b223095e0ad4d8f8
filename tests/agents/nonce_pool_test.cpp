// The agents' pool of signing nonces (agents/runtime/nonce_pool.h).
#include "agents/runtime/nonce_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "core/nostr/sha256.h"

namespace fedai::agents {
namespace {

// Sets of strings, not of byte vectors: GCC 12 warns (wrongly) on comparing those.
std::string r_of(const SigningNonce& n) {
  return {n.r().begin(), n.r().end()};
}

std::uint64_t metric(const MetricsRegistry& metrics, const std::string& name) {
  std::string text = metrics.render();
  auto at = text.find(name + "{agent=\"test\"} ");
  EXPECT_NE(at, std::string::npos) << name << " in\n" << text;
  if (at == std::string::npos) return 0;
  return std::stoull(text.substr(text.find(' ', at) + 1));
}

TEST(NoncePool, FillsToCapacityAndHandsEachNonceOutOnce) {
  MetricsRegistry metrics;
  Keypair key = Keypair::generate();
  NoncePool pool(key, 8, metrics, "test");
  EXPECT_EQ(pool.ready(), 0u);
  EXPECT_FALSE(pool.take());  // empty: the signer makes its own
  int made = 0;
  while (pool.refill_one()) ++made;
  EXPECT_EQ(made, 8);
  EXPECT_EQ(pool.ready(), 8u);
  std::set<std::string> seen;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 8; ++i) {
      auto n = pool.take();
      ASSERT_TRUE(n);
      EXPECT_TRUE(seen.insert(r_of(*n)).second) << "a nonce was handed out twice";
      auto msg = sha256(std::to_string(round * 8 + i));
      Signature sig = key.sign(msg.span(), std::move(*n));
      EXPECT_TRUE(verify_signature(key.public_key(), msg.span(), sig));
    }
    EXPECT_FALSE(pool.take());
    while (pool.refill_one()) {
    }
  }
  EXPECT_EQ(metric(metrics, "fedai_signing_nonces_taken_total"), 24u);
  EXPECT_EQ(metric(metrics, "fedai_signing_nonces_missed_total"), 4u);
}

// As agents use it: attached to their Keypair (whose copies share it), signatures from several
// threads while another refills; every R distinct, every signature valid, and every signature
// counted as taken or missed.
TEST(NoncePool, AttachedToAKeypairWhileRefilling) {
  MetricsRegistry metrics;
  Keypair key = Keypair::generate();
  auto pool = std::make_shared<NoncePool>(key, 16, metrics, "test");
  key.use_nonces(pool);
  std::atomic<bool> done{false};
  std::thread refiller([&] {
    while (!done) pool->refill_one();
  });
  std::vector<std::thread> signers;
  std::vector<std::vector<std::string>> rs(3);
  for (int t = 0; t < 3; ++t) {
    signers.emplace_back([&, t, copy = key] {
      for (int i = 0; i < 60; ++i) {
        auto msg = sha256(std::to_string(t) + "/" + std::to_string(i));
        Signature sig = copy.sign(msg.span());
        EXPECT_TRUE(verify_signature(copy.public_key(), msg.span(), sig));
        rs[t].emplace_back(sig.bytes.begin(), sig.bytes.begin() + 32);
      }
    });
  }
  for (auto& th : signers) th.join();
  done = true;
  refiller.join();
  std::set<std::string> all;
  for (const auto& v : rs)
    for (const auto& r : v) EXPECT_TRUE(all.insert(r).second) << "an R repeated";
  EXPECT_EQ(all.size(), 180u);
  EXPECT_EQ(metric(metrics, "fedai_signing_nonces_taken_total") +
                metric(metrics, "fedai_signing_nonces_missed_total"),
            180u);
}

}  // namespace
}  // namespace fedai::agents
