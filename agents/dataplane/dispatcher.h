// Router side of nips/F-04: send a job to its awarded node and check what comes back.
//
// dispatch() builds and signs the JOB_SUBMIT (u, method, payload, e = the AWARD, p = the node),
// seals the body for PL1+ (cached conversation keys), POSTs it with the AWARD in X-Fedai-Award
// through runners::HttpClient (kept-alive connections), reads a JSON answer or an SSE stream
// (deltas forwarded as they arrive, opened for PL1+), and verifies the result and METERING
// (answer_reader.h). The outcome is one DispatchResult: the verified figures, or the failure as
// an F-06 code, the market::Outcome it counts as for reputation, and a reason.
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agents/dataplane/job_context.h"
#include "core/market/peers.h"
#include "core/nostr/event.h"
#include "core/protocol/conversation_keys.h"
#include "core/protocol/data_plane.h"
#include "core/router/records.h"
#include "runners/http_client.h"

namespace fedai::agents::dataplane {

struct DispatchRequest {
  std::string endpoint;    // the node's data-plane endpoint (BID or CAPS); the job goes to
                           // jobs_url(endpoint)
  EventId award_id;        // the AWARD's id, which the JOB_SUBMIT names
  std::string award_json;  // the AWARD as signed, sent in X-Fedai-Award
  // Both from an AWARD event.
  void set_award(const Event& award) {
    award_id = award.id;
    award_json = to_json(award);
  }
  PublicKey node;  // the awarded node
  protocol::JobId job_id;
  protocol::PrivacyLevel privacy = protocol::PrivacyLevel::pl0;
  std::string body;  // the plaintext OpenAI-style chat body (never logged)
  protocol::Tokens max_output_tokens = 0;
  bool stream = false;
  protocol::Msat awarded_price;
  Rates rates;  // the bid's (or the posted price's with surge), to check METERING's price
  std::chrono::milliseconds timeout{30'000};  // the whole exchange: the award's deadline
};

struct DispatchResult {
  bool ok = false;
  // The verified answer (also when the node reported a failed job: ok is then false).
  std::string text;
  protocol::JobStatus status = protocol::JobStatus::failed;
  protocol::FinishReason finish_reason = protocol::FinishReason::error;
  protocol::Tokens tokens_in = 0;
  protocol::Tokens tokens_out = 0;
  protocol::Msat price;
  protocol::Millis wall;  // the METERING's wall_ms
  EventId submit_id;
  EventId metering_id;
  std::optional<Event> result_event, metering_event, payment_request;
  // The failure.
  protocol::ProtocolError error = protocol::ProtocolError::internal;
  market::Outcome kind = market::Outcome::failure;
  std::string reason;  // "<prefix>: ...": never holds prompt or output text
  // A refusal's Retry-After (delay-seconds form), 0 when there was none.
  protocol::Millis retry_after;
  // Measured by the router: from dispatch() to the outcome.
  std::chrono::microseconds elapsed{0};
  std::uint64_t deltas = 0;
};

// The record the router's state machine appends for this attempt.
router::DispatchOutcome to_outcome(const DispatchResult& result, const protocol::JobId& job_id,
                                   std::uint32_t attempt);

struct DispatchCallbacks {
  // Each streamed piece of output, in order, as it arrives (opened for PL1+). Optional.
  std::function<void(std::string_view text)> on_delta;
  // Exactly once.
  std::function<void(DispatchResult)> on_done;
};

class Dispatch {
 public:
  virtual ~Dispatch() = default;
  // The client went away: on_done reports ERR_CANCELLED (posted, not from inside cancel()), and
  // a streamed exchange is dropped at its next chunk; a late answer is ignored. Call it on the
  // io_context's thread.
  virtual void cancel() = 0;
  virtual const EventId& submit_id() const = 0;
};

class Dispatcher {
 public:
  struct Options {
    std::function<UnixSeconds()> clock = unix_now;
    std::size_t max_answer_bytes = 16 << 20;
    // For a new connection to a node: a dead node fails fast, leaving time to retry another.
    std::optional<std::chrono::milliseconds> connect_timeout{std::chrono::milliseconds{3'000}};
  };

  // `keys` is the router's (keys.self() signs the JOB_SUBMIT). All three must outlive every
  // dispatch. Callbacks run on `io`, which should be run by one thread (AgentLoop).
  Dispatcher(boost::asio::io_context& io, runners::HttpClient& client,
             protocol::ConversationKeyCache& keys, Options options);
  Dispatcher(boost::asio::io_context& io, runners::HttpClient& client,
             protocol::ConversationKeyCache& keys)
      : Dispatcher(io, client, keys, Options{}) {}

  std::shared_ptr<Dispatch> dispatch(DispatchRequest request, DispatchCallbacks callbacks);

 private:
  boost::asio::io_context& io_;
  runners::HttpClient& client_;
  protocol::ConversationKeyCache& keys_;
  Options options_;
};

}  // namespace fedai::agents::dataplane
