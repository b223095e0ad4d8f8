// How a record is applied, the same way wherever the tables live (LMDB, memory):
//
// 1. A record that carries an event id already remembered is a duplicate: nothing changes.
// 2. Seen ids older than the TTL (by record time) are forgotten, a few per record, so the seen
//    table stays bounded and pruning is a deterministic function of the log.
// 3. The framework's own record type kEffectDone removes an effect from the outbox.
// 4. Otherwise the machine's reducer runs in an Overlay; if it refuses the record (or throws, a
//    programming error: ERR_INTERNAL), nothing it wrote survives. Effects it emitted go to the
//    outbox under their ids.
//
// Replaying the same records from empty tables therefore gives the same tables, which
// state_hash() summarises.
#pragma once

#include <string>
#include <vector>

#include "core/machine/overlay.h"
#include "core/machine/state.h"
#include "core/nostr/sha256.h"

namespace fedai::machine {

// Record type reserved by the framework: payload is the id of an effect that was carried out.
inline constexpr std::uint16_t kEffectDone = 0xffff;

// Tables the framework keeps beside the machine's own.
inline constexpr TableId kSeenTable = 250;        // event id -> remembered until (ms, be64)
inline constexpr TableId kSeenByTimeTable = 251;  // until (be64) ‖ event id -> ""
inline constexpr TableId kOutboxTable = 252;      // effect id -> effect
inline constexpr TableId kFrameworkTables[] = {kSeenTable, kSeenByTimeTable, kOutboxTable};
std::string_view framework_table_name(TableId id);

struct ApplyOptions {
  UnixMillis seen_ttl_ms = 15 * 60 * 1000;
  std::size_t prune_per_record = 16;
};

struct ApplyOutcome {
  enum class Status { applied, duplicate, rejected };
  Status status = Status::applied;
  protocol::Refusal refusal;    // unless applied: why (the reducer's F-06 code, or duplicate)
  std::vector<Effect> effects;  // emitted by this record
};

ApplyOutcome apply_record(const Machine& machine, TableStore& tables, const Record& record,
                          const ApplyOptions& options = {});
// The same inside a batch: `batch` buffers many records (a group commit); this record's changes
// are kept only if it applied (mark/rollback).
ApplyOutcome apply_record_in(const Machine& machine, Overlay& batch, const Record& record,
                             const ApplyOptions& options = {});

// The same rules without per-record isolation, for replaying records that applied before: `txn`
// is typically one Overlay for a whole chunk of the log (a write-back cache), so replay touches
// the tables once per key per chunk. A record that throws here means replay is not deterministic;
// what it wrote before throwing stays in `txn`, and the caller abandons the replay.
ApplyOutcome replay_record(const Machine& machine, Overlay& txn, const Record& record,
                           const ApplyOptions& options = {});

// Effects waiting in the outbox, in id order.
std::vector<Effect> pending_effects(const TableStore& tables);

// SHA-256 over every table (the machine's in id order, then the framework's), each entry as
// length-prefixed key and value: equal hashes mean equal state.
Sha256Digest state_hash(const Machine& machine, const TableStore& tables);

std::string encode_effect(const Effect& effect);
bool decode_effect(std::string_view bytes, Effect& out);

}  // namespace fedai::machine
