#include "relay/server/relay_metrics.h"

#include <algorithm>

namespace fedai::relay::server {
namespace {

// Sorted. NIP-01 basics, common social kinds, NIP-42/46/47/57 plumbing, and fedai's kinds.
constexpr std::array<Kind, 37> kKnownKinds = {
    0,     1,     3,     4,     5,     6,     7,     16,    1059,  1984,  9734,  9735,  10002,
    13194, 22242, 23194, 23195, 24133, 26090, 26091, 26092, 26093, 26094, 26095, 26096, 26097,
    26098, 27235, 30000, 30023, 30078, 31990, 36090, 36091, 36092, 36093, 65535};
// kKnownKinds.size() is "other".
static_assert(kKnownKinds.size() < 64);

constexpr std::array<std::string_view, kKnownKinds.size()> kKindNames = {
    "0",     "1",     "3",     "4",     "5",     "6",     "7",     "16",    "1059",  "1984",
    "9734",  "9735",  "10002", "13194", "22242", "23194", "23195", "24133", "26090", "26091",
    "26092", "26093", "26094", "26095", "26096", "26097", "26098", "27235", "30000", "30023",
    "30078", "31990", "36090", "36091", "36092", "36093", "65535"};

std::size_t kind_index(Kind kind) {
  auto it = std::lower_bound(kKnownKinds.begin(), kKnownKinds.end(), kind);
  if (it != kKnownKinds.end() && *it == kind)
    return static_cast<std::size_t>(it - kKnownKinds.begin());
  return kKnownKinds.size();
}

constexpr std::array<ErrorCode, 9> kCodes = {
    ErrorCode::invalid,      ErrorCode::duplicate,     ErrorCode::blocked,
    ErrorCode::rate_limited, ErrorCode::restricted,    ErrorCode::pow,
    ErrorCode::mute,         ErrorCode::auth_required, ErrorCode::error};

}  // namespace

std::string_view to_string(EventOutcome outcome) {
  switch (outcome) {
    case EventOutcome::stored:
      return "stored";
    case EventOutcome::ephemeral:
      return "ephemeral";
    case EventOutcome::duplicate:
      return "duplicate";
    case EventOutcome::superseded:
      return "superseded";
    case EventOutcome::deleted:
      return "deleted";
    case EventOutcome::expired:
      return "expired";
    case EventOutcome::invalid:
      return "invalid";
    case EventOutcome::blocked:
      return "blocked";
    case EventOutcome::rate_limited:
      return "rate_limited";
    case EventOutcome::auth_required:
      return "auth_required";
    case EventOutcome::error:
      return "error";
  }
  return "error";
}

std::string_view kind_label(Kind kind) {
  std::size_t i = kind_index(kind);
  return i < kKnownKinds.size() ? kKindNames[i] : std::string_view("other");
}

RelayMetrics::RelayMetrics(MetricsRegistry& r)
    : connections(r.gauge("fedai_relay_connections", "Open WebSocket connections")),
      connections_opened(
          r.counter("fedai_relay_connections_opened_total", "WebSocket connections accepted")),
      connections_refused(r.counter("fedai_relay_connections_refused_total",
                                    "WebSocket connections refused (max-connections reached)")),
      slow_readers_closed(
          r.counter("fedai_relay_slow_readers_closed_total",
                    "Connections closed because their pending outbound bytes passed the cap")),
      subscriptions(r.gauge("fedai_relay_subscriptions", "Open live subscriptions")),
      pending_bytes(r.gauge("fedai_relay_pending_outbound_bytes",
                            "Bytes queued for sending over all connections")),
      bytes_received(
          r.counter("fedai_relay_received_bytes_total", "WebSocket message bytes received")),
      bytes_sent(r.counter("fedai_relay_sent_bytes_total", "WebSocket message bytes sent")),
      live_deliveries(
          r.counter("fedai_relay_live_deliveries_total", "Events delivered to live subscriptions")),
      auth_ok(r.counter("fedai_relay_auth_total", "NIP-42 AUTH attempts", {{"result", "ok"}})),
      auth_failed(
          r.counter("fedai_relay_auth_total", "NIP-42 AUTH attempts", {{"result", "failed"}})),
      purged(r.counter("fedai_relay_expired_purged_total",
                       "Stored events removed because their NIP-40 expiration passed")),
      oversized_messages(r.counter("fedai_relay_oversized_messages_total",
                                   "Client messages larger than max-message-bytes")),
      paused_reads(r.counter("fedai_relay_paused_reads_total",
                             "Times reading from a connection paused (max-in-flight reached)")),
      write_batch_size(r.histogram("fedai_relay_write_batch_size",
                                   "Events per write transaction (group commit)",
                                   {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096})),
      write_seconds(r.histogram("fedai_relay_write_seconds", "Time to write and commit one batch",
                                latency_buckets())),
      query_seconds(r.histogram("fedai_relay_query_seconds",
                                "Time to answer one REQ or COUNT from the store",
                                latency_buckets())),
      fanout_seconds(r.histogram("fedai_relay_fanout_seconds",
                                 "Time to match one batch of events against live subscriptions",
                                 latency_buckets())),
      queue_ingest(r.gauge("fedai_relay_queue_depth", "Items waiting in each stage's queue",
                           {{"queue", "ingest"}})),
      queue_write(r.gauge("fedai_relay_queue_depth", "Items waiting in each stage's queue",
                          {{"queue", "write"}})),
      queue_fanout(r.gauge("fedai_relay_queue_depth", "Items waiting in each stage's queue",
                           {{"queue", "fanout"}})),
      queue_query(r.gauge("fedai_relay_queue_depth", "Items waiting in each stage's queue",
                          {{"queue", "query"}})),
      queue_outbox(r.gauge("fedai_relay_queue_depth", "Items waiting in each stage's queue",
                           {{"queue", "outbox"}})),
      registry_(r) {
  for (std::size_t i = 0; i < kVerbs.size(); ++i)
    messages_[i] = &r.counter("fedai_relay_messages_total", "Client messages by verb",
                              {{"verb", std::string(kVerbs[i])}});
  for (std::size_t i = 0; i < kCodes.size(); ++i)
    rejections_[i] = &r.counter("fedai_relay_rejections_total",
                                "Refusals sent (OK false, CLOSED, NOTICE) by NIP-01 prefix",
                                {{"prefix", std::string(prefix_of(kCodes[i]))}});
}

Counter& RelayMetrics::event_counter(std::size_t kind_index_value, EventOutcome outcome) {
  std::size_t slot = kind_index_value * kEventOutcomes + static_cast<std::size_t>(outcome);
  Counter* c = events_[slot].load(std::memory_order_acquire);
  if (c == nullptr) {
    // Racing threads get the same series from the registry; either store is fine.
    std::string kind = kind_index_value < kKnownKinds.size()
                           ? std::string(kKindNames[kind_index_value])
                           : std::string("other");
    c = &registry_.counter("fedai_relay_events_total", "Events received, by kind and outcome",
                           {{"kind", kind}, {"outcome", std::string(to_string(outcome))}});
    events_[slot].store(c, std::memory_order_release);
  }
  return *c;
}

void RelayMetrics::event(Kind kind, EventOutcome outcome, std::uint64_t n) {
  event_counter(kind_index(kind), outcome).inc(n);
}

void RelayMetrics::message(std::string_view verb) {
  for (std::size_t i = 0; i + 2 < kVerbs.size(); ++i) {
    if (kVerbs[i] == verb) {
      messages_[i]->inc();
      return;
    }
  }
  messages_[verb.empty() ? kVerbs.size() - 1 : kVerbs.size() - 2]->inc();
}

void RelayMetrics::rejection(ErrorCode code) {
  for (std::size_t i = 0; i < kCodes.size(); ++i) {
    if (kCodes[i] == code) {
      rejections_[i]->inc();
      return;
    }
  }
}

EventOutcome RelayMetrics::outcome_of_reason(std::string_view reason) {
  auto starts = [&](std::string_view p) { return reason.substr(0, p.size()) == p; };
  if (reason.empty()) return EventOutcome::stored;
  if (starts("duplicate: have a newer")) return EventOutcome::superseded;
  if (starts("duplicate:")) return EventOutcome::duplicate;
  if (starts("blocked: this event was deleted") || starts("blocked: this address was deleted"))
    return EventOutcome::deleted;
  if (starts("blocked:")) return EventOutcome::blocked;
  if (starts("invalid: event has expired")) return EventOutcome::expired;
  if (starts("invalid:")) return EventOutcome::invalid;
  if (starts("rate-limited:")) return EventOutcome::rate_limited;
  if (starts("auth-required:")) return EventOutcome::auth_required;
  return EventOutcome::error;
}

}  // namespace fedai::relay::server
