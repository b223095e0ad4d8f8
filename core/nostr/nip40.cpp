#include "core/nostr/nip40.h"

#include <string>
#include <string_view>

namespace fedai {
namespace {

constexpr std::string_view kExpiration = "expiration";

// ASCII digits only (leading zeros allowed: they have one meaning everywhere), at most
// kMaxCreatedAt.
std::optional<UnixSeconds> parse_seconds(std::string_view s) {
  if (s.empty()) return std::nullopt;
  UnixSeconds v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');  // v <= kMaxCreatedAt < 2^53 here, so no overflow
    if (v > kMaxCreatedAt) return std::nullopt;
  }
  return v;
}

}  // namespace

Result<std::optional<UnixSeconds>> expiration_of(const Event& event) {
  const Tag* found = nullptr;
  for (const Tag& t : event.tags) {
    if (t.empty() || t[0] != kExpiration) continue;
    if (found != nullptr) return invalid("more than one expiration tag");
    found = &t;
  }
  if (found == nullptr) return std::optional<UnixSeconds>{};
  if (found->size() < 2) return invalid("expiration tag has no value");
  auto at = parse_seconds((*found)[1]);
  if (!at)
    return invalid("expiration must be a unix timestamp in decimal digits, at most " +
                   std::to_string(kMaxCreatedAt));
  return std::optional<UnixSeconds>{*at};
}

bool is_expired(const Event& event, UnixSeconds now) {
  auto exp = expiration_of(event);
  if (!exp) return true;
  return exp->has_value() && now >= **exp;
}

Tag expiration_tag(UnixSeconds at) {
  return {std::string(kExpiration), std::to_string(at)};
}

}  // namespace fedai
