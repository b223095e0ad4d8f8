// The router's client API: OpenAI-compatible /v1/chat/completions (plain and streamed) and
// /v1/models, plus /health, /metrics, /fedai/v1/jobs and /fedai/v1/peers (loopback only) for
// operators.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "agents/router/openai.h"
#include "agents/router/router_agent_impl.h"
#include "core/machine/record_fields.h"
#include "core/market/auction.h"
#include "core/nostr/nip98.h"
#include "core/protocol/price.h"
#include "core/protocol/protocol.h"

#include <openssl/crypto.h>

namespace fedai::agents {
namespace {

using nlohmann::json;

bool is_loopback(std::string_view remote) {
  return remote.starts_with("127.") || remote.starts_with("[::1]") || remote.starts_with("::1");
}

std::string_view to_string(market::Breaker::State s) {
  switch (s) {
    case market::Breaker::State::closed:
      return "closed";
    case market::Breaker::State::open:
      return "open";
    case market::Breaker::State::half_open:
      return "half_open";
  }
  return "unknown";
}

// What the router knows of each node it has heard of (CAPS) or dealt with (its peer record):
// the circuit breaker (nips/F-03), backpressure, reputation and totals, and the limits it
// announces per model. For operators: GET /fedai/v1/peers.
json peers_json(const machine::StateTxn& txn, UnixMillis now) {
  std::map<PublicKey, router::PeerStats> peers;  // a node only announced: a fresh record
  std::map<PublicKey, json> models;
  for (auto& [pk, stats] : router::RouterMachine::peers(txn)) peers[pk] = std::move(stats);
  for (const auto& c : router::RouterMachine::caps(txn)) {
    peers.try_emplace(c.node);
    json& m = models[c.node];
    if (m.is_null()) m = json::array();
    m.push_back({{"model", c.model},
                 {"instance", c.instance},
                 {"endpoint", c.endpoint},
                 {"created_at", c.created_at},
                 {"max_body_bytes", c.max_body_bytes},
                 {"context_tokens", c.context_tokens},
                 {"max_output_tokens", c.max_output_tokens}});
  }
  std::map<PublicKey, json> prices, statuses;
  for (const auto& pr : router::RouterMachine::prices(txn)) {
    json& m = prices[pr.node];
    if (m.is_null()) m = json::array();
    m.push_back({{"model", pr.model},
                 {"job_type", pr.job_type},
                 {"instance", pr.instance},
                 {"in_per_1k_msat", pr.in_per_1k.value()},
                 {"out_per_1k_msat", pr.out_per_1k.value()},
                 {"min_msat", pr.min.value()},
                 {"surge_milli", pr.surge_milli},
                 {"created_at", pr.created_at}});
  }
  for (const auto& st : router::RouterMachine::statuses(txn)) {
    json& m = statuses[st.node];
    if (m.is_null()) m = json::array();
    m.push_back({{"instance", st.instance},
                 {"state", std::string(protocol::to_string(st.state))},
                 {"queue_depth", st.queue_depth},
                 {"created_at", st.created_at},
                 {"expires_at", st.expires_at}});
  }
  auto or_empty = [](const std::map<PublicKey, json>& m, const PublicKey& pk) {
    auto it = m.find(pk);
    return it == m.end() ? json::array() : it->second;
  };
  json out = json::array();
  for (const auto& [pk, stats] : peers) {
    const market::Breaker& b = stats.breaker;
    out.push_back({{"pubkey", pk.hex()},
                   {"breaker", std::string(to_string(b.state))},
                   // No new work goes to it now (breaker open or its trial out, Retry-After);
                   // an open breaker past its period is not excluded: the next job is its trial.
                   {"excluded", stats.excluded(now)},
                   // Answered busy a moment ago: other nodes go first.
                   {"paused", stats.paused(now)},
                   {"consecutive_failures", b.consecutive_failures},
                   {"open_until_ms", b.open_until},
                   {"open_for_ms", b.open_for.value()},
                   {"opened_at_ms", b.opened_at},
                   {"times_opened", b.times_opened},
                   {"busy_until_ms", stats.busy_until},
                   {"retry_at_ms", stats.retry_at},
                   {"reputation_ppm", stats.reputation.score_ppm()},
                   {"jobs", stats.reputation.jobs},
                   {"jobs_ok", stats.jobs_ok},
                   {"jobs_failed", stats.jobs_failed},
                   {"jobs_busy", stats.jobs_busy},
                   {"paid_msat", stats.paid.value()},
                   {"models", or_empty(models, pk)},
                   {"prices", or_empty(prices, pk)},
                   {"status", or_empty(statuses, pk)}});
  }
  return json{{"now_ms", now}, {"peers", std::move(out)}};
}

// The breakers' metrics, brought up to date from the state when scraped: the state is where
// they change (in the reducers), and a scrape is rare next to the jobs.
void update_breaker_metrics(MetricsRegistry& metrics, const machine::StateTxn& txn,
                            UnixMillis now) {
  std::int64_t open = 0, half_open = 0, busy = 0;
  std::uint64_t opened = 0, busy_answers = 0;
  for (const auto& [pk, stats] : router::RouterMachine::peers(txn)) {
    if (stats.breaker.state == market::Breaker::State::half_open) {
      ++half_open;
    } else if (stats.breaker.is_open(now)) {
      ++open;
    }
    if (stats.paused(now)) ++busy;
    opened += stats.breaker.times_opened;
    busy_answers += stats.jobs_busy;
  }
  const std::string kBreakers = "Nodes by circuit breaker state (open: within its period)";
  metrics.gauge("fedai_router_breakers", kBreakers, {{"state", "open"}}).set(open);
  metrics.gauge("fedai_router_breakers", kBreakers, {{"state", "half_open"}}).set(half_open);
  metrics
      .gauge("fedai_router_nodes_paused",
             "Nodes passed over for a moment after a busy answer (429, ERR_BUSY)")
      .set(busy);
  // Counters kept in the state: the registry's catch up with them.
  auto catch_up = [](Counter& c, std::uint64_t total) {
    if (total > c.value()) c.inc(total - c.value());
  };
  catch_up(metrics.counter("fedai_router_breaker_opened_total", "Times a node's breaker opened"),
           opened);
  catch_up(metrics.counter("fedai_router_node_busy_total",
                           "Busy answers from nodes (429, ERR_BUSY): backpressure, not failures"),
           busy_answers);
}

}  // namespace

void RouterAgent::Impl::register_routes() {
  server->route("POST", "/v1/chat/completions",
                [this](http::Request r, std::shared_ptr<http::Responder> w) {
                  handle_chat(std::move(r), std::move(w));
                });
  server->route("GET", "/v1/models", [this](http::Request r, std::shared_ptr<http::Responder> w) {
    handle_models(std::move(r), std::move(w));
  });
  server->route("GET", "/fedai/v1/jobs",
                [this](http::Request r, std::shared_ptr<http::Responder> w) {
                  handle_jobs(std::move(r), std::move(w));
                });
  server->route(
      "GET", "/fedai/v1/peers", [this](http::Request r, std::shared_ptr<http::Responder> w) {
        if (!is_loopback(r.remote)) {
          w->reply(403, "application/json",
                   http::error_body("blocked: operators only (loopback)", "ERR_BLOCKED"));
          return;
        }
        json body;
        state->read([&](const machine::StateTxn& txn) { body = peers_json(txn, wall_clock_ms()); });
        w->reply(200, "application/json", body.dump());
      });
  server->route("GET", "/health", [this](http::Request, std::shared_ptr<http::Responder> w) {
    json relays = json::array();
    for (const auto& s : pool->stats())
      relays.push_back({{"url", s.url}, {"status", std::string(relay::to_string(s.status))}});
    w->reply(200, "application/json",
             json{{"status", "ok"},
                  {"pubkey", keys.public_key().hex()},
                  {"active_jobs", active_jobs()},
                  {"relays", relays}}
                 .dump());
  });
  server->route("GET", "/metrics", [this](http::Request, std::shared_ptr<http::Responder> w) {
    state->read([&](const machine::StateTxn& txn) {
      update_breaker_metrics(metrics, txn, wall_clock_ms());
    });
    w->reply(200, "text/plain; version=0.0.4", metrics.render());
  });
}

std::optional<std::string> RouterAgent::Impl::authenticate(const http::Request& request) const {
  auto header = request.header("Authorization");
  if (!header || header->empty()) {
    if (config.allow_anonymous) return std::nullopt;
    return "auth-required: send an API key (Authorization: Bearer KEY) or a NIP-98 event";
  }
  std::string_view h = *header;
  if (h.size() > 7 && (h.starts_with("Bearer ") || h.starts_with("bearer "))) {
    std::string_view key = h.substr(7);
    for (const auto& k : config.api_keys)
      if (k.size() == key.size() && CRYPTO_memcmp(k.data(), key.data(), k.size()) == 0)
        return std::nullopt;
    // Where clients are served without credentials, a key we do not know is no reason to
    // refuse: OpenAI's client libraries always send one (they refuse to start without it).
    if (config.allow_anonymous) return std::nullopt;
    return "blocked: unknown API key";
  }
  if (config.allow_nip98 && (h.starts_with("Nostr ") || h.starts_with("nostr "))) {
    std::string url = base_url + request.target;
    auto ok = verify_http_auth(h, url, request.method, request.body, wall_clock_ms() / 1000);
    if (!ok) return ok.error().to_string();
    return std::nullopt;
  }
  return "auth-required: unsupported Authorization scheme";
}

void RouterAgent::Impl::handle_chat(http::Request request,
                                    std::shared_ptr<http::Responder> responder) {
  if (auto refused = authenticate(request)) {
    bool missing = refused->starts_with("auth-required");
    responder->reply(missing ? 401 : 403, "application/json",
                     openai::error_json(*refused, missing ? "ERR_AUTH" : "ERR_BLOCKED"));
    return;
  }
  auto chat =
      openai::parse_chat_request(request.body, config.default_max_tokens, config.max_tokens_cap);
  if (!chat) {
    responder->reply(400, "application/json",
                     openai::error_json(chat.error().to_string(), "ERR_INVALID"));
    return;
  }
  if (active_jobs() >= config.max_active_jobs) {
    if (last_state != protocol::Backpressure::saturated) announce_status();
    responder->reply(
        503, "application/json",
        openai::error_json("error: the router is saturated, try again later", "ERR_BUSY"));
    return;
  }

  router::JobRequested req;
  req.job_id = protocol::new_job_id();
  req.model = chat->model;
  req.job_type = "chat";
  req.privacy = chat->privacy.value_or(config.privacy);
  req.input_tokens = chat->input_tokens_estimate;
  req.max_output_tokens = chat->max_tokens;
  req.max_price = chat->max_price.value_or(config.max_price);
  req.stream = chat->stream;
  req.mode = chat->mode.value_or(config.mode);
  req.bid_window = chat->bid_window.value_or(config.bid_window);
  req.deadline = config.deadline;
  req.body_bytes = chat->job_body.size();

  PendingJob job;
  job.model = chat->model;
  job.body = chat->job_body;
  job.stream = chat->stream;
  job.include_usage = chat->include_usage.value_or(false);
  job.max_tokens = chat->max_tokens;
  job.responder = responder;
  job.received_at = wall_clock_ms();
  pending.emplace(req.job_id, std::move(job));
  if (pending.size() * 2 >= config.max_active_jobs && last_state == protocol::Backpressure::normal)
    announce_status();

  responder->on_client_gone([this, id = req.job_id] {
    auto it = pending.find(id);
    if (it == pending.end()) return;
    if (it->second.in_flight) it->second.in_flight->cancel();
    pending.erase(it);
    state->append({router::RouterMachine::record(router::ClientGone{id}, wall_clock_ms())});
  });

  state->append(
      {router::RouterMachine::record(req, wall_clock_ms())},
      [this, id = req.job_id](std::vector<store::AppendResult> results) {
        if (results.empty() || results[0].status == machine::ApplyOutcome::Status::applied) return;
        auto it = pending.find(id);
        if (it == pending.end()) return;
        // The reducer's refusal with its F-06 code, as the client's status (400, 409, ...).
        const protocol::Refusal& refusal = results[0].refusal;
        it->second.responder->reply(
            refusal.http_status(), "application/json",
            openai::error_json(refusal.reason.to_string(), protocol::to_string(refusal.code)));
        pending.erase(it);
      });
}

void RouterAgent::Impl::reply_to_client(const machine::Effect& effect) {
  auto reply = record_fields::decode<router::ClientReply>(effect.payload);
  if (!reply) return state->complete(effect);
  // A reply means the job is over: its armed deadlines are taken back and marked done with the
  // reply, in one commit after the client has its answer.
  std::vector<machine::Effect> done = take_deadlines(reply->job_id);
  done.push_back(effect);
  auto it = pending.find(reply->job_id);
  if (it == pending.end()) return state->complete(done);  // the client went away
  PendingJob& job = it->second;
  std::string id = "chatcmpl-" + reply->job_id.hex();
  UnixSeconds created = job.received_at / 1000;
  std::optional<router::JobState> record;
  state->read([&](const machine::StateTxn& txn) {
    record = router::RouterMachine::job(txn, reply->job_id);
  });
  openai::FedaiInfo info;
  info.job_id = reply->job_id.hex();
  if (record) {
    if (record->node) info.node = record->node->hex();
    info.price_msat = record->price.value();
    info.attempts = record->attempts;
    info.posted = record->posted;
  }

  if (reply->ok) {
    jobs_done->inc();
    openai::Usage usage{job.tokens_in, job.tokens_out};
    if (job.stream) {
      if (!job.streaming_started) {
        job.responder->start_stream();
        if (!job.text.empty())
          job.responder->send_event(
              "", openai::chunk_json(id, created, job.model, job.text, std::nullopt));
      }
      if (job.include_usage) {
        // OpenAI's shape: the finish chunk, then one with no choices and the usage.
        job.responder->send_event("", openai::chunk_json(id, created, job.model, "",
                                                         job.finish_reason, std::nullopt, info));
        job.responder->send_event("", openai::usage_chunk_json(id, created, job.model, usage));
      } else {
        job.responder->send_event(
            "", openai::chunk_json(id, created, job.model, "", job.finish_reason, usage, info));
      }
      job.responder->send_event("", "[DONE]");
      job.responder->end_stream();
    } else {
      job.responder->reply(200, "application/json",
                           openai::completion_json(id, created, job.model, job.text,
                                                   job.finish_reason, usage, info));
    }
  } else {
    jobs_failed->inc();
    // The reason may already carry its prefix (a node's refusal, passed on): not twice.
    std::string prefix = protocol::nip01_prefix(reply->error)
                             ? std::string(prefix_of(*protocol::nip01_prefix(reply->error)))
                             : "error";
    std::string message =
        reply->reason.starts_with(prefix + ":") ? reply->reason : prefix + ": " + reply->reason;
    std::string code(protocol::to_string(reply->error));
    // A refusal by the nodes the job went to is no fault of the client's request: 502.
    int http_status = openai::http_status_for(reply->error);
    if (reply->attempt > 0 && http_status >= 400 && http_status < 500 && http_status != 402 &&
        http_status != 422)
      http_status = 502;
    if (job.streaming_started) {
      job.responder->send_event("", openai::error_json(message, code));
      job.responder->send_event("", "[DONE]");
      job.responder->end_stream();
    } else {
      job.responder->reply(http_status, "application/json", openai::error_json(message, code));
    }
  }
  UnixMillis elapsed = wall_clock_ms() - job.received_at;
  job_seconds->observe(static_cast<double>(elapsed) / 1000.0);
  if (config.on_job_finished && record) config.on_job_finished(*record, elapsed);
  pending.erase(it);
  if (last_state != protocol::Backpressure::normal && pending.size() * 2 < config.max_active_jobs)
    announce_status();
  state->complete(done);
}

void RouterAgent::Impl::handle_models(http::Request request,
                                      std::shared_ptr<http::Responder> responder) {
  if (auto refused = authenticate(request)) {
    responder->reply(401, "application/json", openai::error_json(*refused, "ERR_AUTH"));
    return;
  }
  // The market's offer per model: the nodes announcing it, and the range of their posted rates
  // for chat (each PRICE's rates with its surge, as a posted job would be charged).
  std::map<std::string, openai::ModelMarket> market;
  state->read([&](const machine::StateTxn& txn) {
    for (const auto& caps : router::RouterMachine::caps(txn)) ++market[caps.model].nodes;
    for (const auto& price : router::RouterMachine::prices(txn)) {
      auto it = market.find(price.model);
      if (it == market.end() || price.job_type != "chat") continue;
      auto surge = protocol::Surge::from_milli(price.surge_milli);
      protocol::Msat in = protocol::surged_rate(price.in_per_1k, surge);
      protocol::Msat out = protocol::surged_rate(price.out_per_1k, surge);
      openai::ModelMarket& m = it->second;
      bool first = m.priced++ == 0;
      m.in_min = first ? in : std::min(m.in_min, in);
      m.in_max = first ? in : std::max(m.in_max, in);
      m.out_min = first ? out : std::min(m.out_min, out);
      m.out_max = first ? out : std::max(m.out_max, out);
    }
  });
  responder->reply(200, "application/json", openai::models_json(market));
}

std::map<std::string, std::size_t> RouterAgent::Impl::models() const {
  std::map<std::string, std::size_t> models;  // model -> nodes offering it
  state->read([&](const machine::StateTxn& txn) {
    for (const auto& caps : router::RouterMachine::caps(txn)) ++models[caps.model];
  });
  return models;
}

void RouterAgent::Impl::handle_jobs(http::Request request,
                                    std::shared_ptr<http::Responder> responder) {
  if (!is_loopback(request.remote)) {
    responder->reply(403, "application/json",
                     http::error_body("blocked: operators only (loopback)", "ERR_BLOCKED"));
    return;
  }
  std::vector<router::JobState> jobs;
  state->read([&](const machine::StateTxn& txn) { jobs = router::RouterMachine::jobs(txn); });
  std::sort(jobs.begin(), jobs.end(),
            [](const auto& a, const auto& b) { return a.created_at > b.created_at; });
  if (jobs.size() > 100) jobs.resize(100);
  json out = json::array();
  for (const auto& j : jobs) {
    // Bids the round's book holds (counted ones), to see how many bidders an auction had.
    json bids = nullptr;
    state->read([&](const machine::StateTxn& txn) {
      if (auto book = router::RouterMachine::auction(txn, j.request.job_id))
        bids = book->bids.size();
    });
    out.push_back(
        {{"job_id", j.request.job_id.hex()},
         {"model", j.request.model},
         {"phase", std::string(router::to_string(j.phase))},
         {"mode", j.posted ? "posted" : "auction"},
         {"node", j.node ? j.node->hex() : ""},
         {"price_msat", j.price.value()},
         {"attempts", j.attempts},
         {"rounds", j.rounds},
         {"created_at_ms", j.created_at},
         {"finished_at_ms", j.finished_at},
         {"rfb_at_ms", j.rfb_at},
         {"cleared_at_ms", j.cleared_at},
         {"awarded_at_ms", j.awarded_at},
         {"bid_window_ms", j.request.bid_window.value()},
         {"error",
          j.phase == router::JobPhase::failed ? std::string(protocol::to_string(j.error)) : ""},
         {"reason", j.reason},
         {"bids", bids}});
  }
  responder->reply(200, "application/json", json{{"jobs", out}}.dump());
}

}  // namespace fedai::agents
