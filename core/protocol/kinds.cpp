#include "core/protocol/kinds.h"

#include <string>

#include "core/nostr/event.h"

namespace fedai::protocol {
namespace {

template <class E, std::size_t N>
std::optional<E> parse_by_name(std::string_view s, const std::array<E, N>& values) {
  for (E v : values)
    if (to_string(v) == s) return v;
  return std::nullopt;
}

struct ErrorInfo {
  std::string_view name;
  int http;  // 0: not an HTTP error
  ErrorCode prefix;
};

constexpr ErrorInfo info(ProtocolError e) {
  switch (e) {
    case ProtocolError::invalid:
      return {"ERR_INVALID", 400, ErrorCode::invalid};
    case ProtocolError::auth:
      return {"ERR_AUTH", 401, ErrorCode::auth_required};
    case ProtocolError::blocked:
      return {"ERR_BLOCKED", 403, ErrorCode::blocked};
    case ProtocolError::duplicate:
      return {"ERR_DUPLICATE", 409, ErrorCode::duplicate};
    case ProtocolError::award_expired:
      return {"ERR_AWARD_EXPIRED", 410, ErrorCode::invalid};
    case ProtocolError::too_large:
      return {"ERR_TOO_LARGE", 413, ErrorCode::invalid};
    case ProtocolError::rate_limited:
      return {"ERR_RATE_LIMITED", 429, ErrorCode::rate_limited};
    case ProtocolError::busy:
      return {"ERR_BUSY", 503, ErrorCode::error};
    case ProtocolError::caps_mismatch:
      return {"ERR_CAPS_MISMATCH", 422, ErrorCode::invalid};
    case ProtocolError::privacy_unsupported:
      return {"ERR_PRIVACY_UNSUPPORTED", 422, ErrorCode::invalid};
    case ProtocolError::timeout:
      return {"ERR_TIMEOUT", 504, ErrorCode::error};
    case ProtocolError::runner:
      return {"ERR_RUNNER", 502, ErrorCode::error};
    case ProtocolError::internal:
      return {"ERR_INTERNAL", 500, ErrorCode::error};
    case ProtocolError::cancelled:
      return {"ERR_CANCELLED", 0, ErrorCode::error};
    case ProtocolError::no_bids:
      return {"ERR_NO_BIDS", 0, ErrorCode::error};
    case ProtocolError::over_cap:
      return {"ERR_OVER_CAP", 0, ErrorCode::error};
    case ProtocolError::bad_result:
      return {"ERR_BAD_RESULT", 0, ErrorCode::error};
  }
  return {"ERR_INTERNAL", 500, ErrorCode::error};
}

}  // namespace

std::string_view kind_name(Kind k) {
  switch (k) {
    case kCapsAnnounce:
      return "CAPS_ANNOUNCE";
    case kPriceAnnounce:
      return "PRICE_ANNOUNCE";
    case kStatusAnnounce:
      return "STATUS_ANNOUNCE";
    case kReceiptSummary:
      return "RECEIPT_SUMMARY";
    case kRfb:
      return "RFB";
    case kBid:
      return "BID";
    case kAward:
      return "AWARD";
    case kCancel:
      return "CANCEL";
    case kJobSubmit:
      return "JOB_SUBMIT";
    case kJobResult:
      return "JOB_RESULT";
    case kMetering:
      return "METERING";
    case kPaymentRequest:
      return "PAYMENT_REQUEST";
    case kPaymentReceipt:
      return "PAYMENT_RECEIPT";
    default:
      return "UNKNOWN";
  }
}

std::string_view to_string(PrivacyLevel p) {
  switch (p) {
    case PrivacyLevel::pl0:
      return "PL0";
    case PrivacyLevel::pl1:
      return "PL1";
    case PrivacyLevel::pl2:
      return "PL2";
    case PrivacyLevel::pl3:
      return "PL3";
  }
  return "PL3";
}

std::string_view to_string(Backpressure b) {
  switch (b) {
    case Backpressure::normal:
      return "NORMAL";
    case Backpressure::busy:
      return "BUSY";
    case Backpressure::saturated:
      return "SATURATED";
  }
  return "SATURATED";
}

std::string_view to_string(Role r) {
  return r == Role::node ? "node" : "router";
}

std::string_view to_string(JobStatus s) {
  switch (s) {
    case JobStatus::ok:
      return "ok";
    case JobStatus::partial:
      return "partial";
    case JobStatus::failed:
      return "failed";
  }
  return "failed";
}

std::string_view to_string(FinishReason f) {
  switch (f) {
    case FinishReason::stop:
      return "stop";
    case FinishReason::length:
      return "length";
    case FinishReason::error:
      return "error";
  }
  return "error";
}

std::string_view to_string(ProtocolError e) {
  return info(e).name;
}

std::optional<PrivacyLevel> parse_privacy_level(std::string_view s) {
  return parse_by_name(
      s, std::array{PrivacyLevel::pl0, PrivacyLevel::pl1, PrivacyLevel::pl2, PrivacyLevel::pl3});
}
std::optional<Backpressure> parse_backpressure(std::string_view s) {
  return parse_by_name(
      s, std::array{Backpressure::normal, Backpressure::busy, Backpressure::saturated});
}
std::optional<Role> parse_role(std::string_view s) {
  return parse_by_name(s, std::array{Role::node, Role::router});
}
std::optional<JobStatus> parse_job_status(std::string_view s) {
  return parse_by_name(s, std::array{JobStatus::ok, JobStatus::partial, JobStatus::failed});
}
std::optional<FinishReason> parse_finish_reason(std::string_view s) {
  return parse_by_name(s,
                       std::array{FinishReason::stop, FinishReason::length, FinishReason::error});
}
std::optional<ProtocolError> parse_protocol_error(std::string_view s) {
  return parse_by_name(s, kAllProtocolErrors);
}

std::optional<int> http_status(ProtocolError e) {
  int status = info(e).http;
  if (status == 0) return std::nullopt;
  return status;
}

std::optional<ErrorCode> nip01_prefix(ProtocolError e) {
  if (info(e).http == 0) return std::nullopt;
  return info(e).prefix;
}

Error to_error(ProtocolError e, std::string message) {
  return make_error(info(e).prefix, std::move(message));
}

std::string error_body_json(ProtocolError e, const Error& reason) {
  std::string out = "{\"error\":";
  append_json_string(out, reason.to_string());
  out += ",\"code\":";
  append_json_string(out, to_string(e));
  out += '}';
  return out;
}

}  // namespace fedai::protocol
