// fedai devnet: a whole network in one process, for trying fedai and for the demo: the embedded
// relay, a router, several nodes with different prices, and a real model server (the tiny
// llama.cpp model behind an OpenAI-compatible shim, or the operator's own with --runner-url). It
// prints what happens on the relay as it happens.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace fedai::agents {

struct DevnetOptions {
  std::string relay_listen = "127.0.0.1:7447";
  std::string router_listen = "127.0.0.1:8080";
  std::string data = "fedai-devnet";  // every database, key and log the devnet writes
  std::string runner_url;             // empty: start the tiny llama.cpp model
  std::string runner_kind = "openai";
  std::string api_key;  // empty: the router serves loopback clients without one
  std::uint32_t nodes = 3;
  std::string tiny_runner_script;  // runners/tiny/server.mjs (default: from the source tree)
  std::string node_program;  // empty: the Node.js the build found (FEDAI_NODE), else node on PATH
  bool quiet = false;  // don't print the relay's traffic
  std::string mode = "posted_then_auction";
  std::uint64_t bid_window_ms = 300;
  bool durable = false;  // a devnet favours speed; a crash of the process loses nothing still
};

class Devnet {
 public:
  explicit Devnet(DevnetOptions options, std::ostream& out);
  ~Devnet();
  Devnet(const Devnet&) = delete;
  Devnet& operator=(const Devnet&) = delete;

  // Starts everything, in order; the error says which part failed.
  Status start();
  void stop();

  std::string relay_url() const;
  std::string router_url() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedai::agents
