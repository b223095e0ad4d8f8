// What one relay said about one published event. A publish yields one of these per relay.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace fedai::relay {

enum class PublishOutcome {
  accepted,   // OK true (the message may say "duplicate: ...")
  rejected,   // OK false: `message` is the relay's reason ("invalid: ...", "blocked: ...")
  timed_out,  // no OK before the publish's deadline
  failed,     // never accepted: not connected, send queue full, socket closed before the OK
};

std::string_view to_string(PublishOutcome outcome);

struct RelayPublishResult {
  std::string relay;  // normalized URL
  PublishOutcome outcome = PublishOutcome::failed;
  std::string message;                  // the relay's message, or why it failed
  std::chrono::microseconds latency{};  // publish call to the answer (or to the failure)
};

// True when at least one relay accepted.
bool any_accepted(const std::vector<RelayPublishResult>& results);

}  // namespace fedai::relay
