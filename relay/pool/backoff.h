// How long a relay connection waits before the next attempt: exponential growth with a cap,
// and jitter so that many clients cut off by one relay restart don't all come back in the same
// instant (a synchronized retry storm).
#pragma once

#include <chrono>

namespace fedai::relay {

struct BackoffPolicy {
  // The wait after the first failure.
  std::chrono::milliseconds initial{1000};
  // The wait never grows beyond this (before jitter).
  std::chrono::milliseconds max{60'000};
  // Each further failure multiplies the wait by this.
  double multiplier = 2.0;
  // Each wait is scaled by a uniform factor in [1 - jitter, 1 + jitter].
  double jitter = 0.2;
  // A connection that stayed up this long resets the failure count; one that dropped sooner
  // keeps growing the wait, so a relay that accepts and immediately closes is not hammered.
  std::chrono::milliseconds stable_after{10'000};

  // The wait before the next attempt after `failures` consecutive failures (>= 1), given a
  // uniform random number `unit` in [0, 1). At least 1 ms.
  std::chrono::milliseconds delay(unsigned failures, double unit) const;
};

}  // namespace fedai::relay
