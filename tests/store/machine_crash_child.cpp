// Child process for the crash test: opens the ledger store, carries out pending effects, then
// appends random records in group commits and carries out what they emit, printing one line per
// commit, until it is killed.
//
// usage: fedai_machine_crash_child DB_DIR EFFECTS_FILE SEED
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>

#include "core/store/machine_store.h"
#include "tests/support/ledger_machine.h"

namespace {

// The effect's sink: appends the id to a file and fsyncs before the effect is marked done.
void carry_out(int fd, const fedai::machine::Effect& effect) {
  std::string line = effect.id + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
      ::fsync(fd) != 0)
    std::abort();
}

fedai::machine::Record done(const std::string& id, fedai::machine::UnixMillis at) {
  return {fedai::machine::kEffectDone, at, std::nullopt, id};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  fedai::test::LedgerMachine machine;
  auto store = fedai::store::MachineStore::open({argv[1]}, machine);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().to_string().c_str());
    return 1;
  }
  int fd = ::open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return 1;
  std::mt19937_64 rng(std::stoull(argv[3]));
  fedai::machine::UnixMillis now = 1'700'000'000'000;

  // Effects a previous run emitted but did not mark done: carry them out again (idempotent).
  for (const auto& effect : (*store)->pending_effects()) {
    carry_out(fd, effect);
    (*store)->append({done(effect.id, now)});
  }
  std::printf("ready\n");
  std::fflush(stdout);

  const char* accounts[] = {"a", "b", "c", "d"};
  for (;;) {
    std::vector<fedai::machine::Record> batch;
    int n = 1 + static_cast<int>(rng() % 20);
    for (int i = 0; i < n; ++i) {
      ++now;
      if (rng() % 3)
        batch.push_back(fedai::test::LedgerMachine::deposit(accounts[rng() % 4], rng() % 50, now));
      else
        batch.push_back(fedai::test::LedgerMachine::transfer(accounts[rng() % 4],
                                                             accounts[rng() % 4], rng() % 60, now));
    }
    auto results = (*store)->append(std::move(batch));
    std::printf("committed\n");
    std::fflush(stdout);
    for (const auto& r : results)
      for (const auto& effect : r.effects) {
        carry_out(fd, effect);
        (*store)->append({done(effect.id, ++now)});
      }
  }
}
