// StateTxn implementations shared by the LMDB store, the simulator and tests.
//
// TableStore is where tables live (LMDB, memory). Overlay is a StateTxn that buffers one record's
// writes and effects over a TableStore and applies them only when the reducer returned normally,
// so a reducer that throws leaves no trace, and reads see the record's own writes.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/machine/state.h"

namespace fedai::machine {

class TableStore {
 public:
  virtual ~TableStore() = default;
  virtual std::optional<std::string> get(TableId table, std::string_view key) const = 0;
  virtual void put(TableId table, std::string_view key, std::string_view value) = 0;
  virtual bool erase(TableId table, std::string_view key) = 0;
  virtual void scan(TableId table, std::string_view prefix,
                    const std::function<bool(std::string_view, std::string_view)>& visit) const = 0;
};

class Overlay final : public StateTxn {
 public:
  explicit Overlay(TableStore& base) : base_(base) {}

  std::optional<std::string> get(TableId table, std::string_view key) const override;
  void put(TableId table, std::string_view key, std::string_view value) override;
  void erase(TableId table, std::string_view key) override;
  void scan(TableId table, std::string_view prefix,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override;
  void emit(const Effect& effect) override { effects_.push_back(effect); }
  const std::vector<Effect>& effects() const { return effects_; }

  // Writes the buffered changes through to the base and hands back the effects.
  std::vector<Effect> commit();
  void discard();

  // A savepoint: changes after mark() can be undone with rollback() (one level). This lets one
  // overlay buffer a whole group commit, with each record still applied all or nothing.
  void mark();
  void rollback();

 private:
  using Key = std::pair<TableId, std::string>;
  using KeyRef = std::pair<TableId, std::string_view>;
  struct KeyLess {
    using is_transparent = void;
    static KeyRef ref(const Key& k) { return {k.first, k.second}; }
    static KeyRef ref(const KeyRef& k) { return k; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return ref(a) < ref(b);
    }
  };

  // This txn's entry for the key, journalled for rollback when marked.
  std::optional<std::string>& write_slot(TableId table, std::string_view key);

  TableStore& base_;
  std::map<Key, std::optional<std::string>, KeyLess> writes_;         // nullopt: erased
  mutable std::map<Key, std::optional<std::string>, KeyLess> reads_;  // the base's answers
  std::vector<Effect> effects_;
  // Since mark(): each key's entry in writes_ before its first change (outer nullopt: absent).
  bool marked_ = false;
  std::vector<std::pair<Key, std::optional<std::optional<std::string>>>> undo_;
  std::size_t effects_at_mark_ = 0;
};

// A StateTxn that only reads: for the runtime's queries of the projections. Writes throw.
class ReadOnlyTxn final : public StateTxn {
 public:
  explicit ReadOnlyTxn(const TableStore& tables) : tables_(tables) {}
  std::optional<std::string> get(TableId table, std::string_view key) const override {
    return tables_.get(table, key);
  }
  void put(TableId, std::string_view, std::string_view) override { refuse(); }
  void erase(TableId, std::string_view) override { refuse(); }
  void scan(TableId table, std::string_view prefix,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    tables_.scan(table, prefix, visit);
  }
  void emit(const Effect&) override { refuse(); }

 private:
  [[noreturn]] static void refuse() { throw std::logic_error("read-only state"); }
  const TableStore& tables_;
};

// Tables in memory: the simulator's and the tests' TableStore.
class MemoryTables final : public TableStore {
 public:
  std::optional<std::string> get(TableId table, std::string_view key) const override;
  void put(TableId table, std::string_view key, std::string_view value) override;
  bool erase(TableId table, std::string_view key) override;
  void scan(TableId table, std::string_view prefix,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override;

  const std::map<TableId, std::map<std::string, std::string, std::less<>>>& tables() const {
    return tables_;
  }

 private:
  std::map<TableId, std::map<std::string, std::string, std::less<>>> tables_;
};

}  // namespace fedai::machine
