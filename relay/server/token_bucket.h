// A token bucket: `rate` tokens a second, holding at most `burst`. A rate of 0 means unlimited.
#pragma once

#include <algorithm>
#include <chrono>

namespace fedai::relay::server {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket() = default;
  TokenBucket(double rate, double burst, Clock::time_point now)
      : rate_(rate), burst_(std::max(burst, 1.0)), tokens_(burst_), last_(now) {}

  bool unlimited() const { return rate_ <= 0; }

  // Takes one token if there is one.
  bool take(Clock::time_point now) {
    if (unlimited()) return true;
    refill(now);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

  // True when the bucket is full again at `now` (an idle bucket can be forgotten).
  bool full_at(Clock::time_point now) {
    refill(now);
    return tokens_ >= burst_;
  }

 private:
  void refill(Clock::time_point now) {
    if (now <= last_) return;
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }

  double rate_ = 0;
  double burst_ = 1;
  double tokens_ = 1;
  Clock::time_point last_{};
};

}  // namespace fedai::relay::server
