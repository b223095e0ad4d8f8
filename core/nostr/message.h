// NIP-01 relay protocol messages, both directions, with strict parsing and serialization.
//
// Client to relay: EVENT, REQ, CLOSE, AUTH (NIP-42), COUNT (NIP-45).
// Relay to client: EVENT, OK, EOSE, CLOSED, NOTICE, AUTH, COUNT.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/nostr/event.h"
#include "core/nostr/filter.h"
#include "core/util/result.h"

namespace fedai {

struct MessageLimits {
  std::size_t max_message_bytes = 512 * 1024;
  std::size_t max_subscription_id = 64;  // NIP-01: at most 64 characters
  EventLimits event;
  FilterLimits filter;
};

// ---- client to relay ----
struct ClientEvent {
  Event event;
};
struct ClientReq {
  std::string subscription_id;
  std::vector<Filter> filters;
};
struct ClientClose {
  std::string subscription_id;
};
struct ClientAuth {
  Event event;
};
struct ClientCount {
  std::string subscription_id;
  std::vector<Filter> filters;
};
using ClientMessage = std::variant<ClientEvent, ClientReq, ClientClose, ClientAuth, ClientCount>;

// The error says what was wrong; when the message was an EVENT whose id could be read, the
// id is in `event_id` so the relay can answer with OK false rather than a NOTICE.
struct ClientMessageError {
  Error error;
  std::string verb;                 // "EVENT", "REQ", ... or "" when unreadable
  std::string subscription_id;      // for REQ/COUNT/CLOSE when it could be read
  std::optional<EventId> event_id;  // for EVENT when it could be read
};

// Parses the message shape: the event of an EVENT or AUTH is shape-checked but not verified.
std::variant<ClientMessage, ClientMessageError> parse_client_message(
    std::string_view text, const MessageLimits& limits = {});

std::string serialize(const ClientMessage& message);
std::string event_message(const Event& event);  // ["EVENT",{...}]
std::string req_message(std::string_view sub, const std::vector<Filter>& filters);
std::string close_message(std::string_view sub);
std::string auth_message(const Event& event);

// ---- relay to client ----
struct RelayEvent {
  std::string subscription_id;
  Event event;
};
struct RelayOk {
  EventId event_id;
  bool accepted = false;
  std::string message;
};
struct RelayEose {
  std::string subscription_id;
};
struct RelayClosed {
  std::string subscription_id;
  std::string message;
};
struct RelayNotice {
  std::string message;
};
struct RelayAuth {
  std::string challenge;
};
struct RelayCount {
  std::string subscription_id;
  std::uint64_t count = 0;
};
using RelayMessage =
    std::variant<RelayEvent, RelayOk, RelayEose, RelayClosed, RelayNotice, RelayAuth, RelayCount>;

Result<RelayMessage> parse_relay_message(std::string_view text, const MessageLimits& limits = {});

std::string serialize(const RelayMessage& message);
// ["EVENT",sub,<event json>] from an event already serialized (what a relay stores).
std::string relay_event_message(std::string_view sub, std::string_view event_json);
std::string ok_message(const EventId& id, bool accepted, std::string_view message);
std::string eose_message(std::string_view sub);
std::string closed_message(std::string_view sub, std::string_view message);
std::string notice_message(std::string_view message);
std::string auth_challenge_message(std::string_view challenge);
std::string count_message(std::string_view sub, std::uint64_t count);

}  // namespace fedai
