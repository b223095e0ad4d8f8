// A bounded multi-producer queue with one consumer: the inbox of each relay stage.
//
// Producers inside the relay's pipeline block while the queue is full (backpressure that keeps
// memory bounded); the WebSocket thread never blocks and uses try_push. Control messages (a
// connection opened or closed) must not be lost and use push_control, which ignores the bound:
// there is at most one of each per connection. The consumer takes everything queued at once so
// each stage works in batches.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <limits>
#include <mutex>
#include <vector>

namespace fedai::relay::server {

template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Waits while the queue is full. False once the queue is closed (the item is dropped).
  bool push(T item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    push_locked(std::move(item));
    return true;
  }

  // Moves every item of `items` in, waiting for room as needed; `items` is left empty. False
  // once closed.
  bool push_all(std::vector<T>& items) {
    std::unique_lock lock(mutex_);
    for (auto& item : items) {
      not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
      if (closed_) {
        items.clear();
        return false;
      }
      push_locked(std::move(item));
    }
    items.clear();
    return true;
  }

  // Never waits. On failure (full or closed) `item` is left untouched.
  bool try_push(T& item) {
    std::lock_guard lock(mutex_);
    if (closed_ || items_.size() >= capacity_) return false;
    push_locked(std::move(item));
    return true;
  }

  // Ignores the bound; false only once closed.
  bool push_control(T item) {
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    push_locked(std::move(item));
    return true;
  }

  // Waits until something is queued, the deadline passes or the queue is closed, then moves up
  // to `max` items to the end of `out`. False when the queue is closed and empty: the consumer
  // stops. Items queued before close() are still handed out.
  bool pop_all(
      std::vector<T>& out,
      std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max(),
      std::size_t max = std::numeric_limits<std::size_t>::max()) {
    std::unique_lock lock(mutex_);
    auto ready = [&] { return closed_ || !items_.empty(); };
    if (deadline == std::chrono::steady_clock::time_point::max())
      not_empty_.wait(lock, ready);
    else
      not_empty_.wait_until(lock, deadline, ready);
    if (items_.empty()) return !closed_;
    bool was_full = items_.size() >= capacity_;
    std::size_t n = items_.size() < max ? items_.size() : max;
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    if (was_full) not_full_.notify_all();
    return true;
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  std::size_t capacity() const { return capacity_; }

 private:
  void push_locked(T&& item) {
    bool was_empty = items_.empty();
    items_.push_back(std::move(item));
    // One consumer, and it only waits when the queue is empty.
    if (was_empty) not_empty_.notify_one();
  }

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace fedai::relay::server
