#include "agents/router/router_agent.h"

#include <spdlog/spdlog.h>

#include <future>

#include "agents/router/openai.h"
#include "agents/router/router_agent_impl.h"
#include "core/machine/record_fields.h"
#include "core/protocol/protocol.h"

namespace fedai::agents {
namespace {

using protocol::Millis;
using protocol::Msat;

constexpr std::chrono::milliseconds kPublishTimeout{5'000};

}  // namespace

RouterAgent::RouterAgent(RouterConfig config, MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(std::move(config), metrics)) {}
RouterAgent::~RouterAgent() {
  stop();
}
Status RouterAgent::start() {
  return impl_->start();
}
void RouterAgent::stop() {
  if (impl_) impl_->stop();
}
std::string RouterAgent::url() const {
  return impl_->base_url;
}
const PublicKey& RouterAgent::public_key() const {
  return impl_->keys.public_key();
}
std::map<std::string, std::size_t> RouterAgent::models() const {
  return impl_->models();
}

Status RouterAgent::Impl::start() {
  if (!config.keys) return make_error(ErrorCode::error, "the router needs a secret key");
  keys = *config.keys;
  if (config.relays.empty())
    return make_error(ErrorCode::error, "the router needs at least one relay");
  if (config.api_keys.empty() && !config.allow_nip98 && !config.allow_anonymous)
    return invalid(
        "no way for clients to authenticate: give an API key, allow NIP-98, or allow anonymous "
        "clients");
  jobs_done = &metrics.counter("fedai_router_jobs_total", "Jobs by outcome", {{"outcome", "done"}});
  jobs_failed =
      &metrics.counter("fedai_router_jobs_total", "Jobs by outcome", {{"outcome", "failed"}});
  job_seconds =
      &metrics.histogram("fedai_router_job_seconds", "Client request to answer", latency_buckets());

  AgentHostOptions options;
  options.name = "router";
  options.keys = keys;
  options.relays = config.relays;
  options.store = store::MachineStoreOptions{config.db, std::size_t{4} << 30, config.durable};
  options.store.inline_when_idle = true;  // without fsync, an idle writer commits on our thread
  options.store.checkpoint_every = config.checkpoint_every;
  options.server.listen = config.listen;
  options.server.max_body_bytes = config.max_body_bytes;
  options.drain_grace = config.drain_grace;
  if (auto st = host.bind(options); !st) return st;
  base_url = config.public_url.empty() ? host.url() : config.public_url;
  http_client = std::make_unique<runners::HttpClient>(loop.strand());
  conversation_keys = std::make_unique<protocol::ConversationKeyCache>(keys);
  dispatcher = std::make_unique<dataplane::Dispatcher>(loop.io(), *http_client, *conversation_keys);
  if (auto st = host.start(*this, options); !st) return st;
  spdlog::info("router {} serving clients at {}", keys.public_key().hex().substr(0, 12), base_url);
  return {};
}

void RouterAgent::Impl::stop() {
  host.stop();
  dispatcher.reset();
  conversation_keys.reset();
  http_client.reset();
}

std::vector<machine::Record> RouterAgent::Impl::startup_records() {
  return {router::RouterMachine::record(make_policy(), wall_clock_ms()),
          router::RouterMachine::record(router::Startup{static_cast<std::uint64_t>(::getpid())},
                                        wall_clock_ms())};
}

void RouterAgent::Impl::on_ready() {
  announce_status();
  schedule_status();
}

void RouterAgent::Impl::on_draining() {
  stopping = true;
  if (status_timer) status_timer->cancel();
}

void RouterAgent::Impl::on_stop() {
  stopping = true;
  // Past the grace period: the clients still waiting get an explicit answer, not a reset.
  for (auto& [id, job] : pending) {
    if (job.in_flight) job.in_flight->cancel();
    if (!job.streaming_started)
      job.responder->reply(
          503, "application/json",
          openai::error_json("error: the router is shutting down, try again", "ERR_BUSY"),
          {{"Retry-After", "1"}});
    else
      job.responder->end_stream();
  }
  pending.clear();
  for (auto& [id, armed] : deadlines)
    for (auto& d : armed) d.timer->cancel();
  deadlines.clear();
  if (http_client) http_client->shutdown();
}

router::RouterPolicy RouterAgent::Impl::make_policy() const {
  router::RouterPolicy p;
  p.self = keys.public_key();
  p.auction = config.auction;
  p.breaker = config.breaker;
  p.spending = config.spending;
  return p;
}

// ---- relays ----

void RouterAgent::Impl::subscribe() {
  // Announcements: the newest of each (relays keep addressable events), so no `since`.
  Filter announcements;
  announcements.kinds = std::vector<Kind>{protocol::kCapsAnnounce, protocol::kPriceAnnounce,
                                          protocol::kStatusAnnounce};
  announcements.normalize();
  pool->subscribe({announcements},
                  {[this](const Event& e, const std::string&) { on_announcement(e); }, {}, {}, {}});

  // Bids addressed to us, from now on.
  Filter bids;
  bids.kinds = std::vector<Kind>{protocol::kBid};
  bids.tags.push_back(TagFilter{'p', {keys.public_key().hex()}});
  bids.since = unix_now();
  bids.normalize();
  pool->subscribe({bids}, {[this](const Event& e, const std::string&) { on_bid(e); }, {}, {}, {}});

  // Our own RFBs as the relays deliver them back: their round trip (on_own_rfb).
  Filter own;
  own.kinds = std::vector<Kind>{protocol::kRfb};
  own.authors = std::vector<PublicKey>{keys.public_key()};
  own.since = unix_now();
  own.normalize();
  pool->subscribe(
      {own},
      {[this](const Event& e, const std::string& relay) { on_own_rfb(e, relay); }, {}, {}, {}});
}

void RouterAgent::Impl::on_own_rfb(const Event& e, const std::string& relay) {
  auto it = rfbs_in_flight.find(e.id);
  if (it == rfbs_in_flight.end()) return;  // from before this run, or echoed already elsewhere
  auto echo = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - it->second.at);
  auto window = it->second.bid_window;
  // Each relay delivers its own copy: keep the entry for the others until it is pruned.
  metrics
      .gauge("fedai_router_relay_echo_ms",
             "Last round trip of our own RFB through each relay (publish to delivery), ms",
             {{"relay", relay}})
      .set(echo.count());
  if (window.value() < 2 * static_cast<std::uint64_t>(echo.count())) {
    metrics
        .counter("fedai_router_bid_window_short_total",
                 "RFBs whose bid window was shorter than two relay hops (two echoes)")
        .inc();
    if (std::uint64_t held; log_limiter.allow("bid window short", held))
      spdlog::warn(
          "the bid window ({} ms) is shorter than two relay hops: {} echoed our RFB after {} ms, "
          "so bids take about {} ms and miss the window; raise --bid-window-ms{}",
          window.value(), relay, echo.count(), 2 * echo.count(), LogLimiter::suffix(held));
  }
}

void RouterAgent::Impl::on_announcement(const Event& e) {
  UnixMillis now = wall_clock_ms();
  if (e.kind == protocol::kCapsAnnounce) {
    auto caps = protocol::parse_caps_announce(e);
    if (!caps) return;
    state->append({router::RouterMachine::record(router::caps_received(e, *caps), now)});
  } else if (e.kind == protocol::kPriceAnnounce) {
    auto price = protocol::parse_price_announce(e);
    if (!price) return;
    router::PriceReceived r;
    r.node = e.pubkey;
    r.event_id = e.id;
    r.created_at = e.created_at;
    r.instance = price->instance;
    r.model = price->model;
    r.job_type = price->job_type;
    r.in_per_1k = price->in_per_1k_msat;
    r.out_per_1k = price->out_per_1k_msat;
    r.min = price->min_msat;
    r.surge_milli = price->surge.milli();
    state->append({router::RouterMachine::record(r, now)});
  } else if (e.kind == protocol::kStatusAnnounce) {
    if (e.pubkey == keys.public_key()) return;  // our own
    auto status = protocol::parse_status_announce(e);
    if (!status) return;
    router::StatusReceived r;
    r.node = e.pubkey;
    r.instance = status->instance;
    r.created_at = e.created_at;
    r.expires_at = e.created_at + protocol::kStatusLifetime;
    r.state = status->state;
    r.queue_depth = status->queue_depth;
    r.p95_latency = status->p95_latency_ms;
    state->append({router::RouterMachine::record(r, now)});
  }
}

void RouterAgent::Impl::on_bid(const Event& e) {
  UnixMillis now = wall_clock_ms();
  if (auto fresh = protocol::check_fresh(e, now / 1000); !fresh) return;
  auto bid = protocol::parse_bid(e, *conversation_keys);
  if (!bid) {
    spdlog::debug("bid {} refused: {}", e.id.hex().substr(0, 12), bid.error().to_string());
    return;
  }
  router::BidReceived r;
  r.bid.bid_id = e.id;
  r.bid.bidder = e.pubkey;
  r.bid.addressee = bid->router;
  r.bid.rfb_ref = bid->rfb_id;
  r.bid.job_id = bid->job_id;
  r.bid.price = bid->price_msat;
  r.bid.in_per_1k = bid->in_per_1k_msat;
  r.bid.out_per_1k = bid->out_per_1k_msat;
  r.bid.min = bid->min_msat;
  r.bid.eta = bid->eta_ms;
  r.bid.endpoint = bid->endpoint;
  r.bid.capacity_token = bid->capacity_token;
  r.bid.valid_until = bid->valid_until;
  r.bid.received_at = now;
  state->append(
      {router::RouterMachine::record(r, now)},
      [id = e.id](std::vector<store::AppendResult> results) {
        if (!results.empty() && results[0].status == machine::ApplyOutcome::Status::rejected)
          spdlog::debug("bid {} not counted: {}", id.hex().substr(0, 12),
                        results[0].refusal.to_string());
      });
}

// ---- effects ----

void RouterAgent::Impl::register_effects() {
  state->on_effect(router::kComposeRfb, [this](const machine::Effect& effect) {
    auto c = record_fields::decode<router::ComposeRfb>(effect.payload);
    std::optional<router::JobState> job;
    if (c)
      state->read(
          [&](const machine::StateTxn& txn) { job = router::RouterMachine::job(txn, c->job_id); });
    if (!c) return state->abandon(effect, "unreadable ComposeRfb");
    if (!job) return state->abandon(effect, "ComposeRfb for a job no longer kept");
    const router::JobRequested& req = job->request;
    protocol::Rfb rfb;
    rfb.job_id = req.job_id;
    rfb.model = req.model;
    rfb.job_type = req.job_type;
    rfb.privacy = req.privacy;
    rfb.input_tokens = req.input_tokens;
    rfb.max_output_tokens = req.max_output_tokens;
    rfb.max_price_msat = req.max_price;
    rfb.bid_window_ms = req.bid_window;
    rfb.deadline_ms = req.deadline;
    rfb.stream = req.stream;
    auto e = protocol::build(rfb, keys, unix_now());
    if (!e) return state->abandon(effect, "cannot build an RFB: " + e.error().to_string());
    state->complete(effect, {router::RouterMachine::record(
                                router::kRfbSent,
                                router::EventSent{req.job_id, 0, e->id, e->created_at, to_json(*e)},
                                wall_clock_ms())});
  });

  state->on_effect(router::kComposeAward, [this](const machine::Effect& effect) {
    auto a = record_fields::decode<router::ComposeAward>(effect.payload);
    if (!a) return state->abandon(effect, "unreadable ComposeAward");
    protocol::Award award;
    award.node = a->node;
    if (a->price_id) {
      award.basis = protocol::PostedPriceBasis{*a->price_id};
    } else if (a->rfb_id && a->bid_id && a->capacity_token) {
      award.basis = protocol::AuctionBasis{*a->rfb_id, *a->bid_id, *a->capacity_token};
    } else {
      return state->abandon(effect, "ComposeAward names neither a PRICE nor a bid");
    }
    award.job_id = a->job_id;
    award.price_msat = a->price;
    award.submit_by = std::max<std::int64_t>(a->submit_by, unix_now() + 1);
    award.deadline_ms = a->deadline;
    auto e = protocol::build(award, *conversation_keys, unix_now());
    if (!e) return state->abandon(effect, "cannot build an AWARD: " + e.error().to_string());
    state->complete(effect,
                    {router::RouterMachine::record(
                        router::kAwardSent,
                        router::EventSent{a->job_id, a->attempt, e->id, e->created_at, to_json(*e)},
                        wall_clock_ms())});
  });

  state->on_effect(router::kComposeCancel, [this](const machine::Effect& effect) {
    auto c = record_fields::decode<router::ComposeCancel>(effect.payload);
    if (!c) return state->abandon(effect, "unreadable ComposeCancel");
    protocol::Cancel cancel;
    cancel.rfb_id = c->rfb_id;
    cancel.award_id = c->award_id;
    cancel.node = c->node;
    cancel.job_id = c->job_id;
    cancel.reason = c->reason;
    if (!cancel.rfb_id && !cancel.award_id)
      return state->abandon(effect, "ComposeCancel names neither an RFB nor an AWARD");
    auto e = protocol::build(cancel, keys, unix_now());
    if (!e) return state->abandon(effect, "cannot build a CANCEL: " + e.error().to_string());
    state->complete(effect, {router::RouterMachine::record(
                                router::kCancelSent,
                                router::EventSent{c->job_id, 0, e->id, e->created_at, to_json(*e)},
                                wall_clock_ms())});
  });

  state->on_effect(router::kPublish, [this](const machine::Effect& effect) {
    auto p = record_fields::decode<router::Publish>(effect.payload);
    auto event = p ? parse_event(p->event_json) : Result<Event>(invalid("unreadable effect"));
    if (!event) return state->abandon(effect, "unreadable Publish");
    if (event->kind == protocol::kRfb) {
      // Remember when it left, for on_own_rfb; entries whose echo never came go after 10 s.
      auto now = std::chrono::steady_clock::now();
      while (!rfbs_by_time.empty()) {
        auto oldest = rfbs_in_flight.find(rfbs_by_time.front());
        if (oldest != rfbs_in_flight.end() && now - oldest->second.at <= std::chrono::seconds{10})
          break;
        if (oldest != rfbs_in_flight.end()) rfbs_in_flight.erase(oldest);
        rfbs_by_time.pop_front();
      }
      auto rfb = protocol::parse_rfb(*event);
      if (rfb && rfbs_in_flight.emplace(event->id, SentRfb{now, rfb->bid_window_ms}).second)
        rfbs_by_time.push_back(event->id);
    }
    pool->publish(
        *event, kPublishTimeout,
        [this, effect](const EventId& id, std::vector<relay::RelayPublishResult> results) {
          if (!relay::any_accepted(results))
            spdlog::warn("event {} was accepted by no relay", id.hex().substr(0, 12));
          state->complete(effect);
        });
  });

  state->on_effect(router::kArmTimer, [this](const machine::Effect& effect) {
    auto t = record_fields::decode<router::ArmTimer>(effect.payload);
    if (!t) return state->abandon(effect, "unreadable ArmTimer");
    bool deadline = t->timer.kind == router::TimerKind::dispatch_deadline;
    auto armed = state->at(t->at, [this, effect, deadline, timer = t->timer] {
      if (deadline) {
        auto it = deadlines.find(timer.job_id);
        if (it != deadlines.end()) {
          std::erase_if(it->second,
                        [&](const ArmedDeadline& d) { return d.effect.id == effect.id; });
          if (it->second.empty()) deadlines.erase(it);
        }
      }
      state->complete(effect, {router::RouterMachine::record(timer, wall_clock_ms())});
    });
    if (deadline) deadlines[t->timer.job_id].push_back({effect, std::move(armed)});
  });

  state->on_effect(router::kDispatch, [this](const machine::Effect& effect) { dispatch(effect); });
  state->on_effect(router::kClientReply,
                   [this](const machine::Effect& effect) { reply_to_client(effect); });
}

// The job is over: its dispatch deadlines would fire into a no-op; take them back now.
std::vector<machine::Effect> RouterAgent::Impl::take_deadlines(const protocol::JobId& job) {
  std::vector<machine::Effect> effects;
  auto it = deadlines.find(job);
  if (it == deadlines.end()) return effects;
  for (auto& d : it->second) {
    d.timer->cancel();
    effects.push_back(std::move(d.effect));
  }
  deadlines.erase(it);
  return effects;
}

// ---- our own backpressure (nips/F-02) ----

void RouterAgent::Impl::announce_status() {
  std::size_t active = active_jobs();
  protocol::StatusAnnounce status;
  status.instance = "router";
  status.state = active >= config.max_active_jobs       ? protocol::Backpressure::saturated
                 : active * 2 >= config.max_active_jobs ? protocol::Backpressure::busy
                                                        : protocol::Backpressure::normal;
  status.active_jobs = static_cast<std::uint32_t>(active);
  last_state = status.state;
  if (auto e = protocol::build(status, keys, announce_clock.next("status", unix_now())))
    pool->publish(*e, kPublishTimeout,
                  [](const EventId&, std::vector<relay::RelayPublishResult>) {});
}

void RouterAgent::Impl::schedule_status() {
  if (!status_timer) status_timer = std::make_shared<boost::asio::steady_timer>(loop.strand());
  status_timer->expires_after(config.status_every);
  status_timer->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping) return;
    announce_status();
    schedule_status();
  });
}

}  // namespace fedai::agents
