// The router's data plane: sends an awarded job to its node and reports the verified outcome to
// the state machine (nips/F-04).
#include <spdlog/spdlog.h>

#include "agents/router/openai.h"
#include "agents/router/router_agent_impl.h"
#include "core/machine/record_fields.h"
#include "core/protocol/protocol.h"

namespace fedai::agents {

void RouterAgent::Impl::dispatch(const machine::Effect& effect) {
  auto d = record_fields::decode<router::Dispatch>(effect.payload);
  if (!d) return state->complete(effect);
  UnixMillis now = wall_clock_ms();
  auto it = pending.find(d->job_id);
  if (it == pending.end()) {
    // The request is gone (its client went away, or the router restarted since): there is nothing
    // to send, and the job ends here.
    return state->complete(effect,
                           {router::RouterMachine::record(router::ClientGone{d->job_id}, now)});
  }
  std::optional<router::JobState> job;
  state->read(
      [&](const machine::StateTxn& txn) { job = router::RouterMachine::job(txn, d->job_id); });
  // The AWARD is ours, parsed when we signed it: only its id is read back.
  auto award_id = event_id_of(d->award_json);
  if (!job || !award_id) {
    router::DispatchOutcome failed;
    failed.job_id = d->job_id;
    failed.attempt = d->attempt;
    failed.error = protocol::ProtocolError::internal;
    failed.kind = market::Outcome::failure;
    failed.reason = "error: the award could not be read";
    return state->complete(effect, {router::RouterMachine::record(failed, now)});
  }

  dataplane::DispatchRequest request;
  request.endpoint = d->endpoint;
  request.award_id = *award_id;
  request.award_json = d->award_json;
  request.node = d->node;
  request.job_id = d->job_id;
  request.privacy = job->request.privacy;
  request.body = it->second.body;
  request.max_output_tokens = job->request.max_output_tokens;
  request.stream = job->request.stream;
  request.awarded_price = d->price;
  request.rates = dataplane::Rates{d->in_per_1k, d->out_per_1k, d->min};
  request.timeout = std::chrono::milliseconds(job->request.deadline.value());

  protocol::JobId job_id = d->job_id;
  std::uint32_t attempt = d->attempt;
  dataplane::DispatchCallbacks callbacks;
  callbacks.on_delta = [this, job_id](std::string_view text) {
    auto p = pending.find(job_id);
    if (p == pending.end() || !p->second.stream || text.empty()) return;
    PendingJob& client = p->second;
    if (!client.streaming_started) {
      client.responder->start_stream();
      client.streaming_started = true;
    }
    client.responder->send_event(
        "", openai::chunk_json("chatcmpl-" + job_id.hex(), client.received_at / 1000, client.model,
                               text, std::nullopt));
  };
  callbacks.on_done = [this, effect, job_id, attempt](dataplane::DispatchResult result) {
    std::vector<machine::Record> records;
    UnixMillis at = wall_clock_ms();
    records.push_back(
        router::RouterMachine::record(dataplane::to_outcome(result, job_id, attempt), at));
    auto p = pending.find(job_id);
    if (p != pending.end()) {
      PendingJob& client = p->second;
      client.in_flight.reset();
      if (result.ok) {
        client.text = std::move(result.text);
        client.finish_reason =
            result.finish_reason == protocol::FinishReason::length ? "length" : "stop";
        client.tokens_in = result.tokens_in;
        client.tokens_out = result.tokens_out;
        client.attempt = attempt;
      } else if (client.streaming_started) {
        // Part of an answer already reached the client: another node's answer can't be spliced
        // in, so the job ends with this failure rather than a retry.
        records.push_back(router::RouterMachine::record(router::ClientGone{job_id}, at));
        client.responder->send_event(
            "", openai::error_json(result.reason, protocol::to_string(result.error)));
        client.responder->send_event("", "[DONE]");
        client.responder->end_stream();
        pending.erase(p);
      }
    }
    // Under a flood of failing jobs (a node down, thousands of requests a second) these lines
    // are summarised: a few per kind of failure every 10 s, with the count held back.
    if (std::uint64_t held;
        !result.ok && log_limiter.allow(protocol::to_string(result.error), held))
      spdlog::info("job {} attempt {} failed: {}{}", job_id.hex().substr(0, 12), attempt,
                   result.reason, LogLimiter::suffix(held));
    state->complete(effect, std::move(records));
  };
  it->second.in_flight = dispatcher->dispatch(std::move(request), std::move(callbacks));
}

}  // namespace fedai::agents
