// Event parsing on arbitrary bytes: must never crash, and whatever parses must survive a round
// trip through fedai's own JSON form unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/nostr/event.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = fedai::parse_event(input);
  if (!parsed) {
    // A rejection always carries a reason with a NIP-01 prefix.
    if (parsed.error().message.empty()) __builtin_trap();
    return 0;
  }
  auto again = fedai::parse_event(fedai::to_json(*parsed));
  if (!again || !(*again == *parsed)) __builtin_trap();
  // The id and signature checks run on every shape that parses; a failure is a value.
  auto status = fedai::verify_event(*parsed);
  auto status_again = fedai::verify_event(*again);
  if (status.ok() != status_again.ok()) __builtin_trap();
  return 0;
}
