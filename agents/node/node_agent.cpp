#include "agents/node/node_agent.h"

#include <spdlog/spdlog.h>

#include <future>

#include "agents/node/node_agent_impl.h"
#include "core/machine/record_fields.h"
#include "core/protocol/protocol.h"

namespace fedai::agents {
namespace {

using protocol::Millis;
using protocol::Msat;

constexpr std::chrono::milliseconds kPublishTimeout{5'000};

}  // namespace

NodeAgent::NodeAgent(NodeConfig config, MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(std::move(config), metrics)) {}

NodeAgent::~NodeAgent() {
  stop();
}

Status NodeAgent::start() {
  return impl_->start();
}
void NodeAgent::stop() {
  if (impl_) impl_->stop();
}
std::string NodeAgent::url() const {
  return impl_->endpoint;
}
const PublicKey& NodeAgent::public_key() const {
  return impl_->keys.public_key();
}
std::vector<std::string> NodeAgent::models() const {
  return impl_->models;
}

Status NodeAgent::Impl::start() {
  if (!config.keys) return make_error(ErrorCode::error, "the node needs a secret key");
  keys = *config.keys;
  if (config.relays.empty())
    return make_error(ErrorCode::error, "the node needs at least one relay");
  conversation_keys = std::make_unique<protocol::ConversationKeyCache>(keys);
  rate_limiter = PeerRateLimiter(config.max_requests_per_second_per_peer,
                                 config.max_requests_per_second_per_peer * 2.0);
  jobs_done = &metrics.counter("fedai_node_jobs_total", "Jobs by outcome", {{"outcome", "done"}});
  jobs_failed =
      &metrics.counter("fedai_node_jobs_total", "Jobs by outcome", {{"outcome", "failed"}});
  jobs_refused =
      &metrics.counter("fedai_node_jobs_total", "Jobs by outcome", {{"outcome", "refused"}});
  job_seconds = &metrics.histogram("fedai_node_job_seconds", "Accepting a job to its answer",
                                   latency_buckets());
  // Jobs in flight before new ones: a runner's answer becomes the router's answer before the next
  // JOB_SUBMIT is taken in. Started first, a burst of submits all pass their checks before any
  // answer leaves, and the router waits idle meanwhile (a convoy): under 16 clients on the
  // 2-core VM this took the cores' use from 1.6 to 1.9 and requests/s up by a sixth.
  loop.use_admission();
  loop.start();

  auto r = runners::make_runner(loop.strand(), config.runner);
  if (!r) return r.error();
  runner = std::move(*r);

  // The models to offer: configured ones, else every model the runner lists.
  if (config.models.empty()) {
    std::promise<Result<std::vector<std::string>>> listed;
    loop.post([&] {
      runner->models([&](Result<std::vector<std::string>> m) { listed.set_value(std::move(m)); });
    });
    auto names = listed.get_future().get();
    if (!names)
      return make_error(ErrorCode::error, "cannot list the runner's models at " +
                                              config.runner.base_url + ": " +
                                              names.error().message);
    if (names->empty())
      return make_error(ErrorCode::error,
                        "the runner at " + config.runner.base_url + " serves no model");
    for (const auto& m : *names) config.models[m] = config.defaults;
  }
  for (const auto& [name, offer] : config.models) {
    if (!protocol::is_model_id(name))
      return invalid("model id '" + name + "' is not valid (nips/F-01)");
    if (offer.job_types.empty()) return invalid("model '" + name + "' offers no job type");
    models.push_back(name);
    privacy_max = std::max(privacy_max, offer.privacy_max);
  }

  // The data plane's address first: its URL goes into the announcements.
  AgentHostOptions options;
  options.name = "node";
  options.keys = keys;
  options.relays = config.relays;
  options.store = store::MachineStoreOptions{config.db, std::size_t{4} << 30, config.durable};
  options.store.inline_when_idle = true;  // without fsync, an idle writer commits on our thread
  options.store.checkpoint_every = config.checkpoint_every;
  options.server.listen = config.listen;
  options.server.max_body_bytes = config.max_body_bytes;
  options.server.admit = [this](std::function<void()> handle) { loop.admit(std::move(handle)); };
  options.drain_grace = config.drain_grace;
  if (auto st = host.bind(options); !st) return st;
  endpoint = config.public_url.empty() ? host.url() : config.public_url;
  jobs_url = protocol::jobs_url(endpoint);
  policy = make_policy();
  if (auto st = host.start(*this, options); !st) return st;
  spdlog::info("node {} serving {} model(s) at {}", keys.public_key().hex().substr(0, 12),
               models.size(), endpoint);
  return {};
}

void NodeAgent::Impl::stop() {
  host.stop();
}

std::vector<machine::Record> NodeAgent::Impl::startup_records() {
  return {node::NodeMachine::record(policy, wall_clock_ms()),
          node::NodeMachine::record(node::Startup{static_cast<std::uint64_t>(::getpid())},
                                    wall_clock_ms())};
}

void NodeAgent::Impl::on_ready() {
  announce_all();
  schedule(announce_timer, config.announce_every, &Impl::announce_all);
  schedule(status_timer, config.status_every, &Impl::announce_status);
}

void NodeAgent::Impl::on_draining() {
  stopping = true;
  for (auto* timer : {&announce_timer, &change_timer, &status_timer})
    if (*timer) (*timer)->cancel();
  // Routers stop sending work: saturated until the node is back (its restart announces again).
  announce_status();
}

std::size_t NodeAgent::Impl::in_flight() const {
  return load().active;
}

node::NodePolicy NodeAgent::Impl::make_policy() const {
  node::NodePolicy p;
  p.self = keys.public_key();
  p.models = config.models;
  p.max_concurrency = config.max_concurrency;
  p.surge_q = config.surge_q;
  p.surge_l = config.surge_l;
  p.bid_validity = config.bid_validity;
  p.eta = config.eta;
  return p;
}

void NodeAgent::Impl::schedule(std::shared_ptr<boost::asio::steady_timer>& slot,
                               std::chrono::seconds every, void (Impl::*what)()) {
  if (!slot) slot = std::make_shared<boost::asio::steady_timer>(loop.strand());
  auto timer = slot;
  timer->expires_after(every);
  timer->async_wait([this, timer, every, what, &slot](const boost::system::error_code& ec) {
    if (ec || stopping) return;
    (this->*what)();
    schedule(slot, every, what);
  });
}

// ---- relays ----

void NodeAgent::Impl::subscribe() {
  // RFBs for our models only (the m tag), from now on: relays may keep ephemeral events for
  // minutes (nips/F-01 freshness).
  Filter rfbs;
  rfbs.kinds = std::vector<Kind>{protocol::kRfb};
  rfbs.tags.push_back(TagFilter{'m', models});
  rfbs.since = unix_now();
  rfbs.normalize();
  pool->subscribe({rfbs}, {[this](const Event& e, const std::string&) { on_rfb(e); }, {}, {}, {}});

  // AWARDs and CANCELs: ours say we won; the others tell us to release a slot.
  Filter outcomes;
  outcomes.kinds = std::vector<Kind>{protocol::kAward, protocol::kCancel};
  outcomes.since = unix_now();
  outcomes.normalize();
  pool->subscribe({outcomes}, {[this](const Event& e, const std::string&) {
                                 if (e.kind == protocol::kAward)
                                   on_award(e);
                                 else
                                   on_cancel(e);
                               },
                               {},
                               {},
                               {}});
}

void NodeAgent::Impl::on_rfb(const Event& e) {
  if (auto fresh = protocol::check_fresh(e, unix_now()); !fresh) return;
  auto rfb = protocol::parse_rfb(e);
  if (!rfb) {
    spdlog::debug("ignoring RFB {}: {}", e.id.hex().substr(0, 12), rfb.error().to_string());
    return;
  }
  node::RfbReceived r;
  r.rfb_id = e.id;
  r.router = e.pubkey;
  r.job_id = rfb->job_id;
  r.model = rfb->model;
  r.job_type = rfb->job_type;
  r.privacy = rfb->privacy;
  r.input_tokens = rfb->input_tokens;
  r.max_output_tokens = rfb->max_output_tokens;
  r.max_price = rfb->max_price_msat;
  r.deadline = rfb->deadline_ms;
  r.stream = rfb->stream;
  state->append({node::NodeMachine::record(r, wall_clock_ms())});
}

void NodeAgent::Impl::on_award(const Event& e) {
  auto route = protocol::parse_award_route(e);
  if (!route || !route->rfb_id) return;
  // Only awards for RFBs we bid on matter here.
  bool ours = false;
  state->read([&](const machine::StateTxn& txn) {
    ours = node::NodeMachine::reservation(txn, *route->rfb_id).has_value();
  });
  if (!ours) return;
  state->append({node::NodeMachine::record(
      node::AwardSeen{e.id, e.pubkey, route->node, route->rfb_id}, wall_clock_ms())});
}

void NodeAgent::Impl::on_cancel(const Event& e) {
  auto cancel = protocol::parse_cancel(e);
  if (!cancel || !cancel->rfb_id) return;
  bool ours = false;
  state->read([&](const machine::StateTxn& txn) {
    ours = node::NodeMachine::reservation(txn, *cancel->rfb_id).has_value();
  });
  if (!ours) return;
  state->append({node::NodeMachine::record(
      node::CancelSeen{e.id, e.pubkey, cancel->rfb_id, cancel->award_id, cancel->job_id},
      wall_clock_ms())});
}

void NodeAgent::Impl::publish(const Event& e, const std::string& what) {
  pool->publish(e, kPublishTimeout,
                [what](const EventId& id, std::vector<relay::RelayPublishResult> results) {
                  if (!relay::any_accepted(results))
                    spdlog::warn("{} {} was accepted by no relay", what, id.hex().substr(0, 12));
                });
}

// ---- effects ----

void NodeAgent::Impl::register_effects() {
  state->on_effect(node::kComposeBid, [this](const machine::Effect& effect) {
    auto c = record_fields::decode<node::ComposeBid>(effect.payload);
    if (!c) return state->abandon(effect, "unreadable ComposeBid");
    protocol::Bid bid;
    bid.rfb_id = c->rfb_id;
    bid.router = c->router;
    bid.job_id = c->job_id;
    bid.price_msat = c->price;
    bid.in_per_1k_msat = c->in_per_1k;
    bid.out_per_1k_msat = c->out_per_1k;
    bid.min_msat = c->min;
    bid.eta_ms = c->eta;
    bid.endpoint = endpoint;
    bid.capacity_token = protocol::new_capacity_token();
    bid.valid_until = c->valid_until;
    auto event = protocol::build(bid, *conversation_keys, unix_now());
    if (!event) return state->abandon(effect, "cannot build a BID: " + event.error().to_string());
    state->complete(effect,
                    {node::NodeMachine::record(
                        node::BidSent{c->rfb_id, event->id, bid.capacity_token, to_json(*event)},
                        wall_clock_ms())});
  });

  state->on_effect(node::kPublish, [this](const machine::Effect& effect) {
    auto p = record_fields::decode<node::Publish>(effect.payload);
    auto event = p ? parse_event(p->event_json) : Result<Event>(invalid("unreadable effect"));
    if (!event) return state->abandon(effect, "unreadable Publish");
    pool->publish(*event, kPublishTimeout,
                  [this, effect](const EventId&, std::vector<relay::RelayPublishResult>) {
                    state->complete(effect);
                  });
  });

  state->on_effect(node::kArmTimer, [this](const machine::Effect& effect) {
    auto t = record_fields::decode<node::ArmTimer>(effect.payload);
    if (!t) return state->abandon(effect, "unreadable ArmTimer");
    state->at(t->at, [this, effect, rfb = t->rfb_id] {
      state->complete(effect, {node::NodeMachine::record(node::TimerFired{rfb}, wall_clock_ms())});
    });
  });
}

// ---- announcements ----

node::Load NodeAgent::Impl::load() const {
  node::Load l;
  state->read([&](const machine::StateTxn& txn) { l = node::NodeMachine::load(txn); });
  return l;
}

void NodeAgent::Impl::announce_all() {
  UnixSeconds now = unix_now();
  node::Load l = load();
  auto surge = protocol::Surge::from_load(l.active, l.p95(), config.surge_q, config.surge_l);
  announced_surge_milli = surge.milli();
  for (const auto& [model, offer] : config.models) {
    protocol::CapsAnnounce caps;
    caps.instance = config.instance;
    caps.model = model;
    caps.job_types = offer.job_types;
    caps.context_tokens = offer.context_tokens;
    caps.max_output_tokens = offer.max_output_tokens;
    caps.endpoint = endpoint;
    caps.privacy_max = offer.privacy_max;
    caps.streaming = offer.streaming;
    caps.max_concurrency = config.max_concurrency;
    caps.max_body_bytes = config.max_body_bytes;
    caps.software = "fedai/0.1.0";
    if (auto e = protocol::build(caps, keys, announce_clock.next("caps:" + model, now)))
      publish(*e, "CAPS");
    else
      spdlog::error("cannot build CAPS for {}: {}", model, e.error().to_string());
    for (const auto& job_type : offer.job_types) {
      protocol::PriceAnnounce price;
      price.instance = config.instance;
      price.model = model;
      price.job_type = job_type;
      price.in_per_1k_msat = offer.in_per_1k;
      price.out_per_1k_msat = offer.out_per_1k;
      price.min_msat = offer.min;
      price.surge = surge;
      if (auto e = protocol::build(price, keys,
                                   announce_clock.next("price:" + model + ":" + job_type, now))) {
        // Recorded before it is published: an award naming it must find it (nips/F-03).
        node::PriceAnnounced announced{e->id, model, job_type, surge.milli(), 0};
        state->append(
            {node::NodeMachine::record(announced, wall_clock_ms())},
            [this, event = *e](std::vector<store::AppendResult> results) {
              if (!results.empty() && results[0].status == machine::ApplyOutcome::Status::applied)
                publish(event, "PRICE");
              else
                spdlog::error("cannot record PRICE {}: {}", event.id.hex().substr(0, 12),
                              results.empty() ? "" : results[0].refusal.to_string());
            });
      } else
        spdlog::error("cannot build PRICE for {}: {}", model, e.error().to_string());
    }
  }
  announce_status();
}

void NodeAgent::Impl::announce_status() {
  node::Load l = load();
  protocol::StatusAnnounce status;
  status.instance = config.instance;
  std::uint32_t free = l.free(config.max_concurrency);
  status.state = free == 0 || stopping                    ? protocol::Backpressure::saturated
                 : l.active * 2 >= config.max_concurrency ? protocol::Backpressure::busy
                                                          : protocol::Backpressure::normal;
  status.queue_depth = l.reserved;
  status.active_jobs = l.active;
  status.p95_latency_ms = l.p95();
  last_state = status.state;
  if (auto e = protocol::build(status, keys, announce_clock.next("status", unix_now())))
    publish(*e, "STATUS");
}

}  // namespace fedai::agents
