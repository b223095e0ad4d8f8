// RelayPool's options, each with its default and why.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "core/nostr/keys.h"
#include "relay/pool/backoff.h"
#include "relay/pool/relay_status.h"

namespace fedai {
class MetricsRegistry;
}

namespace fedai::relay {

// Runs a callback somewhere: an agent passes its strand's post, so the pool's callbacks run
// on the agent's logic thread. The executor must run functions in the order it receives them.
using Executor = std::function<void(std::function<void()>)>;

struct RelayPoolOptions {
  // Where callbacks run. Default (empty): one internal delivery thread, in order.
  Executor executor;

  // NIP-42: the key that answers AUTH challenges (kind 22242 with `relay` and `challenge`
  // tags). Without one, challenges are ignored and `auth-required:` refusals are reported.
  std::optional<Keypair> auth_key;

  // Reconnection (backoff.h): 0.25-0.5 s after a healthy connection drops, doubling to at most
  // 2 s while the relay has been down less than a minute (a restart), then to at most 30 s;
  // each wait jittered down by up to half. The count resets once a connection has stayed up
  // 5 s; one that drops sooner counts as a failure.
  BackoffPolicy backoff;

  // An attempt (TCP, TLS and the WebSocket handshake) that takes longer than this fails.
  std::chrono::milliseconds connect_timeout{10'000};
  // A WebSocket ping goes out this often on an open connection (0: never); its round trip is
  // the relay's latency.
  std::chrono::milliseconds ping_interval{30'000};
  // A connection that has received nothing, not even the pong, this long after a ping is dead:
  // it is dropped and reconnected.
  std::chrono::milliseconds pong_timeout{10'000};

  // Largest message accepted from a relay (bigger ones are dropped and counted) or sent to one
  // (a bigger publish fails at once). Relays commonly cap events at 64-512 KiB.
  std::size_t max_message_bytes = 1024 * 1024;
  // Messages waiting to be written to one relay. When full, a publish to that relay fails with
  // "send queue full" rather than pushing older messages out.
  std::size_t max_send_queue = 1024;
  // Messages received from one relay and not yet verified and delivered (including callbacks
  // still queued on the executor). Above this the pool stops reading that socket until half
  // have drained, so a flooding relay or a slow consumer can't grow memory without bound.
  std::size_t max_inbound_pending = 4096;

  // Event ids remembered for deduplication across relays (a CLOCK set, ~100 bytes each).
  std::size_t dedupe_capacity = 65'536;
  // Threads verifying event ids and signatures (0: verify on the service thread).
  unsigned verify_threads = 2;

  // Catch-up after a reconnect: `since` goes back this far past the last delivered event (or
  // the disconnect time) to absorb clock skew. See catch_up.h.
  std::chrono::seconds catch_up_margin{60};
  // How long a subscription refused with `auth-required:` waits for the relay's challenge and
  // the AUTH answer before the refusal is reported.
  std::chrono::milliseconds auth_timeout{5'000};

  // CA bundle for wss://. Empty: OpenSSL's default file (on Debian the system store,
  // /usr/lib/ssl/cert.pem -> /etc/ssl/certs/ca-certificates.crt).
  std::string ca_file;
  // Sent as the User-Agent of the handshake and of NIP-11 requests.
  std::string user_agent = "fedai-relay-pool/0.1";

  // Metrics go here (none when null). Series are labelled pool=<metrics_pool_label>, relay=URL.
  MetricsRegistry* metrics = nullptr;
  std::string metrics_pool_label = "default";

  // Every status change of every relay (on the executor). `reason` says why for backing_off.
  std::function<void(const std::string& relay, RelayStatus status, const std::string& reason)>
      on_status;
  // NOTICE messages (on the executor).
  std::function<void(const std::string& relay, const std::string& message)> on_notice;
};

}  // namespace fedai::relay
