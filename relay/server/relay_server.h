// `fedai relay`: fedai's embedded Nostr relay (NIP-01, 09, 11, 40, 42, 45) on LMDB.
//
// Threads, strfry style (see docs/relay.md for the diagram):
//   - one libwebsockets thread: network I/O only (WsFrontend);
//   - verify threads: parse, policy, NIP-42, id and signature checks (Ingester);
//   - one writer: group commit into the EventStore, an OK per event (Writer);
//   - one fan-out thread: live subscriptions and ephemeral events (Fanout);
//   - query threads: REQ and COUNT from read transactions (QueryWorkers).
// They talk through bounded queues (stages.h) and answer through the Outbox.
#pragma once

#include <memory>
#include <string>

#include "core/store/event_store.h"
#include "core/util/metrics.h"
#include "core/util/result.h"
#include "relay/server/relay_options.h"

namespace fedai::relay::server {

class RelayServer {
 public:
  // Validates the options, opens the store, binds the ports and starts every thread. The error
  // says what failed (a bad option, the store, a port in use).
  static Result<std::unique_ptr<RelayServer>> start(RelayOptions options);
  ~RelayServer();
  RelayServer(const RelayServer&) = delete;
  RelayServer& operator=(const RelayServer&) = delete;

  // Closes every connection and stops every thread. Idempotent; the destructor calls it.
  void stop();

  int port() const;
  int metrics_port() const;
  // ws://HOST:PORT, with the port actually bound.
  std::string url() const;
  // The URL AUTH events must name (--relay-url, or url()).
  const std::string& relay_url() const;
  const RelayOptions& options() const;

  MetricsRegistry& metrics();
  // The Prometheus text, with queue depths brought up to date.
  std::string metrics_text();
  // The store, for tests and tools that look behind the relay's back.
  store::EventStore& store();

 private:
  struct Impl;
  explicit RelayServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedai::relay::server
