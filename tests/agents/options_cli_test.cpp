// Every long-running command (relay, node, router) takes its options the same way: a flag, a
// FEDAI_<OPTION> variable, or a key of --config FILE, with flags > environment > file > default,
// and exit status 2 naming where a bad value came from. Runs the fedai executable.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "runners/child_process.h"

namespace fedai {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct CliRun {
  int status = -1;
  std::string output;  // stdout and stderr
};

// `sh -c "ENV fedai ARGS 2>&1"`: the environment is only what the test gives (plus PATH).
CliRun fedai(const std::string& env, const std::string& args) {
  runners::ChildProcess child(
      {"/bin/sh", "-c",
       "exec env -i PATH=/usr/bin:/bin " + env + " '" FEDAI_BIN "' " + args + " 2>&1"});
  CliRun r;
  auto status = child.wait(30s);
  EXPECT_TRUE(status.has_value()) << "fedai did not exit: " << args;
  r.status = status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  for (const auto& line : child.lines("")) r.output += line + "\n";
  return r;
}

class OptionsCli : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fedai-options-" + std::to_string(::getpid()) + "-" + GetParam());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string config(const std::string& text) {
    fs::path p = dir_ / "config.toml";
    std::ofstream(p) << text;
    return p.string();
  }
  const std::string& command() const { return GetParam(); }
  fs::path dir_;
};

TEST_P(OptionsCli, PrecedenceIsFlagThenEnvironmentThenFileThenDefault) {
  std::string file = config("log-level = \"warn\"\n");
  auto shown = [&](const std::string& env, const std::string& extra) {
    CliRun r = fedai(env, command() + " --config " + file + " --print-config" + extra);
    EXPECT_EQ(r.status, 0) << r.output;
    return r.output;
  };
  EXPECT_NE(shown("", "").find("log-level = \"warn\"\n"), std::string::npos);
  EXPECT_NE(shown("FEDAI_LOG_LEVEL=debug", "").find("log-level = \"debug\"\n"), std::string::npos);
  EXPECT_NE(shown("FEDAI_LOG_LEVEL=debug", " --log-level error").find("log-level = \"error\"\n"),
            std::string::npos);
}

TEST_P(OptionsCli, BadValuesExitTwoNamingTheirSource) {
  CliRun env = fedai("FEDAI_LOG_LEVEL=loud", command() + " --print-config");
  EXPECT_EQ(env.status, 2) << env.output;
  EXPECT_NE(env.output.find("FEDAI_LOG_LEVEL: 'loud'"), std::string::npos) << env.output;

  CliRun flag = fedai("", command() + " --log-level loud --print-config");
  EXPECT_EQ(flag.status, 2) << flag.output;
  EXPECT_NE(flag.output.find("--log-level: 'loud'"), std::string::npos) << flag.output;

  std::string file = config("log-level = \"warn\"\nno-such-option = 1\n");
  CliRun unknown = fedai("", command() + " --config " + file + " --print-config");
  EXPECT_EQ(unknown.status, 2) << unknown.output;
  EXPECT_NE(unknown.output.find(file + ":2:1: unknown key 'no-such-option'"), std::string::npos)
      << unknown.output;

  std::string typed = config("log-level = 3\n");
  CliRun wrong = fedai("", command() + " --config " + typed + " --print-config");
  EXPECT_EQ(wrong.status, 2) << wrong.output;
  EXPECT_NE(wrong.output.find(typed + ":1:"), std::string::npos) << wrong.output;
}

INSTANTIATE_TEST_SUITE_P(Commands, OptionsCli, testing::Values("relay", "node", "router"),
                         [](const auto& param) { return std::string(param.param); });

// The relay's checks across options are bad values too: exit 2 before anything starts.
TEST(RelayOptionsCli, CombinationsExitTwo) {
  CliRun r = fedai("FEDAI_DEFAULT_LIMIT=10 FEDAI_MAX_LIMIT=5", "relay --listen 127.0.0.1:0");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("default-limit (10) is larger than max-limit (5)"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace fedai
