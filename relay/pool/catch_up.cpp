#include "relay/pool/catch_up.h"

#include <algorithm>

namespace fedai::relay {

std::optional<UnixSeconds> catch_up_since(const CatchUpState& state, std::chrono::seconds margin) {
  if (!state.reached_eose) return std::nullopt;
  UnixSeconds anchor = state.disconnected_at;
  if (state.newest_created) anchor = std::min(anchor, *state.newest_created);
  return std::max<UnixSeconds>(0, anchor - margin.count());
}

std::vector<Filter> catch_up_filters(const std::vector<Filter>& filters, const CatchUpState& state,
                                     std::chrono::seconds margin) {
  auto since = catch_up_since(state, margin);
  if (!since) return filters;
  std::vector<Filter> out = filters;
  for (auto& f : out) {
    f.since = f.since ? std::max(*f.since, *since) : *since;
    f.limit.reset();
  }
  return out;
}

}  // namespace fedai::relay
