// Per-peer token buckets: `rate` requests a second with bursts of `burst`, for a bounded number
// of peers (the least recently seen is forgotten first). Not thread-safe: one agent strand.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/machine/state.h"

namespace fedai::agents {

class PeerRateLimiter {
 public:
  PeerRateLimiter(double rate, double burst, std::size_t max_peers = 10'000)
      : rate_(rate), burst_(burst), max_peers_(max_peers) {}

  bool allow(std::string_view peer, machine::UnixMillis now);

 private:
  struct Bucket {
    double tokens;
    machine::UnixMillis last;
    std::list<std::string>::iterator age;
  };
  double rate_, burst_;
  std::size_t max_peers_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::list<std::string> ages_;  // most recent first
};

// The host part of "ip:port" (or "[v6]:port"), so that a peer's connections share a bucket.
std::string_view peer_host(std::string_view remote);

}  // namespace fedai::agents
