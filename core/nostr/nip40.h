// NIP-40 expiration: ["expiration", "<unix seconds>"].
//
// NIP-40: the tag's value is "a unix timestamp at which the message SHOULD be considered
// expired". So an event is expired from that second on: at now == expiration it is expired.
#pragma once

#include <optional>

#include "core/nostr/event.h"
#include "core/util/result.h"

namespace fedai {

// The event's expiration: nullopt when it has no `expiration` tag. A malformed one is an
// `invalid:` reason a relay can send back: a value that is not ASCII decimal digits (no sign,
// spaces, fraction or exponent) or exceeds kMaxCreatedAt, a tag with no value, or more than
// one `expiration` tag (implementations disagree on which one counts).
Result<std::optional<UnixSeconds>> expiration_of(const Event& event);

// True when now >= the expiration. An event whose expiration tag is malformed counts as
// expired: it is dropped rather than kept forever by accident. No tag: never expires.
bool is_expired(const Event& event, UnixSeconds now);

// ["expiration", "<at>"], for templates.
Tag expiration_tag(UnixSeconds at);

}  // namespace fedai
