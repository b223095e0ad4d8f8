#include "relay/pool/relay_counters.h"

namespace fedai::relay {
namespace {

struct CounterInfo {
  const char* name;
  const char* help;
};

// Indexed by RelayCounter.
constexpr std::array<CounterInfo, static_cast<std::size_t>(RelayCounter::count_)> kCounters{{
    {"fedai_pool_connection_attempts_total", "Connection attempts started"},
    {"fedai_pool_connections_total", "Connection attempts that reached connected"},
    {"fedai_pool_reconnects_total", "Connections after the first"},
    {"fedai_pool_disconnects_total", "Open connections that were lost"},
    {"fedai_pool_bytes_sent_total", "WebSocket payload bytes sent"},
    {"fedai_pool_bytes_received_total", "WebSocket payload bytes received"},
    {"fedai_pool_messages_sent_total", "Messages sent"},
    {"fedai_pool_messages_received_total", "Messages received"},
    {"fedai_pool_events_received_total", "EVENT messages received for a live subscription"},
    {"fedai_pool_events_delivered_total", "Events handed to a subscription callback"},
    {"fedai_pool_dedupe_hits_total", "Events dropped as already delivered"},
    {"fedai_pool_verify_failures_total", "Events dropped for a bad id or signature"},
    {"fedai_pool_filter_mismatches_total", "Events dropped for not matching the subscription"},
    {"fedai_pool_invalid_messages_total", "Messages dropped as unparseable or oversized"},
    {"fedai_pool_publish_accepted_total", "OK true answers to a publish"},
    {"fedai_pool_publish_rejections_total", "OK false answers to a publish"},
    {"fedai_pool_closed_subscriptions_total", "CLOSED messages received"},
    {"fedai_pool_notices_total", "NOTICE messages received"},
    {"fedai_pool_send_queue_full_total", "Messages refused because the send queue was full"},
}};

constexpr std::array<RelayStatus, 4> kStatuses{RelayStatus::connecting, RelayStatus::connected,
                                               RelayStatus::backing_off, RelayStatus::closed};

}  // namespace

RelayCounters::RelayCounters(std::string url, MetricsRegistry* registry,
                             const std::string& pool_label)
    : url_(std::move(url)) {
  if (registry == nullptr) return;
  Labels labels{{"pool", pool_label}, {"relay", url_}};
  for (std::size_t i = 0; i < kCounters.size(); ++i)
    metrics_[i] = &registry->counter(kCounters[i].name, kCounters[i].help, labels);
  for (std::size_t i = 0; i < kStatuses.size(); ++i) {
    Labels l = labels;
    l.emplace_back("status", std::string(to_string(kStatuses[i])));
    status_gauges_[i] = &registry->gauge("fedai_pool_relay_status",
                                         "1 for the relay's current status, 0 for the others", l);
  }
  send_queue_gauge_ = &registry->gauge("fedai_pool_send_queue_depth",
                                       "Messages waiting to be written to the relay", labels);
  inbound_gauge_ = &registry->gauge("fedai_pool_inbound_pending",
                                    "Messages received and not yet verified and delivered", labels);
  latency_gauge_ = &registry->gauge("fedai_pool_ping_rtt_microseconds",
                                    "Round trip of the last WebSocket ping", labels);
  latency_histogram_ = &registry->histogram(
      "fedai_pool_ping_rtt_seconds", "WebSocket ping round trips", latency_buckets(), labels);
  status_gauges_[0]->set(1);
}

void RelayCounters::set_status(RelayStatus status, const std::string& reason, UnixSeconds now) {
  status_.store(static_cast<int>(status), std::memory_order_relaxed);
  connected_since_.store(status == RelayStatus::connected ? now : 0, std::memory_order_relaxed);
  if (!reason.empty()) {
    std::lock_guard lock(mutex_);
    last_error_ = reason;
  }
  for (std::size_t i = 0; i < kStatuses.size(); ++i)
    if (status_gauges_[i] != nullptr) status_gauges_[i]->set(kStatuses[i] == status ? 1 : 0);
}

void RelayCounters::set_send_queue_depth(std::size_t depth) {
  send_queue_depth_.store(static_cast<std::int64_t>(depth), std::memory_order_relaxed);
  if (send_queue_gauge_ != nullptr) send_queue_gauge_->set(static_cast<std::int64_t>(depth));
}

void RelayCounters::inbound_add(std::int64_t n) {
  auto now = inbound_.fetch_add(n, std::memory_order_acq_rel) + n;
  auto peak = inbound_peak_.load(std::memory_order_relaxed);
  while (now > peak && !inbound_peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  if (inbound_gauge_ != nullptr) inbound_gauge_->set(now);
}

void RelayCounters::record_latency(std::chrono::microseconds rtt) {
  auto us = rtt.count();
  latency_us_.store(us, std::memory_order_relaxed);
  auto avg = latency_avg_us_.load(std::memory_order_relaxed);
  // Exponential moving average over roughly the last eight pings.
  latency_avg_us_.store(avg < 0 ? us : (avg * 7 + us) / 8, std::memory_order_relaxed);
  if (latency_gauge_ != nullptr) latency_gauge_->set(us);
  if (latency_histogram_ != nullptr) latency_histogram_->observe(static_cast<double>(us) / 1e6);
}

RelayStats RelayCounters::snapshot() const {
  RelayStats s;
  s.url = url_;
  s.status = static_cast<RelayStatus>(status_.load(std::memory_order_relaxed));
  {
    std::lock_guard lock(mutex_);
    s.last_error = last_error_;
  }
  s.connected_since = connected_since_.load(std::memory_order_relaxed);
  s.attempts = get(RelayCounter::attempts);
  s.connections = get(RelayCounter::connections);
  s.reconnects = get(RelayCounter::reconnects);
  s.disconnects = get(RelayCounter::disconnects);
  s.bytes_sent = get(RelayCounter::bytes_sent);
  s.bytes_received = get(RelayCounter::bytes_received);
  s.messages_sent = get(RelayCounter::messages_sent);
  s.messages_received = get(RelayCounter::messages_received);
  s.events_received = get(RelayCounter::events_received);
  s.events_delivered = get(RelayCounter::events_delivered);
  s.dedupe_hits = get(RelayCounter::dedupe_hits);
  s.verify_failures = get(RelayCounter::verify_failures);
  s.filter_mismatches = get(RelayCounter::filter_mismatches);
  s.invalid_messages = get(RelayCounter::invalid_messages);
  s.accepted = get(RelayCounter::accepted);
  s.rejections = get(RelayCounter::rejections);
  s.closed_subscriptions = get(RelayCounter::closed_subscriptions);
  s.notices = get(RelayCounter::notices);
  s.send_queue_full = get(RelayCounter::send_queue_full);
  s.send_queue_depth = static_cast<std::size_t>(send_queue_depth_.load(std::memory_order_relaxed));
  s.inbound_pending =
      static_cast<std::size_t>(std::max<std::int64_t>(0, inbound_.load(std::memory_order_relaxed)));
  s.inbound_pending_peak = static_cast<std::size_t>(inbound_peak_.load(std::memory_order_relaxed));
  if (auto l = latency_us_.load(std::memory_order_relaxed); l >= 0)
    s.latency = std::chrono::microseconds(l);
  if (auto l = latency_avg_us_.load(std::memory_order_relaxed); l >= 0)
    s.latency_avg = std::chrono::microseconds(l);
  return s;
}

}  // namespace fedai::relay
