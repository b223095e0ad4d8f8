#include "relay/pool/relay_url.h"
#include "core/util/ascii.h"

#include <charconv>

namespace fedai::relay {
namespace {

bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

bool is_ipv6(const std::string& host) {
  return host.find(':') != std::string::npos;
}

}  // namespace

// Built by appending: GCC 12 warns falsely (-Wrestrict) about prepending to a std::string.
std::string RelayUrl::host_header() const {
  std::string out;
  if (is_ipv6(host)) {
    out.append("[").append(host).append("]");
  } else {
    out.append(host);
  }
  if (port != (secure ? 443 : 80)) out.append(":").append(std::to_string(port));
  return out;
}

std::string RelayUrl::http_url() const {
  std::string out(secure ? "https://" : "http://");
  out.append(host_header()).append(path);
  return out;
}

Result<RelayUrl> parse_relay_url(std::string_view text) {
  if (text.empty()) return invalid("relay URL is empty");
  if (text.size() > 2048) return invalid("relay URL is longer than 2048 characters");
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f)
      return invalid("relay URL contains whitespace or a control character");
  }
  RelayUrl url;
  auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos)
    return invalid("relay URL must start with ws:// or wss://");
  auto scheme = ascii_lower(text.substr(0, scheme_end));
  if (scheme == "ws") {
    url.secure = false;
  } else if (scheme == "wss") {
    url.secure = true;
  } else {
    return invalid("relay URL scheme must be ws or wss, not '" + scheme + "'");
  }
  auto rest = text.substr(scheme_end + 3);
  if (rest.find('#') != std::string_view::npos)
    return invalid("relay URL must not have a fragment");
  auto path_start = rest.find_first_of("/?");
  auto authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos)
    return invalid("relay URL must not carry user information");

  std::string_view host_part = authority;
  std::string_view port_part;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return invalid("relay URL has an unclosed IPv6 bracket");
    host_part = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("relay URL has junk after the IPv6 address");
      port_part = after.substr(1);
      if (port_part.empty()) return invalid("relay URL has an empty port");
    }
    for (char c : host_part) {
      bool ok = (c >= '0' && c <= '9') || (ascii_lower(c) >= 'a' && ascii_lower(c) <= 'f') ||
                c == ':' || c == '.';
      if (!ok) return invalid("relay URL has a malformed IPv6 address");
    }
  } else {
    auto colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host_part = authority.substr(0, colon);
      port_part = authority.substr(colon + 1);
      if (port_part.empty()) return invalid("relay URL has an empty port");
    }
  }
  if (host_part.empty()) return invalid("relay URL has no host");
  url.host = ascii_lower(host_part);
  if (!is_ipv6(url.host)) {
    for (char c : url.host)
      if (!host_char(c)) return invalid("relay URL host has a character that is not allowed");
  }
  url.port = url.secure ? 443 : 80;
  if (!port_part.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
    if (ec != std::errc{} || end != port_part.data() + port_part.size() || value == 0 ||
        value > 65535)
      return invalid("relay URL port must be 1..65535");
    url.port = static_cast<std::uint16_t>(value);
  }
  url.path.reserve(path.size() + 1);
  if (path.empty() || path.front() == '?') url.path.push_back('/');
  url.path.append(path.data(), path.size());

  url.text.assign(url.secure ? "wss://" : "ws://");
  url.text.append(url.host_header());
  if (url.path != "/") url.text.append(url.path);
  return url;
}

}  // namespace fedai::relay
