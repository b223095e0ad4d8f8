// The event-sourced state machine on LMDB: group commit, refusal, duplicates, effects, replay,
// and a crash test that kills a writer with SIGKILL at 50 random moments.
#include "core/store/machine_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/node/node_machine.h"
#include "tests/support/ledger_machine.h"
#include "tests/support/temp_dir.h"

namespace fedai {
namespace {

using machine::ApplyOutcome;
using machine::Record;
using test::LedgerMachine;
using Status = ApplyOutcome::Status;

std::unique_ptr<store::MachineStore> open_store(const std::string& path, const machine::Machine& m,
                                                std::uint64_t checkpoint_every = 0) {
  store::MachineStoreOptions o{path};
  o.checkpoint_every = checkpoint_every;
  auto s = store::MachineStore::open(o, m);
  if (!s) throw std::runtime_error(s.error().to_string());
  return std::move(*s);
}

std::int64_t balance(const store::MachineStore& s, const std::string& account) {
  std::int64_t out = 0;
  s.read([&](const machine::TableStore& t) {
    auto v = t.get(LedgerMachine::kBalances, account);
    out = v ? std::stoll(*v) : 0;
  });
  return out;
}

Record with_id(Record r, std::uint8_t tag) {
  EventId id;
  id.bytes.fill(tag);
  r.event_id = id;
  return r;
}

TEST(MachineStore, AppliesRefusesAndLogsOnlyWhatApplied) {
  test::TempDir dir;
  LedgerMachine m;
  auto s = open_store(dir.sub("db"), m);
  auto r = s->append({LedgerMachine::deposit("a", 30), LedgerMachine::transfer("a", "b", 50),
                      LedgerMachine::transfer("a", "b", 20)});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].status, Status::applied);
  EXPECT_EQ(r[1].status, Status::rejected);
  EXPECT_EQ(r[1].refusal.code, protocol::ProtocolError::invalid);
  EXPECT_EQ(r[1].refusal.reason.to_string(), "invalid: insufficient balance");
  EXPECT_EQ(r[2].status, Status::applied);
  EXPECT_EQ(r[0].seq, 0u);
  EXPECT_EQ(r[2].seq, 1u);
  EXPECT_EQ(balance(*s, "a"), 10);
  EXPECT_EQ(balance(*s, "b"), 20);
  EXPECT_EQ(s->stats().records, 2u);
}

TEST(MachineStore, DuplicateEventIdsChangeNothing) {
  test::TempDir dir;
  LedgerMachine m;
  auto s = open_store(dir.sub("db"), m);
  auto first = s->append({with_id(LedgerMachine::deposit("a", 5, 1000), 7)});
  EXPECT_EQ(first[0].status, Status::applied);
  auto hash = s->state_hash();
  auto again = s->append({with_id(LedgerMachine::deposit("a", 5, 2000), 7)});
  EXPECT_EQ(again[0].status, Status::duplicate);
  EXPECT_EQ(s->state_hash(), hash);
  EXPECT_EQ(balance(*s, "a"), 5);
  // Once the id is forgotten (TTL, by record time), the event may apply again.
  machine::UnixMillis later = 1000 + machine::ApplyOptions{}.seen_ttl_ms + 1;
  s->append({LedgerMachine::deposit("z", 1, later)});  // prunes the old id
  EXPECT_EQ(s->append({with_id(LedgerMachine::deposit("a", 5, later), 7)})[0].status,
            Status::applied);
}

TEST(MachineStore, EffectsStayInTheOutboxUntilDone) {
  test::TempDir dir;
  LedgerMachine m;
  auto s = open_store(dir.sub("db"), m);
  auto r = s->append({LedgerMachine::deposit("a", 10), LedgerMachine::deposit("a", 3)});
  ASSERT_EQ(r[0].effects.size(), 1u);
  EXPECT_EQ(r[0].effects[0].id, "notify:a:1");
  EXPECT_TRUE(r[1].effects.empty());
  auto pending = s->pending_effects();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0], r[0].effects[0]);
  s->append({Record{machine::kEffectDone, 0, std::nullopt, "notify:a:1"}});
  EXPECT_TRUE(s->pending_effects().empty());
}

TEST(MachineStore, RefusesAnotherMachinesDatabase) {
  test::TempDir dir;
  LedgerMachine m;
  { auto s = open_store(dir.sub("db"), m); }
  struct Other final : machine::Machine {
    std::string_view name() const override { return "other"; }
    std::span<const std::string_view> tables() const override { return {}; }
    machine::Applied apply(const Record&, machine::StateTxn&) const override { return {}; }
  } other;
  auto s = store::MachineStore::open({dir.sub("db")}, other);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("belongs to 'fedai-machine-1/ledger'"), std::string::npos)
      << s.error().message;
}

// A machine whose records changed bumps its version: a database the older one wrote is refused
// with a reason, not misread; `fedai db` still finds which machine wrote it.
TEST(MachineStore, RefusesADatabaseAnotherVersionWrote) {
  test::TempDir dir;
  LedgerMachine v1;
  { auto s = open_store(dir.sub("db"), v1); }
  struct LedgerV2 final : machine::Machine {
    LedgerMachine inner;
    std::string_view name() const override { return inner.name(); }
    std::span<const std::string_view> tables() const override { return inner.tables(); }
    machine::Applied apply(const Record& r, machine::StateTxn& t) const override {
      return inner.apply(r, t);
    }
    std::uint32_t version() const override { return 2; }
  } v2;
  auto s = store::MachineStore::open({dir.sub("db")}, v2);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("belongs to 'fedai-machine-1/ledger', not "
                                   "'fedai-machine-1/ledger@2': another version of fedai wrote it"),
            std::string::npos)
      << s.error().message;

  { auto fresh = open_store(dir.sub("db2"), v2); }
  EXPECT_EQ(*store::MachineStore::machine_name(dir.sub("db2")), "ledger");
  auto old = store::MachineStore::open({dir.sub("db2")}, v1);
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().message.find("another version of fedai wrote it"), std::string::npos)
      << old.error().message;
}

TEST(MachineStore, GroupCommitsConcurrentAppends) {
  test::TempDir dir;
  LedgerMachine m;
  auto s = open_store(dir.sub("db"), m);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i)
        s->append({LedgerMachine::deposit("acct" + std::to_string(t), 1)});
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(balance(*s, "acct" + std::to_string(t)), 250);
  auto stats = s->stats();
  EXPECT_EQ(stats.records, 1000u);
  EXPECT_LE(stats.group_commits, 1000u);
}

// Without fsync, an append that finds the writer idle commits on the caller's thread, others queue
// for the writer: mixed, from several threads, nothing is lost or applied twice, the log has
// every record once, and a replay gives the live state.
TEST(MachineStore, InlineCommitsWhenIdleMixWithGroupCommits) {
  test::TempDir dir;
  LedgerMachine m;
  store::MachineStoreOptions o{dir.sub("db")};
  o.sync = false;
  o.inline_when_idle = true;
  auto opened = store::MachineStore::open(o, m);
  ASSERT_TRUE(opened) << opened.error().to_string();
  auto& s = *opened;
  std::vector<std::thread> threads;
  std::atomic<int> async_done{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        if (i % 2) {
          s->append({LedgerMachine::deposit("acct" + std::to_string(t), 1)});
        } else {
          s->append_async({LedgerMachine::deposit("acct" + std::to_string(t), 1)},
                          [&](std::vector<store::AppendResult> r) {
                            EXPECT_EQ(r.at(0).status, Status::applied);
                            ++async_done;
                          });
        }
      }
    });
  for (auto& th : threads) th.join();
  s->append({});  // behind every queued append: all are committed now
  EXPECT_EQ(async_done.load(), 500);
  for (int t = 0; t < 4; ++t) EXPECT_EQ(balance(*s, "acct" + std::to_string(t)), 250);
  EXPECT_EQ(s->stats().records, 1000u);
  std::set<std::uint64_t> seqs;
  s->for_each_record(0, [&](std::uint64_t seq, const machine::Record&) {
    seqs.insert(seq);
    return true;
  });
  EXPECT_EQ(seqs.size(), 1000u);
  auto replay = s->replay_into(dir.sub("replay"));
  ASSERT_TRUE(replay) << replay.error().to_string();
  EXPECT_EQ(replay->hash, s->state_hash());
}

// Random sequences: duplicates, refusals, out-of-order times, effects and their completion. The
// live LMDB state, a replay of its log (from the last checkpoint, when checkpoints are taken), and
// the same records applied to memory agree.
class MachineStoreReplay : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(MachineStoreReplay, GivesTheLiveStateHash) {
  LedgerMachine m;
  for (int seed = 1; seed <= 20; ++seed) {
    test::TempDir dir;
    auto s = open_store(dir.sub("db"), m, GetParam());
    machine::MemoryTables memory;
    std::mt19937 rng(seed);
    std::vector<std::string> emitted;
    const char* accounts[] = {"a", "b", "c"};
    for (int round = 0; round < 30; ++round) {
      std::vector<Record> batch;
      for (int i = 0; i < 1 + static_cast<int>(rng() % 10); ++i) {
        machine::UnixMillis at = 1'000'000 + static_cast<machine::UnixMillis>(rng() % 2'000'000);
        Record r = rng() % 3 ? LedgerMachine::deposit(accounts[rng() % 3], rng() % 40, at)
                             : LedgerMachine::transfer(accounts[rng() % 3], accounts[rng() % 3],
                                                       rng() % 40, at);
        if (rng() % 2) r = with_id(r, static_cast<std::uint8_t>(rng() % 40));
        if (rng() % 8 == 0 && !emitted.empty())
          r = Record{machine::kEffectDone, at, std::nullopt, emitted[rng() % emitted.size()]};
        batch.push_back(r);
      }
      auto results = s->append(batch);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        auto mem = machine::apply_record(m, memory, batch[i]);
        ASSERT_EQ(mem.status, results[i].status) << "seed " << seed;
        for (const auto& e : results[i].effects) emitted.push_back(e.id);
      }
    }
    auto live = s->state_hash();
    EXPECT_EQ(live, machine::state_hash(m, memory)) << "seed " << seed;
    auto replay = s->replay_into(dir.sub("replay"));
    ASSERT_TRUE(replay) << replay.error().to_string();
    EXPECT_EQ(replay->hash, live) << "seed " << seed;
    EXPECT_EQ(replay->records, s->stats().records);
    EXPECT_EQ(replay->checkpoint_seq, s->stats().checkpoint_seq);
    if (GetParam() != 0) {
      EXPECT_GT(replay->checkpoint_seq, 0u) << "seed " << seed;
    }
  }
}

std::string checkpoint_name(const ::testing::TestParamInfo<std::uint64_t>& p) {
  return p.param == 0 ? std::string("WholeLog") : "Every" + std::to_string(p.param);
}
INSTANTIATE_TEST_SUITE_P(Checkpoints, MachineStoreReplay,
                         ::testing::Values(std::uint64_t{0}, std::uint64_t{37}), checkpoint_name);

// With checkpoints the log holds only the records since the last one, the file stops growing with
// the history, and a reopened store carries on from the checkpoint it left.
TEST(MachineStore, CheckpointsBoundTheLogAndTheFile) {
  LedgerMachine m;
  test::TempDir dir;
  auto fill = [&](store::MachineStore& s, int from, int n) {
    for (int i = from; i < from + n; i += 50) {
      std::vector<Record> batch;
      for (int j = i; j < i + 50; ++j)
        batch.push_back(LedgerMachine::deposit("acct" + std::to_string(j % 7), 1, 1'000'000 + j));
      for (const auto& r : s.append(batch)) ASSERT_EQ(r.status, Status::applied);
    }
  };
  std::uint64_t used_early = 0, used_late = 0;
  {
    auto s = open_store(dir.sub("db"), m, 1000);
    fill(*s, 0, 5'000);
    used_early = s->stats().map_used_bytes;
    fill(*s, 5'000, 45'000);
    auto st = s->stats();
    used_late = st.map_used_bytes;
    EXPECT_EQ(st.next_seq, 50'000u);
    EXPECT_EQ(st.checkpoint_seq, 50'000u);  // 50 records a commit: a checkpoint at each 1,000
    EXPECT_EQ(st.records, 0u);
  }
  // Ten times the history in about the same space (pages the old log used are reused).
  EXPECT_LT(used_late, used_early * 2) << used_early << " -> " << used_late;

  auto s = open_store(dir.sub("db"), m, 1000);
  fill(*s, 50'000, 500);
  auto st = s->stats();
  EXPECT_EQ(st.checkpoint_seq, 50'000u);
  EXPECT_EQ(st.records, 500u);
  std::int64_t total = 0;
  for (int a = 0; a < 7; ++a) total += balance(*s, "acct" + std::to_string(a));
  EXPECT_EQ(total, 50'500);
  std::uint64_t first = 0;
  s->for_each_record(0, [&](std::uint64_t seq, const machine::Record&) {
    first = seq;
    return false;
  });
  EXPECT_EQ(first, 50'000u);
  auto replay = s->replay_into(dir.sub("replay"));
  ASSERT_TRUE(replay) << replay.error().to_string();
  EXPECT_EQ(replay->hash, s->state_hash());
  EXPECT_EQ(replay->records, 500u);

  // Without checkpoints the same history keeps growing the file.
  auto whole = open_store(dir.sub("whole"), m);
  fill(*whole, 0, 50'000);
  EXPECT_GT(whole->stats().map_used_bytes, used_late * 2);
}

// A checkpoint copies the whole state, so it waits until the log holds as many records as the
// state holds rows: copying then costs at most a row per record appended, however large the
// state grows (a state growing a row a record is never copied; the log is its size anyway).
TEST(MachineStore, ACheckpointWaitsForTheLogToOutgrowTheState) {
  LedgerMachine m;
  test::TempDir dir;
  auto s = open_store(dir.sub("db"), m, 10);
  auto rows = [&] {
    std::uint64_t n = 0;
    for (const auto& [table, count] : s->table_sizes()) n += count;
    return n;
  };
  for (int i = 0; i < 200; ++i)  // a new account each: the state grows with the log
    ASSERT_EQ(
        s->append({LedgerMachine::deposit("acct" + std::to_string(i), 1, 1000 + i)})[0].status,
        Status::applied);
  EXPECT_EQ(s->stats().checkpoint_seq, 0u);
  std::uint64_t state = rows();
  EXPECT_GE(state, 200u);

  std::vector<std::uint64_t> checkpoints;
  for (int i = 0; i < 700; ++i) {  // the same accounts: the state stays as it is
    ASSERT_EQ(s->append({LedgerMachine::deposit("acct" + std::to_string(i % 200), 1, 2000 + i)})[0]
                  .status,
              Status::applied);
    std::uint64_t at = s->stats().checkpoint_seq;
    if (checkpoints.empty() ? at != 0 : at != checkpoints.back()) checkpoints.push_back(at);
  }
  EXPECT_EQ(rows(), state);
  // At `state` records, then every `state` records more, up to the 900 appended.
  ASSERT_EQ(checkpoints.size(), 900 / state);
  for (std::size_t k = 0; k < checkpoints.size(); ++k) EXPECT_EQ(checkpoints[k], (k + 1) * state);
  auto replay = s->replay_into(dir.sub("replay"));
  ASSERT_TRUE(replay) << replay.error().to_string();
  EXPECT_EQ(replay->hash, s->state_hash());
}

// The node's bounded state (finished jobs kept, reservations and used AWARD ids lapsing through
// its expiry index) replays to the live state, with checkpoints taken along the way.
TEST(MachineStore, TheNodesRetentionReplaysToTheLiveState) {
  using namespace node;
  NodeMachine m;
  test::TempDir dir;
  store::MachineStoreOptions options{dir.sub("db")};
  options.checkpoint_every = 50;
  options.sync = false;  // 3,000 commits; durability is not what this checks
  auto opened = store::MachineStore::open(options, m);
  ASSERT_TRUE(opened) << opened.error().to_string();
  auto& s = *opened;
  const machine::UnixMillis t0 = 1'700'000'000'000;
  NodePolicy policy;
  policy.self.bytes.fill(0x11);
  // Room for the reservations held until they lapse (no timer fires here: they lapse through
  // the expiry index, 70 s after their bid, about seven at a time) and the running job.
  policy.max_concurrency = 16;
  ModelOffer tiny;
  tiny.job_types = {"chat"};
  policy.models["tiny"] = tiny;
  PublicKey router;
  router.bytes.fill(0x22);
  EventId price;
  price.bytes.fill(0x48);
  ASSERT_EQ(s->append({NodeMachine::record(policy, t0),
                       NodeMachine::record(PriceAnnounced{price, "tiny", "chat", 1000, 0}, t0)})[1]
                .status,
            Status::applied);
  auto numbered = [](std::uint8_t tag, std::uint32_t n) {
    EventId e;
    e.bytes.fill(tag);
    std::memcpy(e.bytes.data() + 1, &n, sizeof n);
    return e;
  };
  // 3,000 posted jobs a second apart (their AWARDs lapse 90 s later), and an RFB bid on every
  // tenth (its reservation lapses too): more than kKeepFinishedJobs, with lapses all along, and
  // long enough for the log to outgrow the state (seen ids last 15 minutes) and be checkpointed.
  for (std::uint32_t n = 0; n < 3'000; ++n) {
    machine::UnixMillis at = t0 + n * 1000;
    JobSubmitted j;
    j.submit_id = numbered(0x50, n);
    j.award_id = numbered(0x51, n);
    j.router = router;
    std::memcpy(j.job_id.data(), &n, sizeof n);
    j.price_id = price;
    j.model = "tiny";
    j.job_type = "chat";
    j.input_tokens = 10;
    j.max_output_tokens = 10;
    j.price = protocol::Msat{1'000'000};
    j.submit_by = at / 1000 + 30;
    std::vector<Record> records = {
        NodeMachine::record(j, at),
        NodeMachine::record(JobFinished{router, j.job_id, true, 1, 1, protocol::Millis{5}, j.price},
                            at + 10)};
    if (n % 10 == 0) {
      RfbReceived rfb;
      rfb.rfb_id = numbered(0x40, n);
      rfb.router = router;
      rfb.job_id = j.job_id;
      rfb.model = "tiny";
      rfb.job_type = "chat";
      rfb.max_output_tokens = 10;
      rfb.max_price = protocol::Msat{10'000'000};
      rfb.deadline = protocol::Millis{10'000};
      records.push_back(NodeMachine::record(rfb, at + 20));
    }
    // A PRICE stays honoured for ten minutes: announce it again now and then.
    if (n % 300 == 299)
      records.push_back(
          NodeMachine::record(PriceAnnounced{price, "tiny", "chat", 1000, 0}, at + 30));
    for (const auto& r : s->append(records))
      ASSERT_EQ(r.status, Status::applied) << r.refusal.to_string();
  }
  std::map<std::string, std::uint64_t> rows;
  for (const auto& [table, n] : s->table_sizes()) rows[table] = n;
  EXPECT_EQ(rows["jobs"], NodeMachine::kKeepFinishedJobs);
  EXPECT_EQ(rows["finished"], NodeMachine::kKeepFinishedJobs);
  EXPECT_LE(rows["used_awards"], 95u);  // about the last 90 s of them
  EXPECT_LE(rows["reservations"], 10u);
  EXPECT_GT(s->stats().checkpoint_seq, 0u);
  auto replay = s->replay_into(dir.sub("replay"));
  ASSERT_TRUE(replay) << replay.error().to_string();
  EXPECT_EQ(replay->hash, s->state_hash());
}

// ---- crash test ----

std::set<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::set<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.insert(line);
  return out;
}

TEST(MachineStoreCrash, KilledFiftyTimesLosesNothingAndAppliesNothingTwice) {
  test::TempDir dir;
  const std::string db = dir.sub("db"), effects_file = dir.sub("effects");
  std::mt19937 rng(2024);
  LedgerMachine m;
  for (int run = 0; run < 50; ++run) {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      std::string seed = std::to_string(run + 1);
      execl(FEDAI_CRASH_CHILD, FEDAI_CRASH_CHILD, db.c_str(), effects_file.c_str(), seed.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    // Kill after a random number of commits (0 means: as soon as it is ready, maybe mid-recovery).
    int commits_before_kill = static_cast<int>(rng() % 25);
    FILE* lines = fdopen(out[0], "r");
    char buf[64];
    int seen = -1;  // "ready" counts as 0
    while (seen < commits_before_kill && fgets(buf, sizeof buf, lines)) ++seen;
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    fclose(lines);
    ASSERT_TRUE(WIFSIGNALED(status)) << "run " << run << ": the child exited on its own";

    // After the crash: the log and the projections agree...
    auto s = open_store(db, m);
    test::TempDir scratch;
    auto replay = s->replay_into(scratch.sub("r"));
    ASSERT_TRUE(replay) << replay.error().to_string();
    ASSERT_EQ(replay->hash, s->state_hash()) << "run " << run;
    // ...every effect a logged record emitted is done or pending (none lost), each done effect was
    // carried out before it was marked done, and nothing was applied twice.
    machine::MemoryTables memory;
    std::set<std::string> emitted, done;
    std::uint64_t deposits_logged = 0;
    s->for_each_record(0, [&](std::uint64_t, const Record& r) {
      auto outcome = machine::apply_record(m, memory, r);
      EXPECT_EQ(outcome.status, Status::applied);
      for (const auto& e : outcome.effects) EXPECT_TRUE(emitted.insert(e.id).second) << e.id;
      if (r.type == machine::kEffectDone) done.insert(r.payload);
      if (r.type == LedgerMachine::kDeposit) ++deposits_logged;
      return true;
    });
    std::set<std::string> pending;
    for (const auto& e : s->pending_effects()) pending.insert(e.id);
    auto carried_out = read_lines(effects_file);
    for (const auto& id : emitted) {
      bool is_done = done.count(id) > 0, is_pending = pending.count(id) > 0;
      EXPECT_TRUE(is_done != is_pending) << "run " << run << ": effect " << id << " lost or both";
      if (is_done) {
        EXPECT_TRUE(carried_out.count(id)) << id << " marked done but never carried out";
      }
    }
    for (const auto& id : carried_out) EXPECT_TRUE(emitted.count(id)) << id << " was never emitted";
    std::string deposits;
    s->read([&](const machine::TableStore& t) {
      deposits = t.get(LedgerMachine::kCounters, "deposits").value_or("0");
    });
    ASSERT_EQ(std::stoull(deposits), deposits_logged) << "run " << run;
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace fedai
