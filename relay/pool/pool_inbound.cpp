// What relays send: parsing, verification in order, deduplication and delivery; subscriptions
// with EOSE and CLOSED; NIP-42 AUTH. Service thread only.
#include <spdlog/spdlog.h>

#include "core/nostr/message.h"
#include "core/util/overloaded.h"
#include "relay/pool/pool_impl.h"

namespace fedai::relay {
namespace {

constexpr Kind kClientAuthentication = 22242;

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Runs after a delivery callback on the executor: the message no longer counts against the
// relay's inbound budget, and reading resumes once half of the budget has drained.
struct InboundRelease {
  std::shared_ptr<RelayCounters> counters;
  std::weak_ptr<RelayPool::Impl> pool;
  std::size_t low_water = 0;

  void operator()() const {
    counters->inbound_add(-1);
    if (!counters->rx_paused.load() ||
        counters->inbound_pending() > static_cast<std::int64_t>(low_water) ||
        counters->resume_requested.exchange(true))
      return;
    if (auto impl = pool.lock()) {
      impl->loop->post([raw = impl.get(), url = counters->url()] {
        if (raw->shutting_down) return;
        if (Relay* r = raw->find_relay(url)) {
          r->counters->resume_requested = false;
          raw->update_flow_control(*r);
        }
      });
    }
  }
};

}  // namespace

void RelayPool::Impl::on_receive(Relay& relay, const char* data, std::size_t len, bool final) {
  if (!relay.rx_oversized) {
    if (relay.rx.size() + len > options.max_message_bytes) {
      relay.rx_oversized = true;
      relay.rx.clear();
      relay.rx.shrink_to_fit();
    } else {
      relay.rx.append(data, len);
    }
  }
  if (!final) return;
  if (relay.rx_oversized) {
    relay.rx_oversized = false;
    relay.counters->add(RelayCounter::messages_received);
    relay.counters->add(RelayCounter::invalid_messages);
    spdlog::warn("relay {}: dropped a message larger than {} bytes", relay.url.text,
                 options.max_message_bytes);
    return;
  }
  handle_message(relay, relay.rx);
  relay.rx.clear();
  pump_relay(relay);
  update_flow_control(relay);
}

void RelayPool::Impl::handle_message(Relay& relay, std::string_view text) {
  relay.counters->add(RelayCounter::messages_received);
  auto parsed = parse_relay_message(text, limits);
  if (!parsed) {
    relay.counters->add(RelayCounter::invalid_messages);
    spdlog::debug("relay {}: unreadable message ({}): {:.120}", relay.url.text,
                  parsed.error().to_string(), text);
    return;
  }
  std::visit(
      Overloaded{
          [&](RelayEvent& m) {
            auto it = subscriptions_by_wire_id.find(m.subscription_id);
            if (it == subscriptions_by_wire_id.end()) return;  // closed meanwhile
            Subscription& sub = *it->second;
            relay.counters->add(RelayCounter::events_received);
            if (!matches_any(sub.filters, m.event)) {
              relay.counters->add(RelayCounter::filter_mismatches);
              spdlog::debug("relay {}: event {} does not match subscription {}", relay.url.text,
                            m.event.id.hex(), sub.wire_id);
              return;
            }
            if (seen->delivered(m.event.id, sub.id)) {
              // Already verified and delivered: only note how far this relay has got.
              relay.counters->add(RelayCounter::dedupe_hits);
              auto& newest = sub.relays[&relay].catch_up.newest_created;
              newest = std::max(newest.value_or(m.event.created_at), m.event.created_at);
              return;
            }
            std::shared_ptr<VerifyJob> job;
            if (auto v = verifying.find(m.event.id); v != verifying.end()) {
              job = v->second.lock();
              if (job && !(job->event == m.event)) job.reset();
            }
            bool fresh = !job;
            if (fresh) {
              job = std::make_shared<VerifyJob>();
              job->event = std::move(m.event);
            }
            relay.inbound.push_back({Inbound::Type::event, sub.id, job, {}, relay.generation});
            relay.counters->inbound_add(1);
            if (!fresh) return;  // an identical copy is being verified: wait for that
            if (seen->contains(job->event.id)) {
              job->state.store(VerifyJob::valid, std::memory_order_release);
            } else {
              verifying[job->event.id] = job;
              verifier->submit(job);
            }
          },
          [&](RelayEose& m) {
            auto it = subscriptions_by_wire_id.find(m.subscription_id);
            if (it == subscriptions_by_wire_id.end()) return;
            relay.inbound.push_back(
                {Inbound::Type::eose, it->second->id, nullptr, {}, relay.generation});
            relay.counters->inbound_add(1);
          },
          [&](RelayClosed& m) {
            auto it = subscriptions_by_wire_id.find(m.subscription_id);
            if (it == subscriptions_by_wire_id.end()) return;
            relay.inbound.push_back({Inbound::Type::closed, it->second->id, nullptr,
                                     std::move(m.message), relay.generation});
            relay.counters->inbound_add(1);
          },
          [&](RelayOk& m) { on_ok(relay, m); },
          [&](RelayNotice& m) {
            relay.counters->add(RelayCounter::notices);
            spdlog::info("relay {}: NOTICE {}", relay.url.text, m.message);
            if (options.on_notice)
              post_callback([cb = options.on_notice, url = relay.url.text,
                             msg = std::move(m.message)] { cb(url, msg); });
          },
          [&](RelayAuth& m) { on_challenge(relay, m.challenge); },
          [&](RelayCount&) {},
      },
      *parsed);
}

void RelayPool::Impl::pump() {
  for (auto& [url, relay] : relays) {
    pump_relay(*relay);
    update_flow_control(*relay);
  }
}

void RelayPool::Impl::pump_relay(Relay& relay) {
  while (!relay.inbound.empty()) {
    Inbound& head = relay.inbound.front();
    if (head.type == Inbound::Type::event &&
        head.job->state.load(std::memory_order_acquire) == VerifyJob::pending)
      break;
    Inbound item = std::move(head);
    relay.inbound.pop_front();
    switch (item.type) {
      case Inbound::Type::event:
        deliver_event(relay, item);
        break;
      case Inbound::Type::eose:
        deliver_eose(relay, item);
        break;
      case Inbound::Type::closed:
        deliver_closed(relay, item);
        break;
    }
  }
}

void RelayPool::Impl::update_flow_control(Relay& relay) {
  if (relay.status != RelayStatus::connected || relay.conn == nullptr || relay.conn->wsi == nullptr)
    return;
  auto pending = relay.counters->inbound_pending();
  bool paused = relay.counters->rx_paused.load();
  if (!paused && pending > static_cast<std::int64_t>(options.max_inbound_pending)) {
    relay.counters->rx_paused = true;
    lws_rx_flow_control(relay.conn->wsi, 0);
    spdlog::trace("relay {}: reading paused, {} messages pending", relay.url.text, pending);
  } else if (paused && pending <= static_cast<std::int64_t>(options.max_inbound_pending / 2)) {
    relay.counters->rx_paused = false;
    lws_rx_flow_control(relay.conn->wsi, 1);
    spdlog::trace("relay {}: reading resumed", relay.url.text);
  }
}

void RelayPool::Impl::deliver_event(Relay& relay, Inbound& item) {
  // The first copy out of the queue ends the sharing; later copies hold the job already.
  if (auto it = verifying.find(item.job->event.id);
      it != verifying.end() && (it->second.expired() || it->second.lock() == item.job))
    verifying.erase(it);
  auto sit = subscriptions.find(item.subscription);
  if (sit == subscriptions.end()) {
    relay.counters->inbound_add(-1);
    return;
  }
  Subscription& sub = *sit->second;
  if (item.job->state.load(std::memory_order_acquire) != VerifyJob::valid) {
    relay.counters->add(RelayCounter::verify_failures);
    relay.counters->inbound_add(-1);
    if (std::uint64_t held; log_limiter.allow("bad signature " + relay.url.text, held))
      spdlog::warn("relay {}: dropped event {} with a bad id or signature{}", relay.url.text,
                   item.job->event.id.hex(), LogLimiter::suffix(held));
    return;
  }
  const Event& event = item.job->event;
  auto& newest = sub.relays[&relay].catch_up.newest_created;
  newest = std::max(newest.value_or(event.created_at), event.created_at);
  auto offer = seen->offer(event.id, sub.id);
  if (dedupe_gauge != nullptr) dedupe_gauge->set(static_cast<std::int64_t>(seen->size()));
  if (offer == SeenEvents::Offer::duplicate) {
    relay.counters->add(RelayCounter::dedupe_hits);
    relay.counters->inbound_add(-1);
    return;
  }
  relay.counters->add(RelayCounter::events_delivered);
  InboundRelease release{relay.counters, weak_from_this(), options.max_inbound_pending / 2};
  post_callback([handlers = sub.handlers, job = std::move(item.job), url = relay.url.text,
                 release = std::move(release)] {
    struct Guard {
      const InboundRelease& r;
      ~Guard() { r(); }
    } guard{release};
    if (handlers->on_event) handlers->on_event(job->event, url);
  });
}

void RelayPool::Impl::deliver_eose(Relay& relay, Inbound& item) {
  relay.counters->inbound_add(-1);
  auto sit = subscriptions.find(item.subscription);
  if (sit == subscriptions.end()) return;
  Subscription& sub = *sit->second;
  auto& state = sub.relays[&relay];
  if (item.generation != relay.generation || state.generation != relay.generation) return;
  state.eose = true;
  state.catch_up.reached_eose = true;
  if (sub.handlers->on_eose)
    post_callback([handlers = sub.handlers, url = relay.url.text] { handlers->on_eose(url); });
  check_all_eose(sub);
}

void RelayPool::Impl::deliver_closed(Relay& relay, Inbound& item) {
  relay.counters->inbound_add(-1);
  auto sit = subscriptions.find(item.subscription);
  if (sit == subscriptions.end()) return;
  Subscription& sub = *sit->second;
  auto& state = sub.relays[&relay];
  if (item.generation != relay.generation || state.generation != relay.generation) return;
  relay.counters->add(RelayCounter::closed_subscriptions);
  if (starts_with(item.message, "auth-required:") && options.auth_key && !state.auth_retry_used) {
    state.auth_retry_used = true;
    if (relay.auth == Relay::Auth::ok) {
      send_req(relay, sub);  // authenticated meanwhile: retry at once
      return;
    }
    state.awaiting_auth = true;
    await_auth(relay);
    return;
  }
  report_closed(relay, sub, item.message);
}

void RelayPool::Impl::report_closed(Relay& relay, Subscription& sub, const std::string& reason) {
  auto& state = sub.relays[&relay];
  state.closed = true;
  state.awaiting_auth = false;
  spdlog::info("relay {}: subscription {} closed: {}", relay.url.text, sub.wire_id, reason);
  if (sub.handlers->on_closed)
    post_callback([handlers = sub.handlers, url = relay.url.text, reason] {
      handlers->on_closed(url, reason);
    });
  check_all_eose(sub);
}

// ---- subscriptions -------------------------------------------------------------------------

void RelayPool::Impl::subscribe(SubscriptionId id, std::vector<Filter> filters,
                                std::shared_ptr<SubscriptionHandlers> handlers) {
  auto sub = std::make_unique<Subscription>();
  sub->id = id;
  sub->wire_id = "fedai-" + std::to_string(id);
  sub->filters = std::move(filters);
  sub->handlers = std::move(handlers);
  Subscription& s = *sub;
  subscriptions_by_wire_id.emplace(s.wire_id, &s);
  subscriptions.emplace(id, std::move(sub));
  for (auto& [url, relay] : relays)
    if (relay->status == RelayStatus::connected) send_req(*relay, s);
  check_all_eose(s);
}

void RelayPool::Impl::unsubscribe(SubscriptionId id) {
  auto it = subscriptions.find(id);
  if (it == subscriptions.end()) return;
  Subscription& sub = *it->second;
  for (auto& [url, relay] : relays) {
    auto st = sub.relays.find(relay.get());
    if (st == sub.relays.end()) continue;
    if (relay->status == RelayStatus::connected && st->second.generation == relay->generation &&
        !st->second.closed && has_room(*relay))
      enqueue(*relay, {Outbound::Verb::close,
                       std::make_shared<const std::string>(close_message(sub.wire_id)), 0});
  }
  subscriptions_by_wire_id.erase(sub.wire_id);
  subscriptions.erase(it);
}

void RelayPool::Impl::send_req(Relay& relay, Subscription& sub) {
  auto& state = sub.relays[&relay];
  state.generation = relay.generation;
  state.eose = false;
  state.closed = false;
  state.awaiting_auth = false;
  auto filters = catch_up_filters(sub.filters, state.catch_up, options.catch_up_margin);
  auto text = std::make_shared<const std::string>(req_message(sub.wire_id, filters));
  if (text->size() > options.max_message_bytes) {
    report_closed(relay, sub, "error: the REQ is larger than the pool's message limit");
    return;
  }
  if (!has_room(relay)) {
    relay.counters->add(RelayCounter::send_queue_full);
    report_closed(relay, sub, "error: send queue full");
    return;
  }
  if (state.catch_up.reached_eose)
    spdlog::debug("relay {}: catching up subscription {} with {}", relay.url.text, sub.wire_id,
                  *text);
  enqueue(relay, {Outbound::Verb::req, std::move(text), 0});
}

void RelayPool::Impl::check_all_eose(Subscription& sub) {
  if (sub.all_eose_fired) return;
  for (auto& [url, relay] : relays) {
    if (relay->status == RelayStatus::connected) {
      auto it = sub.relays.find(relay.get());
      if (it == sub.relays.end() || it->second.generation != relay->generation) return;
      if (!it->second.eose && !it->second.closed) return;
    } else if (!relay->ever_connected && relay->backoff.failures() == 0) {
      return;  // the first attempt is still under way
    }
  }
  sub.all_eose_fired = true;
  if (sub.handlers->on_all_eose)
    post_callback([handlers = sub.handlers] { handlers->on_all_eose(); });
}

void RelayPool::Impl::check_all_eose_everywhere() {
  for (auto& [id, sub] : subscriptions) check_all_eose(*sub);
}

// ---- NIP-42 --------------------------------------------------------------------------------

void RelayPool::Impl::on_challenge(Relay& relay, const std::string& challenge) {
  relay.challenge = challenge;
  if (!options.auth_key) {
    spdlog::debug("relay {}: AUTH challenge ignored (no key)", relay.url.text);
    return;
  }
  send_auth(relay);
}

void RelayPool::Impl::send_auth(Relay& relay) {
  EventTemplate tmpl;
  tmpl.kind = kClientAuthentication;
  tmpl.created_at = unix_now();
  tmpl.tags = {{"relay", relay.url.text}, {"challenge", relay.challenge}};
  Event event = sign_event(std::move(tmpl), *options.auth_key);
  relay.auth = Relay::Auth::pending;
  relay.auth_event_id = event.id;
  enqueue(relay,
          {Outbound::Verb::auth, std::make_shared<const std::string>(auth_message(event)), 0},
          /*front=*/true);
  relay.auth_timer->schedule(options.auth_timeout);
  spdlog::debug("relay {}: AUTH sent", relay.url.text);
}

void RelayPool::Impl::await_auth(Relay& relay) {
  switch (relay.auth) {
    case Relay::Auth::ok:
      auth_finished(relay, true, "");
      return;
    case Relay::Auth::pending:
      return;  // its timer is running
    case Relay::Auth::failed:
      auth_finished(relay, false, "the relay refused our AUTH");
      return;
    case Relay::Auth::none:
      if (!relay.challenge.empty())
        send_auth(relay);
      else if (!relay.auth_timer->pending())
        relay.auth_timer->schedule(options.auth_timeout);  // wait for a challenge
      return;
  }
}

void RelayPool::Impl::auth_finished(Relay& relay, bool ok, const std::string& message) {
  relay.auth_timer->cancel();
  if (relay.auth == Relay::Auth::pending || relay.auth == Relay::Auth::none)
    relay.auth = ok ? Relay::Auth::ok : Relay::Auth::failed;
  if (!ok) spdlog::info("relay {}: AUTH failed: {}", relay.url.text, message);
  for (auto& [id, sub] : subscriptions) {
    auto it = sub->relays.find(&relay);
    if (it == sub->relays.end() || !it->second.awaiting_auth) continue;
    it->second.awaiting_auth = false;
    if (ok && relay.status == RelayStatus::connected)
      send_req(relay, *sub);
    else
      report_closed(relay, *sub, "auth-required: AUTH failed: " + message);
  }
  auto waiting = std::move(relay.publishes_awaiting_auth);
  relay.publishes_awaiting_auth.clear();
  for (auto pid : waiting) {
    auto it = publishes.find(pid);
    if (it == publishes.end()) continue;
    Publish& pub = *it->second;
    std::size_t index = result_index(pub, relay);
    if (index >= pub.done.size() || pub.done[index]) continue;
    if (ok && relay.status == RelayStatus::connected)
      enqueue_publish(relay, pub, index);
    else
      complete(pub, index, PublishOutcome::rejected, "auth-required: AUTH failed: " + message);
  }
}

}  // namespace fedai::relay
