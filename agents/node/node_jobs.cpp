// The node's data plane (nips/F-04): checks a JOB_SUBMIT, lets the state machine decide whether
// the award is good (one job per award, the reservation or a free slot), runs the job on the
// runner, and answers with the signed JOB_RESULT and METERING, plain or streamed.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agents/dataplane/answer.h"
#include "agents/dataplane/verify_submit.h"
#include "agents/node/node_agent_impl.h"
#include "core/protocol/price.h"
#include "core/protocol/protocol.h"
#include "runners/usage_estimate.h"

namespace fedai::agents {

void NodeAgent::Impl::register_routes() {
  server->route("POST", "/fedai/v1/jobs",
                [this](http::Request r, std::shared_ptr<http::Responder> w) {
                  handle_job(std::move(r), std::move(w));
                });
  server->route("GET", "/health", [this](http::Request r, std::shared_ptr<http::Responder> w) {
    handle_health(std::move(r), std::move(w));
  });
  server->route("GET", "/metrics", [this](http::Request r, std::shared_ptr<http::Responder> w) {
    handle_metrics(std::move(r), std::move(w));
  });
}

void NodeAgent::Impl::handle_health(http::Request, std::shared_ptr<http::Responder> responder) {
  node::Load l = load();
  nlohmann::json body = {{"status", "ok"},
                         {"pubkey", keys.public_key().hex()},
                         {"models", models},
                         {"active_jobs", l.active},
                         {"reserved", l.reserved},
                         {"jobs_done", l.jobs_done},
                         {"jobs_failed", l.jobs_failed}};
  responder->reply(200, "application/json", body.dump());
}

void NodeAgent::Impl::handle_metrics(http::Request, std::shared_ptr<http::Responder> responder) {
  responder->reply(200, "text/plain; version=0.0.4", metrics.render());
}

void NodeAgent::Impl::handle_job(http::Request request,
                                 std::shared_ptr<http::Responder> responder) {
  if (!rate_limiter.allow(request.remote, wall_clock_ms())) {
    jobs_refused->inc();
    return dataplane::reply_refusal(
        *responder, dataplane::refuse(protocol::ProtocolError::rate_limited, "slow down"));
  }
  dataplane::NodeLimits limits;
  limits.max_body_bytes = config.max_body_bytes;
  limits.privacy_max = privacy_max;
  auto checked = dataplane::verify_job_submit(dataplane::submit_request(request, jobs_url),
                                              unix_now(), *conversation_keys, limits);
  if (!checked) {
    jobs_refused->inc();
    if (std::uint64_t held; log_limiter.allow("submit refused", held))
      spdlog::info("JOB_SUBMIT from {} refused: {}{}", request.remote,
                   checked.error().reason.to_string(), LogLimiter::suffix(held));
    return dataplane::reply_refusal(*responder, checked.error());
  }
  auto verified = std::make_shared<dataplane::VerifiedSubmit>(std::move(*checked));

  // The model: the body names it; an auction award's reservation knows it too.
  std::optional<node::Reservation> reservation;
  const auto* auction = std::get_if<protocol::AuctionBasis>(&verified->award.basis);
  if (auction)
    state->read([&](const machine::StateTxn& txn) {
      reservation = node::NodeMachine::reservation(txn, auction->rfb_id);
    });
  std::string model = verified->input.model.value_or(reservation ? reservation->model : "");
  auto offer = config.models.find(model);
  if (offer == config.models.end()) {
    jobs_refused->inc();
    return dataplane::reply_refusal(
        *responder,
        dataplane::refuse(protocol::ProtocolError::caps_mismatch,
                          "this node does not serve model '" + model.substr(0, 64) + "'"));
  }

  node::JobSubmitted submitted;
  submitted.submit_id = verified->submit_id();
  submitted.award_id = verified->award_id();
  submitted.router = verified->router();
  submitted.job_id = verified->job_id();
  submitted.price = verified->price();
  if (auction) {
    submitted.rfb_id = auction->rfb_id;
    submitted.capacity_token = auction->capacity_token;
  } else if (const auto* posted = std::get_if<protocol::PostedPriceBasis>(&verified->award.basis)) {
    submitted.price_id = posted->price_id;
  }
  submitted.model = model;
  submitted.job_type = "chat";
  submitted.input_tokens = runners::estimate_prompt_tokens(verified->input.messages);
  submitted.max_output_tokens = verified->max_output_tokens();
  submitted.submit_by = verified->award.submit_by;

  // The rates METERING charges: the bid's (kept with the reservation), or those of the PRICE the
  // award names, at the surge that PRICE announced: the router checks the METERING against what
  // it was offered, and the surge now may have moved since (nips/F-03, F-04).
  dataplane::Rates rates;
  if (reservation) {
    rates = {reservation->in_per_1k, reservation->out_per_1k, reservation->min};
  } else {
    std::optional<node::PriceAnnounced> announced;
    if (submitted.price_id)
      state->read([&](const machine::StateTxn& txn) {
        announced = node::NodeMachine::price(txn, *submitted.price_id);
      });
    // Without it the state machine refuses the award below; the rates are then unused.
    auto surge =
        protocol::Surge::from_milli(announced ? announced->surge_milli : protocol::Surge::kScale);
    rates = {protocol::surged_rate(offer->second.in_per_1k, surge),
             protocol::surged_rate(offer->second.out_per_1k, surge), offer->second.min};
  }

  UnixMillis accepted_at = wall_clock_ms();
  state->append(
      {node::NodeMachine::record(submitted, accepted_at)},
      [this, verified, responder, rates, model,
       accepted_at](std::vector<store::AppendResult> results) {
        if (results.empty() || results[0].status != machine::ApplyOutcome::Status::applied) {
          // The reducer's refusal, with its F-06 code: busy is 503, a second use of the award
          // 409, a lapsed one 410, ...
          jobs_refused->inc();
          return dataplane::reply_refusal(
              *responder, results.empty() ? dataplane::refuse(protocol::ProtocolError::internal,
                                                              "the state did not answer")
                                          : results[0].refusal);
        }
        run_job(verified, responder, rates, model, accepted_at);
      });
}

void NodeAgent::Impl::run_job(std::shared_ptr<dataplane::VerifiedSubmit> verified,
                              std::shared_ptr<http::Responder> responder, dataplane::Rates rates,
                              std::string model, UnixMillis accepted_at) {
  runners::InferenceRequest request;
  request.model = model;
  request.messages = verified->input.messages;
  request.max_tokens = verified->max_output_tokens();
  request.sampling = verified->input.sampling;
  request.timeout = config.job_timeout;
  dataplane::JobContext job = verified->context();

  // Ends the job: answers (or fails) and tells the state machine the slot is free.
  auto finish = std::make_shared<
      std::function<void(Result<runners::InferenceResult>, dataplane::AnswerStream*)>>();
  *finish = [this, verified, responder, rates, job, accepted_at](
                Result<runners::InferenceResult> result, dataplane::AnswerStream* stream) {
    UnixMillis now = wall_clock_ms();
    dataplane::RunOutcome outcome;
    outcome.started_at = accepted_at / 1000;
    outcome.finished_at = now / 1000;
    outcome.wall = protocol::Millis{static_cast<std::uint64_t>(now - accepted_at)};
    if (result) {
      outcome.status = result->finish_reason == "length" ? protocol::JobStatus::partial
                                                         : protocol::JobStatus::ok;
      outcome.finish_reason = result->finish_reason == "length" ? protocol::FinishReason::length
                                                                : protocol::FinishReason::stop;
      // For a stream, the signed text is exactly what the deltas carried.
      outcome.text = stream ? stream->text() : result->text;
      outcome.tokens_in = result->usage.prompt_tokens;
      outcome.tokens_out =
          std::min<protocol::Tokens>(result->usage.completion_tokens, job.max_output_tokens);
    } else {
      outcome.status = protocol::JobStatus::failed;
      outcome.finish_reason = protocol::FinishReason::error;
      outcome.error = result.error().message.find("timed out") != std::string::npos
                          ? protocol::ProtocolError::timeout
                          : protocol::ProtocolError::runner;
      if (stream) outcome.text = stream->text();
    }
    auto answer = dataplane::build_answer(job, outcome, rates, *conversation_keys, now / 1000);
    protocol::Msat price{0};
    if (!answer) {
      spdlog::error("job {}: cannot sign the answer: {}", job.job_id.hex().substr(0, 12),
                    answer.error().to_string());
      auto refusal = dataplane::refuse(protocol::ProtocolError::internal, "cannot sign the answer");
      if (stream)
        stream->fail(refusal);
      else
        dataplane::reply_refusal(*responder, refusal);
    } else {
      price = answer->price;
      if (stream)
        stream->finish(*answer);
      else
        responder->reply(200, "application/json", answer->json);
    }
    bool ok = result && answer;
    (ok ? jobs_done : jobs_failed)->inc();
    job_seconds->observe(static_cast<double>(now - accepted_at) / 1000.0);
    node::JobFinished finished{job.router,         job.job_id,   ok,   outcome.tokens_in,
                               outcome.tokens_out, outcome.wall, price};
    state->append({node::NodeMachine::record(finished, now)},
                  [this](std::vector<store::AppendResult>) { maybe_announce_load(); });
  };

  maybe_announce_load();
  if (job.stream) {
    auto stream = std::make_shared<dataplane::AnswerStream>(responder, job, *conversation_keys);
    stream->start();
    runners::StreamCallbacks callbacks;
    callbacks.on_delta = [stream](std::string_view delta) { return stream->delta(delta); };
    callbacks.on_done = [finish, stream](Result<runners::InferenceResult> r) {
      (*finish)(std::move(r), stream.get());
    };
    runner->stream(std::move(request), std::move(callbacks));
  } else {
    runner->infer(std::move(request), [finish](Result<runners::InferenceResult> r) {
      (*finish)(std::move(r), nullptr);
    });
  }
}

// STATUS "on change" (nips/F-02): when the load moves between NORMAL, BUSY and SATURATED; PRICE
// (with CAPS and STATUS) when the surge moved by 0.1 or more since the last PRICE. At most once
// a second: a change inside the second is announced when it ends, as things stand then.
void NodeAgent::Impl::maybe_announce_load() {
  if (change_pending) return;  // the trailing announcement will look
  auto since = std::chrono::steady_clock::now() - last_change_announce;
  if (since >= std::chrono::seconds(1)) return announce_change();
  change_pending = true;
  if (!change_timer) change_timer = std::make_shared<boost::asio::steady_timer>(loop.strand());
  change_timer->expires_after(std::chrono::seconds(1) - since);
  change_timer->async_wait([this](const boost::system::error_code& ec) {
    change_pending = false;
    if (!ec && !stopping) announce_change();
  });
}

void NodeAgent::Impl::announce_change() {
  node::Load l = load();
  auto surge = protocol::Surge::from_load(l.active, l.p95(), config.surge_q, config.surge_l);
  std::uint32_t moved = surge.milli() > announced_surge_milli
                            ? surge.milli() - announced_surge_milli
                            : announced_surge_milli - surge.milli();
  std::uint32_t free = l.free(config.max_concurrency);
  auto now_state = free == 0                                ? protocol::Backpressure::saturated
                   : l.active * 2 >= config.max_concurrency ? protocol::Backpressure::busy
                                                            : protocol::Backpressure::normal;
  if (moved < 100 && now_state == last_state) return;
  last_change_announce = std::chrono::steady_clock::now();
  if (moved >= 100) return announce_all();
  announce_status();
}

}  // namespace fedai::agents
