// Options declared once: a table of (name, type, help, how to show the default, how to set it
// from text), from which the command line, the TOML config file, the environment and the docs
// are all derived. Each command keeps its options in a plain struct and a table over it.
#pragma once

#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.h"

namespace fedai {

enum class OptionType { string, integer, boolean, integer_list, string_list };

template <class Options>
struct OptionSpec {
  std::string name;  // the flag (--name), the TOML key, and FEDAI_<NAME> in the environment
  OptionType type;
  std::string help;
  // The default (or current value), as --help and the docs show it.
  std::function<std::string(const Options&)> show;
  // Sets the option from text: one value, or each element of a list. The error says what is
  // wrong with the value, not where it came from (the caller adds that).
  std::function<Status(Options&, const std::vector<std::string>&)> set;
};

namespace options {

inline std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out.append(text);
  out += '\'';
  return out;
}

inline Status single(const std::vector<std::string>& v) {
  if (v.size() != 1) return invalid("expects exactly one value");
  return {};
}

inline Status parse_u64(std::string_view text, std::uint64_t min, std::uint64_t max,
                        std::uint64_t& out) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return invalid(quoted(text) + " is not a whole number");
  if (v < min || v > max)
    return invalid(std::to_string(v) + " is out of range (" + std::to_string(min) + ".." +
                   std::to_string(max) + ")");
  out = v;
  return {};
}

inline Status parse_bool(std::string_view text, bool& out) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") {
    out = true;
  } else if (text == "false" || text == "0" || text == "no" || text == "off") {
    out = false;
  } else {
    return invalid(quoted(text) + " is not true or false");
  }
  return {};
}

// "HOST:PORT" or "[IPV6]:PORT" into host and port; port 0 allowed (the kernel picks one).
inline Status parse_listen(std::string_view text, std::string& host, std::uint16_t& port) {
  std::string_view h, p;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return invalid(quoted(text) + " must look like [IPV6]:PORT");
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid(quoted(text) + " must look like HOST:PORT");
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos)
      return invalid(quoted(text) + ": write an IPv6 address as [ADDRESS]:PORT");
  }
  if (h.empty()) return invalid(quoted(text) + " has no host");
  std::uint64_t n = 0;
  if (auto st = parse_u64(p, 0, 65535, n); !st)
    return invalid("port in " + quoted(text) + ": " + st.error().message);
  host = std::string(h);
  port = static_cast<std::uint16_t>(n);
  return {};
}

// An unsigned integer field of any width, within [min, max].
template <class Options, class T>
OptionSpec<Options> integer(std::string name, std::string help, T Options::*field,
                            std::uint64_t min = 0,
                            std::uint64_t max = std::numeric_limits<T>::max()) {
  return {std::move(name), OptionType::integer, std::move(help),
          [field](const Options& o) { return std::to_string(o.*field); },
          [field, min, max](Options& o, const std::vector<std::string>& v) -> Status {
            if (auto st = single(v); !st) return st;
            std::uint64_t n = 0;
            if (auto st = parse_u64(v[0], min, max, n); !st) return st;
            o.*field = static_cast<T>(n);
            return {};
          }};
}

template <class Options>
OptionSpec<Options> boolean(std::string name, std::string help, bool Options::*field) {
  return {std::move(name), OptionType::boolean, std::move(help),
          [field](const Options& o) { return std::string(o.*field ? "true" : "false"); },
          [field](Options& o, const std::vector<std::string>& v) -> Status {
            if (auto st = single(v); !st) return st;
            return parse_bool(v[0], o.*field);
          }};
}

template <class Options>
OptionSpec<Options> text(std::string name, std::string help, std::string Options::*field,
                         std::function<Status(const std::string&)> check = {}) {
  return {std::move(name), OptionType::string, std::move(help),
          [field](const Options& o) { return o.*field; },
          [field, check](Options& o, const std::vector<std::string>& v) -> Status {
            if (auto st = single(v); !st) return st;
            if (check) {
              if (auto st = check(v[0]); !st) return st;
            }
            o.*field = v[0];
            return {};
          }};
}

// --log-level: one of spdlog's level names, the same for every command.
template <class Options>
OptionSpec<Options> log_level(std::string Options::*field) {
  return text<Options>("log-level", "trace, debug, info, warn, error or off", field,
                       [](const std::string& level) -> Status {
                         for (const char* k : {"trace", "debug", "info", "warn", "error", "off"})
                           if (level == k) return {};
                         return invalid(options::quoted(level) +
                                        " is not one of trace, debug, info, warn, error, off");
                       });
}

template <class Options>
OptionSpec<Options> text_list(std::string name, std::string help,
                              std::vector<std::string> Options::*field,
                              std::function<Status(const std::string&)> check = {}) {
  return {std::move(name), OptionType::string_list, std::move(help),
          [field](const Options& o) {
            std::string out;
            for (const auto& s : o.*field) out += (out.empty() ? "" : ",") + s;
            return out;
          },
          // The whole list at once: a later source replaces an earlier one's list.
          [field, check](Options& o, const std::vector<std::string>& v) -> Status {
            for (const auto& s : v) {
              if (check) {
                if (auto st = check(s); !st) return st;
              }
            }
            o.*field = v;
            return {};
          }};
}

template <class Options>
const OptionSpec<Options>* find(const std::vector<OptionSpec<Options>>& specs,
                                std::string_view name) {
  for (const auto& s : specs)
    if (s.name == name) return &s;
  return nullptr;
}

// The table as TOML with every default, each key under its help as a comment: what
// `--print-config` shows and docs quote.
template <class Options>
std::string to_toml(const std::vector<OptionSpec<Options>>& specs, const Options& values) {
  std::string out;
  for (const auto& s : specs) {
    out += "# " + s.help + "\n";
    std::string v = s.show(values);
    switch (s.type) {
      case OptionType::integer:
      case OptionType::boolean:
        out += s.name + " = " + (v.empty() ? "0" : v) + "\n\n";
        break;
      case OptionType::string:
        out += s.name + " = \"" + v + "\"\n\n";
        break;
      case OptionType::integer_list:
        out += s.name + " = [" + v + "]\n\n";
        break;
      case OptionType::string_list: {
        std::string list;
        std::size_t start = 0;
        while (start < v.size()) {
          std::size_t comma = v.find(',', start);
          if (comma == std::string::npos) comma = v.size();
          list += (list.empty() ? "\"" : ", \"") + v.substr(start, comma - start) + "\"";
          start = comma + 1;
        }
        out += s.name + " = [" + list + "]\n\n";
        break;
      }
    }
  }
  return out;
}

}  // namespace options
}  // namespace fedai
