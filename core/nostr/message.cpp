#include "core/nostr/message.h"

#include <nlohmann/json.hpp>

#include "core/nostr/event_reader.h"
#include "core/nostr/filter_reader.h"
#include "core/util/json_reader.h"

namespace fedai {
namespace {

Error malformed(const JsonReader& r) {
  return invalid("malformed JSON: " + r.error());
}

Result<std::string> read_subscription_id(JsonReader& r, const MessageLimits& limits) {
  std::string sub;
  if (r.peek() != '"') return invalid("subscription id must be a string");
  if (!r.read_string(sub)) return malformed(r);
  if (sub.empty()) return invalid("subscription id must not be empty");
  // NIP-01 counts characters; a UTF-8 byte count is stricter, never looser.
  if (sub.size() > limits.max_subscription_id)
    return invalid("subscription id longer than " + std::to_string(limits.max_subscription_id) +
                   " characters");
  return sub;
}

Status expect_end(JsonReader& r) {
  if (!r.expect(']')) {
    if (r.peek() == ',') return invalid("too many elements in message");
    return malformed(r);
  }
  if (!r.at_end()) {
    r.fail("unexpected characters after the message");
    return malformed(r);
  }
  return {};
}

// For an EVENT that failed to parse, the id it claims (so the relay can say OK false).
std::optional<EventId> claimed_event_id(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array() || j.size() < 2 || !j[1].is_object()) return std::nullopt;
  auto id = j[1].find("id");
  if (id == j[1].end() || !id->is_string()) return std::nullopt;
  return EventId::from_hex(id->get<std::string>());
}

Result<std::vector<Filter>> read_filters(JsonReader& r, const MessageLimits& limits) {
  std::vector<Filter> filters;
  while (r.consume(',')) {
    if (filters.size() >= limits.filter.max_filters)
      return invalid("more than " + std::to_string(limits.filter.max_filters) + " filters");
    auto f = read_filter(r, limits.filter);
    if (!f) {
      Error e = f.error();
      e.message = "filters[" + std::to_string(filters.size()) + "]: " + e.message;
      return e;
    }
    filters.push_back(std::move(*f));
  }
  if (filters.empty()) return invalid("at least one filter is required");
  return filters;
}

void append_quoted(std::string& out, std::string_view s) {
  append_json_string(out, s);
}

}  // namespace

std::variant<ClientMessage, ClientMessageError> parse_client_message(std::string_view text,
                                                                     const MessageLimits& limits) {
  ClientMessageError err;
  auto fail = [&](Error e) -> std::variant<ClientMessage, ClientMessageError> {
    err.error = std::move(e);
    return err;
  };
  if (text.size() > limits.max_message_bytes)
    return fail(
        invalid("message larger than " + std::to_string(limits.max_message_bytes) + " bytes"));
  JsonReader r(text);
  if (!r.consume('[')) {
    JsonReader probe = r;
    return fail(probe.skip_value() ? invalid("message must be a JSON array") : malformed(probe));
  }
  std::string_view verb;
  std::string scratch;
  if (r.peek() != '"') return fail(invalid("message type must be a string"));
  if (!r.read_string_view(verb, scratch)) return fail(malformed(r));
  err.verb = std::string(verb);

  if (verb == "EVENT" || verb == "AUTH") {
    bool is_event = verb == "EVENT";
    if (!r.expect(',')) return fail(invalid(err.verb + " message needs an event"));
    auto ev = read_event(r, limits.event);
    if (!ev) {
      err.event_id = claimed_event_id(text);
      return fail(ev.error());
    }
    err.event_id = ev->id;
    if (auto st = expect_end(r); !st) return fail(st.error());
    if (is_event) return ClientMessage{ClientEvent{std::move(*ev)}};
    return ClientMessage{ClientAuth{std::move(*ev)}};
  }
  if (verb == "REQ" || verb == "COUNT" || verb == "CLOSE") {
    if (!r.expect(',')) return fail(invalid(err.verb + " message needs a subscription id"));
    auto sub = read_subscription_id(r, limits);
    if (!sub) return fail(sub.error());
    err.subscription_id = *sub;
    if (verb == "CLOSE") {
      if (auto st = expect_end(r); !st) return fail(st.error());
      return ClientMessage{ClientClose{std::move(*sub)}};
    }
    auto filters = read_filters(r, limits);
    if (!filters) return fail(filters.error());
    if (auto st = expect_end(r); !st) return fail(st.error());
    if (verb == "REQ") return ClientMessage{ClientReq{std::move(*sub), std::move(*filters)}};
    return ClientMessage{ClientCount{std::move(*sub), std::move(*filters)}};
  }
  std::string shown(verb.substr(0, 32));
  return fail(invalid("unknown message type '" + shown + "'"));
}

std::string event_message(const Event& event) {
  std::string out = "[\"EVENT\",";
  append_json(out, event);
  out += ']';
  return out;
}

std::string auth_message(const Event& event) {
  std::string out = "[\"AUTH\",";
  append_json(out, event);
  out += ']';
  return out;
}

namespace {
std::string sub_with_filters(std::string_view verb, std::string_view sub,
                             const std::vector<Filter>& filters) {
  std::string out = "[\"";
  out += verb;
  out += "\",";
  append_quoted(out, sub);
  for (const auto& f : filters) {
    out += ',';
    append_json(out, f);
  }
  out += ']';
  return out;
}
}  // namespace

std::string req_message(std::string_view sub, const std::vector<Filter>& filters) {
  return sub_with_filters("REQ", sub, filters);
}

std::string close_message(std::string_view sub) {
  std::string out = "[\"CLOSE\",";
  append_quoted(out, sub);
  out += ']';
  return out;
}

std::string serialize(const ClientMessage& message) {
  struct Visitor {
    std::string operator()(const ClientEvent& m) const { return event_message(m.event); }
    std::string operator()(const ClientReq& m) const {
      return req_message(m.subscription_id, m.filters);
    }
    std::string operator()(const ClientClose& m) const { return close_message(m.subscription_id); }
    std::string operator()(const ClientAuth& m) const { return auth_message(m.event); }
    std::string operator()(const ClientCount& m) const {
      return sub_with_filters("COUNT", m.subscription_id, m.filters);
    }
  };
  return std::visit(Visitor{}, message);
}

// ---- relay to client ----

Result<RelayMessage> parse_relay_message(std::string_view text, const MessageLimits& limits) {
  if (text.size() > limits.max_message_bytes)
    return invalid("message larger than " + std::to_string(limits.max_message_bytes) + " bytes");
  JsonReader r(text);
  if (!r.expect('[')) return invalid("message must be a JSON array");
  std::string verb;
  if (!r.read_string(verb)) return invalid("message type must be a string");
  auto next_string = [&](std::string& out) -> Status {
    if (!r.expect(',')) return invalid(verb + " message is too short");
    if (!r.read_string(out)) return malformed(r);
    return {};
  };
  RelayMessage out;
  if (verb == "EVENT") {
    RelayEvent m;
    if (auto st = next_string(m.subscription_id); !st) return st.error();
    if (!r.expect(',')) return invalid("EVENT message needs an event");
    auto ev = read_event(r, limits.event);
    if (!ev) return ev.error();
    m.event = std::move(*ev);
    out = std::move(m);
  } else if (verb == "OK") {
    RelayOk m;
    std::string id;
    if (auto st = next_string(id); !st) return st.error();
    auto parsed = EventId::from_hex(id);
    if (!parsed) return invalid("OK message has a malformed event id");
    m.event_id = *parsed;
    if (!r.expect(',') || !r.read_bool(m.accepted))
      return invalid("OK message needs true or false");
    // The message is required by NIP-01 but some relays omit it; read it when present.
    if (r.peek() == ',') {
      if (auto st = next_string(m.message); !st) return st.error();
    }
    out = std::move(m);
  } else if (verb == "EOSE") {
    RelayEose m;
    if (auto st = next_string(m.subscription_id); !st) return st.error();
    out = std::move(m);
  } else if (verb == "CLOSED") {
    RelayClosed m;
    if (auto st = next_string(m.subscription_id); !st) return st.error();
    if (r.peek() == ',') {
      if (auto st = next_string(m.message); !st) return st.error();
    }
    out = std::move(m);
  } else if (verb == "NOTICE") {
    RelayNotice m;
    if (auto st = next_string(m.message); !st) return st.error();
    out = std::move(m);
  } else if (verb == "AUTH") {
    RelayAuth m;
    if (auto st = next_string(m.challenge); !st) return st.error();
    out = std::move(m);
  } else if (verb == "COUNT") {
    RelayCount m;
    if (auto st = next_string(m.subscription_id); !st) return st.error();
    if (!r.expect(',') || !r.expect('{')) return invalid("COUNT message needs {\"count\": n}");
    bool have_count = false;
    if (!r.consume('}')) {
      do {
        std::string key;
        if (!r.read_string(key) || !r.expect(':')) return malformed(r);
        if (key == "count") {
          JsonReader::Number n;
          if (!r.read_number(n) || !n.integral || n.negative || n.overflow)
            return invalid("COUNT count must be a non-negative integer");
          m.count = n.magnitude;
          have_count = true;
        } else if (!r.skip_value()) {
          return malformed(r);
        }
      } while (r.consume(','));
      if (!r.expect('}')) return malformed(r);
    }
    if (!have_count) return invalid("COUNT message needs {\"count\": n}");
    out = std::move(m);
  } else {
    return invalid("unknown message type '" + verb.substr(0, 32) + "'");
  }
  // Relays may add elements in later NIPs; skip them rather than refuse the message.
  while (r.consume(','))
    if (!r.skip_value()) return malformed(r);
  if (!r.expect(']')) return malformed(r);
  if (!r.at_end()) return invalid("unexpected characters after the message");
  return out;
}

std::string relay_event_message(std::string_view sub, std::string_view event_json) {
  std::string out;
  out.reserve(event_json.size() + sub.size() + 16);
  out += "[\"EVENT\",";
  append_quoted(out, sub);
  out += ',';
  out += event_json;
  out += ']';
  return out;
}

std::string ok_message(const EventId& id, bool accepted, std::string_view message) {
  std::string out = "[\"OK\",\"" + id.hex() + "\"," + (accepted ? "true," : "false,");
  append_quoted(out, message);
  out += ']';
  return out;
}

std::string eose_message(std::string_view sub) {
  std::string out = "[\"EOSE\",";
  append_quoted(out, sub);
  out += ']';
  return out;
}

std::string closed_message(std::string_view sub, std::string_view message) {
  std::string out = "[\"CLOSED\",";
  append_quoted(out, sub);
  out += ',';
  append_quoted(out, message);
  out += ']';
  return out;
}

std::string notice_message(std::string_view message) {
  std::string out = "[\"NOTICE\",";
  append_quoted(out, message);
  out += ']';
  return out;
}

std::string auth_challenge_message(std::string_view challenge) {
  std::string out = "[\"AUTH\",";
  append_quoted(out, challenge);
  out += ']';
  return out;
}

std::string count_message(std::string_view sub, std::uint64_t count) {
  std::string out = "[\"COUNT\",";
  append_quoted(out, sub);
  out += ",{\"count\":" + std::to_string(count) + "}]";
  return out;
}

std::string serialize(const RelayMessage& message) {
  struct Visitor {
    std::string operator()(const RelayEvent& m) const {
      return relay_event_message(m.subscription_id, to_json(m.event));
    }
    std::string operator()(const RelayOk& m) const {
      return ok_message(m.event_id, m.accepted, m.message);
    }
    std::string operator()(const RelayEose& m) const { return eose_message(m.subscription_id); }
    std::string operator()(const RelayClosed& m) const {
      return closed_message(m.subscription_id, m.message);
    }
    std::string operator()(const RelayNotice& m) const { return notice_message(m.message); }
    std::string operator()(const RelayAuth& m) const { return auth_challenge_message(m.challenge); }
    std::string operator()(const RelayCount& m) const {
      return count_message(m.subscription_id, m.count);
    }
  };
  return std::visit(Visitor{}, message);
}

}  // namespace fedai
