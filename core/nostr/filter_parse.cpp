#include <algorithm>
#include <string_view>

#include "core/nostr/filter.h"
#include "core/nostr/filter_reader.h"
#include "core/util/hex.h"

namespace fedai {
namespace {

enum class Field : unsigned { none = 0, ids, authors, kinds, since, until, limit, tag };

Field field_of(std::string_view key) {
  if (key == "ids") return Field::ids;
  if (key == "authors") return Field::authors;
  if (key == "kinds") return Field::kinds;
  if (key == "since") return Field::since;
  if (key == "until") return Field::until;
  if (key == "limit") return Field::limit;
  if (!key.empty() && key[0] == '#') return Field::tag;
  return Field::none;
}

constexpr bool is_ascii_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// A field name as it may appear in a reason: printable ASCII only, at most 40 bytes, so that a
// hostile key can't make the reason long or put raw bytes into a CLOSED message.
std::string printable(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > kMax) out += "...";
  return out;
}

Error malformed(const JsonReader& r) {
  return invalid("malformed JSON: " + r.error());
}

// A value of the wrong type: `reason` if the JSON is otherwise sound, else the syntax error.
Error value_error(const JsonReader& r, std::string reason) {
  JsonReader probe = r;
  return probe.skip_value() ? invalid(std::move(reason)) : malformed(probe);
}

template <class T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

class FilterReader {
 public:
  FilterReader(JsonReader& r, const FilterLimits& limits) : r_(r), limits_(limits) {}

  Result<Filter> read() {
    if (r_.peek() != '{') {
      if (r_.at_end()) return invalid("filter must be a JSON object");
      return value_error(r_, "filter must be a JSON object");
    }
    r_.consume('{');
    if (!r_.consume('}')) {
      do {
        std::string_view key;
        if (!r_.read_string_view(key, scratch_) || !r_.expect(':')) return malformed(r_);
        if (auto st = read_field(key); !st) return st.error();
      } while (r_.consume(','));
      if (!r_.expect('}')) return malformed(r_);
    }
    std::sort(filter_.tags.begin(), filter_.tags.end(),
              [](const TagFilter& a, const TagFilter& b) { return a.letter < b.letter; });
    return std::move(filter_);
  }

 private:
  // `key` may view scratch_: everything that needs it happens before the value is read.
  Status read_field(std::string_view key) {
    Field f = field_of(key);
    switch (f) {
      case Field::none:
        if (key == "search") return invalid("unsupported filter field 'search' (NIP-50)");
        return invalid("unknown filter field '" + printable(key) + "'");
      case Field::tag: {
        if (key.size() != 2 || !is_ascii_letter(key[1]))
          return invalid("tag filter '" + printable(key) +
                         "' must name a single letter a-z or A-Z");
        char letter = key[1];
        for (const auto& tf : filter_.tags)
          if (tf.letter == letter)
            return invalid("duplicate filter field '#" + std::string(1, letter) + "'");
        if (filter_.tags.size() >= limits_.max_tag_filters)
          return invalid("more than " + std::to_string(limits_.max_tag_filters) + " tag filters");
        filter_.tags.push_back({letter, {}});
        return read_tag_values(filter_.tags.back());
      }
      default:
        break;
    }
    unsigned bit = 1u << static_cast<unsigned>(f);
    if (seen_ & bit) return invalid("duplicate filter field '" + std::string(key) + "'");
    seen_ |= bit;
    switch (f) {
      case Field::ids:
        return read_hex_list("ids", filter_.ids.emplace(), limits_.max_ids);
      case Field::authors:
        return read_hex_list("authors", filter_.authors.emplace(), limits_.max_authors);
      case Field::kinds:
        return read_kinds();
      case Field::since:
      case Field::until: {
        auto v = read_uint(static_cast<std::uint64_t>(kMaxCreatedAt), [f] {
          return std::string(f == Field::since ? "since" : "until") +
                 " must be an integer between 0 and " + std::to_string(kMaxCreatedAt);
        });
        if (!v) return v.error();
        (f == Field::since ? filter_.since : filter_.until) = static_cast<UnixSeconds>(*v);
        return {};
      }
      case Field::limit: {
        auto v = read_uint(UINT64_MAX,
                           [] { return std::string("limit must be a non-negative integer"); });
        if (!v) return v.error();
        filter_.limit = static_cast<std::uint32_t>(std::min<std::uint64_t>(*v, UINT32_MAX));
        return {};
      }
      default:
        return {};
    }
  }

  // A non-negative integer up to max (-0 is zero, as JSON.parse reads it).
  // `reason` makes the message, only when needed.
  template <class Reason>
  Result<std::uint64_t> read_uint(std::uint64_t max, Reason reason) {
    char c = r_.peek();
    if (c != '-' && (c < '0' || c > '9')) return value_error(r_, reason());
    JsonReader::Number n;
    if (!r_.read_number(n)) return malformed(r_);
    if (!n.integral || n.overflow || (n.negative && n.magnitude != 0) || n.magnitude > max)
      return invalid(reason());
    return n.magnitude;
  }

  // '[' and the first element (true), or ']' (false, the list is empty); errors as `name`.
  Result<bool> open_list(std::string_view name) {
    if (r_.peek() != '[') return value_error(r_, std::string(name) + " must be an array");
    r_.consume('[');
    return !r_.consume(']');
  }

  Status close_list() {
    if (!r_.expect(']')) return malformed(r_);
    return {};
  }

  static std::string element(std::string_view name, std::size_t i) {
    return std::string(name) + "[" + std::to_string(i) + "]";
  }
  static Error too_many(std::string_view name, std::size_t max) {
    return invalid(std::string(name) + " has more than " + std::to_string(max) + " values");
  }

  template <class T>
  Status read_hex_list(std::string_view name, std::vector<T>& out, std::size_t max) {
    auto more = open_list(name);
    if (!more) return more.error();
    if (!*more) return {};
    do {
      if (out.size() >= max) return too_many(name, max);
      auto reason = [&] {
        return element(name, out.size()) + " must be 64 lowercase hex characters";
      };
      if (r_.peek() != '"') return value_error(r_, reason());
      std::string_view s;
      if (!r_.read_string_view(s, scratch_)) return malformed(r_);
      T v;
      if (!hex::decode(s, v.bytes)) return invalid(reason());
      out.push_back(v);
    } while (r_.consume(','));
    if (auto st = close_list(); !st) return st;
    sort_unique(out);
    return {};
  }

  Status read_kinds() {
    auto& kinds = filter_.kinds.emplace();
    auto more = open_list("kinds");
    if (!more) return more.error();
    if (!*more) return {};
    do {
      if (kinds.size() >= limits_.max_kinds) return too_many("kinds", limits_.max_kinds);
      auto v = read_uint(65535, [&] {
        return element("kinds", kinds.size()) + " must be an integer between 0 and 65535";
      });
      if (!v) return v.error();
      kinds.push_back(static_cast<Kind>(*v));
    } while (r_.consume(','));
    if (auto st = close_list(); !st) return st;
    sort_unique(kinds);
    return {};
  }

  // NIP-01: "#e" and "#p" hold exact 64-character lowercase hex values; other letters any string.
  Status read_tag_values(TagFilter& tf) {
    const std::string name = std::string("#") + tf.letter;
    const bool hex_only = tf.letter == 'e' || tf.letter == 'p';
    auto more = open_list(name);
    if (!more) return more.error();
    if (!*more) return {};
    do {
      if (tf.values.size() >= limits_.max_tag_values) return too_many(name, limits_.max_tag_values);
      auto reason = [&] {
        return element(name, tf.values.size()) +
               (hex_only ? " must be 64 lowercase hex characters" : " must be a string");
      };
      if (r_.peek() != '"') return value_error(r_, reason());
      std::string v;
      if (!r_.read_string(v)) return malformed(r_);
      if (hex_only && !hex::is_lower_hex(v, 32)) return invalid(reason());
      if (v.size() > limits_.max_tag_value_bytes)
        return invalid(element(name, tf.values.size()) + " is longer than " +
                       std::to_string(limits_.max_tag_value_bytes) + " bytes");
      tf.values.push_back(std::move(v));
    } while (r_.consume(','));
    if (auto st = close_list(); !st) return st;
    sort_unique(tf.values);
    return {};
  }

  JsonReader& r_;
  const FilterLimits& limits_;
  Filter filter_;
  std::string scratch_;
  unsigned seen_ = 0;
};

// Serializes a DOM value for the text parser. Strings holding invalid UTF-8 (only possible in a
// value built in code) can't be written; that is a refusal too.
Result<std::string> dump(const nlohmann::json& json) {
  try {
    return json.dump();
  } catch (const nlohmann::json::exception&) {
    return invalid("filter contains a string that is not valid UTF-8");
  }
}

}  // namespace

Result<Filter> read_filter(JsonReader& reader, const FilterLimits& limits) {
  return FilterReader(reader, limits).read();
}

Result<Filter> parse_filter(std::string_view json, const FilterLimits& limits) {
  if (json.size() > limits.max_json_bytes)
    return invalid("filter is larger than " + std::to_string(limits.max_json_bytes) + " bytes");
  JsonReader reader(json);
  auto filter = read_filter(reader, limits);
  if (!filter) return filter;
  if (!reader.at_end()) {
    reader.fail("unexpected characters after the filter");
    return malformed(reader);
  }
  return filter;
}

Result<Filter> parse_filter(const nlohmann::json& json, const FilterLimits& limits) {
  auto text = dump(json);
  if (!text) return text.error();
  return parse_filter(*text, limits);
}

Result<std::vector<Filter>> parse_filters(std::string_view json, const FilterLimits& limits) {
  if (json.size() > limits.max_json_bytes)
    return invalid("filter list is larger than " + std::to_string(limits.max_json_bytes) +
                   " bytes");
  JsonReader r(json);
  if (r.peek() != '[') {
    if (r.at_end()) return invalid("filters must be a JSON array");
    return value_error(r, "filters must be a JSON array");
  }
  r.consume('[');
  std::vector<Filter> filters;
  if (!r.consume(']')) {
    do {
      std::string where = "filters[" + std::to_string(filters.size()) + "]";
      if (filters.size() >= limits.max_filters)
        return invalid("more than " + std::to_string(limits.max_filters) + " filters");
      auto f = read_filter(r, limits);
      if (!f) return invalid(where + ": " + f.error().message);
      filters.push_back(std::move(*f));
    } while (r.consume(','));
    if (!r.expect(']')) return malformed(r);
  }
  if (!r.at_end()) {
    r.fail("unexpected characters after the filter list");
    return malformed(r);
  }
  return filters;
}

Result<std::vector<Filter>> parse_filters(const nlohmann::json& json, const FilterLimits& limits) {
  auto text = dump(json);
  if (!text) return text.error();
  return parse_filters(*text, limits);
}

}  // namespace fedai
