#include "relay/pool/delivery_thread.h"

#include <exception>

#include <spdlog/spdlog.h>

namespace fedai::relay {

DeliveryThread::DeliveryThread()
    : state_(std::make_shared<State>()), thread_([s = state_] { run(s); }) {}

DeliveryThread::~DeliveryThread() {
  stop();
  if (thread_.joinable()) thread_.detach();  // only when destroyed on its own thread
}

void DeliveryThread::post(std::function<void()> fn) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return;
    state_->queue.push_back(std::move(fn));
  }
  state_->cv.notify_one();
}

void DeliveryThread::stop() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  if (!in_thread() && thread_.joinable()) thread_.join();
}

void DeliveryThread::run(std::shared_ptr<State> s) {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock lock(s->mutex);
      s->cv.wait(lock, [&] { return s->stopping || !s->queue.empty(); });
      if (s->queue.empty()) return;  // stopping, and everything has run
      fn = std::move(s->queue.front());
      s->queue.pop_front();
    }
    try {
      fn();
    } catch (const std::exception& e) {
      spdlog::error("relay pool: a callback threw: {}", e.what());
    } catch (...) {
      spdlog::error("relay pool: a callback threw a non-standard exception");
    }
  }
}

}  // namespace fedai::relay
