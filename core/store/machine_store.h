// The event-sourced state machine on LMDB: an append-only log, the machine's projections, the
// seen-id table and the outbox, all changed in the same write transaction.
//
// One writer thread per environment takes every append waiting and commits them together (group
// commit); each record gets its own outcome. Readers use their own read transactions and never
// block the writer. After a crash, the log and the projections agree (they commit together) and
// the outbox holds every effect not yet marked done.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/machine/apply.h"
#include "core/machine/state.h"
#include "core/util/result.h"

namespace fedai::store {

struct MachineStoreOptions {
  std::string path;                              // directory of the LMDB environment
  std::size_t map_size = std::size_t{16} << 30;  // address space reserved; the file grows
  bool sync = true;                              // fsync each group commit
  std::size_t max_batch = 4096;                  // records per group commit at most
  // Without sync, an append that finds the writer idle and nothing queued commits on the
  // caller's thread (no hand-off to the writer and back: two thread wake-ups saved per commit,
  // most of a commit's latency). Under load appends queue and are group-committed as always.
  // Ignored with sync: an fsync must not block the caller. Also maps the file writable
  // (lmdb::Env::Options::write_map): no pwrite() per page.
  bool inline_when_idle = false;
  // Log retention. Every `checkpoint_every` records the commit that reaches it also copies the
  // projections into the checkpoint tables and empties the log: the log then holds the records
  // since the last checkpoint, and replay starts from the checkpoint. The file stops growing
  // with the history (the freed pages are reused). A checkpoint also waits until the log holds
  // as many records as the projections hold rows, so that its copy costs at most a row per
  // record. 0 keeps every record.
  std::uint64_t checkpoint_every = 0;
  machine::ApplyOptions apply{};
};

struct AppendResult {
  machine::ApplyOutcome::Status status = machine::ApplyOutcome::Status::applied;
  std::uint64_t seq = 0;      // the log position, for applied records
  protocol::Refusal refusal;  // unless applied: why, with its F-06 code
  std::vector<machine::Effect> effects;
};

struct MachineStoreStats {
  std::uint64_t records = 0;         // log length (records since the checkpoint)
  std::uint64_t checkpoint_seq = 0;  // records folded into the checkpoint (0: none)
  std::uint64_t next_seq = 0;        // records ever appended
  std::uint64_t pending_effects = 0;
  std::uint64_t seen_ids = 0;
  std::uint64_t map_used_bytes = 0;
  std::uint64_t group_commits = 0;  // since open
};

struct ReplayReport {
  std::uint64_t checkpoint_seq = 0;  // replay started from the checkpoint taken here
  std::uint64_t records = 0;         // log records replayed on top of it
  Sha256Digest hash;
  double seconds = 0;
};

class MachineStore {
 public:
  static Result<std::unique_ptr<MachineStore>> open(const MachineStoreOptions& options,
                                                    const machine::Machine& machine);
  ~MachineStore();
  MachineStore(const MachineStore&) = delete;
  MachineStore& operator=(const MachineStore&) = delete;

  using Done = std::function<void(std::vector<AppendResult>)>;
  // Queues records for the next group commit; `done` runs on the writer thread after it
  // commits (or with status rejected and the error if the commit failed). Thread-safe.
  void append_async(std::vector<machine::Record> records, Done done);
  // Several appends at once, in order, in one group commit (as many as max_batch allows), each
  // with its own outcome and `done`: what one pass of an agent's loop appended.
  struct AppendGroup {
    std::vector<machine::Record> records;
    Done done;
  };
  void append_async(std::vector<AppendGroup> groups);
  // Appends and waits for the commit.
  std::vector<AppendResult> append(std::vector<machine::Record> records);

  // A consistent read-only view of the tables (one read transaction); writes through it throw.
  void read(const std::function<void(const machine::TableStore&)>& visit) const;
  std::vector<machine::Effect> pending_effects() const;
  Sha256Digest state_hash() const;
  MachineStoreStats stats() const;
  // Visits log records from `from_seq` on, in order, until `visit` returns false.
  void for_each_record(
      std::uint64_t from_seq,
      const std::function<bool(std::uint64_t, const machine::Record&)>& visit) const;

  // Rebuilds the projections from the checkpoint (if any) and the log into a fresh environment at
  // `scratch_path` (which must not exist or be empty) and returns its state hash: it equals
  // state_hash() when replay is deterministic.
  Result<ReplayReport> replay_into(const std::string& scratch_path) const;

  const machine::Machine& machine() const { return machine_; }

  // Which machine wrote the environment at `path` ("router", "node", ...), without opening it
  // for writing; an error when it is not a state-machine database.
  static Result<std::string> machine_name(const std::string& path);
  // Entries per table, the machine's and the framework's, for `fedai db stats`.
  std::vector<std::pair<std::string, std::uint64_t>> table_sizes() const;

  class Impl;

 private:
  MachineStore(std::unique_ptr<Impl> impl, const machine::Machine& machine);
  void writer_loop();

  std::unique_ptr<Impl> impl_;
  const machine::Machine& machine_;

  using Pending = AppendGroup;
  // One group commit: the outcomes of each group, for report() to hand to their `done`s once
  // the commit is over.
  std::vector<std::vector<AppendResult>> commit(std::deque<Pending>& batch);
  static void report(std::deque<Pending>& batch, std::vector<std::vector<AppendResult>>& results);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  bool committing_ = false;  // a batch is being written (by the writer or inline)
  std::thread writer_;
};

std::string encode_record(const machine::Record& record);
bool decode_record(std::string_view bytes, machine::Record& out);

}  // namespace fedai::store
