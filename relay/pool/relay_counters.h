// One relay's counters: atomics the service thread updates and any thread reads for
// RelayPool::stats(), mirrored into Prometheus series when the pool has a metrics registry.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/util/metrics.h"
#include "relay/pool/relay_status.h"

namespace fedai::relay {

enum class RelayCounter : std::size_t {
  attempts,
  connections,
  reconnects,
  disconnects,
  bytes_sent,
  bytes_received,
  messages_sent,
  messages_received,
  events_received,
  events_delivered,
  dedupe_hits,
  verify_failures,
  filter_mismatches,
  invalid_messages,
  accepted,
  rejections,
  closed_subscriptions,
  notices,
  send_queue_full,
  count_,
};

class RelayCounters {
 public:
  // registry may be null (no metrics).
  RelayCounters(std::string url, MetricsRegistry* registry, const std::string& pool_label);

  void add(RelayCounter c, std::uint64_t n = 1) {
    auto i = static_cast<std::size_t>(c);
    values_[i].fetch_add(n, std::memory_order_relaxed);
    if (metrics_[i] != nullptr) metrics_[i]->inc(n);
  }
  std::uint64_t get(RelayCounter c) const {
    return values_[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }

  void set_status(RelayStatus status, const std::string& reason, UnixSeconds now);
  void set_send_queue_depth(std::size_t depth);
  // Received and not yet delivered (or dropped); the delivery side decrements from any thread.
  void inbound_add(std::int64_t n);
  std::int64_t inbound_pending() const { return inbound_.load(std::memory_order_acquire); }
  void record_latency(std::chrono::microseconds rtt);

  RelayStats snapshot() const;
  const std::string& url() const { return url_; }

  // Set while the service thread has stopped reading the socket for backpressure; the delivery
  // side asks it to resume (once) when enough has drained.
  std::atomic<bool> rx_paused{false};
  std::atomic<bool> resume_requested{false};

 private:
  std::string url_;
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(RelayCounter::count_)> values_{};
  std::array<Counter*, static_cast<std::size_t>(RelayCounter::count_)> metrics_{};
  std::atomic<int> status_{static_cast<int>(RelayStatus::connecting)};
  std::atomic<UnixSeconds> connected_since_{0};
  std::atomic<std::int64_t> send_queue_depth_{0};
  std::atomic<std::int64_t> inbound_{0};
  std::atomic<std::int64_t> inbound_peak_{0};
  std::atomic<std::int64_t> latency_us_{-1};
  std::atomic<std::int64_t> latency_avg_us_{-1};
  std::array<Gauge*, 4> status_gauges_{};
  Gauge* send_queue_gauge_ = nullptr;
  Gauge* inbound_gauge_ = nullptr;
  Gauge* latency_gauge_ = nullptr;
  Histogram* latency_histogram_ = nullptr;
  mutable std::mutex mutex_;
  std::string last_error_;
};

}  // namespace fedai::relay
