// ASCII text rules for protocol text (HTTP header names and values, media types, NIP-98's scheme,
// URL schemes and hosts, keys pasted on a command line): locale-free, unlike <cctype>, and one
// definition for every user.
#pragma once

#include <string>
#include <string_view>

namespace fedai {

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// Equal ignoring ASCII case.
constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

constexpr bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// RFC 9110's optional whitespace in header values: space and tab.
constexpr bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// `s` without leading and trailing space and tab (a header value).
constexpr std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// `s` without leading and trailing whitespace (space, tab, CR, LF, VT, FF) (a line typed or pasted,
// a file's text).
constexpr std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

}  // namespace fedai
