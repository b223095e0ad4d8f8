// NIP-01 events: the value type, the canonical serialization that defines the id, signing,
// verification and strict parsing.
#pragma once

#include <charconv>
#include <concepts>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/nostr/keys.h"
#include "core/nostr/kind.h"
#include "core/util/bytes.h"
#include "core/util/result.h"
#include "core/util/time.h"

namespace fedai {

using EventId = FixedBytes<32, struct EventIdTag>;
using Tag = std::vector<std::string>;
using Tags = std::vector<Tag>;

// The largest created_at fedai accepts: 2^53 - 1, the largest integer every JSON implementation
// (JavaScript's in particular) reads and writes exactly, so all signers agree on the id.
inline constexpr UnixSeconds kMaxCreatedAt = (UnixSeconds{1} << 53) - 1;

// What a signer fills in; everything but the key-dependent fields.
struct EventTemplate {
  Kind kind = 1;
  UnixSeconds created_at = 0;
  Tags tags;
  std::string content;
};

struct Event {
  EventId id;
  PublicKey pubkey;
  UnixSeconds created_at = 0;
  Kind kind = 0;
  Tags tags;
  std::string content;
  Signature sig;

  // The first tag named `name` with at least one value, or nullptr.
  const Tag* find_tag(std::string_view name) const;
  // The first value of the first such tag.
  std::optional<std::string_view> tag_value(std::string_view name) const;
  // The `d` tag's value; "" when absent (as NIP-01 says for addressable events).
  std::string_view d_tag() const;

  bool operator==(const Event&) const = default;
};

// Appends `s` as a JSON string the way NIP-01 (and JSON.stringify) writes it: \n \" \\ \r \t \b
// \f escaped, other C0 controls as \u00xx with lowercase hex, everything else verbatim.
void append_json_string(std::string& out, std::string_view s);

// Appends an integer in decimal, as JSON writes it.
template <std::integral T>
void append_json_integer(std::string& out, T v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// [0,<pubkey>,<created_at>,<kind>,<tags>,<content>]: the bytes whose SHA-256 is the id.
std::string canonical_serialization(const PublicKey& pubkey, UnixSeconds created_at, Kind kind,
                                    const Tags& tags, std::string_view content);
EventId compute_event_id(const PublicKey& pubkey, UnixSeconds created_at, Kind kind,
                         const Tags& tags, std::string_view content);
EventId compute_event_id(const Event& e);

// Signs a template: sets pubkey, id and sig. Throws std::invalid_argument when created_at is
// outside 0..kMaxCreatedAt.
Event sign_event(EventTemplate tmpl, const Keypair& keys);

// The event as a JSON object, fields in NIP-01's order, strings escaped as above.
std::string to_json(const Event& e);
void append_json(std::string& out, const Event& e);

struct EventLimits {
  std::size_t max_json_bytes = 256 * 1024;
  std::size_t max_tags = 5000;
  std::size_t max_tag_values = 100;  // elements per tag, name included
};

// Parses one event object. Checks the shape strictly (every field present once, with the right
// type; hex fields lowercase and of the right length; kind 0..65535; created_at 0..2^53-1;
// tags an array of arrays of strings) but not the id or signature: see verify_event.
// Errors are `invalid:` reasons naming the field.
Result<Event> parse_event(std::string_view json, const EventLimits& limits = {});

// Reads an event template from JSON: {"kind": int, "content": string, "tags": [[string...]...],
// "created_at": int}. kind is required; content defaults to "", tags to [], created_at to
// `default_created_at`. Other fields (a pubkey or id from an earlier signing) are ignored.
Result<EventTemplate> parse_event_template(std::string_view json, UnixSeconds default_created_at);

// Checks that the id is the hash of the canonical serialization and the signature verifies.
Status verify_event(const Event& e);

// The id an event's JSON states, read without building the event (the rest is only checked to
// be JSON): for an event of our own, parsed when it was made, that now only needs passing on.
// nullopt when the JSON is not an object with an "id" of 64 lowercase hex digits.
std::optional<EventId> event_id_of(std::string_view json);

// parse_event + verify_event.
Result<Event> parse_verified_event(std::string_view json, const EventLimits& limits = {});

}  // namespace fedai
