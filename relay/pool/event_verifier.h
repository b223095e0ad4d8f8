// A small pool of threads that check event ids and BIP-340 signatures (~30 us each), so a
// flood of events doesn't stall the libwebsockets service thread.
//
// Jobs carry their own completion flag; the pool calls `on_done` after each job (from a
// worker thread), and the owner collects finished jobs in its own order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/nostr/event.h"

namespace fedai::relay {

struct VerifyJob {
  enum State : int { pending = 0, valid = 1, invalid = 2 };
  Event event;
  std::atomic<int> state{pending};
};

class EventVerifier {
 public:
  // threads == 0: submit() verifies inline.
  EventVerifier(unsigned threads, std::function<void()> on_done);
  ~EventVerifier();
  EventVerifier(const EventVerifier&) = delete;
  EventVerifier& operator=(const EventVerifier&) = delete;

  void submit(std::shared_ptr<VerifyJob> job);
  // Stops the workers; jobs not yet started stay pending. Idempotent.
  void stop();
  std::size_t queued() const;

 private:
  void run();

  std::function<void()> on_done_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<VerifyJob>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace fedai::relay
