// Node side of nips/F-04's answer: the signed JOB_RESULT and METERING, as one JSON object or as
// the last event of a Server-Sent Events stream of deltas.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agents/dataplane/job_context.h"
#include "agents/dataplane/refusal.h"
#include "agents/http/server.h"
#include "core/nostr/event.h"
#include "core/protocol/conversation_keys.h"
#include "core/protocol/data_plane.h"

namespace fedai::agents::dataplane {

// SSE event names of the streamed answer.
inline constexpr std::string_view kDeltaEvent = "delta";
inline constexpr std::string_view kResultEvent = "result";
inline constexpr std::string_view kErrorEvent = "error";

// What the runner did for one job.
struct RunOutcome {
  protocol::JobStatus status = protocol::JobStatus::ok;
  std::string text;  // the whole output (for a stream: the deltas sent, concatenated)
  protocol::FinishReason finish_reason = protocol::FinishReason::stop;
  std::optional<protocol::ProtocolError> error;  // exactly when status is failed
  protocol::Tokens tokens_in = 0;
  protocol::Tokens tokens_out = 0;
  protocol::Millis wall;  // from accepting the job to the last byte of output
  UnixSeconds started_at = 0;
  UnixSeconds finished_at = 0;
};

struct Answer {
  Event result;             // JOB_RESULT, sealed to the router for PL1+
  Event metering;           // METERING, in the clear
  std::string json;         // {"result":...,"metering":...[,"payment_request":...]}
  protocol::Msat price{0};  // what the METERING charges
};

// The METERING price of F-04: metering_price at `rates`, capped at the awarded price.
Result<protocol::Msat> metering_price(const JobContext& job, const Rates& rates,
                                      protocol::Tokens tokens_in, protocol::Tokens tokens_out);

// Signs the JOB_RESULT and METERING (keys.self() is the node) for `outcome`, and writes the
// answer object. `payment_request` (F-05), when given, is carried as is: it names the METERING,
// so the caller builds it from answer.metering and calls answer_json again.
Result<Answer> build_answer(const JobContext& job, const RunOutcome& outcome, const Rates& rates,
                            protocol::ConversationKeyCache& keys, UnixSeconds now);

// {"result":...,"metering":...} with "payment_request" when given.
std::string answer_json(const Event& result, const Event& metering,
                        const Event* payment_request = nullptr);

// The data of one `delta` event: {"i":n,"text":"..."} (PL0) or {"i":n,"sealed":"<NIP-44 of
// {"text":"..."}>"} (PL1+, sealed to the router).
Result<std::string> delta_data(std::uint64_t index, std::string_view text, const JobContext& job,
                               protocol::ConversationKeyCache& keys);

// The streamed answer over a Responder: start(), delta()..., then finish() or fail().
// It keeps the text it sent: that concatenation is what the signed result must cover.
class AnswerStream {
 public:
  AnswerStream(std::shared_ptr<http::Responder> responder, JobContext job,
               protocol::ConversationKeyCache& keys);

  void start();
  // False once the client is gone or the delta could not be sealed. Empty deltas are skipped.
  bool delta(std::string_view text);
  // `event: result` with the answer object, and the end of the stream.
  void finish(const Answer& answer);
  // `event: error` with an F-06 body, and the end of the stream.
  void fail(const Refusal& refusal);

  const std::string& text() const { return text_; }
  std::uint64_t deltas() const { return next_; }
  bool client_gone() const { return responder_->client_gone(); }

 private:
  std::shared_ptr<http::Responder> responder_;
  JobContext job_;
  protocol::ConversationKeyCache& keys_;
  std::string text_;
  std::uint64_t next_ = 0;
  bool started_ = false;
  bool ended_ = false;
};

// Answers a refusal as F-06 JSON with its HTTP status.
void reply_refusal(http::Responder& responder, const Refusal& refusal);

}  // namespace fedai::agents::dataplane
