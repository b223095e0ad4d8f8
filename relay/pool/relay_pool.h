// RelayPool: connections to many relays at once, for subscribing and publishing.
//
// One libwebsockets service thread owns every socket, timer and per-relay state machine; the
// rest of the program calls the methods below from any thread and gets answers through
// callbacks run by the executor in RelayPoolOptions (an agent's strand, or the pool's own
// delivery thread). No method blocks on the network.
//
// Inbound events are checked against the subscription's filters, verified (id and BIP-340
// signature) on a small thread pool, deduplicated across relays by id, and delivered in the
// order each relay sent them; a relay's EOSE is delivered after the events that preceded it.
//
// See docs/relay-pool.md for the design, the defaults and the metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/nostr/event.h"
#include "core/nostr/filter.h"
#include "core/util/result.h"
#include "relay/pool/pool_options.h"
#include "relay/pool/publish_result.h"
#include "relay/pool/relay_information.h"
#include "relay/pool/relay_status.h"

namespace fedai::relay {

using SubscriptionId = std::uint64_t;

struct SubscriptionHandlers {
  // A verified event that matches the filters, once per subscription whichever relays send it.
  std::function<void(const Event& event, const std::string& relay)> on_event;
  // A relay finished sending stored events (again after each reconnect's catch-up).
  std::function<void(const std::string& relay)> on_eose;
  // Once: every relay is done with the stored events: it sent EOSE, refused the subscription
  // (CLOSED), or is not connected. A relay still connecting for the first time is waited for.
  std::function<void()> on_all_eose;
  // A relay refused or ended the subscription with CLOSED. `auth-required:` is answered with
  // AUTH and one retry first when the pool has a key; this runs only if that fails too.
  std::function<void(const std::string& relay, const std::string& reason)> on_closed;
};

using PublishCallback =
    std::function<void(const EventId& id, std::vector<RelayPublishResult> results)>;
using InformationCallback =
    std::function<void(const std::string& url, Result<RelayInformation> information)>;

class RelayPool {
 public:
  explicit RelayPool(RelayPoolOptions options = {});
  // Closes every connection; publishes still waiting for answers report `failed`. Callbacks
  // may run until the destructor returns, so whatever they touch must outlive the pool. Must
  // not run on the service thread (an executor that runs callbacks inline would be one).
  ~RelayPool();
  RelayPool(const RelayPool&) = delete;
  RelayPool& operator=(const RelayPool&) = delete;

  // Adds a relay (ws:// or wss://) and starts connecting. Adding one twice is a no-op.
  // Errors: a malformed URL.
  Status add_relay(std::string_view url);
  // Closes the connection and forgets the relay. Its status becomes closed.
  void remove_relay(std::string_view url);
  // Normalized URLs of the relays in the pool.
  std::vector<std::string> relay_urls() const;
  // Snapshots of every relay's status and counters.
  std::vector<RelayStats> stats() const;

  // Sends REQ with `filters` to every relay (and to relays added later), now and after every
  // reconnect (with the catch-up rule of catch_up.h). Filters must be normalized.
  SubscriptionId subscribe(std::vector<Filter> filters, SubscriptionHandlers handlers);
  // Sends CLOSE to every relay. Callbacks already queued on the executor may still run.
  void unsubscribe(SubscriptionId id);

  // Sends the event to every relay (or to `relays` when not empty) and calls `callback` once,
  // on the executor, with one result per relay, when all have answered or `timeout` passed.
  void publish(const Event& event, std::chrono::milliseconds timeout, PublishCallback callback,
               std::vector<std::string> relays = {});

  // NIP-11: GETs the information document of the relay at `url` (ws(s):// or http(s)://),
  // with `Accept: application/nostr+json`. The callback runs on the executor.
  void fetch_info(std::string_view url, std::chrono::milliseconds timeout,
                  InformationCallback callback);

  // Closes everything now (the destructor does it too). Idempotent.
  void shutdown();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace fedai::relay
