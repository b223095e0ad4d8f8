#include "core/nostr/filter.h"

#include <algorithm>
#include <cassert>
#include <stdexcept>

namespace fedai {
namespace {

template <class T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

template <class T>
bool sorted_unique(const std::vector<T>& v) {
  return std::adjacent_find(v.begin(), v.end(), [](const T& a, const T& b) { return !(a < b); }) ==
         v.end();
}

template <class T>
bool contains(const std::optional<std::vector<T>>& list, const T& value) {
  return !list || std::binary_search(list->begin(), list->end(), value);
}

constexpr bool is_ascii_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

template <class T>
void append_hex_list(std::string& out, std::string_view name, const std::vector<T>& list) {
  out += '"';
  out += name;
  out += "\":[";
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i) out += ',';
    out += '"';
    out += list[i].hex();
    out += '"';
  }
  out += ']';
}

// Does the event have a tag [letter, v, ...] with v among the (sorted) values?
bool has_tag(const Event& e, const TagFilter& tf) {
  for (const Tag& t : e.tags) {
    if (t.size() >= 2 && t[0].size() == 1 && t[0][0] == tf.letter &&
        std::binary_search(tf.values.begin(), tf.values.end(), t[1]))
      return true;
  }
  return false;
}

}  // namespace

const TagFilter* Filter::tag(char letter) const {
  for (const auto& tf : tags)
    if (tf.letter == letter) return &tf;
  return nullptr;
}

bool Filter::matches_nothing() const {
  if ((ids && ids->empty()) || (authors && authors->empty()) || (kinds && kinds->empty()))
    return true;
  for (const auto& tf : tags)
    if (tf.values.empty()) return true;
  return since && until && *since > *until;
}

void Filter::normalize() {
  if (ids) sort_unique(*ids);
  if (authors) sort_unique(*authors);
  if (kinds) sort_unique(*kinds);
  for (auto& tf : tags) {
    // Two tag filters for one letter have no JSON form (a key appears once), so building one
    // is a programming error rather than something to merge with a guessed meaning.
    if (!is_ascii_letter(tf.letter))
      throw std::invalid_argument("tag filter letter must be a-z or A-Z");
    sort_unique(tf.values);
  }
  std::sort(tags.begin(), tags.end(),
            [](const TagFilter& a, const TagFilter& b) { return a.letter < b.letter; });
  for (std::size_t i = 1; i < tags.size(); ++i)
    if (tags[i].letter == tags[i - 1].letter)
      throw std::invalid_argument(std::string("two tag filters for #") + tags[i].letter);
}

bool Filter::is_normalized() const {
  if ((ids && !sorted_unique(*ids)) || (authors && !sorted_unique(*authors)) ||
      (kinds && !sorted_unique(*kinds)))
    return false;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (!is_ascii_letter(tags[i].letter) || !sorted_unique(tags[i].values)) return false;
    if (i > 0 && !(tags[i - 1].letter < tags[i].letter)) return false;
  }
  return true;
}

bool matches(const Filter& f, const Event& e) {
  assert(f.is_normalized());
  // Cheapest and most selective first.
  if (!contains(f.kinds, e.kind)) return false;
  if (f.since && e.created_at < *f.since) return false;
  if (f.until && e.created_at > *f.until) return false;
  if (!contains(f.authors, e.pubkey)) return false;
  if (!contains(f.ids, e.id)) return false;
  for (const auto& tf : f.tags)
    if (!has_tag(e, tf)) return false;
  return true;
}

bool matches_any(const std::vector<Filter>& filters, const Event& e) {
  return std::any_of(filters.begin(), filters.end(),
                     [&](const Filter& f) { return matches(f, e); });
}

void append_json(std::string& out, const Filter& f) {
  out += '{';
  std::size_t start = out.size();
  auto comma = [&] {
    if (out.size() != start) out += ',';
  };
  if (f.ids) {
    comma();
    append_hex_list(out, "ids", *f.ids);
  }
  if (f.authors) {
    comma();
    append_hex_list(out, "authors", *f.authors);
  }
  if (f.kinds) {
    comma();
    out += "\"kinds\":[";
    for (std::size_t i = 0; i < f.kinds->size(); ++i) {
      if (i) out += ',';
      append_json_integer(out, (*f.kinds)[i]);
    }
    out += ']';
  }
  for (const auto& tf : f.tags) {
    comma();
    out += "\"#";
    out += tf.letter;
    out += "\":[";
    for (std::size_t i = 0; i < tf.values.size(); ++i) {
      if (i) out += ',';
      append_json_string(out, tf.values[i]);
    }
    out += ']';
  }
  if (f.since) {
    comma();
    out += "\"since\":";
    append_json_integer(out, *f.since);
  }
  if (f.until) {
    comma();
    out += "\"until\":";
    append_json_integer(out, *f.until);
  }
  if (f.limit) {
    comma();
    out += "\"limit\":";
    append_json_integer(out, *f.limit);
  }
  out += '}';
}

std::string to_json(const Filter& f) {
  std::string out;
  append_json(out, f);
  return out;
}

std::string to_json(const std::vector<Filter>& filters) {
  std::string out = "[";
  for (std::size_t i = 0; i < filters.size(); ++i) {
    if (i) out += ',';
    append_json(out, filters[i]);
  }
  out += ']';
  return out;
}

}  // namespace fedai
