// A small Machine for testing the state-machine framework and stores: accounts with balances.
//
// Records: deposit(account, amount) and transfer(from, to, amount) (refused, ERR_INVALID, when
// the balance is short; a malformed record throws, as a programming error), each optionally
// carrying an event id; a deposit of a multiple of 10 emits an effect "notify:<account>:<seq>" (its
// id) so that outbox behaviour can be checked.
#pragma once

#include <cstdint>
#include <string>

#include "core/machine/state.h"
#include "core/util/binary.h"

namespace fedai::test {

class LedgerMachine final : public machine::Machine {
 public:
  enum : std::uint16_t { kDeposit = 1, kTransfer = 2 };
  enum : machine::TableId { kBalances = 0, kCounters = 1 };

  std::string_view name() const override { return "ledger"; }
  std::span<const std::string_view> tables() const override {
    static constexpr std::string_view names[] = {"balances", "counters"};
    return names;
  }

  machine::Applied apply(const machine::Record& record, machine::StateTxn& txn) const override {
    BinaryReader r(record.payload);
    if (record.type == kDeposit) {
      std::string account(r.bytes());
      std::uint64_t amount = r.varint();
      if (!r.finished()) throw std::invalid_argument("bad deposit");
      add(txn, account, static_cast<std::int64_t>(amount));
      std::uint64_t n = bump(txn, "deposits");
      if (amount % 10 == 0)
        txn.emit({"notify:" + account + ":" + std::to_string(n), 1, std::to_string(amount)});
      return {};
    } else if (record.type == kTransfer) {
      std::string from(r.bytes()), to(r.bytes());
      std::uint64_t amount = r.varint();
      if (!r.finished()) throw std::invalid_argument("bad transfer");
      if (balance(txn, from) < static_cast<std::int64_t>(amount))
        return protocol::refuse(protocol::ProtocolError::invalid, "insufficient balance");
      add(txn, from, -static_cast<std::int64_t>(amount));
      add(txn, to, static_cast<std::int64_t>(amount));
      bump(txn, "transfers");
      return {};
    } else {
      throw std::invalid_argument("unknown record type");
    }
  }

  static machine::Record deposit(std::string account, std::uint64_t amount,
                                 machine::UnixMillis at = 0) {
    BinaryWriter w;
    w.bytes(account);
    w.varint(amount);
    return {kDeposit, at, std::nullopt, std::move(w).data()};
  }
  static machine::Record transfer(std::string from, std::string to, std::uint64_t amount,
                                  machine::UnixMillis at = 0) {
    BinaryWriter w;
    w.bytes(from);
    w.bytes(to);
    w.varint(amount);
    return {kTransfer, at, std::nullopt, std::move(w).data()};
  }

  static std::int64_t balance(const machine::StateTxn& txn, const std::string& account) {
    auto v = txn.get(kBalances, account);
    return v ? std::stoll(*v) : 0;
  }

 private:
  static void add(machine::StateTxn& txn, const std::string& account, std::int64_t delta) {
    txn.put(kBalances, account, std::to_string(balance(txn, account) + delta));
  }
  static std::uint64_t bump(machine::StateTxn& txn, const std::string& counter) {
    auto v = txn.get(kCounters, counter);
    std::uint64_t n = (v ? std::stoull(*v) : 0) + 1;
    txn.put(kCounters, counter, std::to_string(n));
    return n;
  }
};

}  // namespace fedai::test
