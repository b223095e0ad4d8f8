#include "runners/url.h"
#include "core/util/ascii.h"

#include <cctype>
#include <charconv>

namespace fedai::runners {

namespace {

Error bad(std::string_view why) {
  std::string message = "url: ";
  message += why;
  return invalid(std::move(message));
}

bool is_reg_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

// Printable ASCII except space, '#' and the characters RFC 3986 never allows unescaped.
bool is_target_char(char c) {
  if (c <= 0x20 || c >= 0x7f) return false;
  switch (c) {
    case '#':
    case '"':
    case '<':
    case '>':
    case '\\':
    case '^':
    case '`':
    case '{':
    case '|':
    case '}':
      return false;
    default:
      return true;
  }
}

}  // namespace

std::string HttpUrl::authority() const {
  std::string out;
  out.reserve(host.size() + 8);
  if (ipv6) out += '[';
  out += host;
  if (ipv6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

Result<HttpUrl> parse_http_url(std::string_view url) {
  auto colon = url.find("://");
  if (colon == std::string_view::npos) return bad("expected http://HOST[:PORT][/PATH]");
  std::string_view scheme = url.substr(0, colon);
  if (iequals(scheme, "https")) return bad("https is not supported (http only)");
  if (!iequals(scheme, "http")) return bad("unsupported scheme (http only)");
  std::string_view rest = url.substr(colon + 3);

  std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) return bad("user info is not allowed");

  HttpUrl out;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    std::string_view host = authority.substr(1, close - 1);
    if (host.empty()) return bad("empty host");
    for (char c : host) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.')
        return bad("bad IPv6 address");
    }
    out.host = host;
    out.ipv6 = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    auto pc = authority.find(':');
    std::string_view host = authority.substr(0, pc);
    if (host.empty()) return bad("empty host");
    if (host.size() > 253) return bad("host name too long");
    for (char c : host) {
      if (!is_reg_name_char(c)) return bad("bad character in host");
    }
    out.host = host;
    if (pc != std::string_view::npos) {
      port_text = authority.substr(pc + 1);
      if (port_text.empty()) return bad("empty port");
    }
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || port_text.size() > 5 ||
        port == 0 || port > 65535)
      return bad("port must be 1-65535");
    out.port = static_cast<std::uint16_t>(port);
  }

  if (target.find('#') != std::string_view::npos) return bad("fragments are not allowed");
  for (char c : target) {
    if (!is_target_char(c)) return bad("bad character in path or query (escape it)");
  }
  if (target.empty()) {
    out.target = "/";
  } else if (target.front() == '?') {
    out.target = "/";
    out.target += target;
  } else {
    out.target = target;
  }
  return out;
}

}  // namespace fedai::runners
