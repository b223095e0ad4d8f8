// Node side of nips/F-04: the checks a JOB_SUBMIT and its AWARD pass before anything runs.
//
// verify_job_submit runs checks 1-6 and 8 of "What the node checks", in order, and maps each
// failure to its F-06 code and reason. Check 7 (neither id seen before: one job per award) and
// the state half of 6 (the capacity token names a reservation this node holds for the router and
// job; or, for a posted-price award, the price is at least the current posted price and a slot
// is free) need the node's state: the caller hands VerifiedSubmit to its state machine
// (node::JobSubmitted). Pure apart from the crypto: no I/O, no clock.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "agents/dataplane/job_body.h"
#include "agents/dataplane/job_context.h"
#include "agents/dataplane/refusal.h"
#include "agents/http/server.h"
#include "core/nostr/event.h"
#include "core/protocol/auction.h"
#include "core/protocol/conversation_keys.h"
#include "core/protocol/data_plane.h"

namespace fedai::agents::dataplane {

inline constexpr std::string_view kAwardHeader = "X-Fedai-Award";
// The largest event either header may carry, decoded.
inline constexpr std::size_t kMaxHeaderEventBytes = 16 * 1024;

// The parts of the HTTP request the checks read. Views: the request must outlive the call.
struct SubmitRequest {
  std::string_view method;
  std::string_view url;  // the full URL this node serves the jobs path at (its endpoint's)
  std::optional<std::string_view> authorization;
  std::optional<std::string_view> award;  // X-Fedai-Award
  std::string_view content_type;
  std::string_view body;
};
SubmitRequest submit_request(const http::Request& request, std::string_view url);

struct NodeLimits {
  std::size_t max_body_bytes = 1 << 20;
  protocol::PrivacyLevel privacy_max = protocol::PrivacyLevel::pl2;
  UnixSeconds window = protocol::kJobSubmitWindow;
  // Optional: true for the id of an AWARD whose signature this node already verified (it saw
  // the AWARD on a relay). The header's AWARD is then checked by recomputing its id (a hash)
  // instead of verifying its signature again; the id commits to every byte that was signed.
  std::function<bool(const EventId&)> award_already_verified;
};

struct VerifiedSubmit {
  Event submit_event;  // verified JOB_SUBMIT
  Event award_event;   // verified AWARD
  protocol::JobSubmit submit;
  protocol::Award award;
  std::string plaintext;  // the opened body: never log it
  JobInput input;         // read from it

  const EventId& submit_id() const { return submit_event.id; }
  const EventId& award_id() const { return award_event.id; }
  const PublicKey& router() const { return submit_event.pubkey; }
  const protocol::JobId& job_id() const { return submit.job_id; }
  protocol::Msat price() const { return award.price_msat; }
  // The tokens to generate at most: the JOB_SUBMIT's max_output_tokens, or the body's
  // max_tokens when smaller.
  protocol::Tokens max_output_tokens() const;
  JobContext context() const;
};

// Every failure is a Refusal with the F-06 code and its NIP-01-prefixed reason:
//   401 auth-required: no Authorization header;
//   400 invalid: undecodable, unparsable, wrong kind, bad signature, outside the time window,
//       another URL or method, payload hash, AWARD missing or not binding, Content-Type against
//       the privacy level, body does not decrypt or match input_hash, body not a chat request;
//   410 (invalid:) the AWARD passed submit_by;
//   413 (invalid:) the body is over limits.max_body_bytes;
//   422 (invalid:) the privacy level is above limits.privacy_max.
// `keys` is the node's (keys.self()): it opens the AWARD and the sealed body.
Refused<VerifiedSubmit> verify_job_submit(const SubmitRequest& request, UnixSeconds now,
                                          protocol::ConversationKeyCache& keys,
                                          const NodeLimits& limits = {});
// The same without a key cache (each call derives its conversation key).
Refused<VerifiedSubmit> verify_job_submit(const SubmitRequest& request, UnixSeconds now,
                                          const Keypair& node, const NodeLimits& limits = {});

// "Nostr <base64>" or "<base64>" (the award header) to a parsed event, unverified. `what` names
// the header in reasons ("JOB_SUBMIT in the Authorization header").
Result<Event> decode_header_event(std::string_view value, bool nostr_scheme, std::string_view what);

}  // namespace fedai::agents::dataplane
