// The bounds reducers keep their past within: the newest N, and keys until a time.
#include "core/machine/retention.h"

#include <gtest/gtest.h>

#include "core/machine/overlay.h"

namespace fedai::machine {
namespace {

constexpr TableId kList = 0, kRange = 1, kIndex = 2;

std::size_t rows(StateTxn& txn, TableId table) {
  std::size_t n = 0;
  txn.scan(table, "", [&](std::string_view, std::string_view) { return ++n, true; });
  return n;
}

TEST(Retention, KeepNewestDropsTheOldestFirst) {
  MemoryTables tables;
  Overlay txn(tables);
  constexpr KeepNewest kLast3{kList, kRange, "range", 3};
  std::vector<std::string> dropped;
  for (std::string v : {"a", "b", "c", "d", "e"})
    for (auto& d : kLast3.push(txn, v)) dropped.push_back(d);
  EXPECT_EQ(dropped, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(rows(txn, kList), 3u);
  std::vector<std::string> kept;
  txn.scan(kList, "", [&](std::string_view, std::string_view v) {
    kept.emplace_back(v);
    return true;
  });
  EXPECT_EQ(kept, (std::vector<std::string>{"c", "d", "e"}));
}

TEST(Retention, ExpiryTakesWhatLapsedOldestFirstAndAtMostMax) {
  MemoryTables tables;
  Overlay txn(tables);
  constexpr ExpiryIndex kLapses{kIndex};
  for (int i = 40; i >= 1; --i) {
    std::string key = "k";
    key += std::to_string(i);
    kLapses.add(txn, 1000 + i, key);
  }
  // Kept through its time: nothing has lapsed at 1001.
  EXPECT_TRUE(kLapses.take_due(txn, 1001, 16).empty());
  auto first = kLapses.take_due(txn, 1100, 16);
  ASSERT_EQ(first.size(), 16u);
  EXPECT_EQ(first.front(), "k1");
  EXPECT_EQ(first.back(), "k16");
  EXPECT_EQ(rows(txn, kIndex), 24u);
  auto some = kLapses.take_due(txn, 1020, 16);  // k17..k19 lapsed by 1020; k20 has not
  EXPECT_EQ(some, (std::vector<std::string>{"k17", "k18", "k19"}));
  EXPECT_EQ(rows(txn, kIndex), 21u);
}

}  // namespace
}  // namespace fedai::machine
