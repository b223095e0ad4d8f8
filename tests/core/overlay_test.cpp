// The Overlay a group commit buffers its records in: reads see the record's own writes, a
// savepoint rolls one record back, and the cache of the base's answers never serves a stale value.
#include "core/machine/overlay.h"

#include <gtest/gtest.h>

namespace fedai::machine {
namespace {

constexpr TableId kT = 0;

TEST(Overlay, ReadsItsOwnWritesAndRollsBackToTheBase) {
  MemoryTables base;
  base.put(kT, "k", "base");
  Overlay o(base);
  EXPECT_EQ(o.get(kT, "k"), "base");  // now cached
  o.mark();
  o.put(kT, "k", "mine");
  EXPECT_EQ(o.get(kT, "k"), "mine");
  o.erase(kT, "k");
  EXPECT_EQ(o.get(kT, "k"), std::nullopt);
  o.rollback();
  EXPECT_EQ(o.get(kT, "k"), "base");
  EXPECT_EQ(base.get(kT, "k"), "base");  // nothing reached the base
}

TEST(Overlay, TheReadCacheFollowsTheBaseAcrossCommits) {
  MemoryTables base;
  base.put(kT, "k", "one");
  Overlay o(base);
  EXPECT_EQ(o.get(kT, "absent"), std::nullopt);  // a miss is cached too
  EXPECT_EQ(o.get(kT, "k"), "one");
  o.put(kT, "k", "two");
  o.commit();
  EXPECT_EQ(base.get(kT, "k"), "two");
  // The base changes under a committed overlay (the next group commit writes there too).
  base.put(kT, "k", "three");
  base.put(kT, "absent", "here");
  EXPECT_EQ(o.get(kT, "k"), "three");
  EXPECT_EQ(o.get(kT, "absent"), "here");
  o.discard();
  base.put(kT, "k", "four");
  EXPECT_EQ(o.get(kT, "k"), "four");
}

}  // namespace
}  // namespace fedai::machine
