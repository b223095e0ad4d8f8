// Repeated log lines, limited: a flood of one kind of line (a failed attempt for every request
// under load, a refusal for every submit of a misbehaving peer) would fill the log with thousands
// of lines a second and drown the rest. At most `burst` lines of one kind are let through per
// `window`; the others are counted, and the count goes with the next line of that kind let
// through ("... (412 more like this)"), so nothing is hidden, only summarised. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace fedai {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogLimiter(std::uint32_t burst = 10,
                      std::chrono::milliseconds window = std::chrono::seconds{10},
                      std::size_t max_kinds = 256)
      : burst_(burst), window_(window), max_kinds_(max_kinds) {}

  // Whether a line of `kind` may be logged at `now`. When it may, `held_back` is the number of
  // lines of this kind held back since the last one let through (0 when none).
  bool allow(std::string_view kind, std::uint64_t& held_back,
             Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    auto it = kinds_.find(std::string(kind));
    if (it == kinds_.end()) {
      if (kinds_.size() >= max_kinds_) kinds_.clear();  // bounded: forget the rest
      it = kinds_.emplace(std::string(kind), Kind{now, 0, 0}).first;
    }
    Kind& k = it->second;
    if (now - k.window_start >= window_) {
      k.window_start = now;
      k.lines = 0;
    }
    if (k.lines >= burst_) {
      ++k.held_back;
      return false;
    }
    ++k.lines;
    held_back = k.held_back;
    k.held_back = 0;
    return true;
  }

  // " (N more like this)" for a count of lines held back, "" for none: the suffix to log.
  static std::string suffix(std::uint64_t held_back) {
    if (held_back == 0) return {};
    return " (" + std::to_string(held_back) + " more like this)";
  }

 private:
  struct Kind {
    Clock::time_point window_start;
    std::uint32_t lines;
    std::uint64_t held_back;
  };
  std::uint32_t burst_;
  Clock::duration window_;
  std::size_t max_kinds_;
  std::mutex mutex_;
  std::unordered_map<std::string, Kind> kinds_;
};

}  // namespace fedai
