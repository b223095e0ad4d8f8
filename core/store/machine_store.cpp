#include "core/store/machine_store.h"

#include <chrono>
#include <filesystem>
#include <future>
#include <map>

#include "core/store/lmdb.h"
#include "core/util/binary.h"

namespace fedai::store {
namespace {

using lmdb::Cursor;
using lmdb::Txn;
using machine::TableId;

constexpr std::string_view kSchema = "fedai-machine-1";

// "fedai-machine-1/node@2": the schema, the machine, and its record version when above 1.
std::string machine_id(const machine::Machine& machine) {
  std::string id(kSchema);
  id += '/';
  id += machine.name();
  if (machine.version() > 1) {
    id += '@';
    id += std::to_string(machine.version());
  }
  return id;
}

std::string seq_key(std::uint64_t seq) {
  std::string k;
  lmdb::put_be64(k, seq);
  return k;
}

// The machine's tables and the framework's, as LMDB databases inside one transaction.
class LmdbTables final : public machine::TableStore {
 public:
  LmdbTables(Txn& txn, const std::map<TableId, MDB_dbi>& dbis, bool writable)
      : txn_(txn), dbis_(dbis), writable_(writable) {}

  std::optional<std::string> get(TableId table, std::string_view key) const override {
    auto v = txn_.get(dbi(table), key);
    if (!v) return std::nullopt;
    return std::string(*v);
  }
  void put(TableId table, std::string_view key, std::string_view value) override {
    check_writable();
    txn_.put(dbi(table), key, value);
  }
  bool erase(TableId table, std::string_view key) override {
    check_writable();
    return txn_.del(dbi(table), key);
  }
  void scan(TableId table, std::string_view prefix,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    Cursor c(txn_, dbi(table));
    for (bool ok = prefix.empty() ? c.first() : c.seek(prefix); ok; ok = c.next()) {
      if (!c.key().starts_with(prefix) || !visit(c.key(), c.value())) return;
    }
  }

 private:
  MDB_dbi dbi(TableId table) const {
    auto it = dbis_.find(table);
    if (it == dbis_.end()) throw std::logic_error("unknown table " + std::to_string(table));
    return it->second;
  }
  void check_writable() const {
    if (!writable_) throw std::logic_error("state is read-only here");
  }
  Txn& txn_;
  const std::map<TableId, MDB_dbi>& dbis_;
  bool writable_;
};

}  // namespace

std::string encode_record(const machine::Record& record) {
  BinaryWriter w;
  w.varint(record.type);
  w.svarint(record.at);
  w.boolean(record.event_id.has_value());
  if (record.event_id) w.fixed(record.event_id->span());
  w.bytes(record.payload);
  return std::move(w).data();
}

bool decode_record(std::string_view bytes, machine::Record& out) {
  BinaryReader r(bytes);
  out.type = static_cast<std::uint16_t>(r.varint());
  out.at = r.svarint();
  if (r.boolean()) {
    EventId id;
    r.fixed(std::span<std::uint8_t, 32>(id.bytes));
    out.event_id = id;
  } else {
    out.event_id.reset();
  }
  out.payload = std::string(r.bytes());
  return r.finished();
}

class MachineStore::Impl {
 public:
  Impl(const MachineStoreOptions& opts, const machine::Machine& machine)
      : options(opts),
        env(lmdb::Env::Options{opts.path, opts.map_size, 300, 256, opts.sync,
                               opts.inline_when_idle && !opts.sync}) {
    Txn txn = Txn::begin_write(env);
    log = txn.open_db("log");
    meta = txn.open_db("meta");
    auto names = machine.tables();
    if (names.size() > 200) throw std::invalid_argument("too many tables");
    for (std::size_t i = 0; i < names.size(); ++i)
      dbis[static_cast<TableId>(i)] = txn.open_db(("t:" + std::string(names[i])).c_str());
    for (TableId id : machine::kFrameworkTables)
      dbis[id] = txn.open_db(std::string(machine::framework_table_name(id)).c_str());
    // The checkpoint: each table as it stood at checkpoint_seq.
    for (const auto& [id, dbi] : dbis)
      checkpoint_dbis[id] = txn.open_db(("c:" + table_name(machine, id)).c_str());

    // The environment remembers which machine, schema and record version wrote it.
    std::string who = machine_id(machine);
    if (auto stored = txn.get(meta, "machine")) {
      if (*stored != who) {
        std::string prefix = std::string(kSchema) + "/" + std::string(machine.name());
        bool other_version = stored->starts_with(prefix) &&
                             (stored->size() == prefix.size() || (*stored)[prefix.size()] == '@');
        throw std::runtime_error(
            "the database at " + opts.path + " belongs to '" + std::string(*stored) + "', not '" +
            who + "'" +
            (other_version ? ": another version of fedai wrote it (move it aside to start afresh)"
                           : ""));
      }
    } else {
      txn.put(meta, "machine", who);
    }
    if (auto v = txn.get(meta, "next_seq")) next_seq = lmdb::get_be64(*v);
    if (auto v = txn.get(meta, "checkpoint_seq")) checkpoint_seq = lmdb::get_be64(*v);
    txn.commit();
  }

  static std::string table_name(const machine::Machine& machine, TableId id) {
    auto names = machine.tables();
    return id < names.size() ? std::string(names[id])
                             : std::string(machine::framework_table_name(id));
  }

  // In the commit's transaction, once the log holds `checkpoint_every` records: the tables as they
  // stand now become the checkpoint, and the log is emptied. Each table is copied in key order
  // (MDB_APPEND: no B-tree search); the pages the old checkpoint and log used are freed for reuse.
  // Rows in the live tables: what a checkpoint copies. A checkpoint waits until the log holds at
  // least as many records, so that copying the state costs at most one row per record appended
  // however large the state is (a node at 2,000 jobs a second remembers a couple of million seen
  // ids; copying those every 20,000 records would cost a hundred rows a record).
  std::uint64_t state_rows(const Txn& txn) const {
    std::uint64_t rows = 0;
    for (const auto& [id, dbi] : dbis) rows += txn.entries(dbi);
    return rows;
  }

  void take_checkpoint(Txn& txn, std::uint64_t seq) {
    for (const auto& [id, dbi] : dbis) {
      MDB_dbi copy = checkpoint_dbis.at(id);
      txn.clear(copy);
      Cursor c(txn, dbi);
      for (bool ok = c.first(); ok; ok = c.next()) txn.put(copy, c.key(), c.value(), MDB_APPEND);
    }
    txn.clear(log);
    std::string at;
    lmdb::put_be64(at, seq);
    txn.put(meta, "checkpoint_seq", at);
  }

  // The checkpoint's tables into `to`'s live tables (a scratch environment being rebuilt).
  void copy_checkpoint(const Txn& from, Impl& to, Txn& to_txn) const {
    for (const auto& [id, dbi] : checkpoint_dbis) {
      Cursor c(from, dbi);
      for (bool ok = c.first(); ok; ok = c.next())
        to_txn.put(to.dbis.at(id), c.key(), c.value(), MDB_APPEND);
    }
  }

  MachineStoreOptions options;
  lmdb::Env env;
  // Read transactions kept reset between reads and renewed (MDB_NOTLS: any thread may renew
  // one). A fresh one callocs room for each of the environment's 300 databases, about 18 KB, and
  // an agent reads its state a few times a job.
  std::mutex readers_mutex;
  std::vector<MDB_txn*> idle_readers;
  static constexpr std::size_t kIdleReaders = 8;
  Txn begin_read() {
    MDB_txn* reset = nullptr;
    {
      std::lock_guard lock(readers_mutex);
      if (!idle_readers.empty()) {
        reset = idle_readers.back();
        idle_readers.pop_back();
      }
    }
    return reset ? Txn::renew_read(reset) : Txn::begin_read(env);
  }
  void end_read(Txn& txn) {
    MDB_txn* raw = txn.release();
    mdb_txn_reset(raw);
    std::lock_guard lock(readers_mutex);
    if (idle_readers.size() < kIdleReaders)
      idle_readers.push_back(raw);
    else
      mdb_txn_abort(raw);
  }
  ~Impl() {
    for (MDB_txn* t : idle_readers) mdb_txn_abort(t);  // before the environment closes
  }
  MDB_dbi log{}, meta{};
  std::map<TableId, MDB_dbi> dbis;
  std::map<TableId, MDB_dbi> checkpoint_dbis;
  std::uint64_t next_seq = 0;         // writer thread only
  std::uint64_t checkpoint_seq = 0;   // writer thread only
  std::uint64_t next_rows_check = 0;  // writer thread only: see commit()
  std::atomic<std::uint64_t> group_commits{0};
};

Result<std::unique_ptr<MachineStore>> MachineStore::open(const MachineStoreOptions& options,
                                                         const machine::Machine& machine) {
  try {
    auto impl = std::make_unique<Impl>(options, machine);
    return std::unique_ptr<MachineStore>(new MachineStore(std::move(impl), machine));
  } catch (const std::exception& e) {
    return make_error(ErrorCode::error, e.what());
  }
}

MachineStore::MachineStore(std::unique_ptr<Impl> impl, const machine::Machine& machine)
    : impl_(std::move(impl)), machine_(machine) {
  writer_ = std::thread([this] { writer_loop(); });
}

MachineStore::~MachineStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

void MachineStore::append_async(std::vector<machine::Record> records, Done done) {
  std::vector<AppendGroup> groups;
  groups.push_back(AppendGroup{std::move(records), std::move(done)});
  append_async(std::move(groups));
}

void MachineStore::append_async(std::vector<AppendGroup> groups) {
  if (groups.empty()) return;
  {
    std::unique_lock lock(mutex_);
    if (stopping_) throw std::logic_error("append after the store began to close");
    std::size_t records = 0;
    for (const auto& g : groups) records += g.records.size();
    if (impl_->options.inline_when_idle && !impl_->options.sync && !committing_ && queue_.empty() &&
        records <= impl_->options.max_batch) {
      committing_ = true;
      lock.unlock();
      std::deque<Pending> batch(std::make_move_iterator(groups.begin()),
                                std::make_move_iterator(groups.end()));
      auto results = commit(batch);
      lock.lock();
      committing_ = false;
      lock.unlock();
      // After the commit is over, so that a `done` may append again (inline, in turn).
      report(batch, results);
      lock.lock();
      if (queue_.empty()) return;
    } else {
      for (auto& g : groups) queue_.push_back(std::move(g));
    }
  }
  wake_.notify_one();
}

std::vector<AppendResult> MachineStore::append(std::vector<machine::Record> records) {
  std::promise<std::vector<AppendResult>> promise;
  auto future = promise.get_future();
  append_async(std::move(records), [&promise](std::vector<AppendResult> results) {
    promise.set_value(std::move(results));
  });
  return future.get();
}

void MachineStore::writer_loop() {
  for (;;) {
    std::deque<Pending> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return (stopping_ || !queue_.empty()) && !committing_; });
      if (queue_.empty()) return;  // stopping, and everything queued was written
      std::size_t records = 0;
      while (!queue_.empty() && (batch.empty() || records + queue_.front().records.size() <=
                                                      impl_->options.max_batch)) {
        records += queue_.front().records.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      committing_ = true;
    }
    auto results = commit(batch);
    {
      std::lock_guard lock(mutex_);
      committing_ = false;
    }
    report(batch, results);
  }
}

void MachineStore::report(std::deque<Pending>& batch,
                          std::vector<std::vector<AppendResult>>& results) {
  for (std::size_t i = 0; i < batch.size(); ++i)
    if (batch[i].done) batch[i].done(std::move(results[i]));
}

std::vector<std::vector<AppendResult>> MachineStore::commit(std::deque<Pending>& batch) {
  std::vector<std::vector<AppendResult>> results(batch.size());
  std::uint64_t seq = impl_->next_seq;
  try {
    Txn txn = Txn::begin_write(impl_->env);
    LmdbTables tables(txn, impl_->dbis, true);
    machine::Overlay overlay(tables);  // the group commit's writes, each record all or nothing
    for (std::size_t i = 0; i < batch.size(); ++i) {
      for (const machine::Record& record : batch[i].records) {
        auto outcome = machine::apply_record_in(machine_, overlay, record, impl_->options.apply);
        AppendResult r{outcome.status, 0, std::move(outcome.refusal), std::move(outcome.effects)};
        if (r.status == machine::ApplyOutcome::Status::applied) {
          r.seq = seq;
          // Sequence keys only grow: MDB_APPEND skips the B-tree search.
          txn.put(impl_->log, seq_key(seq), encode_record(record), MDB_APPEND);
          ++seq;
        }
        results[i].push_back(std::move(r));
      }
    }
    overlay.commit();
    std::string next;
    lmdb::put_be64(next, seq);
    txn.put(impl_->meta, "next_seq", next);
    std::uint64_t every = impl_->options.checkpoint_every;
    bool checkpoint = false;
    if (every != 0 && seq - impl_->checkpoint_seq >= every && seq >= impl_->next_rows_check) {
      // Counting the rows takes a look at every table: once the state is found larger than the
      // log, not again before the log could have caught up with it.
      std::uint64_t rows = impl_->state_rows(txn);
      checkpoint = seq - impl_->checkpoint_seq >= rows;
      if (!checkpoint) impl_->next_rows_check = impl_->checkpoint_seq + rows;
    }
    if (checkpoint) impl_->take_checkpoint(txn, seq);
    txn.commit();
    impl_->next_seq = seq;
    if (checkpoint) impl_->checkpoint_seq = seq;
    ++impl_->group_commits;
  } catch (const std::exception& e) {
    // Nothing of this batch was committed: every record in it is refused.
    for (std::size_t i = 0; i < batch.size(); ++i) {
      results[i].assign(
          batch[i].records.size(),
          AppendResult{machine::ApplyOutcome::Status::rejected,
                       0,
                       protocol::refuse(protocol::ProtocolError::internal,
                                        std::string("the commit failed: ") + e.what()),
                       {}});
    }
  }
  return results;
}

void MachineStore::read(const std::function<void(const machine::TableStore&)>& visit) const {
  Txn txn = impl_->begin_read();
  LmdbTables tables(txn, impl_->dbis, false);
  visit(tables);  // if it throws, the transaction is aborted rather than kept
  impl_->end_read(txn);
}

std::vector<machine::Effect> MachineStore::pending_effects() const {
  std::vector<machine::Effect> out;
  read([&](const machine::TableStore& t) { out = machine::pending_effects(t); });
  return out;
}

Sha256Digest MachineStore::state_hash() const {
  Sha256Digest out;
  read([&](const machine::TableStore& t) { out = machine::state_hash(machine_, t); });
  return out;
}

MachineStoreStats MachineStore::stats() const {
  MachineStoreStats s;
  Txn txn = Txn::begin_read(impl_->env);
  s.records = txn.entries(impl_->log);
  if (auto v = txn.get(impl_->meta, "checkpoint_seq")) s.checkpoint_seq = lmdb::get_be64(*v);
  if (auto v = txn.get(impl_->meta, "next_seq")) s.next_seq = lmdb::get_be64(*v);
  s.pending_effects = txn.entries(impl_->dbis.at(machine::kOutboxTable));
  s.seen_ids = txn.entries(impl_->dbis.at(machine::kSeenTable));
  MDB_envinfo info;
  MDB_stat st;
  mdb_env_info(impl_->env.get(), &info);
  mdb_env_stat(impl_->env.get(), &st);
  s.map_used_bytes = static_cast<std::uint64_t>(info.me_last_pgno + 1) * st.ms_psize;
  s.group_commits = impl_->group_commits.load();
  return s;
}

void MachineStore::for_each_record(
    std::uint64_t from_seq,
    const std::function<bool(std::uint64_t, const machine::Record&)>& visit) const {
  Txn txn = Txn::begin_read(impl_->env);
  Cursor c(txn, impl_->log);
  machine::Record record;
  for (bool ok = c.seek(seq_key(from_seq)); ok; ok = c.next()) {
    if (!decode_record(c.value(), record))
      throw std::runtime_error("corrupt log record at " + std::to_string(lmdb::get_be64(c.key())));
    if (!visit(lmdb::get_be64(c.key()), record)) return;
  }
}

Result<std::string> MachineStore::machine_name(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(path) / "data.mdb", ec))
    return make_error(ErrorCode::error, "no LMDB database at " + path);
  try {
    lmdb::Env env(lmdb::Env::Options{path, std::size_t{1} << 20, 300, 8, false});
    Txn txn = Txn::begin_read(env);
    MDB_dbi meta;
    if (mdb_dbi_open(txn.get(), "meta", 0, &meta) != MDB_SUCCESS)
      return make_error(ErrorCode::error, path + " is not a state-machine database");
    auto who = txn.get(meta, "machine");
    std::string prefix = std::string(kSchema) + "/";
    if (!who || !who->starts_with(prefix))
      return make_error(ErrorCode::error, path + " is not a state-machine database");
    std::string_view name = std::string_view(*who).substr(prefix.size());
    return std::string(name.substr(0, name.find('@')));  // without the record version
  } catch (const std::exception& e) {
    return make_error(ErrorCode::error, e.what());
  }
}

std::vector<std::pair<std::string, std::uint64_t>> MachineStore::table_sizes() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  Txn txn = Txn::begin_read(impl_->env);
  for (const auto& [id, dbi] : impl_->dbis)
    out.emplace_back(Impl::table_name(machine_, id), txn.entries(dbi));
  return out;
}

Result<ReplayReport> MachineStore::replay_into(const std::string& scratch_path) const {
  std::error_code ec;
  if (std::filesystem::exists(scratch_path, ec) && !std::filesystem::is_empty(scratch_path, ec))
    return make_error(ErrorCode::error, scratch_path + " is not empty");
  try {
    auto start = std::chrono::steady_clock::now();
    MachineStoreOptions scratch_options = impl_->options;
    scratch_options.path = scratch_path;
    scratch_options.sync = false;  // a scratch copy: durability is not the point
    Impl scratch(scratch_options, machine_);
    ReplayReport report;
    // Large transactions: replay is a bulk load. Records are read from the live log in one read
    // transaction and applied in chunks.
    Txn read_txn = Txn::begin_read(impl_->env);
    if (auto v = read_txn.get(impl_->meta, "checkpoint_seq")) {
      report.checkpoint_seq = lmdb::get_be64(*v);
      Txn txn = Txn::begin_write(scratch.env);
      impl_->copy_checkpoint(read_txn, scratch, txn);
      txn.commit();
    }
    Cursor c(read_txn, impl_->log);
    machine::Record record;
    bool more = c.first();
    while (more) {
      Txn txn = Txn::begin_write(scratch.env);
      LmdbTables tables(txn, scratch.dbis, true);
      machine::Overlay chunk(tables);  // a write-back cache for the chunk
      for (int n = 0; more && n < 100'000; ++n, more = c.next()) {
        if (!decode_record(c.value(), record))
          return make_error(ErrorCode::error, "corrupt log record");
        auto outcome = machine::replay_record(machine_, chunk, record, impl_->options.apply);
        if (outcome.status != machine::ApplyOutcome::Status::applied)
          return make_error(ErrorCode::error,
                            "record " + std::to_string(lmdb::get_be64(c.key())) +
                                " did not apply on replay: " + outcome.refusal.to_string());
        ++report.records;
      }
      chunk.commit();
      txn.commit();
    }
    Txn txn = Txn::begin_read(scratch.env);
    LmdbTables tables(txn, scratch.dbis, false);
    report.hash = machine::state_hash(machine_, tables);
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::error, e.what());
  }
}

}  // namespace fedai::store
