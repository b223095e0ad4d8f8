// Reading an event object from a JsonReader, for parsers of messages that embed events
// (["EVENT", {...}] from a client, ["EVENT", subid, {...}] from a relay).
#pragma once

#include "core/nostr/event.h"
#include "core/util/json_reader.h"

namespace fedai {

// Reads the event object at the reader's cursor and leaves the cursor after its closing brace.
// Checks the shape as parse_event does; does not check the id or signature.
Result<Event> read_event(JsonReader& reader, const EventLimits& limits = {});

}  // namespace fedai
