// The state of one relay connection, and its counters.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/util/time.h"

namespace fedai::relay {

//   connecting --handshake ok--> connected --socket lost / no pong--> backing_off
//        |                                                               |
//        +--refused / timeout / handshake failed--> backing_off --timer--+--> connecting
//   any --remove_relay / shutdown--> closed (terminal)
enum class RelayStatus {
  connecting,   // a connection attempt is in progress
  connected,    // the WebSocket is open: messages flow
  backing_off,  // the last attempt failed or the connection dropped; waiting to retry
  closed,       // removed from the pool or the pool shut down; never reconnects
};

std::string_view to_string(RelayStatus status);

// A copy of one relay's state and counters, taken at one moment (each counter is read
// atomically, the set is not one transaction).
struct RelayStats {
  std::string url;
  RelayStatus status = RelayStatus::connecting;
  std::string last_error;           // why the last attempt failed or the connection dropped
  UnixSeconds connected_since = 0;  // 0 when not connected

  std::uint64_t attempts = 0;     // connection attempts started
  std::uint64_t connections = 0;  // attempts that reached connected
  std::uint64_t reconnects = 0;   // connections after the first
  std::uint64_t disconnects = 0;  // connected -> backing_off
  std::uint64_t bytes_sent = 0;   // WebSocket payload bytes
  std::uint64_t bytes_received = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t events_received = 0;       // EVENT messages for a live subscription
  std::uint64_t events_delivered = 0;      // handed to a subscription callback
  std::uint64_t dedupe_hits = 0;           // already delivered (from this or another relay)
  std::uint64_t verify_failures = 0;       // bad id or signature: dropped
  std::uint64_t filter_mismatches = 0;     // did not match the subscription's filters: dropped
  std::uint64_t invalid_messages = 0;      // unparseable or oversized messages: dropped
  std::uint64_t accepted = 0;              // OK true for a publish
  std::uint64_t rejections = 0;            // OK false for a publish
  std::uint64_t closed_subscriptions = 0;  // CLOSED received
  std::uint64_t notices = 0;
  std::uint64_t send_queue_full = 0;     // messages refused because the send queue was full
  std::size_t send_queue_depth = 0;      // messages waiting to be written now
  std::size_t inbound_pending = 0;       // received, not yet verified and delivered
  std::size_t inbound_pending_peak = 0;  // the most there ever were

  // Round trip of the last WebSocket ping, and a moving average (nullopt before the first pong).
  std::optional<std::chrono::microseconds> latency;
  std::optional<std::chrono::microseconds> latency_avg;
};

}  // namespace fedai::relay
