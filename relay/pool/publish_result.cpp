#include "relay/pool/publish_result.h"

#include <algorithm>

namespace fedai::relay {

std::string_view to_string(PublishOutcome outcome) {
  switch (outcome) {
    case PublishOutcome::accepted:
      return "accepted";
    case PublishOutcome::rejected:
      return "rejected";
    case PublishOutcome::timed_out:
      return "timeout";
    case PublishOutcome::failed:
      return "failed";
  }
  return "failed";
}

bool any_accepted(const std::vector<RelayPublishResult>& results) {
  return std::any_of(results.begin(), results.end(), [](const RelayPublishResult& r) {
    return r.outcome == PublishOutcome::accepted;
  });
}

}  // namespace fedai::relay
