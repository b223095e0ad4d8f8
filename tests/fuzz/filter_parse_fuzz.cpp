// Filter parsing on arbitrary bytes: must never crash; a rejection carries a reason; whatever
// parses is normalized, survives a round trip through to_json unchanged, and parses the same
// way through the nlohmann::json overload.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/nostr/filter.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  auto list = fedai::parse_filters(input);
  if (!list && list.error().message.empty()) __builtin_trap();
  if (list) {
    auto again = fedai::parse_filters(fedai::to_json(*list));
    if (!again || !(*again == *list)) __builtin_trap();
  }

  auto parsed = fedai::parse_filter(input);
  if (!parsed) {
    if (parsed.error().message.empty()) __builtin_trap();
    return 0;
  }
  const fedai::Filter& f = *parsed;
  if (!f.is_normalized()) __builtin_trap();
  auto again = fedai::parse_filter(fedai::to_json(f));
  if (!again || !(*again == f)) __builtin_trap();

  // Text that fedai accepts is JSON nlohmann accepts too, with no duplicate keys, so the DOM
  // overload must see the same filter.
  auto dom = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (dom.is_discarded()) __builtin_trap();
  auto from_dom = fedai::parse_filter(dom);
  if (!from_dom || !(*from_dom == f)) __builtin_trap();

  // Matching a filter against an event built from its own values must not misbehave.
  fedai::Event e;
  if (f.ids && !f.ids->empty()) e.id = f.ids->front();
  if (f.authors && !f.authors->empty()) e.pubkey = f.authors->front();
  if (f.kinds && !f.kinds->empty()) e.kind = f.kinds->front();
  e.created_at = f.since.value_or(0);
  for (const auto& tf : f.tags)
    if (!tf.values.empty()) e.tags.push_back({std::string(1, tf.letter), tf.values.back()});
  bool m = fedai::matches(f, e);
  // Such an event satisfies every condition unless one can't be met at all.
  bool satisfiable = !f.matches_nothing() && (!f.until || e.created_at <= *f.until);
  if (m != satisfiable) __builtin_trap();
  return 0;
}
