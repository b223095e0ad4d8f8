#include "relay/lws_loop.h"

#include <future>

namespace fedai::relay {

LwsLoop::LwsLoop(lws_context* context) : context_(context) {}

LwsLoop::~LwsLoop() {
  stop();
}

void LwsLoop::start(std::function<void()> on_start) {
  if (running_.exchange(true)) return;
  std::promise<void> started;
  auto ready = started.get_future();
  thread_ = std::thread([this, on_start = std::move(on_start), &started] {
    thread_id_ = std::this_thread::get_id();
    if (on_start) on_start();
    started.set_value();
    while (!stopping_.load()) {
      if (lws_service(context_, 0) < 0) break;
    }
    // Last chance for posted work (close frames, final replies) before the context goes.
    drain();
  });
  ready.wait();
}

void LwsLoop::stop(std::function<void()> on_stop) {
  if (running_.load() && !stopping_.load()) {
    if (on_stop) post(std::move(on_stop));
    post([this] { stopping_ = true; });
    thread_.join();
  }
  // Taken under the lock so that no post() still holds it for lws_cancel_service(); destroyed
  // outside it, because closing connections runs callbacks that may post().
  lws_context* context = nullptr;
  {
    std::lock_guard lock(mutex_);
    context = context_;
    context_ = nullptr;
  }
  if (context != nullptr) lws_context_destroy(context);
  running_ = false;
}

void LwsLoop::post(std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  if (stopping_.load()) return;
  queue_.push_back(std::move(fn));
  // Under the lock: stop() can't destroy the context between the check and the wake-up.
  if (context_ != nullptr) lws_cancel_service(context_);
}

void LwsLoop::drain() {
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(queue_);
  }
  for (auto& fn : batch) fn();
}

std::size_t LwsLoop::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

}  // namespace fedai::relay
