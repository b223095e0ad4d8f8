#include "agents/dataplane/answer.h"

#include "core/nostr/sha256.h"
#include "core/protocol/price.h"

namespace fedai::agents::dataplane {

namespace {

// JSON string as the protocol writes content: NIP-01 escaping, and DEL as \u007f (F-01).
void append_text(std::string& out, std::string_view s) {
  if (s.find('\x7f') == std::string_view::npos) {
    append_json_string(out, s);
    return;
  }
  std::string escaped;
  append_json_string(escaped, s);
  for (char c : escaped) {
    if (c == '\x7f')
      out += "\\u007f";
    else
      out += c;
  }
}

}  // namespace

Result<protocol::Msat> metering_price(const JobContext& job, const Rates& rates,
                                      protocol::Tokens tokens_in, protocol::Tokens tokens_out) {
  return protocol::metering_price(rates.in_per_1k, rates.out_per_1k, rates.min, tokens_in,
                                  tokens_out, job.awarded_price);
}

std::string answer_json(const Event& result, const Event& metering, const Event* payment_request) {
  std::string out;
  out.reserve(64 + result.content.size() + metering.content.size() + 1200);
  out += "{\"result\":";
  append_json(out, result);
  out += ",\"metering\":";
  append_json(out, metering);
  if (payment_request) {
    out += ",\"payment_request\":";
    append_json(out, *payment_request);
  }
  out += '}';
  return out;
}

Result<Answer> build_answer(const JobContext& job, const RunOutcome& outcome, const Rates& rates,
                            protocol::ConversationKeyCache& keys, UnixSeconds now) {
  auto price = metering_price(job, rates, outcome.tokens_in, outcome.tokens_out);
  if (!price) return price.error();

  protocol::JobResult r;
  r.job_submit_id = job.submit_id;
  r.award_id = job.award_id;
  r.router = job.router;
  r.privacy = job.privacy;
  r.job_id = job.job_id;
  r.status = outcome.status;
  r.text = outcome.text;
  r.finish_reason = outcome.finish_reason;
  r.error = outcome.error;
  auto result = protocol::build(r, keys, now);
  if (!result) return result.error();

  protocol::Metering m;
  m.job_submit_id = job.submit_id;
  m.router = job.router;
  m.job_id = job.job_id;
  m.tokens_in = outcome.tokens_in;
  m.tokens_out = outcome.tokens_out;
  m.wall_ms = outcome.wall;
  m.started_at = outcome.started_at;
  m.finished_at = std::max(outcome.finished_at, outcome.started_at);
  m.input_hash = job.input_hash;
  m.output_hash = sha256(outcome.text);
  m.price_msat = *price;
  auto metering = protocol::build(m, keys.self(), now);
  if (!metering) return metering.error();

  Answer a{std::move(*result), std::move(*metering), {}, *price};
  a.json = answer_json(a.result, a.metering);
  return a;
}

Result<std::string> delta_data(std::uint64_t index, std::string_view text, const JobContext& job,
                               protocol::ConversationKeyCache& keys) {
  std::string out;
  out.reserve(text.size() + 32);
  out += "{\"i\":";
  append_json_integer(out, index);
  if (!protocol::is_sealed(job.privacy)) {
    out += ",\"text\":";
    append_text(out, text);
    out += '}';
    return out;
  }
  std::string inner = "{\"text\":";
  append_text(inner, text);
  inner += '}';
  auto sealed = keys.seal_to(inner, job.router);
  if (!sealed) return sealed.error();
  out += ",\"sealed\":\"";
  out += *sealed;  // base64: nothing to escape
  out += "\"}";
  return out;
}

AnswerStream::AnswerStream(std::shared_ptr<http::Responder> responder, JobContext job,
                           protocol::ConversationKeyCache& keys)
    : responder_(std::move(responder)), job_(std::move(job)), keys_(keys) {}

void AnswerStream::start() {
  if (started_) return;
  started_ = true;
  responder_->start_stream({});
}

bool AnswerStream::delta(std::string_view text) {
  if (ended_) return false;
  if (text.empty()) return !responder_->client_gone();
  start();
  auto data = delta_data(next_, text, job_, keys_);
  if (!data) return false;
  ++next_;
  text_ += text;
  return responder_->send_event(kDeltaEvent, *data);
}

void AnswerStream::finish(const Answer& answer) {
  if (ended_) return;
  start();
  ended_ = true;
  responder_->send_event(kResultEvent, answer.json);
  responder_->end_stream();
}

void AnswerStream::fail(const Refusal& refusal) {
  if (ended_) return;
  ended_ = true;
  if (!started_) {  // nothing sent yet: a plain error answer says more than a stream
    reply_refusal(*responder_, refusal);
    return;
  }
  responder_->send_event(kErrorEvent, refusal.body());
  responder_->end_stream();
}

void reply_refusal(http::Responder& responder, const Refusal& refusal) {
  responder.reply(refusal.http_status(), "application/json", refusal.body(), {});
}

}  // namespace fedai::agents::dataplane
