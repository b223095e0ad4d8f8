// Which events the pool has already verified and delivered, with bounded memory.
//
// The same event usually arrives from every relay that has it; it is verified once and
// delivered once per subscription. Memory is bounded by a CLOCK (second chance) set: a fixed
// number of slots, a hand that sweeps them, and a bit per slot that a repeat sighting sets. When
// the set is full the hand evicts the first slot whose bit is clear (clearing bits as it
// passes), so an id that keeps arriving stays while one seen once ages out. An evicted id that
// comes back is verified and delivered again: the capacity trades memory for how long
// duplicates are caught.
//
// Not thread-safe: the pool touches it only on its service thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/nostr/event.h"

namespace fedai::relay {

class SeenEvents {
 public:
  enum class Offer {
    first_sighting,    // never seen: the caller verified it and delivers it
    new_subscription,  // verified before, first time for this subscription: deliver
    duplicate,         // already delivered to this subscription: drop
  };

  explicit SeenEvents(std::size_t capacity);

  // Records that `id` is (to be) delivered to `subscription`.
  Offer offer(const EventId& id, std::uint64_t subscription);
  // True when `id` was verified before (for any subscription): no need to verify it again.
  bool contains(const EventId& id) const { return index_.contains(id); }
  // True when `id` was delivered to `subscription`.
  bool delivered(const EventId& id, std::uint64_t subscription) const;

  std::size_t size() const { return index_.size(); }
  std::size_t capacity() const { return capacity_; }
  std::uint64_t evictions() const { return evictions_; }

 private:
  struct Slot {
    EventId id;
    std::vector<std::uint64_t> subscriptions;  // usually one
    bool referenced = false;
  };
  std::size_t take_slot();

  std::size_t capacity_;
  std::vector<Slot> slots_;
  std::unordered_map<EventId, std::size_t, FixedBytesHash> index_;
  std::size_t hand_ = 0;
  std::uint64_t evictions_ = 0;
};

}  // namespace fedai::relay
