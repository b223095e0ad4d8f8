#include "relay/pool/backoff.h"

#include <algorithm>
#include <cmath>

namespace fedai::relay {

std::chrono::milliseconds BackoffPolicy::delay(unsigned failures, double unit) const {
  double base = static_cast<double>(std::max<std::int64_t>(initial.count(), 1));
  double cap = static_cast<double>(std::max<std::int64_t>(max.count(), 1));
  double factor = std::max(multiplier, 1.0);
  // Grow step by step so a long outage can't overflow the exponent.
  for (unsigned i = 1; i < failures && base < cap; ++i) base *= factor;
  base = std::min(base, cap);
  double j = std::clamp(jitter, 0.0, 1.0);
  double u = std::clamp(unit, 0.0, 1.0);
  double scaled = base * (1.0 - j + 2.0 * j * u);
  return std::chrono::milliseconds(std::max<std::int64_t>(1, std::llround(scaled)));
}

}  // namespace fedai::relay
