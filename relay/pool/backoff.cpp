#include "relay/pool/backoff.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace fedai::relay {

std::chrono::milliseconds BackoffPolicy::delay(unsigned failures,
                                               std::chrono::milliseconds down_for,
                                               double unit) const {
  auto cap_ms = std::max<std::int64_t>(max.count(), 1);
  if (down_for < recent_window) cap_ms = std::min(cap_ms, recent_max.count());
  double cap = static_cast<double>(std::max<std::int64_t>(cap_ms, 1));
  double base = static_cast<double>(std::max<std::int64_t>(initial.count(), 1));
  double factor = std::max(multiplier, 1.0);
  // Grow step by step so a long outage can't overflow the exponent.
  for (unsigned i = 1; i < failures && base < cap; ++i) base *= factor;
  base = std::min(base, cap);
  double j = std::clamp(jitter, 0.0, 1.0);
  double u = std::clamp(unit, 0.0, 1.0);
  double scaled = base * (1.0 - j * u);
  return std::chrono::milliseconds(std::max<std::int64_t>(1, std::llround(scaled)));
}

ReconnectBackoff::ReconnectBackoff(BackoffPolicy policy, Clock::time_point now)
    : policy_(policy), healthy_at_(now) {}

void ReconnectBackoff::connected(Clock::time_point now) {
  connected_ = true;
  connected_at_ = now;
  failures_before_connect_ = failures_;
  failures_ = 0;
}

std::chrono::milliseconds ReconnectBackoff::failed(Clock::time_point now, double unit) {
  if (connected_) {
    connected_ = false;
    if (now - connected_at_ >= policy_.stable_after)
      healthy_at_ = now;  // healthy until a moment ago: the outage starts now, count from 0
    else
      failures_ = failures_before_connect_;  // accepted and dropped: no better than refused
  }
  ++failures_;
  return policy_.delay(failures_, down_for(now), unit);
}

std::chrono::milliseconds ReconnectBackoff::down_for(Clock::time_point now) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - healthy_at_);
}

}  // namespace fedai::relay
