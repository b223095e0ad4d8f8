// Bounds for projections that would otherwise grow with every job: what a reducer keeps of the
// past, and for how long. Both are plain tables, so they replay and checkpoint like any other.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/machine/state.h"

namespace fedai::machine {

// The newest `keep` values pushed, oldest first. push() returns the values that fell out, for the
// caller to forget what they name. Entries live in `table` under be64 sequence keys; the range
// (first, next) is stored under `range_key` in `range_table`.
struct KeepNewest {
  TableId table;
  TableId range_table;
  std::string_view range_key;
  std::uint64_t keep;

  std::vector<std::string> push(StateTxn& txn, std::string_view value) const;
};

// Keys kept until a time (Unix seconds): entries under be64(at) ‖ key in `table`, so the lapsed
// ones come first. take_due() removes and returns at most `max` keys whose time has passed
// (at < now), oldest first: a reducer calls it as it goes, so that no one record pays for a
// backlog.
struct ExpiryIndex {
  TableId table;

  void add(StateTxn& txn, std::int64_t at, std::string_view key) const;
  std::vector<std::string> take_due(StateTxn& txn, std::int64_t now, std::size_t max) const;
};

}  // namespace fedai::machine
