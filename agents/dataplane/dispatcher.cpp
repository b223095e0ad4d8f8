#include "agents/dataplane/dispatcher.h"

#include <boost/asio/post.hpp>

#include "agents/dataplane/answer.h"
#include "agents/dataplane/answer_reader.h"
#include "agents/dataplane/job_body.h"
#include "agents/dataplane/verify_submit.h"
#include "core/nostr/sha256.h"
#include "core/util/ascii.h"
#include "core/util/base64.h"

namespace fedai::agents::dataplane {

namespace net = boost::asio;
using protocol::ProtocolError;
using Clock = std::chrono::steady_clock;

namespace {

bool is_event_stream(std::string_view content_type) {
  constexpr std::string_view kWant = "text/event-stream";
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  if (media.size() != kWant.size()) return false;
  for (std::size_t i = 0; i < media.size(); ++i)
    if (ascii_lower(media[i]) != kWant[i]) return false;
  return true;
}

protocol::JobBody clear_body(std::string plaintext) {
  protocol::JobBody b;
  b.input_hash = sha256(plaintext);
  b.payload_hash = b.input_hash;
  b.bytes = std::move(plaintext);
  b.content_type = protocol::kContentTypeJson;
  return b;
}

// Retry-After in its delay-seconds form (RFC 9110), capped at a day; the HTTP-date form and
// anything else give 0 (none).
protocol::Millis parse_retry_after(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty() || v.size() > 9) return protocol::Millis{0};
  std::uint64_t seconds = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return protocol::Millis{0};
    seconds = seconds * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return protocol::Millis{std::min<std::uint64_t>(seconds, 86'400) * 1000};
}

DispatchResult failure(ProtocolError code, market::Outcome kind, std::string reason) {
  DispatchResult r;
  r.error = code;
  r.kind = kind;
  r.reason = std::move(reason);
  return r;
}

class DispatchOp final : public Dispatch, public std::enable_shared_from_this<DispatchOp> {
 public:
  DispatchOp(net::io_context& io, protocol::ConversationKeyCache& keys,
             const Dispatcher::Options& options, DispatchCallbacks callbacks, Rates rates)
      : io_(io),
        keys_(keys),
        max_answer_bytes_(options.max_answer_bytes),
        connect_timeout_(options.connect_timeout),
        callbacks_(std::move(callbacks)),
        rates_(rates),
        started_(Clock::now()),
        sse_(options.max_answer_bytes) {}

  // Builds the request; on failure reports (posted) and returns nullopt.
  std::optional<runners::HttpRequest> prepare(DispatchRequest& d, UnixSeconds now) {
    job_.award_id = d.award_id;
    job_.router = keys_.self().public_key();
    job_.node = d.node;
    job_.job_id = d.job_id;
    job_.privacy = d.privacy;
    job_.max_output_tokens = d.max_output_tokens;
    job_.awarded_price = d.awarded_price;
    job_.stream = d.stream;

    // PL0: the plaintext is the body; move it instead of copying it.
    auto body = protocol::is_sealed(d.privacy) || d.privacy == protocol::PrivacyLevel::pl3
                    ? protocol::seal_job_body(d.body, d.privacy, keys_, d.node)
                    : Result<protocol::JobBody>(clear_body(std::move(d.body)));
    if (!body) {
      auto code = d.privacy == protocol::PrivacyLevel::pl3 ? ProtocolError::privacy_unsupported
                                                           : ProtocolError::internal;
      post_report(failure(code, market::Outcome::failure, body.error().to_string()));
      return std::nullopt;
    }
    job_.input_hash = body->input_hash;

    protocol::JobSubmit s;
    s.url = protocol::jobs_url(d.endpoint);
    s.method = "POST";
    s.payload_hash = body->payload_hash;
    s.award_id = d.award_id;
    s.node = d.node;
    s.job_id = d.job_id;
    s.privacy = d.privacy;
    s.input_hash = body->input_hash;
    s.max_output_tokens = d.max_output_tokens;
    s.stream = d.stream;
    auto submit = protocol::build(s, keys_.self(), now);
    if (!submit) {
      post_report(
          failure(ProtocolError::internal, market::Outcome::failure, submit.error().to_string()));
      return std::nullopt;
    }
    job_.submit_id = submit->id;

    runners::HttpRequest req;
    req.method = "POST";
    req.url = std::move(s.url);
    req.headers.reserve(4);
    req.headers.emplace_back("Authorization", "Nostr " + base64::encode(to_json(*submit)));
    req.headers.emplace_back(std::string(kAwardHeader), base64::encode(d.award_json));
    req.headers.emplace_back("Content-Type", std::string(body->content_type));
    req.headers.emplace_back("Accept", d.stream ? "text/event-stream" : "application/json");
    req.body = std::move(body->bytes);
    req.timeout = d.timeout;
    req.max_response_bytes = max_answer_bytes_;
    if (connect_timeout_) req.connect_timeout = std::min(*connect_timeout_, d.timeout);
    timeout_ = d.timeout;
    return req;
  }

  runners::StreamHandlers handlers() {
    runners::StreamHandlers h;
    auto self = shared_from_this();
    h.on_headers = [self](int status, const runners::Headers& headers) {
      self->status_ = status;
      for (const auto& [k, v] : headers) {
        if (k.size() == 12 && ascii_lower(k[0]) == 'c' && is_named(k, "content-type")) {
          self->sse_mode_ = status == 200 && is_event_stream(v);
        } else if (status != 200 && k.size() == 11 && is_named(k, "retry-after")) {
          self->retry_after_ = parse_retry_after(v);
        }
      }
    };
    h.on_data = [self](std::string_view chunk) { return self->on_data(chunk); };
    h.on_done = [self](Status st) { self->on_done(st); };
    return h;
  }

  void cancel() override {
    if (reported_ || aborted_) return;
    aborted_ = true;
    post_report(
        failure(ProtocolError::cancelled, market::Outcome::failure, "error: the client went away"));
  }

  const EventId& submit_id() const override { return job_.submit_id; }

 private:
  // `k` is `name` (lowercase, the same length), ASCII case ignored.
  static bool is_named(std::string_view k, std::string_view name) {
    for (std::size_t i = 0; i < name.size(); ++i)
      if (ascii_lower(k[i]) != name[i]) return false;
    return true;
  }

  bool on_data(std::string_view chunk) {
    if (aborted_) return false;
    if (!sse_mode_) {
      body_.append(chunk);
      return true;
    }
    bool ok = sse_.feed(chunk, [this](const runners::SseParser::Event& e) { on_event(e); });
    if (!ok && !reported_) {
      abort(failure(ProtocolError::bad_result, market::Outcome::bad_receipt,
                    "invalid: an event of the stream is larger than " +
                        std::to_string(max_answer_bytes_) + " bytes"));
    }
    // After the result, read the stream to its end so that the connection can be reused.
    return !aborted_;
  }

  void on_event(const runners::SseParser::Event& e) {
    if (reported_ || aborted_) return;
    if (e.event == kDeltaEvent) {
      auto text = read_delta(e.data, deltas_, job_, keys_);
      if (!text) {
        abort(failure(ProtocolError::bad_result, market::Outcome::bad_receipt,
                      text.error().to_string()));
        return;
      }
      ++deltas_;
      text_ += *text;
      if (callbacks_.on_delta) callbacks_.on_delta(*text);
    } else if (e.event == kResultEvent) {
      finish_answer(e.data, std::string_view(text_));
    } else if (e.event == kErrorEvent) {
      abort(from_refusal(read_error(e.data, std::nullopt)));
    }
    // Other events (and comments) are not the protocol's: ignored.
  }

  void on_done(const Status& st) {
    if (reported_) return;
    if (!st) {
      const std::string& m = st.error().message;
      if (aborted_ || m == "cancelled") return;  // reported when it was cancelled
      if (m.find("timed out") != std::string::npos) {
        report(failure(ProtocolError::timeout, market::Outcome::timeout,
                       "error: the node did not answer within " + std::to_string(timeout_.count()) +
                           " ms (" + m + ")"));
      } else {
        report(failure(ProtocolError::internal, market::Outcome::failure,
                       "error: the node could not be reached (" + m + ")"));
      }
      return;
    }
    if (sse_mode_) {
      report(failure(ProtocolError::internal, market::Outcome::failure,
                     "error: the node's stream ended without a result"));
      return;
    }
    if (status_ == 200) {
      finish_answer(body_, std::nullopt);
      return;
    }
    report(from_refusal(read_error(body_, status_)));
  }

  void finish_answer(std::string_view answer, std::optional<std::string_view> streamed) {
    auto v = verify_answer(answer, job_, rates_, keys_, streamed, max_answer_bytes_);
    if (!v) {
      abort(failure(ProtocolError::bad_result, market::Outcome::bad_receipt,
                    v.error().reason.to_string()));
      return;
    }
    DispatchResult r;
    r.status = v->result.status;
    r.finish_reason = v->result.finish_reason;
    r.tokens_in = v->metering.tokens_in;
    r.tokens_out = v->metering.tokens_out;
    r.price = v->metering.price_msat;
    r.wall = v->metering.wall_ms;
    r.metering_id = v->metering_event.id;
    if (v->result.status == protocol::JobStatus::failed) {
      r.ok = false;
      r.error = v->result.error.value_or(ProtocolError::runner);
      r.kind =
          r.error == ProtocolError::timeout ? market::Outcome::timeout : market::Outcome::failure;
      r.reason = "error: the node reports the job failed (" +
                 std::string(protocol::to_string(r.error)) + ")";
    } else {
      r.ok = true;
      r.kind = market::Outcome::success;
      r.text = std::move(v->result.text);
    }
    r.result_event = std::move(v->result_event);
    r.metering_event = std::move(v->metering_event);
    r.payment_request = std::move(v->payment_request);
    report(std::move(r));
  }

  DispatchResult from_refusal(const Refusal& refusal) {
    auto kind = refusal.code == ProtocolError::timeout ? market::Outcome::timeout
                                                       : market::Outcome::failure;
    DispatchResult r = failure(refusal.code, kind, refusal.reason.to_string());
    r.retry_after = retry_after_;
    return r;
  }

  // Reports and stops reading: the exchange is dropped at its next chunk.
  void abort(DispatchResult r) {
    aborted_ = true;
    report(std::move(r));
  }

  void report(DispatchResult r) {
    if (reported_) return;
    reported_ = true;
    r.submit_id = job_.submit_id;
    r.deltas = deltas_;
    r.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_);
    body_.clear();
    body_.shrink_to_fit();
    text_.clear();
    text_.shrink_to_fit();
    auto done = std::move(callbacks_.on_done);
    callbacks_ = {};
    if (done) done(std::move(r));
  }

  void post_report(DispatchResult r) {
    net::post(io_, [self = shared_from_this(), r = std::move(r)]() mutable {
      self->report(std::move(r));
    });
  }

  net::io_context& io_;
  protocol::ConversationKeyCache& keys_;
  std::size_t max_answer_bytes_;
  std::optional<std::chrono::milliseconds> connect_timeout_;
  DispatchCallbacks callbacks_;
  Rates rates_;
  JobContext job_;
  Clock::time_point started_;
  std::chrono::milliseconds timeout_{0};
  int status_ = 0;
  protocol::Millis retry_after_;
  bool sse_mode_ = false;
  bool reported_ = false;
  bool aborted_ = false;
  std::uint64_t deltas_ = 0;
  std::string body_;
  std::string text_;
  runners::SseParser sse_;
};

}  // namespace

Dispatcher::Dispatcher(net::io_context& io, runners::HttpClient& client,
                       protocol::ConversationKeyCache& keys, Options options)
    : io_(io), client_(client), keys_(keys), options_(std::move(options)) {}

std::shared_ptr<Dispatch> Dispatcher::dispatch(DispatchRequest request,
                                               DispatchCallbacks callbacks) {
  auto op = std::make_shared<DispatchOp>(io_, keys_, options_, std::move(callbacks), request.rates);
  auto http = op->prepare(request, options_.clock ? options_.clock() : unix_now());
  if (http) client_.stream(std::move(*http), op->handlers());
  return op;
}

router::DispatchOutcome to_outcome(const DispatchResult& r, const protocol::JobId& job_id,
                                   std::uint32_t attempt) {
  router::DispatchOutcome o;
  o.job_id = job_id;
  o.attempt = attempt;
  o.ok = r.ok;
  o.error = r.error;
  o.kind = r.kind;
  o.reason = r.reason;
  o.tokens_in = r.tokens_in;
  o.tokens_out = r.tokens_out;
  o.price = r.price;
  o.wall = r.wall;
  o.metering_id = r.metering_id;
  o.retry_after = r.retry_after;
  return o;
}

}  // namespace fedai::agents::dataplane
