// `fedai db stats` and `fedai db replay` on a real router database: the counts it prints are the
// log's, and replaying the log into a scratch copy gives the live state hash.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>

#include "core/router/router_machine.h"
#include "core/store/machine_store.h"
#include "runners/child_process.h"

namespace fedai {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("fedai-db-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

struct CliRun {
  int status = -1;
  std::vector<std::string> lines;
};

CliRun fedai(std::vector<std::string> args) {
  args.insert(args.begin(), FEDAI_BIN);
  runners::ChildProcess child(args);
  CliRun r;
  auto status = child.wait(30s);
  EXPECT_TRUE(status.has_value()) << "fedai did not exit";
  r.status = status ? *status : -1;
  r.lines = child.lines("");
  return r;
}

bool has_line(const CliRun& r, const std::string& text) {
  for (const auto& l : r.lines)
    if (l == text) return true;
  return false;
}

// A router's log: its policy, a start, and announcements from two nodes (one replaced later),
// committed two records and then three. With `checkpoint_every` 4 the second commit takes a
// checkpoint at record 5 and one more announcement follows it.
// Five records; with checkpoint_every, then restarts (records that add no rows) until the log
// outgrows the state and a checkpoint is taken (its record number in *checkpoint_at), then one
// record more.
void write_router_log(const fs::path& dir, std::uint64_t checkpoint_every = 0,
                      std::uint64_t* checkpoint_at = nullptr) {
  router::RouterMachine machine;
  store::MachineStoreOptions options{dir.string()};
  options.checkpoint_every = checkpoint_every;
  auto store = store::MachineStore::open(options, machine);
  ASSERT_TRUE(store) << store.error().message;
  router::RouterPolicy policy;
  policy.self = Keypair::generate().public_key();
  std::vector<machine::Record> records = {router::RouterMachine::record(policy, 1000),
                                          router::RouterMachine::record(router::Startup{1}, 1001)};
  for (int i = 0; i < 3; ++i) {
    router::CapsReceived caps;
    caps.node = Keypair::generate().public_key();
    caps.event_id.bytes.fill(static_cast<std::uint8_t>(i + 1));
    caps.created_at = 1'700'000'000 + i;
    caps.instance = "node";
    caps.model = i == 2 ? "other" : "tiny";
    caps.job_types = {"chat"};
    caps.endpoint = "http://127.0.0.1:1";
    records.push_back(router::RouterMachine::record(caps, 1002 + i));
  }
  std::vector<machine::Record> first(records.begin(), records.begin() + 2);
  std::vector<machine::Record> rest(records.begin() + 2, records.end());
  for (const auto& r : (*store)->append(first))
    ASSERT_EQ(r.status, machine::ApplyOutcome::Status::applied) << r.refusal.to_string();
  for (const auto& r : (*store)->append(rest))
    ASSERT_EQ(r.status, machine::ApplyOutcome::Status::applied) << r.refusal.to_string();
  if (checkpoint_every == 0) return;
  // A checkpoint copies the state, so it waits for the log to hold as many records as the state
  // holds rows (policy, caps and their seen ids here): at least one Startup is needed.
  std::uint64_t rows = 0;
  for (const auto& [table, n] : (*store)->table_sizes()) rows += n;
  ASSERT_GT(rows, 5u);
  for (std::uint64_t i = 0; (*store)->stats().checkpoint_seq == 0; ++i) {
    ASSERT_LT(i, 50u) << "no checkpoint";
    for (const auto& r :
         (*store)->append({router::RouterMachine::record(router::Startup{2}, 1050)}))
      ASSERT_EQ(r.status, machine::ApplyOutcome::Status::applied) << r.refusal.to_string();
  }
  *checkpoint_at = (*store)->stats().checkpoint_seq;
  EXPECT_GE(*checkpoint_at, rows);
  router::CapsReceived caps;
  caps.node = Keypair::generate().public_key();
  caps.event_id.bytes.fill(9);
  caps.created_at = 1'700'000'100;
  caps.instance = "node";
  caps.model = "tiny";
  caps.job_types = {"chat"};
  caps.endpoint = "http://127.0.0.1:2";
  for (const auto& r : (*store)->append({router::RouterMachine::record(caps, 1100)}))
    ASSERT_EQ(r.status, machine::ApplyOutcome::Status::applied) << r.refusal.to_string();
}

TEST(DbCli, StatsCountsTheLogAndReplayMatchesTheLiveState) {
  TempDir dir;
  write_router_log(dir.path);

  CliRun stats = fedai({"db", "stats", "--db", dir.path.string()});
  EXPECT_EQ(stats.status, 0);
  EXPECT_TRUE(has_line(stats, "machine:         router"));
  EXPECT_TRUE(has_line(stats, "log records:     5 (of 5 appended)"));
  EXPECT_TRUE(has_line(stats, "checkpoint:      none"));
  EXPECT_TRUE(has_line(stats, "  caps            3"));

  CliRun replay = fedai({"db", "replay", "--db", dir.path.string()});
  EXPECT_EQ(replay.status, 0);
  ASSERT_GE(replay.lines.size(), 4u);
  EXPECT_TRUE(replay.lines[0].starts_with("records: 5 in ")) << replay.lines[0];
  ASSERT_TRUE(replay.lines[1].starts_with("live:    "));
  ASSERT_TRUE(replay.lines[2].starts_with("replay:  "));
  EXPECT_EQ(replay.lines[1].substr(9), replay.lines[2].substr(9));
  EXPECT_EQ(replay.lines[3], "match");
  // The live hash is the one `stats` printed.
  bool same = false;
  for (const auto& l : stats.lines)
    same = same || l == "state hash:      " + replay.lines[1].substr(9);
  EXPECT_TRUE(same);
}

TEST(DbCli, ReplayStartsFromTheCheckpoint) {
  TempDir dir;
  std::uint64_t at = 0;
  write_router_log(dir.path, 4, &at);
  ASSERT_GT(at, 5u);
  std::string checkpoint = std::to_string(at);

  CliRun stats = fedai({"db", "stats", "--db", dir.path.string()});
  EXPECT_EQ(stats.status, 0);
  EXPECT_TRUE(has_line(stats, "log records:     1 (of " + std::to_string(at + 1) + " appended)"));
  EXPECT_TRUE(has_line(stats, "checkpoint:      at record " + checkpoint));
  EXPECT_TRUE(has_line(stats, "  caps            4"));

  CliRun replay = fedai({"db", "replay", "--db", dir.path.string()});
  EXPECT_EQ(replay.status, 0);
  ASSERT_GE(replay.lines.size(), 5u);
  EXPECT_EQ(replay.lines[0], "from the checkpoint at record " + checkpoint);
  EXPECT_TRUE(replay.lines[1].starts_with("records: 1 in ")) << replay.lines[1];
  EXPECT_EQ(replay.lines[2].substr(9), replay.lines[3].substr(9));
  EXPECT_EQ(replay.lines[4], "match");
}

TEST(DbCli, RefusesADirectoryThatIsNoAgentDatabase) {
  TempDir dir;
  CliRun stats = fedai({"db", "stats", "--db", (dir.path / "missing").string()});
  ASSERT_TRUE(WIFEXITED(stats.status));
  EXPECT_NE(WEXITSTATUS(stats.status), 0);
  EXPECT_TRUE(stats.lines.empty());
}

}  // namespace
}  // namespace fedai
