// The event-sourced state machine's vocabulary: records, effects, and the transaction a reducer
// sees.
//
// An agent's state is a fold over its log. A Record is one thing that happened (a verified event
// received or sent, a timer that fired, an HTTP outcome, a payment that settled); its time is part
// of it, so applying the same records to the same state always gives the same state. A Machine is
// the agent's reducers: apply(record, txn) reads and writes projection tables and emits effects
// (publish this, POST that) through the StateTxn, and nothing else. Where the tables live (LMDB in
// fedai_store, memory in the simulator and tests) is the StateTxn's business.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/nostr/event.h"
#include "core/protocol/refusal.h"

namespace fedai::machine {

using UnixMillis = std::int64_t;

// What a reducer says of a record: taken, or refused and why (nips/F-06).
using Applied = Result<void, protocol::Refusal>;

struct Record {
  std::uint16_t type = 0;  // the machine's own numbering
  UnixMillis at = 0;       // when it happened: the only clock reducers see
  // For records that carry a Nostr event: its id. The store refuses a second record with the same
  // id while the first is remembered (duplicates change nothing).
  std::optional<EventId> event_id;
  std::string payload;  // the machine's binary encoding of what happened

  bool operator==(const Record&) const = default;
};

// Something to do after the transaction commits. `id` is the idempotency key: emitting an effect
// whose id is pending replaces it; the runtime marks it done with a later record.
struct Effect {
  std::string id;
  std::uint16_t type = 0;
  std::string payload;
  bool operator==(const Effect&) const = default;
};

using TableId = std::uint8_t;

class StateTxn {
 public:
  virtual ~StateTxn() = default;
  virtual std::optional<std::string> get(TableId table, std::string_view key) const = 0;
  virtual void put(TableId table, std::string_view key, std::string_view value) = 0;
  // Removes the key if it is there (no answer: knowing would cost a read, and reducers don't ask).
  virtual void erase(TableId table, std::string_view key) = 0;
  // Visits entries whose key starts with `prefix`, in key order, until `visit` returns false.
  virtual void scan(
      TableId table, std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) const = 0;
  virtual void emit(const Effect& effect) = 0;
};

class Machine {
 public:
  virtual ~Machine() = default;
  // Stored with the log; a store refuses to open with a different machine.
  virtual std::string_view name() const = 0;
  // The version of its records and tables, stored with the name: a store written by another
  // version is refused rather than misread. Bumped when a record's or a table's encoding changes.
  virtual std::uint32_t version() const { return 1; }
  // The projection tables, by TableId (their index here).
  virtual std::span<const std::string_view> tables() const = 0;
  // The reducer: a deterministic function of the transaction's state and the record. A record it
  // does not take is refused with its F-06 code (a value, carried to whoever appended it: an HTTP
  // handler answers with the code's status); the store then keeps the state unchanged. It throws
  // only on programming errors (a malformed record), which the store refuses as ERR_INTERNAL.
  virtual Applied apply(const Record& record, StateTxn& txn) const = 0;
};

}  // namespace fedai::machine
