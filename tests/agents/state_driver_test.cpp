// StateDriver (agents/runtime/state_driver.h) over a real MachineStore (LMDB) and a real
// AgentLoop, with the ledger machine of tests/support.
#include "agents/runtime/state_driver.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <vector>

#include "tests/support/ledger_machine.h"
#include "tests/support/temp_dir.h"

namespace fedai::agents {
namespace {

using test::LedgerMachine;

struct Fixture {
  explicit Fixture(bool durable) {
    store::MachineStoreOptions o;
    o.path = dir.path();
    o.map_size = std::size_t{64} << 20;
    o.sync = durable;
    o.inline_when_idle = !durable;
    auto s = store::MachineStore::open(o, machine);
    if (!s) throw std::runtime_error(s.error().message);
    store = std::move(*s);
    driver = std::make_unique<StateDriver>(loop, *store, metrics, "test");
    loop.start();
  }
  ~Fixture() {
    std::promise<void> stopped;
    loop.post([&] {
      driver->stop();
      stopped.set_value();
    });
    stopped.get_future().wait();
    loop.stop();
  }
  // Runs `fn` on the strand and waits for it.
  void on_strand(const std::function<void()>& fn) {
    std::promise<void> ran;
    loop.post([&] {
      fn();
      ran.set_value();
    });
    ran.get_future().wait();
  }
  std::int64_t balance(const std::string& account) {
    std::int64_t b = 0;
    driver->read([&](const machine::StateTxn& txn) { b = LedgerMachine::balance(txn, account); });
    return b;
  }

  test::TempDir dir;
  LedgerMachine machine;
  MetricsRegistry metrics;
  AgentLoop loop;
  std::unique_ptr<store::MachineStore> store;
  std::unique_ptr<StateDriver> driver;
};

// Appends made in one pass of the loop share one commit, each keeps its own outcome (a refused
// transfer among them refuses only itself), and every `then` runs, in order.
void appends_of_one_pass_share_a_commit(bool durable) {
  Fixture f(durable);
  auto before = f.store->stats().group_commits;
  std::vector<int> order;
  std::vector<machine::ApplyOutcome::Status> statuses;
  std::promise<void> all_done;
  f.on_strand([&] {
    for (int i = 0; i < 10; ++i) {
      std::vector<machine::Record> records;
      if (i == 4)
        records.push_back(LedgerMachine::transfer("nobody", "alice", 5));  // refused
      else
        records.push_back(LedgerMachine::deposit("alice", 1));
      f.driver->append(std::move(records), [&, i](std::vector<store::AppendResult> r) {
        order.push_back(i);
        statuses.push_back(r.at(0).status);
        if (i == 9) all_done.set_value();
      });
    }
  });
  all_done.get_future().wait();
  EXPECT_EQ(f.store->stats().group_commits - before, 1u);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(statuses[static_cast<std::size_t>(i)], i == 4
                                                         ? machine::ApplyOutcome::Status::rejected
                                                         : machine::ApplyOutcome::Status::applied)
        << i;
  EXPECT_EQ(f.balance("alice"), 9);
}

TEST(StateDriver, AppendsOfOnePassShareACommit) {
  appends_of_one_pass_share_a_commit(false);
}

TEST(StateDriver, AppendsOfOnePassShareACommitDurable) {
  appends_of_one_pass_share_a_commit(true);
}

// Appends from passes that follow one another (each waiting for the last) commit one by one;
// an append from another thread reaches the store too.
TEST(StateDriver, SuccessiveAppendsAndOtherThreads) {
  Fixture f(false);
  auto before = f.store->stats().group_commits;
  std::promise<void> done;
  std::function<void(int)> next = [&](int i) {
    if (i == 3) return done.set_value();
    f.driver->append({LedgerMachine::deposit("bob", 2)},
                     [&, i](std::vector<store::AppendResult>) { next(i + 1); });
  };
  f.on_strand([&] { next(0); });
  done.get_future().wait();
  EXPECT_EQ(f.store->stats().group_commits - before, 3u);
  std::promise<void> from_outside;
  f.driver->append({LedgerMachine::deposit("bob", 4)},
                   [&](std::vector<store::AppendResult>) { from_outside.set_value(); });
  from_outside.get_future().wait();
  EXPECT_EQ(f.balance("bob"), 10);
}

// A graceful stop sends what the last pass appended to the store.
TEST(StateDriver, StopKeepsWhatThisPassAppended) {
  Fixture f(false);
  std::int64_t at_stop = -1;
  f.on_strand([&] {
    f.driver->append({LedgerMachine::deposit("carol", 7)});
    f.driver->stop();
    at_stop = f.balance("carol");  // in the same pass: committed by stop() itself
  });
  EXPECT_EQ(at_stop, 7);
}

}  // namespace
}  // namespace fedai::agents
