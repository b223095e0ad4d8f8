#include "core/machine/retention.h"

#include <algorithm>

#include "core/util/binary.h"

namespace fedai::machine {

std::vector<std::string> KeepNewest::push(StateTxn& txn, std::string_view value) const {
  std::uint64_t first = 0, next = 0;
  if (auto range = txn.get(range_table, range_key); range && range->size() == 16) {
    BinaryReader r(*range);
    first = r.u64be();
    next = r.u64be();
  }
  txn.put(table, be64_key(next++), value);
  std::vector<std::string> dropped;
  for (; next - first > keep; ++first) {
    std::string key = be64_key(first);
    if (auto old = txn.get(table, key)) dropped.push_back(std::move(*old));
    txn.erase(table, key);
  }
  txn.put(range_table, range_key, be64_key(first) + be64_key(next));
  return dropped;
}

void ExpiryIndex::add(StateTxn& txn, std::int64_t at, std::string_view key) const {
  txn.put(table,
          be64_key(static_cast<std::uint64_t>(std::max<std::int64_t>(at, 0))) + std::string(key),
          "");
}

std::vector<std::string> ExpiryIndex::take_due(StateTxn& txn, std::int64_t now,
                                               std::size_t max) const {
  std::vector<std::string> due_keys;  // as stored: be64(at) ‖ key
  txn.scan(table, "", [&](std::string_view key, std::string_view) {
    if (due_keys.size() >= max || key.size() < 8) return false;
    BinaryReader r(key.substr(0, 8));
    if (static_cast<std::int64_t>(r.u64be()) >= now) return false;
    due_keys.emplace_back(key);
    return true;
  });
  std::vector<std::string> out;
  out.reserve(due_keys.size());
  for (auto& k : due_keys) {
    txn.erase(table, k);
    out.push_back(k.substr(8));
  }
  return out;
}

}  // namespace fedai::machine
