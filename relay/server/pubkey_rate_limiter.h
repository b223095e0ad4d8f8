// Events per second per author, shared by the verify threads.
//
// Checked after the signature verifies, so nobody can spend someone else's budget with forged
// events. Sharded by key so that the verify threads rarely meet on a lock; each shard forgets
// idle (full) buckets when it grows past its bound, so memory stays bounded however many keys
// a flood uses.
#pragma once

#include <array>
#include <mutex>
#include <unordered_map>

#include "core/nostr/keys.h"
#include "relay/server/token_bucket.h"

namespace fedai::relay::server {

class PubkeyRateLimiter {
 public:
  // rate 0: unlimited.
  PubkeyRateLimiter(double rate, double burst, std::size_t max_keys = 65536);

  bool enabled() const { return rate_ > 0; }
  // True when `pubkey` may publish one more event now.
  bool allow(const PublicKey& pubkey, TokenBucket::Clock::time_point now);

 private:
  static constexpr std::size_t kShards = 16;
  struct Shard {
    std::mutex mutex;
    std::unordered_map<PublicKey, TokenBucket, FixedBytesHash> buckets;
  };

  double rate_;
  double burst_;
  std::size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace fedai::relay::server
