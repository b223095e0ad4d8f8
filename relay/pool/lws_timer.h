// A one-shot timer on the libwebsockets service thread (an lws_sul), owning its callback.
// Create, schedule, cancel and destroy it only on the service thread, and before the context
// is destroyed. Not movable: lws keeps a pointer to it while it is scheduled.
#pragma once

#include <libwebsockets.h>

#include <chrono>
#include <functional>

namespace fedai::relay {

class LwsTimer {
 public:
  LwsTimer(lws_context* context, std::function<void()> fn);
  ~LwsTimer() { cancel(); }
  LwsTimer(const LwsTimer&) = delete;
  LwsTimer& operator=(const LwsTimer&) = delete;

  // (Re)arms the timer to fire once after `delay`.
  void schedule(std::chrono::microseconds delay);
  void cancel();
  bool pending() const { return pending_; }

 private:
  // Standard layout with the sul first, so the sul's address is the node's.
  struct Node {
    lws_sorted_usec_list_t sul;
    LwsTimer* owner;
  };
  static void fire(lws_sorted_usec_list_t* sul);

  lws_context* context_;
  Node node_{};
  std::function<void()> fn_;
  bool pending_ = false;
};

}  // namespace fedai::relay
