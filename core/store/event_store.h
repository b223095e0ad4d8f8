// The Nostr event store behind fedai's embedded relay: events in LMDB with the indexes that let
// a filter be served without scanning everything.
//
// Semantics (NIP-01, NIP-09, NIP-40):
// - regular events are kept; a second copy of an id is a duplicate;
// - replaceable and addressable events keep only the newest per coordinate (kind, pubkey, d);
//   on equal created_at the lowest id wins;
// - ephemeral events are never stored (the relay fans them out live only);
// - an event whose NIP-40 expiration has passed is refused, never served, and purged;
// - a kind-5 deletion removes the author's events it names (`e` ids, `a` coordinates up to the
//   deletion's created_at) and keeps them from being stored again.
//
// Query order is NIP-01's: newest created_at first, and for equal created_at lowest id first;
// `limit` applies per filter, and the union of a REQ's filters is returned once each.
//
// Writes go in batches, one LMDB transaction per batch (the relay's writer thread groups them);
// any number of threads may query concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/nostr/event.h"
#include "core/nostr/filter.h"
#include "core/util/result.h"

namespace fedai::store {

struct EventStoreOptions {
  std::string path;                              // directory of the LMDB environment
  std::size_t map_size = std::size_t{64} << 30;  // address space reserved; the file grows
  bool sync = true;                              // fsync each batch before answering OK
  std::uint32_t default_limit = 500;             // for a filter without `limit`
  std::uint32_t max_limit = 5000;                // cap on any filter's `limit`
};

enum class WriteStatus {
  stored,      // new, now served
  duplicate,   // the same id is already stored
  superseded,  // a newer version of this replaceable/addressable event is stored
  deleted,     // a stored kind-5 deletion names this event
  expired,     // its NIP-40 expiration has passed
  rejected,    // not storable (ephemeral kind, malformed expiration)
};

struct WriteResult {
  WriteStatus status = WriteStatus::stored;
  // For an OK reply: "" when stored, else a NIP-01 prefixed reason ("duplicate: ...").
  std::string message;
  // Events this write removed (older versions, deletion targets): the relay tells no one,
  // but tests and metrics do.
  std::vector<EventId> removed;
  bool accepted() const { return status == WriteStatus::stored; }
};

struct QueryOptions {
  // Stop after examining this many index entries (a guard against filters that scan a lot and
  // match little); `truncated` says so.
  std::size_t max_scanned = 1'000'000;
};

struct QueryStats {
  std::size_t returned = 0;
  std::size_t scanned = 0;
  bool truncated = false;
};

struct StoreStats {
  std::uint64_t events = 0;
  std::uint64_t deleted_ids = 0;
  std::uint64_t expiring = 0;
  std::uint64_t map_used_bytes = 0;
};

class EventStore {
 public:
  // Opens or creates the store; the error says why (path, permissions, a bad LMDB file).
  static Result<std::unique_ptr<EventStore>> open(const EventStoreOptions& options);
  virtual ~EventStore() = default;

  // Stores verified events in one transaction; one result per event, in order. `decided`, when
  // given, hears the results once every event is decided and before the transaction commits
  // (with sync, before its fsync): the relay fans accepted events out while the disk works.
  using Decided = std::function<void(std::span<const WriteResult>)>;
  virtual std::vector<WriteResult> write(std::span<const Event> events, UnixSeconds now,
                                         const Decided& decided = {}) = 0;

  // Calls `sink` with each stored event matching any filter, serialized as on the wire, in NIP-01
  // order, each event once. `sink` returns false to stop early.
  using Sink = std::function<bool(const EventId& id, std::string_view event_json)>;
  virtual QueryStats query(const std::vector<Filter>& filters, UnixSeconds now, const Sink& sink,
                           const QueryOptions& options = {}) const = 0;

  // NIP-45: how many stored events match any filter (each at most once; limits ignored).
  virtual std::uint64_t count(const std::vector<Filter>& filters, UnixSeconds now) const = 0;

  // The stored event with this id, as JSON.
  virtual std::optional<std::string> get(const EventId& id) const = 0;

  // Removes events whose expiration has passed; returns how many.
  virtual std::size_t purge_expired(UnixSeconds now) = 0;

  virtual StoreStats stats() const = 0;

  // The limit a filter gets: its own, else the default, never above the maximum.
  virtual std::uint32_t effective_limit(const Filter& filter) const = 0;
};

std::string_view to_string(WriteStatus status);

}  // namespace fedai::store
