#include "relay/server/nip42.h"

#include <cctype>

#include "core/nostr/keys.h"
#include "core/util/ascii.h"
#include "core/util/hex.h"

namespace fedai::relay::server {
namespace {

struct UrlParts {
  std::string scheme, host, port, path;
};

UrlParts split_url(std::string_view url) {
  UrlParts p;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    p.path = std::string(url);
    return p;
  }
  p.scheme = ascii_lower(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  p.path = std::string(path);
  auto colon = authority.rfind(':');
  auto bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    p.host = ascii_lower(authority.substr(0, colon));
    p.port = std::string(authority.substr(colon + 1));
  } else {
    p.host = ascii_lower(authority);
  }
  if ((p.scheme == "ws" && p.port == "80") || (p.scheme == "wss" && p.port == "443"))
    p.port.clear();
  return p;
}

}  // namespace

std::string make_challenge() {
  auto bytes = random_bytes32();
  return hex::encode(std::span<const std::uint8_t>(bytes.data(), 16));
}

bool same_relay_url(std::string_view a, std::string_view b) {
  UrlParts x = split_url(a), y = split_url(b);
  return x.scheme == y.scheme && x.host == y.host && x.port == y.port && x.path == y.path;
}

Status check_auth_event(const Event& e, std::string_view challenge, std::string_view relay_url,
                        UnixSeconds now) {
  if (e.kind != kAuthKind) return invalid("AUTH event must be kind 22242");
  auto tag_challenge = e.tag_value("challenge");
  if (!tag_challenge) return invalid("AUTH event has no challenge tag");
  if (*tag_challenge != challenge) return invalid("AUTH challenge does not match");
  auto tag_relay = e.tag_value("relay");
  if (!tag_relay) return invalid("AUTH event has no relay tag");
  if (!relay_url.empty() && !same_relay_url(*tag_relay, relay_url))
    return invalid("AUTH relay tag names another relay (this is " + std::string(relay_url) + ")");
  if (e.created_at < now - kAuthWindowSeconds || e.created_at > now + kAuthWindowSeconds)
    return invalid("AUTH event created_at is more than 10 minutes from now");
  return verify_event(e);
}

}  // namespace fedai::relay::server
