// How long a relay connection waits before the next attempt.
//
// Exponential growth with jitter, so that many clients cut off by one relay restart don't all
// come back in the same instant (a synchronized retry storm). Two caps, because what a restart
// costs is not the attempts but the wait in progress when the relay returns: the old single
// 60 s cap had every refused attempt of a few-second restart double the wait, and agents came
// back 22-36 s after their only relay did (issue 13).
//
//   - A relay that was healthy until recently (lost less than `recent_window` ago, or just
//     added) is retried at most `recent_max` apart: it is most likely restarting, and an
//     attempt at a down port on a working network costs one refused SYN.
//   - After `recent_window` of outage the relay is really gone; the wait grows up to `max`.
//   - A connection that stays up `stable_after` proves the relay healthy: the count starts
//     over and the first retry after it drops comes within `initial`. One that drops sooner
//     counts as one more failure, so a relay that accepts and immediately closes is not
//     hammered (and does not restart the outage clock).
#pragma once

#include <chrono>

namespace fedai::relay {

struct BackoffPolicy {
  // The wait after the first failure: the first retry after a healthy connection drops.
  std::chrono::milliseconds initial{500};
  // Each further failure multiplies the wait by this.
  double multiplier = 2.0;
  // The cap while the relay has been down less than `recent_window`.
  std::chrono::milliseconds recent_max{2'000};
  std::chrono::milliseconds recent_window{60'000};
  // The cap after that (and over everything: `recent_max` above it is lowered to it).
  std::chrono::milliseconds max{30'000};
  // Each wait is scaled by a uniform factor in (1 - jitter, 1]: downward only, so the caps
  // are true bounds.
  double jitter = 0.5;
  // A connection that stayed up this long resets the failure count (see above).
  std::chrono::milliseconds stable_after{5'000};

  // The wait before the next attempt after `failures` consecutive failures (>= 1) of a relay
  // down for `down_for`, given a uniform random number `unit` in [0, 1). At least 1 ms.
  std::chrono::milliseconds delay(unsigned failures, std::chrono::milliseconds down_for,
                                  double unit) const;
};

// One relay's reconnection bookkeeping under a BackoffPolicy: the consecutive failures and when
// the relay was last known healthy. Time and randomness come in, so it is tested without
// sockets or clocks.
class ReconnectBackoff {
 public:
  using Clock = std::chrono::steady_clock;

  ReconnectBackoff() = default;
  // The relay was added at `now`: it counts as healthy then (it usually starts alongside us).
  ReconnectBackoff(BackoffPolicy policy, Clock::time_point now);

  // A connection was established: the count starts over (given back if it drops within
  // `stable_after`).
  void connected(Clock::time_point now);
  // An attempt failed or a connection was lost at `now`: the wait before the next attempt.
  std::chrono::milliseconds failed(Clock::time_point now, double unit);

  // Consecutive failures; 0 while connected and before the first attempt failed.
  unsigned failures() const { return failures_; }
  // How long the relay has been down (since it was last healthy or added).
  std::chrono::milliseconds down_for(Clock::time_point now) const;

 private:
  BackoffPolicy policy_;
  unsigned failures_ = 0;
  unsigned failures_before_connect_ = 0;
  bool connected_ = false;
  Clock::time_point connected_at_{};
  Clock::time_point healthy_at_{};
};

}  // namespace fedai::relay
