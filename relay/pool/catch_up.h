// The catch-up rule: what a subscription asks a relay for again after a reconnect.
//
// While a relay was away it may have stored events the subscription would have received live.
// On reconnect the pool sends the subscription again with `since` moved forward to skip what
// was already delivered, but not so far that anything stored during the outage is missed:
//
//   since = min(newest created_at delivered from that relay for that subscription,
//               the time the connection was lost) - margin
//
// (the disconnect time alone when the relay delivered nothing). The min keeps an event dated
// in the future from pushing `since` past the outage; the margin absorbs clock skew between the
// authors and this machine. A filter's own `since` is kept when it is later, and `limit` is
// dropped: the window is bounded by `since`, and a limit could cut off part of the outage.
// A subscription that never reached EOSE on that relay is sent unchanged, because its initial
// load was incomplete.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "core/nostr/filter.h"
#include "core/util/time.h"

namespace fedai::relay {

struct CatchUpState {
  bool reached_eose = false;                  // the relay finished the stored events once
  std::optional<UnixSeconds> newest_created;  // newest created_at it delivered, if any
  UnixSeconds disconnected_at = 0;            // when the connection was lost
};

// The `since` to resend with, or nullopt when the filters go unchanged.
std::optional<UnixSeconds> catch_up_since(const CatchUpState& state, std::chrono::seconds margin);

// The filters to send on reconnect.
std::vector<Filter> catch_up_filters(const std::vector<Filter>& filters, const CatchUpState& state,
                                     std::chrono::seconds margin);

}  // namespace fedai::relay
