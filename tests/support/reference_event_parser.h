// A reference event parser for differential tests: the same NIP-01 shape rules as
// fedai::parse_event, written independently on nlohmann::json's SAX interface (its lexer, its
// UTF-8 and number handling). fedai's own parser (core/nostr/event_parse.cpp) is a hand-written
// tokenizer for speed; tests and fuzzers check that both accept and reject the same inputs and
// read the same values.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "core/nostr/event.h"

namespace fedai::test {

class EventSax {
 public:
  explicit EventSax(const EventLimits& limits = {}) : limits_(limits) {}

  // nlohmann::json SAX interface.
  bool null();
  bool boolean(bool);
  bool number_integer(std::int64_t v);
  bool number_unsigned(std::uint64_t v);
  bool number_float(double, const std::string&);
  bool string(std::string& s);
  bool binary(nlohmann::json::binary_t&);
  bool start_object(std::size_t);
  bool key(std::string& k);
  bool end_object();
  bool start_array(std::size_t);
  bool end_array();
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& ex);

  // True once the event object's closing brace has been consumed.
  bool complete() const { return complete_; }
  // The first problem found, if any.
  const std::optional<Error>& error() const { return error_; }
  // The event, once complete() and every field was present.
  Result<Event> take();

 private:
  enum class Field : std::uint8_t {
    none,
    id,
    pubkey,
    created_at,
    kind,
    tags,
    content,
    sig,
    unknown
  };

  bool fail(std::string message);
  bool wrong_type();
  bool scalar_at_top();
  bool number(std::uint64_t v);

  EventLimits limits_;
  Event event_;
  Field field_ = Field::none;
  int depth_ = 0;      // 1 inside the event object, 2 inside tags, 3 inside one tag
  int skip_ = 0;       // nesting depth of an unknown field's value being skipped
  unsigned seen_ = 0;  // bit per Field already read
  bool complete_ = false;
  std::optional<Error> error_;
};

// Parses one event with the reference parser (shape only, like parse_event).
Result<Event> reference_parse_event(std::string_view json, const EventLimits& limits = {});

}  // namespace fedai::test
