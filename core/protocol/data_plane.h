// F-04 data plane: JOB_SUBMIT (26094), JOB_RESULT (26095, sealed to the router for PL1+) and
// METERING (26096), which travel over HTTP between router and node and never through relays;
// and the job body, sealed end to end for PL1+.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/nostr/event.h"
#include "core/nostr/keys.h"
#include "core/nostr/sha256.h"
#include "core/protocol/conversation_keys.h"
#include "core/protocol/kinds.h"
#include "core/protocol/units.h"
#include "core/util/result.h"

namespace fedai::protocol {

inline constexpr std::string_view kJobsPath = "/fedai/v1/jobs";
inline constexpr std::string_view kContentTypeJson = "application/json";
inline constexpr std::string_view kContentTypeSealed = "application/nostr-nip44";
// A JOB_SUBMIT's created_at must be within this many seconds of the node's clock.
inline constexpr UnixSeconds kJobSubmitWindow = 60;

// `<endpoint>/fedai/v1/jobs`, without doubling a trailing slash of the endpoint.
std::string jobs_url(std::string_view endpoint);

// 26094, in the Authorization header (NIP-98 style). Tags u, method, payload, e = the AWARD
// (marker "award"), p = the node.
struct JobSubmit {
  std::string url;  // the full URL the job is POSTed to
  std::string method = "POST";
  Sha256Digest payload_hash;  // of the body bytes as sent (sealed or not)
  EventId award_id;
  PublicKey node;
  JobId job_id;
  PrivacyLevel privacy = PrivacyLevel::pl0;  // PL0..PL2
  Sha256Digest input_hash;                   // of the plaintext body; METERING echoes it
  Tokens max_output_tokens = 0;
  bool stream = false;

  bool operator==(const JobSubmit&) const = default;
};

// 26095, in the answer. Tags e = the JOB_SUBMIT (marker "job"), e = the AWARD (marker "award"),
// p = the router. The content is sealed to the router when `privacy` is PL1 or above; privacy is
// the job's level (from the JOB_SUBMIT), not a field on the wire.
struct JobResult {
  EventId job_submit_id;
  EventId award_id;
  PublicKey router;
  PrivacyLevel privacy = PrivacyLevel::pl0;
  JobId job_id;
  JobStatus status = JobStatus::ok;
  std::string text;  // the whole output
  FinishReason finish_reason = FinishReason::stop;
  std::optional<ProtocolError> error;  // exactly when status is failed

  bool operator==(const JobResult&) const = default;
};

// 26096, the signed usage receipt, always in the clear. Tags e = the JOB_SUBMIT (marker "job"),
// p = the router.
struct Metering {
  EventId job_submit_id;
  PublicKey router;
  JobId job_id;
  Tokens tokens_in = 0;
  Tokens tokens_out = 0;
  Millis wall_ms;
  UnixSeconds started_at = 0;
  UnixSeconds finished_at = 0;  // >= started_at
  Sha256Digest input_hash;      // equals the JOB_SUBMIT's
  Sha256Digest output_hash;     // of the UTF-8 output text
  Msat price_msat;              // metering_price() at the bid's rates, at most the award

  bool operator==(const Metering&) const = default;
};

Status validate(const JobSubmit& submit);
Status validate(const JobResult& result);
Status validate(const Metering& metering);

Result<Event> build(const JobSubmit& submit, const Keypair& router, UnixSeconds now);
Result<Event> build(const JobResult& result, const Keypair& node, UnixSeconds now);
Result<Event> build(const JobResult& result, ConversationKeyCache& node, UnixSeconds now);
Result<Event> build(const Metering& metering, const Keypair& node, UnixSeconds now);

// Shape only: the node's binding checks of F-04 (time window, URL, body hash, award) need the
// request and its own state.
Result<JobSubmit> parse_job_submit(const Event& e);
// `us`: the router (or the node that wrote it). `privacy`: the job's level; a PL1+ result in the
// clear, or a PL0 result sealed, is refused.
Result<JobResult> parse_job_result(const Event& e, const Keypair& us, PrivacyLevel privacy);
Result<JobResult> parse_job_result(const Event& e, ConversationKeyCache& us, PrivacyLevel privacy);
Result<Metering> parse_metering(const Event& e);

// ---- The job body -------------------------------------------------------------------------------

// A job body ready to POST, with the two hashes the JOB_SUBMIT carries.
struct JobBody {
  std::string bytes;              // the body as sent: the JSON, or its NIP-44 payload
  std::string_view content_type;  // kContentTypeJson (PL0) or kContentTypeSealed (PL1, PL2)
  Sha256Digest input_hash;        // of the plaintext: JobSubmit::input_hash
  Sha256Digest payload_hash;      // of `bytes`: JobSubmit::payload_hash
};

// Router side: seals `plaintext` (the OpenAI-style JSON body) from the router to the node for
// PL1 and PL2; PL0 goes in the clear; PL3 is `invalid:` (it never leaves the router).
Result<JobBody> seal_job_body(std::string_view plaintext, PrivacyLevel privacy,
                              const Keypair& router, const PublicKey& node);
Result<JobBody> seal_job_body(std::string_view plaintext, PrivacyLevel privacy,
                              ConversationKeyCache& router, const PublicKey& node);

// The size in bytes of the body seal_job_body() makes of a plaintext of `plaintext_bytes`: the
// plaintext itself for PL0, its NIP-44 payload for PL1 and PL2 (the limit a node announces,
// `max_body_bytes`, applies to these bytes). PL3 never leaves the router: 0.
std::uint64_t job_body_size(std::uint64_t plaintext_bytes, PrivacyLevel privacy);

// Node side, after the JOB_SUBMIT passed its checks: the Content-Type must match the level
// (parameters such as "; charset=utf-8" are ignored), the body must decrypt (PL1+), and the
// plaintext's SHA-256 must equal input_hash. Returns the plaintext.
Result<std::string> open_job_body(std::string_view body, std::string_view content_type,
                                  const JobSubmit& submit, const PublicKey& router,
                                  const Keypair& node);

}  // namespace fedai::protocol
