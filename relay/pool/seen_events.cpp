#include "relay/pool/seen_events.h"

#include <algorithm>

namespace fedai::relay {

SeenEvents::SeenEvents(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {
  slots_.reserve(std::min<std::size_t>(capacity_, 4096));
  index_.reserve(std::min<std::size_t>(capacity_, 4096));
}

bool SeenEvents::delivered(const EventId& id, std::uint64_t subscription) const {
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  const auto& subs = slots_[it->second].subscriptions;
  return std::find(subs.begin(), subs.end(), subscription) != subs.end();
}

SeenEvents::Offer SeenEvents::offer(const EventId& id, std::uint64_t subscription) {
  if (auto it = index_.find(id); it != index_.end()) {
    Slot& slot = slots_[it->second];
    slot.referenced = true;
    if (std::find(slot.subscriptions.begin(), slot.subscriptions.end(), subscription) !=
        slot.subscriptions.end())
      return Offer::duplicate;
    slot.subscriptions.push_back(subscription);
    return Offer::new_subscription;
  }
  std::size_t i = take_slot();
  Slot& slot = slots_[i];
  slot.id = id;
  slot.subscriptions.assign(1, subscription);
  slot.referenced = false;
  index_.emplace(id, i);
  return Offer::first_sighting;
}

std::size_t SeenEvents::take_slot() {
  if (slots_.size() < capacity_) {
    slots_.emplace_back();
    return slots_.size() - 1;
  }
  // Sweep: give every referenced slot a second chance. Terminates within two turns.
  for (;;) {
    Slot& slot = slots_[hand_];
    std::size_t i = hand_;
    hand_ = (hand_ + 1) % capacity_;
    if (slot.referenced) {
      slot.referenced = false;
      continue;
    }
    index_.erase(slot.id);
    ++evictions_;
    return i;
  }
}

}  // namespace fedai::relay
