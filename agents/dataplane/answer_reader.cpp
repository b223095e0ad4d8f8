#include "agents/dataplane/answer_reader.h"

#include "core/nostr/sha256.h"
#include "core/protocol/payment.h"
#include "core/protocol/price.h"
#include "core/util/json_reader.h"

namespace fedai::agents::dataplane {

using protocol::ProtocolError;

namespace {

constexpr int kMaxDepth = 64;

Refusal bad_result(std::string message) {
  return {ProtocolError::bad_result, invalid(std::move(message))};
}

// The raw span of the next value.
bool raw_value(JsonReader& r, std::string_view json, std::string_view& out) {
  r.peek();
  std::size_t start = r.offset();
  if (!r.skip_value(kMaxDepth)) return false;
  out = json.substr(start, r.offset() - start);
  return true;
}

// An event of the answer: parsed, verified, signed by `node`.
Result<Event> signed_by(std::string_view json, std::string_view name, const PublicKey& node,
                        std::size_t max_bytes) {
  EventLimits limits;
  limits.max_json_bytes = max_bytes;
  auto e = parse_event(json, limits);
  if (!e) return invalid(std::string(name) + " does not parse (" + e.error().message + ")");
  if (auto st = verify_event(*e); !st)
    return invalid(std::string(name) + " does not verify (" + st.error().message + ")");
  if (e->pubkey != node) return invalid(std::string(name) + " is not signed by the awarded node");
  return e;
}

std::optional<ProtocolError> code_for_status(int status) {
  switch (status) {
    case 400:
      return ProtocolError::invalid;
    case 401:
      return ProtocolError::auth;
    case 403:
      return ProtocolError::blocked;
    case 409:
      return ProtocolError::duplicate;
    case 410:
      return ProtocolError::award_expired;
    case 413:
      return ProtocolError::too_large;
    case 422:
      return ProtocolError::caps_mismatch;
    case 429:
      return ProtocolError::rate_limited;
    case 502:
      return ProtocolError::runner;
    case 503:
      return ProtocolError::busy;
    case 504:
      return ProtocolError::timeout;
    default:
      return std::nullopt;
  }
}

// "duplicate: seen before" -> {duplicate, "seen before"}; no known prefix: {error, whole}.
Error split_reason(std::string_view text) {
  static constexpr ErrorCode kCodes[] = {
      ErrorCode::invalid,      ErrorCode::duplicate,     ErrorCode::blocked,
      ErrorCode::rate_limited, ErrorCode::restricted,    ErrorCode::pow,
      ErrorCode::mute,         ErrorCode::auth_required, ErrorCode::error};
  for (ErrorCode c : kCodes) {
    std::string_view p = prefix_of(c);
    if (text.size() > p.size() + 1 && text.starts_with(p) && text[p.size()] == ':') {
      std::string_view rest = text.substr(p.size() + 1);
      if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      return make_error(c, std::string(rest));
    }
  }
  return make_error(ErrorCode::error, std::string(text));
}

}  // namespace

Result<AnswerParts> split_answer(std::string_view json) {
  JsonReader r(json);
  AnswerParts parts;
  bool have_result = false, have_metering = false;
  if (!r.expect('{')) return invalid("the answer is not a JSON object");
  if (!r.consume('}')) {
    do {
      std::string key;
      if (!r.read_string(key) || !r.expect(':')) break;
      std::string_view* slot = nullptr;
      bool* seen = nullptr;
      bool have_pr = parts.payment_request.has_value();
      if (key == "result") {
        slot = &parts.result;
        seen = &have_result;
      } else if (key == "metering") {
        slot = &parts.metering;
        seen = &have_metering;
      } else if (key == "payment_request") {
        if (have_pr) return invalid("the answer has payment_request twice");
        std::string_view v;
        if (!raw_value(r, json, v)) break;
        parts.payment_request = v;
        continue;
      }
      if (!slot) {
        if (!r.skip_value(kMaxDepth)) break;
        continue;
      }
      if (*seen) return invalid("the answer has " + key + " twice");
      *seen = true;
      if (!raw_value(r, json, *slot)) break;
    } while (r.consume(','));
    if (!r.failed()) r.expect('}');
  }
  if (!r.failed() && !r.at_end()) r.fail("data after the object");
  if (r.failed()) return invalid("the answer is not valid JSON (" + r.error() + ")");
  if (!have_result) return invalid("the answer has no result");
  if (!have_metering) return invalid("the answer has no metering");
  return parts;
}

Refused<VerifiedAnswer> verify_answer(std::string_view answer_json, const JobContext& job,
                                      const Rates& rates, protocol::ConversationKeyCache& keys,
                                      std::optional<std::string_view> streamed_text,
                                      std::size_t max_event_bytes) {
  auto parts = split_answer(answer_json);
  if (!parts) return bad_result(parts.error().message);

  VerifiedAnswer v;
  auto result_event = signed_by(parts->result, "JOB_RESULT", job.node, max_event_bytes);
  if (!result_event) return bad_result(result_event.error().message);
  v.result_event = std::move(*result_event);
  auto metering_event = signed_by(parts->metering, "METERING", job.node, max_event_bytes);
  if (!metering_event) return bad_result(metering_event.error().message);
  v.metering_event = std::move(*metering_event);

  auto result = protocol::parse_job_result(v.result_event, keys, job.privacy);
  if (!result) return bad_result(result.error().message);
  v.result = std::move(*result);
  if (v.result.job_submit_id != job.submit_id)
    return bad_result("JOB_RESULT names another JOB_SUBMIT");
  if (v.result.award_id != job.award_id) return bad_result("JOB_RESULT names another AWARD");
  if (v.result.router != keys.self().public_key())
    return bad_result("JOB_RESULT is not addressed to us");

  auto metering = protocol::parse_metering(v.metering_event);
  if (!metering) return bad_result(metering.error().message);
  v.metering = std::move(*metering);
  if (v.metering.job_submit_id != job.submit_id)
    return bad_result("METERING names another JOB_SUBMIT");
  if (v.metering.router != keys.self().public_key())
    return bad_result("METERING is not addressed to us");

  if (v.result.job_id != job.job_id) return bad_result("JOB_RESULT is for another job");
  if (v.metering.job_id != job.job_id) return bad_result("METERING is for another job");

  if (streamed_text) {
    if (v.metering.output_hash != sha256(*streamed_text))
      return bad_result("METERING output_hash does not match the streamed text");
    if (v.result.text != *streamed_text)
      return bad_result("JOB_RESULT text differs from the streamed text");
  } else if (v.metering.output_hash != sha256(v.result.text)) {
    return bad_result("METERING output_hash does not match the output");
  }
  if (v.metering.input_hash != job.input_hash)
    return bad_result("METERING input_hash is not the JOB_SUBMIT's");
  if (v.metering.tokens_out > job.max_output_tokens)
    return bad_result("METERING tokens_out " + std::to_string(v.metering.tokens_out) +
                      " is over max_output_tokens " + std::to_string(job.max_output_tokens));
  if (v.metering.price_msat > job.awarded_price)
    return bad_result("METERING price_msat " + std::to_string(v.metering.price_msat.value()) +
                      " is over the awarded " + std::to_string(job.awarded_price.value()));
  auto at_rates =
      protocol::metering_price(rates.in_per_1k, rates.out_per_1k, rates.min, v.metering.tokens_in,
                               v.metering.tokens_out, job.awarded_price);
  if (!at_rates || v.metering.price_msat > *at_rates)
    return bad_result("METERING price_msat " + std::to_string(v.metering.price_msat.value()) +
                      " does not follow the bid's rates (" +
                      (at_rates ? std::to_string(at_rates->value()) : std::string("overflow")) +
                      " for the tokens metered)");

  if (parts->payment_request) {
    auto pr_event = signed_by(*parts->payment_request, "PAYMENT_REQUEST", job.node, 64 << 10);
    if (!pr_event) return bad_result(pr_event.error().message);
    auto pr = protocol::parse_payment_request(*pr_event);
    if (!pr) return bad_result(pr.error().message);
    if (pr->metering_id != v.metering_event.id)
      return bad_result("PAYMENT_REQUEST names another METERING");
    if (pr->amount_msat != v.metering.price_msat)
      return bad_result("PAYMENT_REQUEST amount_msat is not the METERING price_msat");
    v.payment_request = std::move(*pr_event);
  }
  return v;
}

Result<std::string> read_delta(std::string_view data, std::uint64_t expected_index,
                               const JobContext& job, protocol::ConversationKeyCache& keys) {
  JsonReader r(data);
  std::optional<std::uint64_t> index;
  std::optional<std::string> text, sealed;
  if (!r.expect('{')) return invalid("delta is not a JSON object");
  if (!r.consume('}')) {
    do {
      std::string key;
      if (!r.read_string(key) || !r.expect(':')) break;
      if (key == "i") {
        JsonReader::Number n;
        if (!r.read_number(n)) break;
        if (!n.integral || n.negative || n.overflow) return invalid("delta i must be an integer");
        index = n.magnitude;
      } else if (key == "text" || key == "sealed") {
        std::string s;
        if (r.peek() != '"') return invalid("delta " + key + " must be a string");
        if (!r.read_string(s)) break;
        (key == "text" ? text : sealed) = std::move(s);
      } else if (!r.skip_value(kMaxDepth)) {
        break;
      }
    } while (r.consume(','));
    if (!r.failed()) r.expect('}');
  }
  if (!r.failed() && !r.at_end()) r.fail("data after the object");
  if (r.failed()) return invalid("delta is not valid JSON (" + r.error() + ")");
  if (!index) return invalid("delta has no i");
  if (*index != expected_index)
    return invalid("delta " + std::to_string(*index) + " arrived where " +
                   std::to_string(expected_index) + " was due");
  if (!protocol::is_sealed(job.privacy)) {
    if (sealed || !text) return invalid("a PL0 delta carries text in the clear");
    return std::move(*text);
  }
  if (text || !sealed)
    return invalid("a " + std::string(protocol::to_string(job.privacy)) + " delta must be sealed");
  auto plain = keys.open_from(*sealed, job.node);
  if (!plain) return invalid("delta does not decrypt (" + plain.error().message + ")");
  JsonReader inner(*plain);
  std::string out;
  bool have = false;
  if (inner.expect('{') && !inner.consume('}')) {
    do {
      std::string key;
      if (!inner.read_string(key) || !inner.expect(':')) break;
      if (key == "text" && inner.peek() == '"') {
        if (!inner.read_string(out)) break;
        have = true;
      } else if (!inner.skip_value(kMaxDepth)) {
        break;
      }
    } while (inner.consume(','));
    if (!inner.failed()) inner.expect('}');
  }
  if (inner.failed() || !inner.at_end() || !have) return invalid("sealed delta has no text");
  return out;
}

Refusal read_error(std::string_view body, std::optional<int> http_status) {
  JsonReader r(body);
  std::optional<std::string> error, code;
  if (r.consume('{') && !r.consume('}')) {
    do {
      std::string key;
      if (!r.read_string(key) || !r.expect(':')) break;
      if ((key == "error" || key == "code") && r.peek() == '"') {
        std::string s;
        if (!r.read_string(s)) break;
        (key == "error" ? error : code) = std::move(s);
      } else if (!r.skip_value(kMaxDepth)) {
        break;
      }
    } while (r.consume(','));
  }
  std::optional<ProtocolError> parsed;
  if (code) parsed = protocol::parse_protocol_error(*code);
  if (!parsed && http_status) parsed = code_for_status(*http_status);
  ProtocolError c = parsed.value_or(ProtocolError::internal);
  if (error && !error->empty()) return {c, split_reason(*error)};
  std::string what = http_status ? "the node answered HTTP " + std::to_string(*http_status)
                                 : std::string("the node reported an error");
  return {c, make_error(ErrorCode::error, what + " without an F-06 reason")};
}

}  // namespace fedai::agents::dataplane
