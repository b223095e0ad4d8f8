// The libwebsockets service thread, and the one way other threads reach it.
//
// libwebsockets state is touched only on its service thread. Other threads hand it work with
// post(): the function is queued, lws_cancel_service() wakes the loop, and the owner's protocol
// callback runs drain() on LWS_CALLBACK_EVENT_WAIT_CANCELLED. Both the relay server and the
// relay pool are built on this.
#pragma once

#include <libwebsockets.h>

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace fedai::relay {

class LwsLoop {
 public:
  // Takes ownership of a context created by the caller (protocols and vhosts are the caller's).
  explicit LwsLoop(lws_context* context);
  ~LwsLoop();
  LwsLoop(const LwsLoop&) = delete;
  LwsLoop& operator=(const LwsLoop&) = delete;

  lws_context* context() const { return context_; }

  // Starts the service thread. `on_start` runs first on that thread.
  void start(std::function<void()> on_start = {});
  // Runs `on_stop` on the service thread, stops the loop, joins the thread, destroys the context.
  // Idempotent; called by the destructor.
  void stop(std::function<void()> on_stop = {});

  // Queues `fn` to run on the service thread. Thread-safe. Functions posted after stop() are
  // dropped.
  void post(std::function<void()> fn);
  // Runs everything posted so far. Call from the protocol callback on
  // LWS_CALLBACK_EVENT_WAIT_CANCELLED (it is delivered once per protocol; extra calls are cheap).
  void drain();

  bool in_loop_thread() const { return std::this_thread::get_id() == thread_id_.load(); }
  bool running() const { return running_.load(); }
  std::size_t queued() const;

 private:
  lws_context* context_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::deque<std::function<void()>> queue_;
};

}  // namespace fedai::relay
