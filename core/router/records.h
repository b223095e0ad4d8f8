// What the router's state machine hears (records) and asks for (effects).
//
// The router never signs or sends anything from a reducer: it emits an effect ("compose the RFB
// for job J"), the runtime builds and signs the event and appends it back as a record
// (kRfbSent), and only that record's reducer emits the effect that publishes it. So the log
// holds every event the router sent, replay is deterministic (no signature is made twice), and a
// crash at any point repeats an effect rather than losing one. Prompts and outputs never appear
// here: records carry hashes and counts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/machine/state.h"
#include "core/market/auction.h"
#include "core/market/peers.h"
#include "core/protocol/announce.h"
#include "core/protocol/kinds.h"
#include "core/protocol/units.h"

namespace fedai::router {

using machine::UnixMillis;
using protocol::JobId;
using protocol::Millis;
using protocol::Msat;
using protocol::Tokens;

enum RecordType : std::uint16_t {
  kJobRequested = 1,      // a client asked for a job
  kRfbSent = 2,           // the runtime signed the RFB the machine asked for
  kAwardSent = 3,         // ... the AWARD
  kCancelSent = 4,        // ... the CANCEL
  kCapsReceived = 10,     // a verified CAPS_ANNOUNCE
  kPriceReceived = 11,    // a verified PRICE_ANNOUNCE
  kStatusReceived = 12,   // a verified STATUS_ANNOUNCE
  kBidReceived = 13,      // a verified, unsealed BID for one of our RFBs
  kTimerFired = 20,       // a timer the machine armed
  kDispatchOutcome = 21,  // the data plane's answer (verified) or failure
  kClientGone = 22,       // the client went away before the answer
  kStartup = 23,          // the router (re)started: in-flight jobs fail explicitly
  kPolicySet = 24,        // the policy in force from now on (RouterPolicy)
};

enum EffectType : std::uint16_t {
  kComposeRfb = 1,     // build, sign, append kRfbSent
  kComposeAward = 2,   // build, sign, append kAwardSent
  kComposeCancel = 3,  // build, sign, append kCancelSent
  kPublish = 4,        // send this event to the relays
  kArmTimer = 5,       // append kTimerFired at `at`
  kDispatch = 6,       // POST the job to the awarded node (F-04), append kDispatchOutcome
  kClientReply = 7,    // answer the waiting client: deliver the verified result, or fail
};

enum class JobMode : std::uint8_t { auction, posted, posted_then_auction };

struct JobRequested {
  JobId job_id;
  std::string model;
  std::string job_type;
  protocol::PrivacyLevel privacy = protocol::PrivacyLevel::pl0;
  Tokens input_tokens = 0;
  Tokens max_output_tokens = 1;
  Msat max_price;
  bool stream = false;
  JobMode mode = JobMode::auction;
  Millis bid_window{500};
  Millis deadline{60'000};
  // The job body's plaintext (the OpenAI-style JSON the node gets, F-04), in bytes: with the
  // privacy level it gives the body's size as sent, which nodes announce a limit for. 0: not
  // known, not checked.
  std::uint64_t body_bytes = 0;
  auto fields() const {
    return std::tie(job_id, model, job_type, privacy, input_tokens, max_output_tokens, max_price,
                    stream, mode, bid_window, deadline, body_bytes);
  }
  auto fields() {
    return std::tie(job_id, model, job_type, privacy, input_tokens, max_output_tokens, max_price,
                    stream, mode, bid_window, deadline, body_bytes);
  }
};

// kRfbSent, kAwardSent, kCancelSent: the event the runtime signed for an effect.
struct EventSent {
  JobId job_id;
  std::uint32_t attempt = 0;  // the award's attempt number (awards only)
  EventId event_id;
  std::int64_t created_at = 0;  // Unix seconds
  std::string event_json;       // as published / sent
  auto fields() const { return std::tie(job_id, attempt, event_id, created_at, event_json); }
  auto fields() { return std::tie(job_id, attempt, event_id, created_at, event_json); }
};

struct CapsReceived {
  PublicKey node;
  EventId event_id;
  std::int64_t created_at = 0;
  std::string instance;
  std::string model;
  std::vector<std::string> job_types;
  std::string endpoint;
  protocol::PrivacyLevel privacy_max = protocol::PrivacyLevel::pl0;
  Tokens max_output_tokens = 0;
  bool streaming = false;
  bool is_router = false;
  // The limits a job must fit before it is offered to this node (F-02). 0: not announced, not
  // checked.
  Tokens context_tokens = 0;
  std::uint64_t max_body_bytes = 0;  // of the JOB_SUBMIT body as sent (sealed for PL1+)
  auto fields() const {
    return std::tie(node, event_id, created_at, instance, model, job_types, endpoint, privacy_max,
                    max_output_tokens, streaming, is_router, context_tokens, max_body_bytes);
  }
  auto fields() {
    return std::tie(node, event_id, created_at, instance, model, job_types, endpoint, privacy_max,
                    max_output_tokens, streaming, is_router, context_tokens, max_body_bytes);
  }
};

// The record for a verified CAPS_ANNOUNCE (its id and signature checked) and its content.
CapsReceived caps_received(const Event& event, const protocol::CapsAnnounce& caps);

struct PriceReceived {
  PublicKey node;
  EventId event_id;
  std::int64_t created_at = 0;
  std::string instance;
  std::string model;
  std::string job_type;
  Msat in_per_1k;
  Msat out_per_1k;
  Msat min;
  std::uint32_t surge_milli = 1000;
  auto fields() const {
    return std::tie(node, event_id, created_at, instance, model, job_type, in_per_1k, out_per_1k,
                    min, surge_milli);
  }
  auto fields() {
    return std::tie(node, event_id, created_at, instance, model, job_type, in_per_1k, out_per_1k,
                    min, surge_milli);
  }
};

struct StatusReceived {
  PublicKey node;
  std::string instance;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;  // Unix seconds
  protocol::Backpressure state = protocol::Backpressure::normal;
  std::uint32_t queue_depth = 0;
  Millis p95_latency;
  auto fields() const {
    return std::tie(node, instance, created_at, expires_at, state, queue_depth, p95_latency);
  }
  auto fields() {
    return std::tie(node, instance, created_at, expires_at, state, queue_depth, p95_latency);
  }
};

struct BidReceived {
  market::BidOffer bid;  // bid.min is the bid's min_msat (METERING's floor)
  auto fields() const {
    return std::tie(bid.bid_id, bid.bidder, bid.addressee, bid.rfb_ref, bid.job_id, bid.price,
                    bid.in_per_1k, bid.out_per_1k, bid.eta, bid.endpoint, bid.capacity_token,
                    bid.valid_until, bid.received_at, bid.min);
  }
  auto fields() {
    return std::tie(bid.bid_id, bid.bidder, bid.addressee, bid.rfb_ref, bid.job_id, bid.price,
                    bid.in_per_1k, bid.out_per_1k, bid.eta, bid.endpoint, bid.capacity_token,
                    bid.valid_until, bid.received_at, bid.min);
  }
};

enum class TimerKind : std::uint8_t { bid_window, cooldown, dispatch_deadline };

struct TimerFired {
  TimerKind kind = TimerKind::bid_window;
  JobId job_id;
  std::uint32_t attempt = 0;
  auto fields() const { return std::tie(kind, job_id, attempt); }
  auto fields() { return std::tie(kind, job_id, attempt); }
};

// How a dispatch attempt ended. `ok` means the runtime verified the JOB_RESULT and METERING
// against nips/F-04; the figures are from the METERING. A refusal with ERR_RATE_LIMITED or
// ERR_BUSY is the node's backpressure, not a failure of the node (nips/F-03): `retry_after` is
// its Retry-After, if it sent one (0 otherwise).
struct DispatchOutcome {
  JobId job_id;
  std::uint32_t attempt = 0;
  bool ok = false;
  protocol::ProtocolError error = protocol::ProtocolError::internal;  // when not ok
  market::Outcome kind = market::Outcome::failure;                    // for reputation
  std::string reason;                                                 // human-readable
  Tokens tokens_in = 0;
  Tokens tokens_out = 0;
  Msat price;
  Millis wall;
  EventId metering_id;
  Millis retry_after;
  auto fields() const {
    return std::tie(job_id, attempt, ok, error, kind, reason, tokens_in, tokens_out, price, wall,
                    metering_id, retry_after);
  }
  auto fields() {
    return std::tie(job_id, attempt, ok, error, kind, reason, tokens_in, tokens_out, price, wall,
                    metering_id, retry_after);
  }
};

struct ClientGone {
  JobId job_id;
  auto fields() const { return std::tie(job_id); }
  auto fields() { return std::tie(job_id); }
};

struct Startup {
  std::uint64_t pid = 0;  // informational
  auto fields() const { return std::tie(pid); }
  auto fields() { return std::tie(pid); }
};

// ---- effects ----

struct ComposeRfb {
  JobId job_id;
  std::uint32_t round = 0;  // auctions held for this job so far, this one included
  auto fields() const { return std::tie(job_id, round); }
  auto fields() { return std::tie(job_id, round); }
};

struct ComposeAward {
  JobId job_id;
  std::uint32_t attempt = 0;
  PublicKey node;
  Msat price;
  std::optional<EventId> rfb_id, bid_id, price_id;
  std::optional<protocol::CapacityToken> capacity_token;
  std::int64_t submit_by = 0;  // Unix seconds
  Millis deadline;
  auto fields() const {
    return std::tie(job_id, attempt, node, price, rfb_id, bid_id, price_id, capacity_token,
                    submit_by, deadline);
  }
  auto fields() {
    return std::tie(job_id, attempt, node, price, rfb_id, bid_id, price_id, capacity_token,
                    submit_by, deadline);
  }
};

struct ComposeCancel {
  JobId job_id;
  std::optional<EventId> rfb_id, award_id;
  std::optional<PublicKey> node;
  protocol::ProtocolError reason = protocol::ProtocolError::cancelled;
  auto fields() const { return std::tie(job_id, rfb_id, award_id, node, reason); }
  auto fields() { return std::tie(job_id, rfb_id, award_id, node, reason); }
};

struct Publish {
  std::string event_json;
  auto fields() const { return std::tie(event_json); }
  auto fields() { return std::tie(event_json); }
};

struct ArmTimer {
  TimerFired timer;
  UnixMillis at = 0;
  auto fields() const { return std::tie(timer.kind, timer.job_id, timer.attempt, at); }
  auto fields() { return std::tie(timer.kind, timer.job_id, timer.attempt, at); }
};

struct Dispatch {
  JobId job_id;
  std::uint32_t attempt = 0;
  PublicKey node;
  std::string endpoint;
  std::string award_json;
  Msat price;
  Msat in_per_1k, out_per_1k, min;
  auto fields() const {
    return std::tie(job_id, attempt, node, endpoint, award_json, price, in_per_1k, out_per_1k, min);
  }
  auto fields() {
    return std::tie(job_id, attempt, node, endpoint, award_json, price, in_per_1k, out_per_1k, min);
  }
};

struct ClientReply {
  JobId job_id;
  bool ok = false;
  std::uint32_t attempt = 0;  // the attempt whose result to deliver
  protocol::ProtocolError error = protocol::ProtocolError::internal;
  std::string reason;
  auto fields() const { return std::tie(job_id, ok, attempt, error, reason); }
  auto fields() { return std::tie(job_id, ok, attempt, error, reason); }
};

}  // namespace fedai::router
