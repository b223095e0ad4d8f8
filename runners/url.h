// Strict parsing of the http:// URLs fedai's HTTP client accepts.
//
// Only plain http: runners and nodes are reached on loopback or a private network (put TLS in
// front with a reverse proxy when that is not so; see docs/runners.md). The grammar is a strict
// subset of RFC 3986: `http://HOST[:PORT][/PATH][?QUERY]`, HOST a DNS name, an IPv4 address or
// a bracketed IPv6 address, PORT 1-65535 (80 when absent), no user info, no fragment, and only
// printable ASCII without spaces in the path and query.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/util/result.h"

namespace fedai::runners {

struct HttpUrl {
  std::string host;  // as written, without the brackets of an IPv6 literal
  std::uint16_t port = 80;
  std::string target = "/";  // path and query, as sent in the request line
  bool ipv6 = false;

  // "host:port" ("[::1]:port" for IPv6): the key of the connection pool.
  std::string authority() const;
};

// An `invalid:` error says what is wrong ("invalid: url: https is not supported (http only)").
Result<HttpUrl> parse_http_url(std::string_view url);

}  // namespace fedai::runners
