// fedai db stats | replay: look inside an agent's state-machine database.
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>

#include "agents/cli/cli.h"
#include "core/node/node_machine.h"
#include "core/router/router_machine.h"
#include "core/store/machine_store.h"

namespace fedai::cli {
namespace {

std::unique_ptr<machine::Machine> machine_for(const std::string& name) {
  if (name == "router") return std::make_unique<router::RouterMachine>();
  if (name == "node") return std::make_unique<node::NodeMachine>();
  throw CommandError("the database belongs to an unknown machine '" + name + "'");
}

struct Opened {
  std::unique_ptr<machine::Machine> machine;
  std::unique_ptr<store::MachineStore> store;
};

Opened open_db(const std::string& path) {
  auto name = store::MachineStore::machine_name(path);
  if (!name) throw CommandError(name.error().message);
  Opened o;
  o.machine = machine_for(*name);
  auto s = store::MachineStore::open({path}, *o.machine);
  if (!s) throw CommandError(s.error().message);
  o.store = std::move(*s);
  return o;
}

int stats(const std::string& path) {
  Opened o = open_db(path);
  auto s = o.store->stats();
  std::cout << "database:        " << path << "\n"
            << "machine:         " << o.machine->name() << "\n"
            << "log records:     " << s.records << " (of " << s.next_seq << " appended)\n"
            << "checkpoint:      "
            << (s.checkpoint_seq ? "at record " + std::to_string(s.checkpoint_seq) : "none") << "\n"
            << "pending effects: " << s.pending_effects << "\n"
            << "seen ids:        " << s.seen_ids << "\n"
            << "map used:        " << s.map_used_bytes / 1024 << " KiB\n"
            << "state hash:      " << o.store->state_hash().hex() << "\n"
            << "tables:\n";
  for (const auto& [name, entries] : o.store->table_sizes())
    std::cout << "  " << std::left << std::setw(16) << name << entries << "\n";
  return 0;
}

int replay(const std::string& path, std::string scratch) {
  Opened o = open_db(path);
  bool temporary = scratch.empty();
  if (temporary) {
    scratch =
        (std::filesystem::temp_directory_path() / ("fedai-replay-" + std::to_string(::getpid())))
            .string();
  }
  auto live = o.store->state_hash();
  auto report = o.store->replay_into(scratch);
  if (temporary) std::filesystem::remove_all(scratch);
  if (!report) throw CommandError("replay failed: " + report.error().message);
  double rate = report->seconds > 0 ? static_cast<double>(report->records) / report->seconds : 0;
  if (report->checkpoint_seq)
    std::cout << "from the checkpoint at record " << report->checkpoint_seq << "\n";
  std::cout << "records: " << report->records << " in " << std::fixed << std::setprecision(3)
            << report->seconds << " s (" << std::setprecision(0) << rate << "/s)\n"
            << "live:    " << live.hex() << "\n"
            << "replay:  " << report->hash.hex() << "\n";
  if (report->hash != live) {
    std::cout << "MISMATCH: replaying the log does not give the live state\n";
    return 1;
  }
  std::cout << "match\n";
  return 0;
}

}  // namespace

void add_db_commands(CLI::App& app, Action& action) {
  auto* db = app.add_subcommand("db", "Inspect an agent's event-sourced state (LMDB)");
  db->require_subcommand(1);

  auto path = std::make_shared<std::string>();
  auto* st = db->add_subcommand("stats", "Log length, pending effects, table sizes, state hash");
  st->add_option("--db", *path, "The agent's database directory")->required();
  st->callback([&action, path] { action = [path] { return stats(*path); }; });

  auto replay_path = std::make_shared<std::string>();
  auto scratch = std::make_shared<std::string>();
  auto* rp = db->add_subcommand(
      "replay",
      "Rebuild the projections from the log into a scratch copy and compare its state hash with\n"
      "the live one. Exit status 0 when they match.");
  rp->add_option("--db", *replay_path, "The agent's database directory")->required();
  rp->add_option("--scratch", *scratch,
                 "Where to build the copy (must not exist or be empty; default: a temporary "
                 "directory, removed afterwards)");
  rp->callback([&action, replay_path, scratch] {
    action = [replay_path, scratch] { return replay(*replay_path, *scratch); };
  });
}

}  // namespace fedai::cli
