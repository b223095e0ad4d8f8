// F-02 announcements: CAPS_ANNOUNCE (36090), PRICE_ANNOUNCE (36091), STATUS_ANNOUNCE (36092),
// RECEIPT_SUMMARY (36093). Addressable events on relays, in the clear.
//
// Each struct holds the content fields and the tag-carried ones (the instance id of the `d` tag).
// build() validates, writes the tags the nips prescribe and signs; parse_*() takes an event whose
// id and signature the caller has verified, and checks kind, content and tags.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/nostr/event.h"
#include "core/nostr/keys.h"
#include "core/protocol/kinds.h"
#include "core/protocol/units.h"
#include "core/util/result.h"

namespace fedai::protocol {

// STATUS_ANNOUNCE expires this long after it is published (F-02).
inline constexpr UnixSeconds kStatusLifetime = 90;

// 36090: what one instance serves of one model. d = "<instance>:<model>", m = model, one t per
// job type.
struct CapsAnnounce {
  std::string instance = "node";
  Role role = Role::node;
  std::string model;
  std::vector<std::string> job_types;  // at least one, no repeats
  Tokens context_tokens = 0;
  Tokens max_output_tokens = 0;
  std::string endpoint;                          // data-plane base URL (F-04)
  PrivacyLevel privacy_max = PrivacyLevel::pl0;  // never PL3
  bool streaming = false;
  std::uint32_t max_concurrency = 1;  // >= 1
  std::uint64_t max_body_bytes = 0;
  std::optional<std::string> software;  // e.g. "fedai/0.1.0"

  bool operator==(const CapsAnnounce&) const = default;
};

// 36091: the posted price for one (instance, model, job type). d = "<instance>:<model>:<job type>".
struct PriceAnnounce {
  std::string instance = "node";
  std::string model;
  std::string job_type;
  Msat in_per_1k_msat;
  Msat out_per_1k_msat;
  Msat min_msat;
  Surge surge;  // in force when published

  bool operator==(const PriceAnnounce&) const = default;
};

// 36092: backpressure of one instance. d = "<instance>", expiration = created_at + 90.
struct StatusAnnounce {
  std::string instance = "node";
  Backpressure state = Backpressure::normal;
  std::uint32_t queue_depth = 0;
  std::uint32_t active_jobs = 0;
  Millis p95_latency_ms;

  bool operator==(const StatusAnnounce&) const = default;
};

// 36093: a router's summary of the METERING receipts it verified from one node.
// d = p = the node's pubkey.
struct ReceiptSummary {
  PublicKey node;
  UnixSeconds window_start = 0;
  UnixSeconds window_end = 0;  // >= window_start
  std::uint64_t jobs = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t invalid_receipts = 0;
  Millis p50_latency_ms;
  Millis p95_latency_ms;
  Msat paid_msat;

  bool operator==(const ReceiptSummary&) const = default;
};

// The `d` tag values, e.g. for looking an announcement up by its coordinate.
std::string caps_d_tag(std::string_view instance, std::string_view model);
std::string price_d_tag(std::string_view instance, std::string_view model,
                        std::string_view job_type);

Status validate(const CapsAnnounce& caps);
Status validate(const PriceAnnounce& price);
Status validate(const StatusAnnounce& status);
Status validate(const ReceiptSummary& summary);

// Signed events with created_at = now. `invalid:` when the struct does not validate.
Result<Event> build(const CapsAnnounce& caps, const Keypair& signer, UnixSeconds now);
Result<Event> build(const PriceAnnounce& price, const Keypair& signer, UnixSeconds now);
Result<Event> build(const StatusAnnounce& status, const Keypair& signer, UnixSeconds now);
Result<Event> build(const ReceiptSummary& summary, const Keypair& signer, UnixSeconds now);

Result<CapsAnnounce> parse_caps_announce(const Event& e);
Result<PriceAnnounce> parse_price_announce(const Event& e);
Result<StatusAnnounce> parse_status_announce(const Event& e);  // requires the expiration tag
Result<ReceiptSummary> parse_receipt_summary(const Event& e);

}  // namespace fedai::protocol
