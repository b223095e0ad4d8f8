#include "tests/support/naive_event_store.h"

#include <algorithm>
#include <set>

#include "core/nostr/coordinate.h"
#include "core/nostr/nip40.h"

namespace fedai::test {
namespace {

// NIP-01 order: newest first, lowest id first among equals.
bool before(const Event* a, const Event* b) {
  if (a->created_at != b->created_at) return a->created_at > b->created_at;
  return a->id < b->id;
}

}  // namespace

std::vector<store::WriteResult> NaiveEventStore::write(std::span<const Event> events,
                                                       UnixSeconds now, const Decided& decided) {
  std::vector<store::WriteResult> out;
  for (const Event& e : events) out.push_back(write_one(e, now));
  if (decided) decided(out);
  return out;
}

store::WriteResult NaiveEventStore::write_one(const Event& e, UnixSeconds now) {
  using store::WriteStatus;
  store::WriteResult r;
  auto refuse = [&](WriteStatus s) {
    r.status = s;
    r.message = std::string(store::to_string(s));
    return r;
  };
  if (is_ephemeral(e.kind)) return refuse(WriteStatus::rejected);
  auto exp = expiration_of(e);
  if (!exp) return refuse(WriteStatus::rejected);
  if (*exp && now >= **exp) return refuse(WriteStatus::expired);
  for (const Event& s : events_)
    if (s.id == e.id) return refuse(WriteStatus::duplicate);
  if (auto it = deleted_ids_.find(e.id); it != deleted_ids_.end() && it->second == e.pubkey)
    return refuse(WriteStatus::deleted);
  auto coord = coordinate_of(e);
  if (coord) {
    if (auto it = deleted_coords_.find(coord->to_string());
        it != deleted_coords_.end() && it->second >= e.created_at)
      return refuse(WriteStatus::deleted);
    for (auto it = events_.begin(); it != events_.end(); ++it) {
      if (coordinate_of(*it) != coord) continue;
      bool old_wins =
          it->created_at > e.created_at || (it->created_at == e.created_at && it->id < e.id);
      if (old_wins && !is_expired(*it, now)) return refuse(WriteStatus::superseded);
      r.removed.push_back(it->id);
      events_.erase(it);
      break;
    }
  }
  if (e.kind == 5) {
    for (const Tag& t : e.tags) {
      if (t.size() < 2) continue;
      if (t[0] == "e") {
        auto id = EventId::from_hex(t[1]);
        if (!id) continue;
        deleted_ids_[*id] = e.pubkey;
        std::erase_if(events_, [&](const Event& s) {
          bool gone = s.id == *id && s.pubkey == e.pubkey && s.kind != 5;
          if (gone) r.removed.push_back(s.id);
          return gone;
        });
      } else if (t[0] == "a") {
        auto c = Coordinate::parse(t[1]);
        if (!c || c->pubkey != e.pubkey) continue;
        auto& until = deleted_coords_[c->to_string()];
        until = std::max(until, e.created_at);
        std::erase_if(events_, [&](const Event& s) {
          bool gone = coordinate_of(s) == *c && s.created_at <= e.created_at;
          if (gone) r.removed.push_back(s.id);
          return gone;
        });
      }
    }
  }
  events_.push_back(e);
  return r;
}

std::vector<const Event*> NaiveEventStore::matching(const Filter& f, UnixSeconds now) const {
  std::vector<const Event*> out;
  for (const Event& e : events_)
    if (!is_expired(e, now) && matches(f, e)) out.push_back(&e);
  std::sort(out.begin(), out.end(), before);
  return out;
}

store::QueryStats NaiveEventStore::query(const std::vector<Filter>& filters, UnixSeconds now,
                                         const Sink& sink, const store::QueryOptions&) const {
  std::vector<const Event*> all;
  for (const Filter& f : filters) {
    auto m = matching(f, now);
    if (m.size() > effective_limit(f)) m.resize(effective_limit(f));
    all.insert(all.end(), m.begin(), m.end());
  }
  std::sort(all.begin(), all.end(), before);
  all.erase(std::unique(all.begin(), all.end()), all.end());
  store::QueryStats stats;
  for (const Event* e : all) {
    ++stats.returned;
    if (!sink(e->id, to_json(*e))) break;
  }
  return stats;
}

std::uint64_t NaiveEventStore::count(const std::vector<Filter>& filters, UnixSeconds now) const {
  std::set<EventId> ids;
  for (const Filter& f : filters)
    for (const Event* e : matching(f, now)) ids.insert(e->id);
  return ids.size();
}

std::optional<std::string> NaiveEventStore::get(const EventId& id) const {
  for (const Event& e : events_)
    if (e.id == id) return to_json(e);
  return std::nullopt;
}

std::size_t NaiveEventStore::purge_expired(UnixSeconds now) {
  return std::erase_if(events_, [&](const Event& e) { return is_expired(e, now); });
}

store::StoreStats NaiveEventStore::stats() const {
  store::StoreStats s;
  s.events = events_.size();
  s.deleted_ids = deleted_ids_.size();
  return s;
}

}  // namespace fedai::test
