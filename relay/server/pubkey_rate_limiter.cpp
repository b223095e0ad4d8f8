#include "relay/server/pubkey_rate_limiter.h"

#include <algorithm>
#include <iterator>

namespace fedai::relay::server {

PubkeyRateLimiter::PubkeyRateLimiter(double rate, double burst, std::size_t max_keys)
    : rate_(rate),
      burst_(std::max(burst, 1.0)),
      max_per_shard_(std::max<std::size_t>(max_keys / kShards, 16)) {}

bool PubkeyRateLimiter::allow(const PublicKey& pubkey, TokenBucket::Clock::time_point now) {
  if (!enabled()) return true;
  // The key's last byte picks the shard; the map hashes the first eight.
  Shard& shard = shards_[pubkey.bytes[31] % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.buckets.find(pubkey);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_per_shard_) {
      for (auto b = shard.buckets.begin(); b != shard.buckets.end();)
        b = b->second.full_at(now) ? shard.buckets.erase(b) : std::next(b);
      // Still full of busy keys: start over rather than grow. Keys are free to make, so a
      // per-key limit is about fairness between honest authors, not a defence against floods.
      if (shard.buckets.size() >= max_per_shard_) shard.buckets.clear();
    }
    it = shard.buckets.emplace(pubkey, TokenBucket(rate_, burst_, now)).first;
  }
  return it->second.take(now);
}

}  // namespace fedai::relay::server
