// Publishing: one EVENT to many relays, one result per relay. Service thread only.
#include <spdlog/spdlog.h>

#include "relay/pool/pool_impl.h"

namespace fedai::relay {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::size_t RelayPool::Impl::result_index(const Publish& pub, const Relay& relay) const {
  for (std::size_t i = 0; i < pub.results.size(); ++i)
    if (pub.results[i].relay == relay.url.text) return i;
  return pub.results.size();
}

void RelayPool::Impl::publish(std::shared_ptr<const std::string> text, EventId id,
                              std::chrono::milliseconds timeout, PublishCallback callback,
                              std::vector<std::string> targets, Clock::time_point started) {
  auto owned = std::make_unique<Publish>();
  Publish& pub = *owned;
  pub.id = next_publish++;
  pub.event_id = id;
  pub.text = std::move(text);
  pub.callback = std::move(callback);
  pub.started = started;
  if (targets.empty()) {
    for (auto& [url, relay] : relays) targets.push_back(url);
  } else {
    for (auto& t : targets)
      if (auto parsed = parse_relay_url(t)) t = parsed->text;
  }
  for (auto& t : targets) pub.results.push_back({t, PublishOutcome::failed, {}, {}});
  pub.done.assign(pub.results.size(), false);
  pub.auth_retried.assign(pub.results.size(), false);
  pub.remaining = pub.results.size();
  std::uint64_t pid = pub.id;
  if (pub.results.empty()) {
    post_callback([cb = std::move(pub.callback), id] {
      if (cb) cb(id, {});
    });
    return;
  }
  publishes.emplace(pid, std::move(owned));

  // complete() erases the publish when the last relay has answered: look it up each time.
  for (std::size_t i = 0; publishes.contains(pid) && i < pub.results.size(); ++i) {
    Relay* relay = find_relay(pub.results[i].relay);
    if (shutting_down) {
      complete(pub, i, PublishOutcome::failed, "pool shut down");
    } else if (relay == nullptr) {
      complete(pub, i, PublishOutcome::failed, "relay is not in the pool");
    } else if (pub.text->size() > options.max_message_bytes) {
      complete(
          pub, i, PublishOutcome::failed,
          "event message is larger than " + std::to_string(options.max_message_bytes) + " bytes");
    } else {
      enqueue_publish(*relay, pub, i);
    }
  }
  if (!publishes.contains(pid)) return;  // every relay already answered
  pub.timer = std::make_unique<LwsTimer>(loop->context(), [this, pid] {
    auto it = publishes.find(pid);
    if (it == publishes.end()) return;
    Publish& p = *it->second;
    for (std::size_t i = 0; publishes.contains(pid) && i < p.done.size(); ++i)
      if (!p.done[i]) complete(p, i, PublishOutcome::timed_out, "no OK before the deadline");
  });
  pub.timer->schedule(timeout);
}

void RelayPool::Impl::enqueue_publish(Relay& relay, Publish& pub, std::size_t index) {
  if (relay.status != RelayStatus::connected && relay.status != RelayStatus::connecting) {
    complete(pub, index, PublishOutcome::failed,
             "not connected" + (relay.last_error.empty() ? "" : ": " + relay.last_error));
    return;
  }
  if (!has_room(relay)) {
    relay.counters->add(RelayCounter::send_queue_full);
    complete(pub, index, PublishOutcome::failed,
             "send queue full (" + std::to_string(options.max_send_queue) + " messages)");
    return;
  }
  auto& waiting = relay.awaiting_ok[pub.event_id];
  if (std::find(waiting.begin(), waiting.end(), pub.id) == waiting.end()) waiting.push_back(pub.id);
  enqueue(relay, {Outbound::Verb::event, pub.text, pub.id});
}

void RelayPool::Impl::on_ok(Relay& relay, const RelayOk& ok) {
  if (relay.auth == Relay::Auth::pending && ok.event_id == relay.auth_event_id) {
    spdlog::debug("relay {}: AUTH {}", relay.url.text, ok.accepted ? "accepted" : "refused");
    auth_finished(relay, ok.accepted, ok.message);
    return;
  }
  auto it = relay.awaiting_ok.find(ok.event_id);
  if (it == relay.awaiting_ok.end()) return;  // not ours, or already timed out
  auto ids = std::move(it->second);
  relay.awaiting_ok.erase(it);
  for (auto pid : ids) {
    auto pit = publishes.find(pid);
    if (pit == publishes.end()) continue;
    Publish& pub = *pit->second;
    std::size_t index = result_index(pub, relay);
    if (index >= pub.done.size() || pub.done[index]) continue;
    if (ok.accepted) {
      relay.counters->add(RelayCounter::accepted);
      complete(pub, index, PublishOutcome::accepted, ok.message);
    } else if (starts_with(ok.message, "auth-required:") && options.auth_key &&
               !pub.auth_retried[index]) {
      pub.auth_retried[index] = true;
      relay.publishes_awaiting_auth.push_back(pid);
      await_auth(relay);
    } else {
      relay.counters->add(RelayCounter::rejections);
      complete(pub, index, PublishOutcome::rejected, ok.message);
    }
  }
}

void RelayPool::Impl::complete(Publish& pub, std::size_t index, PublishOutcome outcome,
                               std::string message) {
  if (pub.done[index]) return;
  pub.done[index] = true;
  auto& r = pub.results[index];
  r.outcome = outcome;
  r.message = std::move(message);
  r.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - pub.started);
  // No longer waiting for this relay's OK (a late one is ignored).
  if (Relay* relay = find_relay(r.relay)) {
    if (auto it = relay->awaiting_ok.find(pub.event_id); it != relay->awaiting_ok.end()) {
      std::erase(it->second, pub.id);
      if (it->second.empty()) relay->awaiting_ok.erase(it);
    }
  }
  if (--pub.remaining > 0) return;
  pub.timer.reset();
  post_callback([cb = std::move(pub.callback), id = pub.event_id,
                 results = std::move(pub.results)]() mutable {
    if (cb) cb(id, std::move(results));
  });
  publishes.erase(pub.id);  // `pub` is gone after this
}

void RelayPool::Impl::fail_relay_publishes(Relay& relay, const std::string& reason) {
  auto waiting = std::move(relay.awaiting_ok);
  relay.awaiting_ok.clear();
  std::vector<std::uint64_t> ids;
  for (auto& [id, pids] : waiting) ids.insert(ids.end(), pids.begin(), pids.end());
  ids.insert(ids.end(), relay.publishes_awaiting_auth.begin(), relay.publishes_awaiting_auth.end());
  relay.publishes_awaiting_auth.clear();
  for (auto pid : ids) {
    auto it = publishes.find(pid);
    if (it == publishes.end()) continue;
    std::size_t index = result_index(*it->second, relay);
    if (index < it->second->done.size())
      complete(*it->second, index, PublishOutcome::failed, reason);
  }
}

}  // namespace fedai::relay
