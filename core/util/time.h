// Time as the protocol sees it: whole seconds since the Unix epoch.
#pragma once

#include <cstdint>

namespace fedai {

using UnixSeconds = std::int64_t;

// Current wall-clock time. Pure code takes `now` as an argument; only edges call this.
UnixSeconds unix_now();

}  // namespace fedai
