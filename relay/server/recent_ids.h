// The last N event ids seen, for deduplicating ephemeral events (which are never stored, so
// the store can't say "duplicate"). Memory is bounded: the oldest id is forgotten first.
#pragma once

#include <cstddef>
#include <unordered_set>
#include <vector>

#include "core/nostr/event.h"

namespace fedai::relay::server {

class RecentIds {
 public:
  explicit RecentIds(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
    ring_.reserve(capacity_);
    set_.reserve(capacity_);
  }

  // True when `id` is new (and remembers it); false when it was seen recently.
  bool insert(const EventId& id) {
    if (set_.contains(id)) return false;
    if (ring_.size() < capacity_) {
      ring_.push_back(id);
    } else {
      set_.erase(ring_[next_]);
      ring_[next_] = id;
      next_ = (next_ + 1) % capacity_;
    }
    set_.insert(id);
    return true;
  }

  std::size_t size() const { return set_.size(); }

 private:
  std::size_t capacity_;
  std::vector<EventId> ring_;
  std::size_t next_ = 0;  // the oldest entry once the ring is full
  std::unordered_set<EventId, FixedBytesHash> set_;
};

}  // namespace fedai::relay::server
