// Signing nonces made ahead of time, in the agent's spare moments.
//
// A BIP-340 signature is an elliptic-curve multiplication (R = k*G, about 20 us here) and then a
// hash and two scalar operations (about 1 us). The multiplication doesn't need the message, so
// the agent makes it beforehand (core/nostr/keys.h, SigningNonce) and the signatures on a job's
// path cost the rest: two a job on each side, about 40 us off the router's and the node's part
// of a request's latency.
//
// The pool is filled by AgentLoop's idle work (agent_loop.h), only while the agent's thread has
// little to do: a nonce costs what it saves, so under load the pool runs dry and each signature
// computes its own nonce, as it would without a pool. A thread of its own was tried and measured
// (docs/benchmarks.md): even at SCHED_IDLE it took the cores' spare time from the agents under
// load, and requests/s fell by a tenth.
//
// take() never blocks and any thread may call it (the relay pool's thread signs AUTH events).
// Each nonce is handed out once and wiped when used; the pool lives in memory only.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/nostr/keys.h"
#include "core/util/metrics.h"

namespace fedai::agents {

class NoncePool final : public NonceSource {
 public:
  // Keeps up to `capacity` nonces of `signer`. Counters go to `metrics` with the label
  // agent=`agent`.
  NoncePool(const Keypair& signer, std::size_t capacity, MetricsRegistry& metrics,
            const std::string& agent);
  NoncePool(const NoncePool&) = delete;
  NoncePool& operator=(const NoncePool&) = delete;

  std::optional<SigningNonce> take() override;

  // Makes one nonce if the pool has room (about 20 us); false when it is full.
  bool refill_one();
  // Nonces ready now.
  std::size_t ready() const;
  std::size_t capacity() const { return capacity_; }

 private:
  Keypair signer_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::vector<SigningNonce> ready_;
  Counter& taken_;
  Counter& missed_;
  Gauge& depth_;
};

}  // namespace fedai::agents
