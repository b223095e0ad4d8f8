// A reference EventStore: every event in a vector, every query a full scan through
// fedai::matches. Slow and obviously right; the LMDB store must agree with it.
#pragma once

#include <map>
#include <vector>

#include "core/store/event_store.h"

namespace fedai::test {

class NaiveEventStore final : public store::EventStore {
 public:
  explicit NaiveEventStore(std::uint32_t default_limit = 500, std::uint32_t max_limit = 5000)
      : default_limit_(default_limit), max_limit_(max_limit) {}

  std::vector<store::WriteResult> write(std::span<const Event> events, UnixSeconds now,
                                        const Decided& decided = {}) override;
  store::QueryStats query(const std::vector<Filter>& filters, UnixSeconds now, const Sink& sink,
                          const store::QueryOptions& options = {}) const override;
  std::uint64_t count(const std::vector<Filter>& filters, UnixSeconds now) const override;
  std::optional<std::string> get(const EventId& id) const override;
  std::size_t purge_expired(UnixSeconds now) override;
  store::StoreStats stats() const override;
  std::uint32_t effective_limit(const Filter& f) const override {
    return std::min(f.limit.value_or(default_limit_), max_limit_);
  }

 private:
  store::WriteResult write_one(const Event& e, UnixSeconds now);
  std::vector<const Event*> matching(const Filter& f, UnixSeconds now) const;

  std::uint32_t default_limit_, max_limit_;
  std::vector<Event> events_;
  std::map<EventId, PublicKey> deleted_ids_;
  std::map<std::string, UnixSeconds> deleted_coords_;  // coordinate string -> deleted up to
};

}  // namespace fedai::test
