// NIP-01 filters: the value type, strict parsing with precise reasons, matching and JSON.
//
// A Filter is kept normalized: every list sorted and free of duplicates, tag filters ordered by
// letter with at most one per letter. parse_filter always returns normalized filters; code that
// builds one by hand calls normalize() (matches() binary-searches and relies on it). A relay's
// query planner reads the fields directly: a present but empty list matches nothing.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/nostr/event.h"
#include "core/util/result.h"

namespace fedai {

// `"#x": [values]`: an event passes when it has a tag whose name is the letter and whose first
// value is one of `values`.
struct TagFilter {
  char letter = 'a';                // a-z or A-Z
  std::vector<std::string> values;  // sorted, unique

  bool operator==(const TagFilter&) const = default;
};

struct Filter {
  std::optional<std::vector<EventId>> ids;        // sorted, unique
  std::optional<std::vector<PublicKey>> authors;  // sorted, unique
  std::optional<std::vector<Kind>> kinds;         // sorted, unique
  std::vector<TagFilter> tags;                    // sorted by letter, one per letter
  std::optional<UnixSeconds> since;               // created_at >= since
  std::optional<UnixSeconds> until;               // created_at <= until
  std::optional<std::uint32_t> limit;             // initial query only; saturated at 2^32-1

  // The tag filter for `letter`, or nullptr.
  const TagFilter* tag(char letter) const;
  // True when no event can match: a present but empty list, or since > until.
  bool matches_nothing() const;
  // Sorts and deduplicates every list and orders the tag filters by letter. Throws
  // std::invalid_argument when a letter is not a-z or A-Z or two tag filters name the same
  // letter (no JSON filter can say that).
  void normalize();
  bool is_normalized() const;

  bool operator==(const Filter&) const = default;
};

struct FilterLimits {
  std::size_t max_json_bytes = 256 * 1024;
  std::size_t max_ids = 1000;
  std::size_t max_authors = 1000;
  std::size_t max_kinds = 100;
  std::size_t max_tag_filters = 10;   // distinct "#x" keys in one filter
  std::size_t max_tag_values = 1000;  // values in one "#x" list
  std::size_t max_tag_value_bytes = 1024;
  std::size_t max_filters = 20;  // filters in one list (parse_filters)
};

// Parses one filter object. Unknown fields (NIP-50's "search" included) are refused, not
// ignored: ignoring a constraint would silently widen the result. Errors are `invalid:` reasons
// naming the field and index ("ids[2] must be 64 lowercase hex characters").
Result<Filter> parse_filter(std::string_view json, const FilterLimits& limits = {});
Result<Filter> parse_filter(const nlohmann::json& json, const FilterLimits& limits = {});
// Text in a std::string or literal is text, not a JSON string value.
inline Result<Filter> parse_filter(const std::string& json, const FilterLimits& limits = {}) {
  return parse_filter(std::string_view(json), limits);
}
inline Result<Filter> parse_filter(const char* json, const FilterLimits& limits = {}) {
  return parse_filter(std::string_view(json), limits);
}

// A JSON array of filter objects ([{...},{...}]), at most limits.max_filters of them. Reasons
// name the filter: "filters[1]: kinds[0] must be an integer between 0 and 65535".
Result<std::vector<Filter>> parse_filters(std::string_view json, const FilterLimits& limits = {});
Result<std::vector<Filter>> parse_filters(const nlohmann::json& json,
                                          const FilterLimits& limits = {});
inline Result<std::vector<Filter>> parse_filters(const std::string& json,
                                                 const FilterLimits& limits = {}) {
  return parse_filters(std::string_view(json), limits);
}
inline Result<std::vector<Filter>> parse_filters(const char* json,
                                                 const FilterLimits& limits = {}) {
  return parse_filters(std::string_view(json), limits);
}

// NIP-01 matching: every condition present must hold (since <= created_at <= until).
// `filter` must be normalized.
bool matches(const Filter& filter, const Event& event);
// True when at least one filter matches (NIP-01's || between the filters of a REQ).
bool matches_any(const std::vector<Filter>& filters, const Event& event);

// The filter as a compact JSON object (ids, authors, kinds, #tags by letter, since, until,
// limit); parse_filter reads it back to an equal filter.
std::string to_json(const Filter& filter);
void append_json(std::string& out, const Filter& filter);
// [filter,filter,...]
std::string to_json(const std::vector<Filter>& filters);

}  // namespace fedai
