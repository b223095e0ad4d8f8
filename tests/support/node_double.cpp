#include "tests/support/node_double.h"

#include "core/protocol/protocol.h"

namespace fedai::test {

using namespace agents::dataplane;
using agents::http::Request;
using agents::http::Responder;

namespace {

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto space = text.find(' ', start);
    std::size_t end = space == std::string::npos ? text.size() : space + 1;
    out.push_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

}  // namespace

NodeDouble::NodeDouble(agents::http::Server& server, const Keypair& node, NodeDoubleOptions options)
    : server_(server),
      node_(node),
      options_(std::move(options)),
      keys_(std::make_unique<protocol::ConversationKeyCache>(node_)),
      stranger_keys_(std::make_unique<protocol::ConversationKeyCache>(stranger_)),
      fault_(options_.fault) {
  server_.route("POST", std::string(protocol::kJobsPath),
                [this](Request r, std::shared_ptr<Responder> out) { handle(std::move(r), out); });
}

NodeDouble::~NodeDouble() {
  std::lock_guard lock(mutex_);
  held_.clear();
}

bool NodeDouble::wait_held(std::size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return held_changed_.wait_for(lock, timeout, [&] { return held_.size() >= n; });
}

void NodeDouble::handle(Request request, std::shared_ptr<Responder> responder) {
  std::string url = protocol::jobs_url(server_.url());
  auto v = verify_job_submit(submit_request(request, url), unix_now(), *keys_, options_.limits);
  if (!v) {
    ++refused_;
    reply_refusal(*responder, v.error());
    return;
  }
  ++accepted_;
  NodeFault fault = fault_.load();
  if (fault == NodeFault::never_answer) {
    {
      std::lock_guard lock(mutex_);
      held_.push_back(responder);
    }
    held_changed_.notify_all();
    return;
  }
  JobContext job = v->context();
  auto pieces = words(options_.text);
  RunOutcome outcome;
  outcome.text = options_.text;
  outcome.tokens_in = options_.tokens_in;
  outcome.tokens_out = options_.tokens_out.value_or(static_cast<protocol::Tokens>(pieces.size()));
  if (fault == NodeFault::tokens_over_max) outcome.tokens_out = job.max_output_tokens + 1;
  outcome.wall = protocol::Millis{3};
  outcome.started_at = outcome.finished_at = unix_now();

  std::optional<AnswerStream> stream;
  if (job.stream) {
    stream.emplace(responder, job, *keys_);
    stream->start();
    if (fault == NodeFault::error_mid_stream) {
      stream->delta(pieces.front());
      stream->fail(refuse(protocol::ProtocolError::runner, "the model server failed"));
      return;
    }
    for (const auto& w : pieces) stream->delta(w);
    outcome.text = stream->text();
    if (fault == NodeFault::stream_mismatch) outcome.text += " (and more)";
  }

  protocol::ConversationKeyCache& signer =
      fault == NodeFault::wrong_signer ? *stranger_keys_ : *keys_;
  auto answer = build_answer(job, outcome, options_.rates, signer, unix_now());
  if (!answer) {
    auto r = refuse(protocol::ProtocolError::internal, answer.error().message);
    if (stream)
      stream->fail(r);
    else
      reply_refusal(*responder, r);
    return;
  }
  if (fault == NodeFault::tamper_output) {
    protocol::JobResult r;
    r.job_submit_id = job.submit_id;
    r.award_id = job.award_id;
    r.router = job.router;
    r.privacy = job.privacy;
    r.job_id = job.job_id;
    r.text = outcome.text + "!";
    auto tampered = protocol::build(r, *keys_, unix_now());
    answer->result = *tampered;
    answer->json = answer_json(answer->result, answer->metering);
  } else if (fault == NodeFault::price_above_award) {
    auto m = protocol::parse_metering(answer->metering);
    m->price_msat = protocol::Msat{job.awarded_price.value() + 1};
    answer->metering = *protocol::build(*m, node_, unix_now());
    answer->json = answer_json(answer->result, answer->metering);
  } else if (fault == NodeFault::missing_metering) {
    answer->json = "{\"result\":" + to_json(answer->result) + "}";
  }

  if (stream)
    stream->finish(*answer);
  else
    responder->reply(200, "application/json", std::move(answer->json), {});
}

}  // namespace fedai::test
