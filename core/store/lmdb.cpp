#include "core/store/lmdb.h"

#include <sys/stat.h>

#include <cerrno>
#include <filesystem>

namespace fedai::lmdb {

Env::Env(const Options& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) throw std::runtime_error("cannot create " + options.path + ": " + ec.message());
  check(mdb_env_create(&env_), "mdb_env_create");
  try {
    check(mdb_env_set_mapsize(env_, options.map_size), "mdb_env_set_mapsize");
    check(mdb_env_set_maxdbs(env_, options.max_dbs), "mdb_env_set_maxdbs");
    check(mdb_env_set_maxreaders(env_, options.max_readers), "mdb_env_set_maxreaders");
    // NOTLS: read transactions are not tied to threads, so a reader may hand its transaction
    // to another thread and many short readers don't exhaust the reader table.
    unsigned flags = MDB_NOTLS;
    if (!options.sync) flags |= MDB_NOSYNC;
    if (options.write_map) flags |= MDB_WRITEMAP;
    int rc = mdb_env_open(env_, options.path.c_str(), flags, 0600);
    if (rc != MDB_SUCCESS) throw LmdbError("cannot open LMDB environment " + options.path, rc);
  } catch (...) {
    mdb_env_close(env_);
    throw;
  }
}

Env::~Env() {
  mdb_env_close(env_);
}

void Env::sync(bool force) {
  check(mdb_env_sync(env_, force ? 1 : 0), "mdb_env_sync");
}

Txn Txn::begin_read(const Env& env) {
  MDB_txn* txn = nullptr;
  check(mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &txn), "mdb_txn_begin (read)");
  return Txn(txn);
}

Txn Txn::renew_read(MDB_txn* reset) {
  int rc = mdb_txn_renew(reset);
  if (rc != MDB_SUCCESS) {
    mdb_txn_abort(reset);
    throw LmdbError("mdb_txn_renew", rc);
  }
  return Txn(reset);
}

Txn Txn::begin_write(const Env& env) {
  MDB_txn* txn = nullptr;
  check(mdb_txn_begin(env.get(), nullptr, 0, &txn), "mdb_txn_begin (write)");
  return Txn(txn);
}

void Txn::commit() {
  int rc = mdb_txn_commit(std::exchange(txn_, nullptr));
  check(rc, "mdb_txn_commit");
}

std::optional<std::string_view> Txn::get(MDB_dbi dbi, std::string_view key) const {
  MDB_val k = val(key), v{};
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "mdb_get");
  return view(v);
}

bool Txn::put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = val(key), v = val(value);
  int rc = mdb_put(txn_, dbi, &k, &v, flags);
  if (rc == MDB_KEYEXIST) return false;
  check(rc, "mdb_put");
  return true;
}

bool Txn::del(MDB_dbi dbi, std::string_view key) {
  MDB_val k = val(key);
  int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "mdb_del");
  return true;
}

MDB_dbi Txn::open_db(const char* name, unsigned flags) {
  MDB_dbi dbi;
  check(mdb_dbi_open(txn_, name, flags, &dbi), "mdb_dbi_open");
  return dbi;
}

std::size_t Txn::entries(MDB_dbi dbi) const {
  MDB_stat st;
  check(mdb_stat(txn_, dbi, &st), "mdb_stat");
  return st.ms_entries;
}

void Txn::clear(MDB_dbi dbi) {
  check(mdb_drop(txn_, dbi, 0), "mdb_drop");
}

Cursor::Cursor(const Txn& txn, MDB_dbi dbi) {
  check(mdb_cursor_open(txn.get(), dbi, &cursor_), "mdb_cursor_open");
}

bool Cursor::op(MDB_cursor_op o, std::string_view key) {
  if (o == MDB_SET_RANGE) key_ = val(key);
  int rc = mdb_cursor_get(cursor_, &key_, &value_, o);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "mdb_cursor_get");
  return true;
}

bool Cursor::seek(std::string_view key) {
  return op(MDB_SET_RANGE, key);
}
bool Cursor::first() {
  return op(MDB_FIRST);
}
bool Cursor::last() {
  return op(MDB_LAST);
}
bool Cursor::next() {
  return op(MDB_NEXT);
}
bool Cursor::prev() {
  return op(MDB_PREV);
}
void Cursor::del() {
  check(mdb_cursor_del(cursor_, 0), "mdb_cursor_del");
}

}  // namespace fedai::lmdb
