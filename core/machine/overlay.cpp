#include "core/machine/overlay.h"

namespace fedai::machine {

std::optional<std::string> Overlay::get(TableId table, std::string_view key) const {
  auto it = writes_.find(KeyRef(table, key));
  if (it != writes_.end()) return it->second;
  // The base doesn't change while the overlay lives (writes go to writes_ until commit), so
  // what it said once holds: hot keys (a peer, the load, the policy) are read from LMDB once
  // per group commit rather than once per record.
  auto cached = reads_.find(KeyRef(table, key));
  if (cached != reads_.end()) return cached->second;
  auto value = base_.get(table, key);
  reads_.emplace(Key(table, std::string(key)), value);
  return value;
}

std::optional<std::string>& Overlay::write_slot(TableId table, std::string_view key) {
  // One lookup for both the journal and the write (the hot path of every reducer).
  auto [it, inserted] = writes_.try_emplace(Key(table, std::string(key)));
  if (marked_) {
    if (inserted)
      undo_.emplace_back(it->first, std::nullopt);
    else
      undo_.emplace_back(it->first, it->second);
  }
  return it->second;
}

void Overlay::put(TableId table, std::string_view key, std::string_view value) {
  write_slot(table, key).emplace(value);
}

void Overlay::erase(TableId table, std::string_view key) {
  // The commit deletes from the base whether or not the key was there.
  write_slot(table, key).reset();
}

void Overlay::mark() {
  marked_ = true;
  undo_.clear();
  effects_at_mark_ = effects_.size();
}

void Overlay::rollback() {
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    if (it->second)
      writes_[it->first] = *it->second;
    else
      writes_.erase(it->first);
  }
  undo_.clear();
  effects_.resize(effects_at_mark_);
}

void Overlay::scan(TableId table, std::string_view prefix,
                   const std::function<bool(std::string_view, std::string_view)>& visit) const {
  // Merge the base's entries with this record's writes, in key order.
  auto it = writes_.lower_bound(KeyRef(table, prefix));
  auto pending_in_range = [&] {
    return it != writes_.end() && it->first.first == table && it->first.second.starts_with(prefix);
  };
  bool go_on = true;
  auto flush_before = [&](std::string_view bound, bool inclusive) {
    while (go_on && pending_in_range() &&
           (it->first.second < bound || (inclusive && it->first.second == bound))) {
      if (it->second) go_on = visit(it->first.second, *it->second);
      ++it;
    }
  };
  base_.scan(table, prefix, [&](std::string_view key, std::string_view value) {
    flush_before(key, false);
    if (!go_on) return false;
    if (pending_in_range() && it->first.second == key) {  // overwritten or erased here
      if (it->second) go_on = visit(key, *it->second);
      ++it;
    } else {
      go_on = visit(key, value);
    }
    return go_on;
  });
  while (go_on && pending_in_range()) {
    if (it->second) go_on = visit(it->first.second, *it->second);
    ++it;
  }
}

std::vector<Effect> Overlay::commit() {
  for (auto& [key, value] : writes_) {
    if (value)
      base_.put(key.first, key.second, *value);
    else
      base_.erase(key.first, key.second);
  }
  writes_.clear();
  reads_.clear();  // the base changed
  undo_.clear();
  effects_at_mark_ = 0;
  return std::exchange(effects_, {});
}

void Overlay::discard() {
  writes_.clear();
  reads_.clear();
  undo_.clear();
  effects_.clear();
  effects_at_mark_ = 0;
}

std::optional<std::string> MemoryTables::get(TableId table, std::string_view key) const {
  auto t = tables_.find(table);
  if (t == tables_.end()) return std::nullopt;
  auto it = t->second.find(key);
  if (it == t->second.end()) return std::nullopt;
  return it->second;
}

void MemoryTables::put(TableId table, std::string_view key, std::string_view value) {
  tables_[table].insert_or_assign(std::string(key), std::string(value));
}

bool MemoryTables::erase(TableId table, std::string_view key) {
  auto t = tables_.find(table);
  if (t == tables_.end()) return false;
  auto it = t->second.find(key);
  if (it == t->second.end()) return false;
  t->second.erase(it);
  return true;
}

void MemoryTables::scan(
    TableId table, std::string_view prefix,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  auto t = tables_.find(table);
  if (t == tables_.end()) return;
  for (auto it = t->second.lower_bound(prefix); it != t->second.end(); ++it) {
    if (!it->first.starts_with(prefix) || !visit(it->first, it->second)) return;
  }
}

}  // namespace fedai::machine
