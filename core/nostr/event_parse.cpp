#include <string_view>

#include "core/nostr/event.h"
#include "core/nostr/event_reader.h"

namespace fedai {
namespace {

enum class Field : unsigned { unknown = 0, id, pubkey, created_at, kind, tags, content, sig };
constexpr std::string_view kFieldNames[] = {"",     "id",   "pubkey",  "created_at",
                                            "kind", "tags", "content", "sig"};

Field field_of(std::string_view key) {
  // Dispatch on length first: one comparison for each of the seven names.
  switch (key.size()) {
    case 2:
      return key == "id" ? Field::id : Field::unknown;
    case 3:
      return key == "sig" ? Field::sig : Field::unknown;
    case 4:
      return key == "kind" ? Field::kind : key == "tags" ? Field::tags : Field::unknown;
    case 6:
      return key == "pubkey" ? Field::pubkey : Field::unknown;
    case 7:
      return key == "content" ? Field::content : Field::unknown;
    case 10:
      return key == "created_at" ? Field::created_at : Field::unknown;
    default:
      return Field::unknown;
  }
}

Error type_error(Field f) {
  switch (f) {
    case Field::id:
      return invalid("id must be 64 lowercase hex characters");
    case Field::pubkey:
      return invalid("pubkey must be 64 lowercase hex characters");
    case Field::sig:
      return invalid("sig must be 128 lowercase hex characters");
    case Field::kind:
      return invalid("kind must be an integer between 0 and 65535");
    case Field::created_at:
      return invalid("created_at must be an integer between 0 and " +
                     std::to_string(kMaxCreatedAt));
    case Field::content:
      return invalid("content must be a string");
    default:
      return invalid("tags must be an array of arrays of strings");
  }
}

Error malformed(const JsonReader& r) {
  return invalid("malformed JSON: " + r.error());
}

class EventReader {
 public:
  EventReader(JsonReader& r, const EventLimits& limits) : r_(r), limits_(limits) {}

  Result<Event> read() {
    if (r_.peek() != '{') {
      if (r_.at_end()) return invalid("event must be a JSON object");
      // Distinguish "not an object" from "not JSON" the way a reader of the reason would want.
      JsonReader probe = r_;
      return probe.skip_value() ? invalid("event must be a JSON object") : malformed(probe);
    }
    r_.consume('{');
    if (!r_.consume('}')) {
      do {
        std::string_view key;
        if (!r_.read_string_view(key, scratch_) || !r_.expect(':')) return malformed(r_);
        Field f = field_of(key);
        if (f != Field::unknown) {
          unsigned bit = 1u << static_cast<unsigned>(f);
          if (seen_ & bit)
            return invalid("duplicate field: " +
                           std::string(kFieldNames[static_cast<unsigned>(f)]));
          seen_ |= bit;
        }
        if (auto st = read_field(f); !st) return st.error();
      } while (r_.consume(','));
      if (!r_.expect('}')) return malformed(r_);
    }
    for (unsigned i = 1; i <= 7; ++i)
      if (!(seen_ & (1u << i))) return invalid("missing field: " + std::string(kFieldNames[i]));
    return std::move(event_);
  }

 private:
  Status read_field(Field f) {
    switch (f) {
      case Field::id:
        return read_hex(f, event_.id.bytes);
      case Field::pubkey:
        return read_hex(f, event_.pubkey.bytes);
      case Field::sig:
        return read_hex(f, event_.sig.bytes);
      case Field::kind: {
        auto v = read_uint(f, 65535);
        if (!v) return v.error();
        event_.kind = static_cast<Kind>(*v);
        return {};
      }
      case Field::created_at: {
        auto v = read_uint(f, static_cast<std::uint64_t>(kMaxCreatedAt));
        if (!v) return v.error();
        event_.created_at = static_cast<UnixSeconds>(*v);
        return {};
      }
      case Field::content:
        if (r_.peek() != '"') return value_error(f);
        event_.content.clear();
        if (!r_.read_string(event_.content)) return malformed(r_);
        return {};
      case Field::tags:
        return read_tags();
      case Field::unknown:
        if (!r_.skip_value()) return malformed(r_);
        return {};
    }
    return {};
  }

  // A value of the wrong type: a type error if the JSON is otherwise sound, else a syntax error.
  Error value_error(Field f) {
    JsonReader probe = r_;
    return probe.skip_value() ? type_error(f) : malformed(probe);
  }

  template <std::size_t N>
  Status read_hex(Field f, std::array<std::uint8_t, N>& out) {
    if (r_.peek() != '"') return value_error(f);
    std::string_view s;
    if (!r_.read_string_view(s, scratch_)) return malformed(r_);
    if (!hex::decode(s, out)) return type_error(f);
    return {};
  }

  Result<std::uint64_t> read_uint(Field f, std::uint64_t max) {
    char c = r_.peek();
    if (c != '-' && (c < '0' || c > '9')) return value_error(f);
    JsonReader::Number n;
    if (!r_.read_number(n)) return malformed(r_);
    // -0 is zero, as JSON.parse reads it.
    if (!n.integral || n.overflow || (n.negative && n.magnitude != 0) || n.magnitude > max)
      return type_error(f);
    return n.magnitude;
  }

  Status read_tags() {
    if (r_.peek() != '[') return value_error(Field::tags);
    r_.consume('[');
    event_.tags.clear();
    if (r_.consume(']')) return {};
    do {
      if (r_.peek() != '[') return value_error(Field::tags);
      if (event_.tags.size() >= limits_.max_tags)
        return invalid("more than " + std::to_string(limits_.max_tags) + " tags");
      r_.consume('[');
      Tag& tag = event_.tags.emplace_back();
      if (!r_.consume(']')) {
        do {
          if (r_.peek() != '"') return value_error(Field::tags);
          if (tag.size() >= limits_.max_tag_values)
            return invalid("a tag has more than " + std::to_string(limits_.max_tag_values) +
                           " values");
          if (!r_.read_string(tag.emplace_back())) return malformed(r_);
        } while (r_.consume(','));
        if (!r_.expect(']')) return malformed(r_);
      }
    } while (r_.consume(','));
    if (!r_.expect(']')) return malformed(r_);
    return {};
  }

  JsonReader& r_;
  const EventLimits& limits_;
  Event event_;
  std::string scratch_;
  unsigned seen_ = 0;
};

}  // namespace

Result<Event> read_event(JsonReader& reader, const EventLimits& limits) {
  return EventReader(reader, limits).read();
}

std::optional<EventId> event_id_of(std::string_view json) {
  JsonReader r(json);
  if (!r.expect('{')) return std::nullopt;
  std::optional<EventId> id;
  std::string name, scratch;
  if (!r.consume('}')) {
    do {
      name.clear();
      if (!r.read_string(name) || !r.expect(':')) return std::nullopt;
      if (name == "id") {
        std::string_view hex_id;
        if (!r.read_string_view(hex_id, scratch)) return std::nullopt;
        EventId parsed;
        if (hex_id.size() != 64 || !hex::decode(hex_id, parsed.bytes)) return std::nullopt;
        id = parsed;
      } else if (!r.skip_value()) {
        return std::nullopt;
      }
    } while (r.consume(','));
    if (!r.expect('}')) return std::nullopt;
  }
  if (!r.at_end()) return std::nullopt;
  return id;
}

Result<Event> parse_event(std::string_view json, const EventLimits& limits) {
  if (json.size() > limits.max_json_bytes)
    return invalid("event is larger than " + std::to_string(limits.max_json_bytes) + " bytes");
  JsonReader reader(json);
  auto event = read_event(reader, limits);
  if (!event) return event;
  if (!reader.at_end()) {
    reader.fail("unexpected characters after the event");
    return malformed(reader);
  }
  return event;
}

}  // namespace fedai
