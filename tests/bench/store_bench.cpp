// Benchmarks of fedai_store: the state machine's group-commit append against raw LMDB puts of the
// same records, replay rate, restart time, and the relay's event store.
//
// Run with scripts/bench (it prints the ratios). FEDAI_BENCH_DIR sets where the databases go
// (default /tmp).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "core/store/lmdb.h"
#include "core/store/machine_store.h"
#include "tests/support/ledger_machine.h"

namespace {

using namespace fedai;
using test::LedgerMachine;

std::string bench_dir(const std::string& name) {
  const char* base = std::getenv("FEDAI_BENCH_DIR");
  std::string dir = std::string(base && *base ? base : "/tmp") + "/fedai-bench-" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::vector<machine::Record> make_records(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<machine::Record> out;
  out.reserve(n);
  const std::string accounts[] = {"alice", "bob",   "carol", "dave",
                                  "erin",  "frank", "grace", "heidi"};
  for (std::size_t i = 0; i < n; ++i) {
    machine::UnixMillis at = 1'700'000'000'000 + static_cast<machine::UnixMillis>(i);
    if (rng() % 4)
      out.push_back(LedgerMachine::deposit(accounts[rng() % 8], 1 + rng() % 9, at));  // no effects
    else
      out.push_back(LedgerMachine::transfer(accounts[rng() % 8], accounts[rng() % 8], 0, at));
  }
  return out;
}

// Baseline: the same encoded records put into one LMDB database, `batch` per transaction.
void BM_RawLmdbPut(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const bool sync = state.range(1) != 0;
  const bool write_map = state.range(2) != 0;  // as the agents open it without fsync
  std::string dir = bench_dir("raw");
  lmdb::Env env({dir, std::size_t{8} << 30, 4, 16, sync, write_map});
  MDB_dbi dbi;
  {
    auto txn = lmdb::Txn::begin_write(env);
    dbi = txn.open_db("log");
    txn.commit();
  }
  auto records = make_records(batch * 64, 1);
  std::vector<std::string> encoded;
  for (const auto& r : records) encoded.push_back(store::encode_record(r));
  std::uint64_t seq = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    auto txn = lmdb::Txn::begin_write(env);
    for (std::size_t k = 0; k < batch; ++k) {
      std::string key;
      lmdb::put_be64(key, seq++);
      txn.put(dbi, key, encoded[i++ % encoded.size()]);
    }
    txn.commit();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
  std::filesystem::remove_all(dir);
}
// Args: records per transaction, fsync, writable map (the agents' non-durable configuration).
BENCHMARK(BM_RawLmdbPut)
    ->Args({64, 0, 0})
    ->Args({64, 1, 0})
    ->Args({1024, 0, 0})
    ->Args({64, 0, 1})
    ->Args({1024, 0, 1})
    ->UseRealTime();

// The state machine: log put + reducer + projections + seen/outbox bookkeeping, one group commit
// per `batch` records.
void BM_MachineAppend(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const bool sync = state.range(1) != 0;
  std::string dir = bench_dir("machine");
  LedgerMachine m;
  store::MachineStoreOptions options{dir, std::size_t{8} << 30, sync};
  // The agents' non-durable configuration: commit on the caller's thread when the writer is
  // idle, writable map.
  options.inline_when_idle = state.range(2) != 0;
  auto s = store::MachineStore::open(options, m);
  if (!s) {
    state.SkipWithError(s.error().to_string().c_str());
    return;
  }
  auto records = make_records(batch * 64, 1);
  std::size_t i = 0;
  for (auto _ : state) {
    std::vector<machine::Record> chunk;
    chunk.reserve(batch);
    for (std::size_t k = 0; k < batch; ++k) chunk.push_back(records[i++ % records.size()]);
    auto results = (*s)->append(std::move(chunk));
    benchmark::DoNotOptimize(results);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
  s->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_MachineAppend)
    ->Args({64, 0, 0})
    ->Args({64, 1, 0})
    ->Args({1024, 0, 0})
    ->Args({64, 0, 1})
    ->Args({1024, 0, 1})
    ->UseRealTime();

// A store with 1M records, built once for the replay and restart benchmarks.
const std::string& million_record_store() {
  static std::string dir = [] {
    std::string d = bench_dir("million");
    LedgerMachine m;
    auto s = store::MachineStore::open({d, std::size_t{8} << 30, false}, m);
    auto records = make_records(1'000'000, 2);
    for (std::size_t i = 0; i < records.size(); i += 10'000) {
      std::vector<machine::Record> chunk(records.begin() + static_cast<std::ptrdiff_t>(i),
                                         records.begin() + static_cast<std::ptrdiff_t>(i + 10'000));
      (*s)->append(std::move(chunk));
    }
    return d;
  }();
  return dir;
}

void BM_Replay1M(benchmark::State& state) {
  LedgerMachine m;
  auto s = store::MachineStore::open({million_record_store(), std::size_t{8} << 30, false}, m);
  std::uint64_t records = 0;
  for (auto _ : state) {
    std::string scratch = bench_dir("replay");
    auto report = (*s)->replay_into(scratch);
    if (!report) state.SkipWithError(report.error().to_string().c_str());
    records += report->records;
    if (report->hash != (*s)->state_hash()) state.SkipWithError("replay hash differs");
    std::filesystem::remove_all(scratch);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
}
BENCHMARK(BM_Replay1M)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// Restart: open the environment, check the machine, read the outbox (what an agent does first).
void BM_Restart1M(benchmark::State& state) {
  LedgerMachine m;
  million_record_store();
  for (auto _ : state) {
    auto s = store::MachineStore::open({million_record_store(), std::size_t{8} << 30, false}, m);
    auto pending = (*s)->pending_effects();
    benchmark::DoNotOptimize(pending);
    if ((*s)->stats().records != 1'000'000) state.SkipWithError("store is not 1M records");
  }
}
BENCHMARK(BM_Restart1M)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
