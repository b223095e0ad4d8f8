#include "core/nostr/nip98.h"

#include <cstdint>
#include <string>

#include "core/nostr/sha256.h"
#include "core/util/ascii.h"
#include "core/util/base64.h"

namespace fedai {
namespace {

// The value of the only tag called `name`: nullopt when there is none; an error when there are
// several, or the tag has no value.
Result<std::optional<std::string_view>> single_tag(const Event& e, std::string_view name) {
  std::optional<std::string_view> value;
  bool seen = false;
  for (const Tag& t : e.tags) {
    if (t.empty() || t[0] != name) continue;
    if (seen) return invalid("NIP-98 event has more than one " + std::string(name) + " tag");
    if (t.size() < 2)
      return invalid("NIP-98 event has a " + std::string(name) + " tag without a value");
    seen = true;
    value = t[1];
  }
  return value;
}

// |a - b| without overflow for any int64 pair (the true difference is below 2^64).
std::uint64_t distance(std::int64_t a, std::int64_t b) {
  auto ua = static_cast<std::uint64_t>(a);
  auto ub = static_cast<std::uint64_t>(b);
  return a >= b ? ua - ub : ub - ua;
}

}  // namespace

std::string payload_hash(std::string_view body) {
  return sha256(body).hex();
}

Event make_http_auth(const Keypair& keys, std::string_view url, std::string_view method,
                     std::optional<std::string_view> body, UnixSeconds now) {
  EventTemplate t;
  t.kind = kHttpAuthKind;
  t.created_at = now;
  t.tags.push_back({"u", std::string(url)});
  t.tags.push_back({"method", std::string(method)});
  if (body) t.tags.push_back({"payload", payload_hash(*body)});
  return sign_event(std::move(t), keys);
}

std::string authorization_header(const Event& event) {
  return "Nostr " + base64::encode(to_json(event));
}

Result<Event> verify_http_auth(std::string_view header_value, std::string_view url,
                               std::string_view method, std::optional<std::string_view> body,
                               UnixSeconds now, UnixSeconds window) {
  std::string_view header = trim_ows(header_value);
  if (header.empty())
    return make_error(ErrorCode::auth_required, "NIP-98 Authorization header is missing");
  std::size_t space = 0;
  while (space < header.size() && !is_ows(header[space])) ++space;
  if (!iequals(header.substr(0, space), "Nostr"))
    return invalid("Authorization scheme must be Nostr");
  std::string_view token = trim_ows(header.substr(space));
  if (token.empty()) return invalid("NIP-98 token is missing");
  if (token.size() > (kMaxHttpAuthEventBytes + 2) / 3 * 4)
    return invalid("NIP-98 token is larger than " + std::to_string(kMaxHttpAuthEventBytes) +
                   " bytes decoded");

  auto decoded = base64::decode(token);
  if (!decoded) return invalid("NIP-98 token is not valid base64");
  std::string_view json(reinterpret_cast<const char*>(decoded->data()), decoded->size());
  EventLimits limits;
  limits.max_json_bytes = kMaxHttpAuthEventBytes;
  auto parsed = parse_event(json, limits);
  if (!parsed) return invalid("NIP-98 event: " + parsed.error().message);
  Event& e = *parsed;

  if (e.kind != kHttpAuthKind)
    return invalid("NIP-98 event must be kind 27235, not " + std::to_string(e.kind));
  if (window < 0) window = 0;
  std::uint64_t skew = distance(now, e.created_at);
  if (skew > static_cast<std::uint64_t>(window)) {
    if (e.created_at < now)
      return invalid("NIP-98 event is too old (created " + std::to_string(skew) +
                     " s ago, window " + std::to_string(window) + " s)");
    return invalid("NIP-98 event is dated " + std::to_string(skew) + " s in the future (window " +
                   std::to_string(window) + " s)");
  }

  auto u = single_tag(e, "u");
  if (!u) return u.error();
  if (!u->has_value()) return invalid("NIP-98 event has no u tag");
  if (**u != url) return invalid("NIP-98 event is for a different URL");

  auto m = single_tag(e, "method");
  if (!m) return m.error();
  if (!m->has_value()) return invalid("NIP-98 event has no method tag");
  if (!iequals(**m, method)) return invalid("NIP-98 event is for a different method");

  auto p = single_tag(e, "payload");
  if (!p) return p.error();
  std::string_view b = body.value_or(std::string_view{});
  if (p->has_value()) {
    if (**p != payload_hash(b)) return invalid("NIP-98 payload does not match the request body");
  } else if (!b.empty()) {
    return invalid("NIP-98 event has no payload tag for a request with a body");
  }

  if (auto st = verify_event(e); !st) return invalid("NIP-98 event: " + st.error().message);
  return std::move(*parsed);
}

}  // namespace fedai
