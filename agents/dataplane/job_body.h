// The job body of nips/F-04: OpenAI's chat schema, in the clear (PL0) or sealed with NIP-44 from
// the router to the node (PL1, PL2). Sealing and opening use cached conversation keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/protocol/data_plane.h"
#include "core/util/result.h"
#include "runners/runner.h"

namespace fedai::agents::dataplane {

// True when `content_type` (parameters such as "; charset=utf-8" ignored, case-insensitive) is
// the one F-04 gives the level: application/json for PL0, application/nostr-nip44 above.
bool content_type_matches(std::string_view content_type, protocol::PrivacyLevel privacy);

// Node side: the body's plaintext (decrypted from `router` for PL1+), checked against the
// JOB_SUBMIT's input_hash. The Content-Type is checked apart (content_type_matches).
Result<std::string> open_job_body(std::string_view body, const protocol::JobSubmit& submit,
                                  const PublicKey& router, protocol::ConversationKeyCache& keys);

// What a node reads of the job body: `model`, `messages`, `max_tokens`, `stream`, and the sampling
// parameters (`temperature`, `stop`, `top_p`, `seed`, `presence_penalty`, `frequency_penalty`,
// `response_format`). A message's content is a string, or OpenAI's array of parts whose "text"
// parts are joined. (The client's request, as the router reads it, is openai::ChatRequest.)
struct JobInput {
  std::optional<std::string> model;
  std::vector<runners::ChatMessage> messages;
  std::optional<protocol::Tokens> max_tokens;
  bool stream = false;
  runners::Sampling sampling;
};

// Strict JSON, nesting bounded; `invalid: job body ...` reasons. Unknown fields are skipped; a
// parameter a node would have to ignore (a response_format other than text or json_object, a
// value out of its range) is refused rather than dropped.
Result<JobInput> parse_job_input(std::string_view json);

}  // namespace fedai::agents::dataplane
