// Thin RAII over LMDB: move-only transactions that abort in their destructor, cursors that
// close with their scope, expected absence as std::nullopt and real failures as exceptions
// (LmdbError), which callers turn into `error:` replies at their message boundary.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace fedai::lmdb {

struct LmdbError : std::runtime_error {
  LmdbError(const std::string& what, int rc)
      : std::runtime_error(what + ": " + mdb_strerror(rc)), code(rc) {}
  int code;
};

inline void check(int rc, const char* what) {
  if (rc != MDB_SUCCESS) throw LmdbError(what, rc);
}

inline MDB_val val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline MDB_val val(std::span<const std::uint8_t> s) {
  return MDB_val{s.size(), const_cast<std::uint8_t*>(s.data())};
}
inline std::string_view view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

class Env {
 public:
  struct Options {
    std::string path;  // a directory; created if missing
    std::size_t map_size = std::size_t{64} << 30;
    unsigned max_dbs = 32;
    unsigned max_readers = 256;
    bool sync = true;  // fsync on every commit; false trades durability of the last commits
    // MDB_WRITEMAP: commits write pages in place in a shared mapping instead of one pwrite()
    // each (a dozen per small commit). A process crash loses nothing either way (the pages are
    // in the page cache); the price is that a stray pointer write could reach the database.
    bool write_map = false;
  };
  explicit Env(const Options& options);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  MDB_env* get() const { return env_; }
  void sync(bool force = true);

 private:
  MDB_env* env_ = nullptr;
};

class Txn {
 public:
  static Txn begin_read(const Env& env);
  static Txn begin_write(const Env& env);

  Txn(Txn&& other) noexcept : txn_(std::exchange(other.txn_, nullptr)) {}
  Txn& operator=(Txn&& other) noexcept {
    if (this != &other) {
      abort();
      txn_ = std::exchange(other.txn_, nullptr);
    }
    return *this;
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  MDB_txn* get() const { return txn_; }
  // A read transaction that was reset (mdb_txn_reset), renewed for another read: a fresh one
  // allocates and zeroes room for every database the environment may hold.
  static Txn renew_read(MDB_txn* reset);
  // Hands the transaction over (to be reset and kept for renew_read).
  MDB_txn* release() { return std::exchange(txn_, nullptr); }
  void commit();
  void abort() noexcept {
    if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
  }

  std::optional<std::string_view> get(MDB_dbi dbi, std::string_view key) const;
  // Returns false when the key exists and no_overwrite was asked.
  bool put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  // Returns false when the key was absent.
  bool del(MDB_dbi dbi, std::string_view key);
  MDB_dbi open_db(const char* name, unsigned flags = MDB_CREATE);
  std::size_t entries(MDB_dbi dbi) const;
  // Empties the database (mdb_drop without deleting it).
  void clear(MDB_dbi dbi);

 private:
  explicit Txn(MDB_txn* txn) : txn_(txn) {}
  MDB_txn* txn_;
};

class Cursor {
 public:
  Cursor(const Txn& txn, MDB_dbi dbi);
  ~Cursor() { mdb_cursor_close(cursor_); }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  Cursor(Cursor&& other) noexcept : cursor_(std::exchange(other.cursor_, nullptr)) {}

  // Positions at the first key >= `key`; false at the end.
  bool seek(std::string_view key);
  bool first();
  bool last();
  bool next();
  bool prev();
  std::string_view key() const { return view(key_); }
  std::string_view value() const { return view(value_); }
  void del();

 private:
  bool op(MDB_cursor_op o, std::string_view key = {});
  MDB_cursor* cursor_ = nullptr;
  MDB_val key_{}, value_{};
};

// Big-endian fixed-width integers, so that LMDB's byte order is numeric order.
inline void put_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void put_be16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}
inline std::uint64_t get_be64(std::string_view s, std::size_t at = 0) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<unsigned char>(s[at + static_cast<std::size_t>(i)]);
  return v;
}
inline std::uint16_t get_be16(std::string_view s, std::size_t at = 0) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(s[at]) << 8) |
                                    static_cast<unsigned char>(s[at + 1]));
}

}  // namespace fedai::lmdb
