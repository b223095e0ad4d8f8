// Router side of nips/F-04's answer: reading the JSON answer, the streamed deltas and error
// bodies, and the checks of "What the router checks". Pure apart from the crypto.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agents/dataplane/job_context.h"
#include "agents/dataplane/refusal.h"
#include "core/nostr/event.h"
#include "core/protocol/conversation_keys.h"
#include "core/protocol/data_plane.h"

namespace fedai::agents::dataplane {

struct AnswerParts {
  std::string_view result;
  std::string_view metering;  // empty when absent
  std::optional<std::string_view> payment_request;
};
// The raw JSON of each event in {"result":...,"metering":...,"payment_request":...}.
// Unknown fields are skipped; a field named twice is refused.
Result<AnswerParts> split_answer(std::string_view json);

struct VerifiedAnswer {
  protocol::JobResult result;
  protocol::Metering metering;
  Event result_event;
  Event metering_event;
  std::optional<Event> payment_request;  // verified, by the node, naming this METERING
};

// The checks, in order; each failure is ERR_BAD_RESULT with an `invalid:` reason:
// the answer has a result and a metering; both verify and are signed by the awarded node;
// JOB_RESULT opens for our privacy level (sealed for PL1+, in the clear for PL0) and names this
// JOB_SUBMIT and AWARD; METERING names this JOB_SUBMIT and us; the job ids match; output_hash is
// the SHA-256 of the text received (`streamed_text`, the concatenated deltas, when streamed;
// else the result's text) and a streamed result's text equals the deltas; input_hash is ours;
// tokens_out <= max_output_tokens; price_msat <= the awarded price and <= the price at the
// bid's rates for the tokens metered; a payment_request verifies, is by the node and names this
// METERING for its price. `keys` is the router's (keys.self()).
Refused<VerifiedAnswer> verify_answer(std::string_view answer_json, const JobContext& job,
                                      const Rates& rates, protocol::ConversationKeyCache& keys,
                                      std::optional<std::string_view> streamed_text,
                                      std::size_t max_event_bytes = 16 << 20);

// The text of one `delta` event (opened for PL1+), whose "i" must be `expected_index`.
Result<std::string> read_delta(std::string_view data, std::uint64_t expected_index,
                               const JobContext& job, protocol::ConversationKeyCache& keys);

// An F-06 error body ({"error":"<prefix>: ...","code":"ERR_..."}) as a Refusal. When the body
// says nothing usable, the code comes from the HTTP status (if any) and the reason says so.
Refusal read_error(std::string_view body, std::optional<int> http_status);

}  // namespace fedai::agents::dataplane
