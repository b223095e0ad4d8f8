#include "relay/server/fanout.h"
#include "core/util/overloaded.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/nostr/message.h"

namespace fedai::relay::server {
namespace {

template <class T>
void erase_value(std::vector<T>& v, const T& value) {
  auto it = std::find(v.begin(), v.end(), value);
  if (it == v.end()) return;
  *it = v.back();
  v.pop_back();
}

}  // namespace

Fanout::Fanout(const RelayOptions& options, RelayMetrics& metrics, Queues& queues, Outbox& outbox)
    : metrics_(metrics),
      queues_(queues),
      outbox_(outbox),
      recent_ephemeral_(options.ephemeral_dedupe) {}

Fanout::~Fanout() {
  join();
}

void Fanout::start() {
  thread_ = std::thread([this] { run(); });
}

void Fanout::join() {
  if (thread_.joinable()) thread_.join();
}

void Fanout::run() {
  std::vector<FanoutItem> items;
  while (queues_.fanout.pop_all(items)) {
    for (auto& item : items) {
      try {
        handle(item);
      } catch (const std::exception& e) {
        spdlog::error("fan-out: internal error: {}", e.what());
      }
    }
    items.clear();
    outbox_.push(out_);
    metrics_.subscriptions.set(static_cast<std::int64_t>(subs_.size()));
  }
}

void Fanout::handle(FanoutItem& item) {
  std::visit(
      Overloaded{
          [&](FanSubscribe& m) { subscribe(m); },
          [&](FanUnsubscribe& m) { unsubscribe(m.serial); },
          [&](FanConnClosed& m) {
            auto it = by_conn_.find(m.conn);
            if (it == by_conn_.end()) return;
            std::vector<SubSerial> serials = std::move(it->second);
            for (SubSerial s : serials) unsubscribe(s);
            by_conn_.erase(m.conn);
          },
          [&](FanQueryDone& m) {
            auto it = subs_.find(m.serial);
            if (it != subs_.end()) release(*it->second);
          },
          [&](FanStored& m) {
            auto started = std::chrono::steady_clock::now();
            for (std::size_t i = 0; i < m.events.size(); ++i) publish(m.events[i], m.json[i]);
            metrics_.fanout_seconds.observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
            if (m.batch) pending_.emplace(m.batch, std::move(m));
          },
          [&](FanCommitted& m) { pending_.erase(m.batch); },
          [&](FanEphemeral& m) {
            if (!recent_ephemeral_.insert(m.event.id)) {
              metrics_.event(m.event.kind, EventOutcome::duplicate);
              metrics_.rejection(ErrorCode::duplicate);
              out_.push_back({m.conn,
                              OutMsg::message(ok_message(m.event.id, false,
                                                         "duplicate: already have this event")),
                              1});
              return;
            }
            metrics_.event(m.event.kind, EventOutcome::ephemeral);
            out_.push_back({m.conn, OutMsg::message(ok_message(m.event.id, true, "")), 1});
            publish(m.event, m.json);
          },
      },
      item);
}

void Fanout::subscribe(FanSubscribe& m) {
  auto sub = std::make_unique<LiveSub>();
  sub->conn = m.conn;
  sub->serial = m.serial;
  sub->head = std::move(m.head);
  sub->filters = std::move(m.filters);
  bool every_filter_has_kinds = true;
  for (const Filter& f : sub->filters) {
    if (f.matches_nothing()) continue;
    if (!f.kinds) {
      every_filter_has_kinds = false;
      break;
    }
    sub->kinds.insert(sub->kinds.end(), f.kinds->begin(), f.kinds->end());
  }
  std::sort(sub->kinds.begin(), sub->kinds.end());
  sub->kinds.erase(std::unique(sub->kinds.begin(), sub->kinds.end()), sub->kinds.end());
  LiveSub* raw = sub.get();
  if (!every_filter_has_kinds) {
    sub->kinds.clear();
    any_kind_.push_back(raw);
  } else {
    // Every filter matches nothing, or each names its kinds: index by them (possibly none).
    for (Kind k : sub->kinds) by_kind_[k].push_back(raw);
  }
  by_conn_[m.conn].push_back(m.serial);
  subs_.emplace(m.serial, std::move(sub));
  // Events fanned out before their commit: this subscription's query may not see them yet.
  for (const auto& [batch, stored] : pending_)
    for (std::size_t i = 0; i < stored.events.size(); ++i)
      if (matches_any(raw->filters, stored.events[i])) deliver(*raw, stored.json[i]);
}

void Fanout::unsubscribe(SubSerial serial) {
  auto it = subs_.find(serial);
  if (it == subs_.end()) return;
  LiveSub* sub = it->second.get();
  if (sub->kinds.empty()) {
    erase_value(any_kind_, sub);
  } else {
    for (Kind k : sub->kinds) {
      auto bucket = by_kind_.find(k);
      if (bucket == by_kind_.end()) continue;
      erase_value(bucket->second, sub);
      if (bucket->second.empty()) by_kind_.erase(bucket);
    }
  }
  if (auto c = by_conn_.find(sub->conn); c != by_conn_.end()) {
    erase_value(c->second, serial);
    if (c->second.empty()) by_conn_.erase(c);
  }
  subs_.erase(it);
}

void Fanout::release(LiveSub& sub) {
  sub.held = false;
  for (auto& json : sub.held_events) {
    out_.push_back({sub.conn, OutMsg::event(sub.head, std::move(json)), 0});
    metrics_.live_deliveries.inc();
  }
  sub.held_events.clear();
  sub.held_events.shrink_to_fit();
}

void Fanout::deliver(LiveSub& sub, const SharedText& json) {
  if (sub.held) {
    if (sub.held_events.size() < kMaxHeld) {
      sub.held_events.push_back(json);
      return;
    }
    // The query is taking too long: let live events through now rather than drop any.
    release(sub);
  }
  out_.push_back({sub.conn, OutMsg::event(sub.head, json), 0});
  metrics_.live_deliveries.inc();
}

void Fanout::publish(const Event& event, const SharedText& json) {
  if (auto bucket = by_kind_.find(event.kind); bucket != by_kind_.end()) {
    for (LiveSub* sub : bucket->second)
      if (matches_any(sub->filters, event)) deliver(*sub, json);
  }
  for (LiveSub* sub : any_kind_)
    if (matches_any(sub->filters, event)) deliver(*sub, json);
}

}  // namespace fedai::relay::server
