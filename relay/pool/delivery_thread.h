// The default executor: one thread running posted functions in order. A function that throws
// is logged and the thread carries on.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace fedai::relay {

class DeliveryThread {
 public:
  DeliveryThread();
  // Runs what is queued, then stops. Destroyed on its own thread (the last owner let go inside
  // a callback) it detaches instead: the thread finishes the queue and ends by itself.
  ~DeliveryThread();
  DeliveryThread(const DeliveryThread&) = delete;
  DeliveryThread& operator=(const DeliveryThread&) = delete;

  void post(std::function<void()> fn);
  // Runs everything queued so far, then stops the thread. Idempotent.
  void stop();
  bool in_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::function<void()>> queue;
    bool stopping = false;
  };
  static void run(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace fedai::relay
