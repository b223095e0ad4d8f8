#include "core/machine/apply.h"

#include <stdexcept>

#include "core/util/binary.h"

namespace fedai::machine {
namespace {

std::string_view id_bytes(const EventId& id) {
  return {reinterpret_cast<const char*>(id.data()), id.size};
}

void prune_seen(StateTxn& tables, UnixMillis now, std::size_t budget) {
  std::vector<std::string> due;
  tables.scan(kSeenByTimeTable, "", [&](std::string_view key, std::string_view) {
    if (due.size() >= budget || key.size() != 8 + 32) return false;
    BinaryReader r(key);
    if (static_cast<UnixMillis>(r.u64be()) > now) return false;
    due.emplace_back(key);
    return true;
  });
  for (const auto& key : due) {
    tables.erase(kSeenByTimeTable, key);
    tables.erase(kSeenTable, std::string_view(key).substr(8));
  }
}

}  // namespace

std::string_view framework_table_name(TableId id) {
  switch (id) {
    case kSeenTable:
      return "_seen";
    case kSeenByTimeTable:
      return "_seen_by_time";
    case kOutboxTable:
      return "_outbox";
    default:
      throw std::invalid_argument("not a framework table");
  }
}

std::string encode_effect(const Effect& effect) {
  BinaryWriter w;
  w.bytes(effect.id);
  w.varint(effect.type);
  w.bytes(effect.payload);
  return std::move(w).data();
}

bool decode_effect(std::string_view bytes, Effect& out) {
  BinaryReader r(bytes);
  out.id = std::string(r.bytes());
  out.type = static_cast<std::uint16_t>(r.varint());
  out.payload = std::string(r.bytes());
  return r.finished();
}

ApplyOutcome apply_record(const Machine& machine, TableStore& tables, const Record& record,
                          const ApplyOptions& options) {
  // Everything a record changes, the framework's bookkeeping included, goes through one overlay:
  // a refused or duplicate record leaves the tables exactly as they were, so the log (which holds
  // only applied records) and the state always agree.
  Overlay overlay(tables);
  ApplyOutcome out = replay_record(machine, overlay, record, options);
  if (out.status == ApplyOutcome::Status::applied)
    overlay.commit();
  else
    overlay.discard();
  return out;
}

ApplyOutcome apply_record_in(const Machine& machine, Overlay& batch, const Record& record,
                             const ApplyOptions& options) {
  batch.mark();
  ApplyOutcome out = replay_record(machine, batch, record, options);
  if (out.status != ApplyOutcome::Status::applied) batch.rollback();
  return out;
}

ApplyOutcome replay_record(const Machine& machine, Overlay& txn, const Record& record,
                           const ApplyOptions& options) {
  ApplyOutcome out;
  // Only records that add a seen id prune old ones (first, so an id past its TTL is no longer a
  // duplicate): the table stays bounded and records without an id skip the scan.
  if (record.event_id) {
    prune_seen(txn, record.at, options.prune_per_record);
    if (txn.get(kSeenTable, id_bytes(*record.event_id))) {
      out.status = ApplyOutcome::Status::duplicate;
      out.refusal = protocol::refuse(protocol::ProtocolError::duplicate,
                                     "event " + record.event_id->hex() + " was seen before");
      return out;
    }
  }
  if (record.type == kEffectDone) {
    txn.erase(kOutboxTable, record.payload);
  } else {
    std::size_t before = txn.effects().size();
    Applied applied;
    try {
      applied = machine.apply(record, txn);
    } catch (const std::exception& e) {
      applied = protocol::refuse(protocol::ProtocolError::internal, e.what());
    }
    if (!applied) {
      out.status = ApplyOutcome::Status::rejected;
      out.refusal = applied.error();
      return out;
    }
    for (std::size_t i = before; i < txn.effects().size(); ++i) {
      out.effects.push_back(txn.effects()[i]);
      txn.put(kOutboxTable, out.effects.back().id, encode_effect(out.effects.back()));
    }
  }
  if (record.event_id) {
    std::string until = be64_key(static_cast<std::uint64_t>(record.at + options.seen_ttl_ms));
    txn.put(kSeenTable, id_bytes(*record.event_id), until);
    txn.put(kSeenByTimeTable, until + std::string(id_bytes(*record.event_id)), "");
  }
  return out;
}

std::vector<Effect> pending_effects(const TableStore& tables) {
  std::vector<Effect> out;
  tables.scan(kOutboxTable, "", [&](std::string_view, std::string_view value) {
    Effect e;
    if (decode_effect(value, e)) out.push_back(std::move(e));
    return true;
  });
  return out;
}

Sha256Digest state_hash(const Machine& machine, const TableStore& tables) {
  Sha256 h;
  auto hash_table = [&](TableId id, std::string_view name) {
    BinaryWriter w;
    w.bytes(name);
    h.update(w.data());
    tables.scan(id, "", [&](std::string_view key, std::string_view value) {
      BinaryWriter entry;
      entry.bytes(key);
      entry.bytes(value);
      h.update(entry.data());
      return true;
    });
  };
  auto names = machine.tables();
  for (std::size_t i = 0; i < names.size(); ++i) hash_table(static_cast<TableId>(i), names[i]);
  for (TableId id : kFrameworkTables) hash_table(id, framework_table_name(id));
  return h.finish();
}

}  // namespace fedai::machine
