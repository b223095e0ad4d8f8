#include <nlohmann/json.hpp>

#include "core/nostr/event.h"

namespace fedai {

Result<EventTemplate> parse_event_template(std::string_view json, UnixSeconds default_created_at) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid("malformed JSON");
  if (!j.is_object()) return invalid("template must be a JSON object");

  EventTemplate t;
  t.created_at = default_created_at;
  auto kind = j.find("kind");
  if (kind == j.end()) return invalid("missing field: kind");
  if (!kind->is_number_integer() || kind->get<std::int64_t>() < 0 ||
      kind->get<std::int64_t>() > 65535)
    return invalid("kind must be an integer between 0 and 65535");
  t.kind = static_cast<Kind>(kind->get<std::int64_t>());

  if (auto c = j.find("content"); c != j.end()) {
    if (!c->is_string()) return invalid("content must be a string");
    t.content = c->get<std::string>();
  }
  if (auto at = j.find("created_at"); at != j.end()) {
    if (!at->is_number_integer() || at->get<std::int64_t>() < 0 ||
        at->get<std::int64_t>() > kMaxCreatedAt)
      return invalid("created_at must be an integer between 0 and " +
                     std::to_string(kMaxCreatedAt));
    t.created_at = at->get<std::int64_t>();
  }
  if (auto tags = j.find("tags"); tags != j.end()) {
    if (!tags->is_array()) return invalid("tags must be an array of arrays of strings");
    for (const auto& tag : *tags) {
      if (!tag.is_array()) return invalid("tags must be an array of arrays of strings");
      Tag out;
      for (const auto& v : tag) {
        if (!v.is_string()) return invalid("tags must be an array of arrays of strings");
        out.push_back(v.get<std::string>());
      }
      t.tags.push_back(std::move(out));
    }
  }
  return t;
}

}  // namespace fedai
