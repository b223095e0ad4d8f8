// Loopback ports for tests.
#pragma once

#include <cstdint>

namespace fedai::test {

// A port on 127.0.0.1 that nothing listens on (bound, then closed).
std::uint16_t unused_port();

}  // namespace fedai::test
