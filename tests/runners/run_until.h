// Drives an io_context until a condition holds, with a deadline (never a sleep).
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>

namespace fedai::test {

// Runs handlers until `done()` is true; false if `timeout` passed first or the io_context ran
// out of work with `done()` still false.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  io.restart();
  while (!done()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    if (io.run_one_for(deadline - now) == 0 && io.stopped()) {
      if (done()) return true;
      return false;
    }
  }
  return true;
}

}  // namespace fedai::test
