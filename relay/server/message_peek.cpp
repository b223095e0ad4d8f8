#include "relay/server/message_peek.h"

#include "core/nostr/message.h"
#include "core/util/json_reader.h"

namespace fedai::relay::server {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

std::optional<EventId> find_event_id(std::string_view text) {
  constexpr std::string_view kKey = "\"id\"";
  for (std::size_t at = text.find(kKey); at != std::string_view::npos;
       at = text.find(kKey, at + 1)) {
    std::size_t i = at + kKey.size();
    while (i < text.size() && is_space(text[i])) ++i;
    if (i >= text.size() || text[i] != ':') continue;
    ++i;
    while (i < text.size() && is_space(text[i])) ++i;
    if (i + 66 > text.size() || text[i] != '"' || text[i + 65] != '"') continue;
    if (auto id = EventId::from_hex(text.substr(i + 1, 64))) return id;
  }
  return std::nullopt;
}

MessagePeek peek_message(std::string_view head, std::string_view tail,
                         std::size_t max_subscription_id) {
  MessagePeek peek;
  JsonReader r(head);
  std::string verb;
  if (!r.consume('[') || r.peek() != '"' || !r.read_string(verb) || verb.size() > 16) return peek;
  peek.verb = verb;
  if (verb == "EVENT" || verb == "AUTH") {
    peek.event_id = find_event_id(head);
    if (!peek.event_id && !tail.empty()) peek.event_id = find_event_id(tail);
  } else if (verb == "REQ" || verb == "COUNT" || verb == "CLOSE") {
    std::string sub;
    if (r.consume(',') && r.peek() == '"' && r.read_string(sub) && !sub.empty() &&
        sub.size() <= max_subscription_id)
      peek.subscription_id = std::move(sub);
  }
  return peek;
}

std::string refusal_for(const MessagePeek& peek, const std::string& reason) {
  if ((peek.verb == "EVENT" || peek.verb == "AUTH") && peek.event_id)
    return ok_message(*peek.event_id, false, reason);
  if ((peek.verb == "REQ" || peek.verb == "COUNT") && !peek.subscription_id.empty())
    return closed_message(peek.subscription_id, reason);
  return notice_message(reason);
}

}  // namespace fedai::relay::server
