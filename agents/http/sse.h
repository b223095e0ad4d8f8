// Server-Sent Events framing (WHATWG HTML, "event stream"): what Responder::send_event writes.
#pragma once

#include <string>
#include <string_view>

namespace fedai::agents::http {

// Appends one event: `event: <name>` when `name` is not empty (CR and LF removed from it), then
// one `data: ` line per line of `data` (split on CRLF, CR or LF, each of which a reader would
// otherwise take as the end of the field), then the blank line that dispatches it. Empty data
// still writes one `data:` line, so that the event is dispatched.
void append_sse_event(std::string& out, std::string_view name, std::string_view data);

// The bytes append_sse_event would write.
std::size_t sse_event_size(std::string_view name, std::string_view data);

}  // namespace fedai::agents::http
