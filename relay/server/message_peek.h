// A cheap look at a client message the relay will not parse in full: one refused before
// parsing (rate limit, overload) or cut short because it was too large. Enough to answer in the
// right form: OK false for an EVENT whose id can be found, CLOSED for a REQ or COUNT whose
// subscription id can be read, NOTICE otherwise.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/nostr/event.h"

namespace fedai::relay::server {

struct MessagePeek {
  std::string verb;                 // "" when unreadable
  std::string subscription_id;      // REQ, COUNT, CLOSE
  std::optional<EventId> event_id;  // EVENT, AUTH
};

// `head` is the start of the message; `tail` (optional) its last bytes, where serializers that
// write the id after the content put it.
MessagePeek peek_message(std::string_view head, std::string_view tail = {},
                         std::size_t max_subscription_id = 64);

// The value of an `"id":"<64 hex>"` member anywhere in `text`. A quote can't appear unescaped
// inside a JSON string, so `"id"` followed by a colon is a key, and events have no nested
// objects.
std::optional<EventId> find_event_id(std::string_view text);

// The answer to a message refused before parsing.
std::string refusal_for(const MessagePeek& peek, const std::string& reason);

}  // namespace fedai::relay::server
