// The relays the pool tests run against, each a Node.js child process on 127.0.0.1:
//   IndependentRelay: tests/interop/independent_relay.mjs (@nostr-relay/core from npm)
//   ScriptedRelay:    tests/interop/scripted_relay.mjs (says what the test scripts, forged
//                     events included)
// FEDAI_NODE and FEDAI_INTEROP_DIR come from the build (tests/CMakeLists.txt).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/child_process.h"

namespace fedai::test {

inline constexpr std::chrono::milliseconds kRelayStartTimeout{15'000};

struct IndependentRelayOptions {
  int port = 0;    // 0: any free port
  std::string db;  // SQLite file; empty: in memory
  bool auth = false;
  bool gated = false;
  bool log_req = false;
  std::string tls_cert, tls_key;
};

class IndependentRelay {
 public:
  explicit IndependentRelay(IndependentRelayOptions options = {});
  const std::string& url() const { return url_; }
  int port() const { return port_; }
  ChildProcess& process() { return *process_; }
  // SIGKILL: the relay dies as in a crash.
  void kill();

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string url_;
  int port_ = 0;
};

class ScriptedRelay {
 public:
  // `script_file` holds the JSON script (see scripted_relay.mjs).
  explicit ScriptedRelay(const std::string& script_file, bool no_pong = false);
  const std::string& url() const { return url_; }
  ChildProcess& process() { return *process_; }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string url_;
};

// "ws://127.0.0.1:PORT" from the child's "relay: ..." line; throws if it never came.
std::string wait_for_relay_url(ChildProcess& child);

}  // namespace fedai::test
