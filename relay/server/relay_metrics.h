// The relay's Prometheus metrics. Series are looked up once (the registry takes a lock per
// lookup) and kept as references; updating them is a relaxed atomic.
//
// The `kind` label is bounded: exact numbers for a fixed set of well-known kinds (fedai's own
// 36090-36093 and 26090-26098 among them), "other" for everything else, so a client can't blow
// up the number of series by publishing every kind from 0 to 65535.
#pragma once

#include <array>
#include <atomic>
#include <string>
#include <string_view>

#include "core/nostr/kind.h"
#include "core/util/metrics.h"
#include "core/util/result.h"

namespace fedai::relay::server {

// What happened to an event, as the `outcome` label says it.
enum class EventOutcome {
  stored,
  ephemeral,  // verified and fanned out, not stored
  duplicate,
  superseded,  // an older version of a replaceable/addressable event
  deleted,     // NIP-09: its author deleted it
  expired,     // NIP-40
  invalid,     // bad shape, id or signature, too far in the future
  blocked,     // write policy
  rate_limited,
  auth_required,
  error,
};
inline constexpr std::size_t kEventOutcomes = 11;
std::string_view to_string(EventOutcome outcome);

// The label value for a kind: "1", "36090", ... or "other".
std::string_view kind_label(Kind kind);

inline constexpr std::array<std::string_view, 7> kVerbs = {"EVENT", "REQ",   "CLOSE",  "COUNT",
                                                           "AUTH",  "other", "invalid"};

class RelayMetrics {
 public:
  explicit RelayMetrics(MetricsRegistry& registry);

  MetricsRegistry& registry() { return registry_; }

  void event(Kind kind, EventOutcome outcome, std::uint64_t n = 1);
  void message(std::string_view verb);
  void rejection(ErrorCode code);
  // The outcome an OK reply's reason implies ("duplicate: ..." -> duplicate).
  static EventOutcome outcome_of_reason(std::string_view reason);

  Gauge& connections;
  Counter& connections_opened;
  Counter& connections_refused;
  Counter& slow_readers_closed;
  Gauge& subscriptions;
  Gauge& pending_bytes;
  Counter& bytes_received;
  Counter& bytes_sent;
  Counter& live_deliveries;
  Counter& auth_ok;
  Counter& auth_failed;
  Counter& purged;
  Counter& oversized_messages;
  Counter& paused_reads;
  Histogram& write_batch_size;
  Histogram& write_seconds;
  Histogram& query_seconds;
  Histogram& fanout_seconds;
  Gauge& queue_ingest;
  Gauge& queue_write;
  Gauge& queue_fanout;
  Gauge& queue_query;
  Gauge& queue_outbox;

 private:
  Counter& event_counter(std::size_t kind_index, EventOutcome outcome);

  MetricsRegistry& registry_;
  // Filled in on first use, so /metrics lists only the series that happened.
  std::array<std::atomic<Counter*>, 64 * kEventOutcomes> events_{};
  std::array<Counter*, kVerbs.size()> messages_{};
  std::array<Counter*, 9> rejections_{};
};

}  // namespace fedai::relay::server
