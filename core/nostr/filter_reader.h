// Reading a filter object from a JsonReader, for parsers of messages that embed filters
// (["REQ", subid, {...}, {...}], ["COUNT", subid, {...}]).
#pragma once

#include "core/nostr/filter.h"
#include "core/util/json_reader.h"

namespace fedai {

// Reads the filter object at the reader's cursor and leaves the cursor after its closing brace.
// Checks and normalizes as parse_filter does.
Result<Filter> read_filter(JsonReader& reader, const FilterLimits& limits = {});

}  // namespace fedai
