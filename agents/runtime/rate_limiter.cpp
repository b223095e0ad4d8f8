#include "agents/runtime/rate_limiter.h"

#include <algorithm>

namespace fedai::agents {

std::string_view peer_host(std::string_view remote) {
  if (remote.starts_with('[')) {
    auto end = remote.find(']');
    return end == std::string_view::npos ? remote : remote.substr(1, end - 1);
  }
  auto colon = remote.rfind(':');
  return colon == std::string_view::npos ? remote : remote.substr(0, colon);
}

bool PeerRateLimiter::allow(std::string_view peer, machine::UnixMillis now) {
  std::string key(peer_host(peer));
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_peers_) {
      buckets_.erase(ages_.back());
      ages_.pop_back();
    }
    ages_.push_front(key);
    it = buckets_.emplace(key, Bucket{burst_, now, ages_.begin()}).first;
  } else {
    ages_.splice(ages_.begin(), ages_, it->second.age);
  }
  Bucket& b = it->second;
  double elapsed = static_cast<double>(std::max<machine::UnixMillis>(0, now - b.last)) / 1000.0;
  b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
  b.last = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace fedai::agents
