#include <string_view>

#include "tests/support/reference_event_parser.h"

namespace fedai::test {
namespace {

constexpr std::string_view field_name(int f) {
  constexpr std::string_view names[] = {"",     "id",   "pubkey",  "created_at",
                                        "kind", "tags", "content", "sig"};
  return names[f];
}

}  // namespace

bool EventSax::fail(std::string message) {
  if (!error_) error_ = invalid(std::move(message));
  return false;
}

bool EventSax::wrong_type() {
  switch (field_) {
    case Field::id:
      return fail("id must be 64 lowercase hex characters");
    case Field::pubkey:
      return fail("pubkey must be 64 lowercase hex characters");
    case Field::sig:
      return fail("sig must be 128 lowercase hex characters");
    case Field::kind:
      return fail("kind must be an integer between 0 and 65535");
    case Field::created_at:
      return fail("created_at must be an integer between 0 and " + std::to_string(kMaxCreatedAt));
    case Field::content:
      return fail("content must be a string");
    case Field::tags:
    default:
      return fail("tags must be an array of arrays of strings");
  }
}

// A null, boolean or number where only a field value may stand.
bool EventSax::scalar_at_top() {
  if (depth_ == 0) return fail("event must be a JSON object");
  return wrong_type();
}

bool EventSax::null() {
  if (skip_ > 0) return true;
  if (depth_ == 1 && field_ == Field::unknown) return (field_ = Field::none), true;
  return scalar_at_top();
}

bool EventSax::boolean(bool) {
  return null();
}

bool EventSax::number_integer(std::int64_t v) {
  if (skip_ > 0) return true;
  if (depth_ == 1 && field_ == Field::unknown) return (field_ = Field::none), true;
  if (v < 0) return scalar_at_top();
  return number(static_cast<std::uint64_t>(v));
}

bool EventSax::number_unsigned(std::uint64_t v) {
  if (skip_ > 0) return true;
  if (depth_ == 1 && field_ == Field::unknown) return (field_ = Field::none), true;
  return number(v);
}

bool EventSax::number(std::uint64_t v) {
  if (depth_ != 1) return scalar_at_top();
  if (field_ == Field::kind && v <= 65535) {
    event_.kind = static_cast<Kind>(v);
  } else if (field_ == Field::created_at && v <= static_cast<std::uint64_t>(kMaxCreatedAt)) {
    event_.created_at = static_cast<UnixSeconds>(v);
  } else {
    return wrong_type();
  }
  field_ = Field::none;
  return true;
}

bool EventSax::number_float(double, const std::string&) {
  if (skip_ > 0) return true;
  if (depth_ == 1 && field_ == Field::unknown) return (field_ = Field::none), true;
  return scalar_at_top();
}

bool EventSax::binary(nlohmann::json::binary_t&) {
  return scalar_at_top();
}

bool EventSax::string(std::string& s) {
  if (skip_ > 0) return true;
  if (depth_ == 3) {
    Tag& tag = event_.tags.back();
    if (tag.size() >= limits_.max_tag_values)
      return fail("a tag has more than " + std::to_string(limits_.max_tag_values) + " values");
    tag.push_back(std::move(s));
    return true;
  }
  if (depth_ != 1) return scalar_at_top();
  bool ok = true;
  switch (field_) {
    case Field::id:
      ok = hex::decode(s, event_.id.bytes);
      break;
    case Field::pubkey:
      ok = hex::decode(s, event_.pubkey.bytes);
      break;
    case Field::sig:
      ok = hex::decode(s, event_.sig.bytes);
      break;
    case Field::content:
      event_.content = std::move(s);
      break;
    case Field::unknown:
      break;
    default:
      ok = false;
  }
  if (!ok) return wrong_type();
  field_ = Field::none;
  return true;
}

bool EventSax::key(std::string& k) {
  if (skip_ > 0) return true;
  // Only the event object's own keys reach here: nested objects are refused or skipped.
  Field f = Field::unknown;
  for (int i = 1; i <= 7; ++i)
    if (k == field_name(i)) f = static_cast<Field>(i);
  if (f != Field::unknown) {
    unsigned bit = 1u << static_cast<unsigned>(f);
    if (seen_ & bit) return fail("duplicate field: " + k);
    seen_ |= bit;
  }
  field_ = f;
  return true;
}

bool EventSax::start_object(std::size_t) {
  if (skip_ >= 64) return fail("nesting too deep");
  if (skip_ > 0) return ++skip_, true;
  if (depth_ == 0) return depth_ = 1, true;
  if (depth_ == 1 && field_ == Field::unknown) return skip_ = 1, true;
  return scalar_at_top();
}

bool EventSax::end_object() {
  if (skip_ > 0) {
    if (--skip_ == 0) field_ = Field::none;
    return true;
  }
  // depth_ is 1: objects anywhere else were refused or skipped.
  depth_ = 0;
  complete_ = true;
  return true;
}

bool EventSax::start_array(std::size_t) {
  if (skip_ >= 64) return fail("nesting too deep");
  if (skip_ > 0) return ++skip_, true;
  switch (depth_) {
    case 0:
      return fail("event must be a JSON object");
    case 1:
      if (field_ == Field::tags) return depth_ = 2, true;
      if (field_ == Field::unknown) return skip_ = 1, true;
      return wrong_type();
    case 2:
      if (event_.tags.size() >= limits_.max_tags)
        return fail("more than " + std::to_string(limits_.max_tags) + " tags");
      event_.tags.emplace_back();
      depth_ = 3;
      return true;
    default:
      return fail("tags must be an array of arrays of strings");
  }
}

bool EventSax::end_array() {
  if (skip_ > 0) {
    if (--skip_ == 0) field_ = Field::none;
    return true;
  }
  if (depth_ == 3) {
    depth_ = 2;
  } else {  // depth_ == 2: the tags array closed
    depth_ = 1;
    field_ = Field::none;
  }
  return true;
}

bool EventSax::parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
  // nlohmann's messages start with "[json.exception.parse_error.101] "; the rest is the reason.
  std::string_view what = ex.what();
  if (auto pos = what.find("] "); pos != std::string_view::npos) what.remove_prefix(pos + 2);
  return fail("malformed JSON: " + std::string(what));
}

Result<Event> EventSax::take() {
  if (error_) return *error_;
  if (!complete_) return invalid("event object is incomplete");
  for (int i = 1; i <= 7; ++i)
    if (!(seen_ & (1u << i))) return invalid("missing field: " + std::string(field_name(i)));
  return std::move(event_);
}

Result<Event> reference_parse_event(std::string_view json, const EventLimits& limits) {
  if (json.size() > limits.max_json_bytes)
    return invalid("event is larger than " + std::to_string(limits.max_json_bytes) + " bytes");
  EventSax sax(limits);
  nlohmann::json::sax_parse(json.begin(), json.end(), &sax, nlohmann::json::input_format_t::json,
                            /*strict=*/true);
  return sax.take();
}

}  // namespace fedai::test
