// What the relay's stages send back to the WebSocket thread: messages for a connection.
//
// An event going to many subscribers is serialized once: each delivery shares the event's JSON
// and its subscription's `["EVENT","<sub>",` prefix (shared_ptr<const std::string>), and the
// WebSocket thread joins them into the frame it sends. Producers append whole batches; the
// WebSocket thread is woken only when the outbox goes from empty to non-empty.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace fedai::relay::server {

using ConnId = std::uint64_t;
using SharedText = std::shared_ptr<const std::string>;

struct OutMsg {
  SharedText head;   // ["EVENT","<sub>",   (with body)
  SharedText body;   // the event's JSON    (with head)
  std::string text;  // a whole message otherwise (OK, EOSE, CLOSED, NOTICE, COUNT, AUTH)

  static OutMsg event(SharedText head, SharedText body) {
    return OutMsg{std::move(head), std::move(body), {}};
  }
  static OutMsg message(std::string text) { return OutMsg{nullptr, nullptr, std::move(text)}; }

  bool empty() const { return !body && text.empty(); }
  std::size_t size() const { return body ? head->size() + body->size() + 1 : text.size(); }
  // Appends the message's bytes to `out`.
  template <class Buffer>
  void append_to(Buffer& out) const {
    if (body) {
      out.insert(out.end(), head->begin(), head->end());
      out.insert(out.end(), body->begin(), body->end());
      out.push_back(']');
    } else {
      out.insert(out.end(), text.begin(), text.end());
    }
  }
};

struct Delivery {
  ConnId conn = 0;
  OutMsg msg;                   // may be empty: a bare completion
  std::uint32_t completes = 0;  // client messages this finishes (the in-flight count)
};

class Outbox {
 public:
  // `wake` is called (from the producing thread) when the outbox becomes non-empty.
  explicit Outbox(std::function<void()> wake) : wake_(std::move(wake)) {}

  // Moves the deliveries in; `batch` is left empty.
  void push(std::vector<Delivery>& batch) {
    if (batch.empty()) return;
    bool was_empty;
    {
      std::lock_guard lock(mutex_);
      was_empty = items_.empty();
      if (was_empty) {
        items_.swap(batch);
      } else {
        for (auto& d : batch) items_.push_back(std::move(d));
      }
    }
    batch.clear();
    if (was_empty) wake_();
  }

  // Everything queued so far, in order.
  void take(std::vector<Delivery>& out) {
    out.clear();
    std::lock_guard lock(mutex_);
    out.swap(items_);
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  std::function<void()> wake_;
  mutable std::mutex mutex_;
  std::vector<Delivery> items_;
};

}  // namespace fedai::relay::server
