// A node's data plane for router-side tests: the real checks (verify_job_submit) and the real
// answer builders (JSON and SSE), over a real agents::http::Server, with a canned output instead
// of a runner, and faults to make its answer wrong in one way each.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agents/dataplane/answer.h"
#include "agents/dataplane/verify_submit.h"
#include "agents/http/server.h"
#include "core/protocol/conversation_keys.h"

namespace fedai::test {

enum class NodeFault {
  none,
  wrong_signer,       // JOB_RESULT and METERING signed by another key
  tamper_output,      // the JOB_RESULT's text is not what METERING hashed
  price_above_award,  // METERING price_msat = the awarded price + 1
  tokens_over_max,    // METERING tokens_out = max_output_tokens + 1
  missing_metering,   // {"result": ...} only
  never_answer,       // holds the request until the test ends
  stream_mismatch,    // the deltas sent differ from the text the signed result covers
  error_mid_stream,   // one delta, then `event: error` (ERR_RUNNER)
};

struct NodeDoubleOptions {
  std::string text = "Hello from the node double.";  // streamed word by word
  agents::dataplane::Rates rates{protocol::Msat{1'000}, protocol::Msat{2'000}, protocol::Msat{10}};
  protocol::Tokens tokens_in = 12;
  std::optional<protocol::Tokens> tokens_out;  // default: the number of words
  NodeFault fault = NodeFault::none;
  agents::dataplane::NodeLimits limits;
};

class NodeDouble {
 public:
  // Routes POST /fedai/v1/jobs on `server` (before it starts). The URL it checks `u` against is
  // the server's url() + the jobs path.
  NodeDouble(agents::http::Server& server, const Keypair& node, NodeDoubleOptions options = {});
  ~NodeDouble();

  void set_fault(NodeFault fault) { fault_.store(fault); }
  // Waits until `n` requests are held (NodeFault::never_answer), at most `timeout`.
  bool wait_held(std::size_t n, std::chrono::milliseconds timeout);
  std::size_t accepted() const { return accepted_.load(); }
  std::size_t refused() const { return refused_.load(); }

 private:
  void handle(agents::http::Request request, std::shared_ptr<agents::http::Responder> responder);

  agents::http::Server& server_;
  Keypair node_;
  Keypair stranger_ = Keypair::generate();
  NodeDoubleOptions options_;
  std::unique_ptr<protocol::ConversationKeyCache> keys_, stranger_keys_;
  std::atomic<NodeFault> fault_;
  std::atomic<std::size_t> accepted_{0}, refused_{0};
  std::mutex mutex_;
  std::condition_variable held_changed_;
  std::vector<std::shared_ptr<agents::http::Responder>> held_;
};

}  // namespace fedai::test
