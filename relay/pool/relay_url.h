// Relay addresses: ws:// and wss:// URLs, parsed once and kept normalized, so that
// "wss://Relay.Example.com:443/" and "wss://relay.example.com" name the same relay.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/util/result.h"

namespace fedai::relay {

struct RelayUrl {
  bool secure = false;  // wss
  std::string host;     // lowercase; an IPv6 literal without its brackets
  std::uint16_t port = 0;
  std::string path;  // "/" or more, with the query when there is one
  std::string text;  // the normalized URL: the pool's key for the relay and NIP-42's `relay` tag

  // host, or host:port when the port is not the scheme's default (the Host header).
  std::string host_header() const;
  // The NIP-11 address: http(s) in place of ws(s), same host, port and path.
  std::string http_url() const;

  bool operator==(const RelayUrl& other) const { return text == other.text; }
};

// Parses ws://host[:port][/path][?query] and wss://... Normalizes: scheme and host lowercase,
// the default port (80, 443) dropped, an empty path or a lone "/" dropped. Refuses other
// schemes, user info, fragments, whitespace and control characters, bad ports.
Result<RelayUrl> parse_relay_url(std::string_view text);

}  // namespace fedai::relay
