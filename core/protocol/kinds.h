// The fedai kinds (nips/README.md) and the enumerations their content uses, with the string forms
// the wire carries and parse functions for them (nullopt for anything else).
#pragma once

#include <array>
#include <optional>
#include <string_view>

#include "core/nostr/kind.h"
#include "core/util/result.h"

namespace fedai::protocol {

// ---- Kinds (locked for v1) ----------------------------------------------------------------------

inline constexpr Kind kCapsAnnounce = 36090;    // F-02, addressable
inline constexpr Kind kPriceAnnounce = 36091;   // F-02, addressable
inline constexpr Kind kStatusAnnounce = 36092;  // F-02, addressable, NIP-40 expiration
inline constexpr Kind kReceiptSummary = 36093;  // F-02, addressable
inline constexpr Kind kRfb = 26090;             // F-03, ephemeral
inline constexpr Kind kBid = 26091;             // F-03, ephemeral, sealed to the RFB's author
inline constexpr Kind kAward = 26092;           // F-03, ephemeral, sealed to the winner
inline constexpr Kind kCancel = 26093;          // F-03, ephemeral
inline constexpr Kind kJobSubmit = 26094;       // F-04, HTTP only
inline constexpr Kind kJobResult = 26095;       // F-04, HTTP only, sealed for PL1+
inline constexpr Kind kMetering = 26096;        // F-04, HTTP only
inline constexpr Kind kPaymentRequest = 26097;  // F-05, HTTP only
inline constexpr Kind kPaymentReceipt = 26098;  // F-05, HTTP only

inline constexpr std::array<Kind, 13> kAllKinds = {
    kCapsAnnounce, kPriceAnnounce,  kStatusAnnounce, kReceiptSummary, kRfb,
    kBid,          kAward,          kCancel,         kJobSubmit,      kJobResult,
    kMetering,     kPaymentRequest, kPaymentReceipt};

// The protocol version every content object carries as "v" (F-01).
inline constexpr int kVersion = 1;

constexpr bool is_fedai_kind(Kind k) {
  for (Kind f : kAllKinds)
    if (f == k) return true;
  return false;
}

// The kind's name as the nips and every rejection reason write it ("BID", "CAPS_ANNOUNCE");
// "UNKNOWN" for a kind that is not fedai's.
std::string_view kind_name(Kind k);

// ---- Enumerations -------------------------------------------------------------------------------

// F-04 privacy levels. Ordered: a node with privacy_max PL2 accepts PL0..PL2.
enum class PrivacyLevel { pl0 = 0, pl1 = 1, pl2 = 2, pl3 = 3 };
// Payloads of PL1 and above are sealed with NIP-44 end to end.
constexpr bool is_sealed(PrivacyLevel p) {
  return p >= PrivacyLevel::pl1;
}

// F-02 STATUS_ANNOUNCE backpressure state.
enum class Backpressure { normal, busy, saturated };

// F-02 CAPS_ANNOUNCE role.
enum class Role { node, router };

// F-04 JOB_RESULT status and finish reason.
enum class JobStatus { ok, partial, failed };
enum class FinishReason { stop, length, error };

// F-06 error codes. Each has a NIP-01 prefix and an HTTP status when it travels on the data
// plane; the last four are only CANCEL reasons or client-facing codes.
enum class ProtocolError {
  invalid,
  auth,
  blocked,
  duplicate,
  award_expired,
  too_large,
  rate_limited,
  busy,
  caps_mismatch,
  privacy_unsupported,
  timeout,
  runner,
  internal,
  cancelled,
  no_bids,
  over_cap,
  bad_result,
};

inline constexpr std::array<ProtocolError, 17> kAllProtocolErrors = {
    ProtocolError::invalid,       ProtocolError::auth,
    ProtocolError::blocked,       ProtocolError::duplicate,
    ProtocolError::award_expired, ProtocolError::too_large,
    ProtocolError::rate_limited,  ProtocolError::busy,
    ProtocolError::caps_mismatch, ProtocolError::privacy_unsupported,
    ProtocolError::timeout,       ProtocolError::runner,
    ProtocolError::internal,      ProtocolError::cancelled,
    ProtocolError::no_bids,       ProtocolError::over_cap,
    ProtocolError::bad_result};

std::string_view to_string(PrivacyLevel p);   // "PL0".."PL3"
std::string_view to_string(Backpressure b);   // "NORMAL", "BUSY", "SATURATED"
std::string_view to_string(Role r);           // "node", "router"
std::string_view to_string(JobStatus s);      // "ok", "partial", "failed"
std::string_view to_string(FinishReason f);   // "stop", "length", "error"
std::string_view to_string(ProtocolError e);  // "ERR_INVALID", ...

std::optional<PrivacyLevel> parse_privacy_level(std::string_view s);
std::optional<Backpressure> parse_backpressure(std::string_view s);
std::optional<Role> parse_role(std::string_view s);
std::optional<JobStatus> parse_job_status(std::string_view s);
std::optional<FinishReason> parse_finish_reason(std::string_view s);
std::optional<ProtocolError> parse_protocol_error(std::string_view s);

// The HTTP status a data-plane answer with this code carries; nullopt for the codes that never
// travel as an HTTP error (ERR_CANCELLED, ERR_NO_BIDS, ERR_OVER_CAP, ERR_BAD_RESULT).
std::optional<int> http_status(ProtocolError e);
// The NIP-01 prefix of the reason; nullopt for the same four codes.
std::optional<ErrorCode> nip01_prefix(ProtocolError e);

// An Error with the code's NIP-01 prefix (`error:` for the four codes that have none):
// to_error(ProtocolError::busy, "no free slot").to_string() == "error: no free slot".
Error to_error(ProtocolError e, std::string message);

// The data-plane error body of F-06: {"error":"invalid: ...","code":"ERR_INVALID"}.
std::string error_body_json(ProtocolError e, const Error& reason);

}  // namespace fedai::protocol
