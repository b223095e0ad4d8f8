// The verify threads: parse each client message, apply the write policy and NIP-42, check
// event ids and signatures, and route the work: events to the writer (or, if ephemeral,
// straight to fan-out), REQ to fan-out (live part) and a query thread (stored part), COUNT to a
// query thread. Refusals are answered here.
//
// Each connection belongs to one verify thread (by id), which owns its protocol state: the
// AUTH challenge, authenticated keys and open subscriptions. No locks around any of it.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/nostr/message.h"
#include "relay/server/pubkey_rate_limiter.h"
#include "relay/server/relay_metrics.h"
#include "relay/server/relay_options.h"
#include "relay/server/stages.h"

namespace fedai::relay::server {

class Ingester {
 public:
  Ingester(const RelayOptions& options, std::string relay_url, RelayMetrics& metrics,
           Queues& queues, Outbox& outbox);
  ~Ingester();
  Ingester(const Ingester&) = delete;
  Ingester& operator=(const Ingester&) = delete;

  // One thread per ingest queue.
  void start();
  // Joins the threads; close the queues first.
  void join();

 private:
  struct Subscription {
    SubSerial serial;
    CancelFlag canceled;
  };
  struct ConnState {
    std::string challenge;
    std::string peer;
    std::vector<PublicKey> authed;
    std::unordered_map<std::string, Subscription> subs;
    CancelFlag closed = std::make_shared<std::atomic<bool>>(false);
  };
  // Per thread: the connections it owns and the output of the batch in hand.
  struct Worker {
    std::unordered_map<ConnId, ConnState> conns;
    std::vector<Delivery> replies;
    std::vector<WriteItem> writes;
    std::vector<FanoutItem> fanout;
  };

  void run(BoundedQueue<IngestItem>& queue);
  void flush(Worker& w);
  void handle(Worker& w, IngestItem& item);
  void handle_text(Worker& w, ConnId conn, ConnState& state, std::string_view text);
  void handle_event(Worker& w, ConnId conn, ConnState& state, Event&& event);
  void handle_req(Worker& w, ConnId conn, ConnState& state, ClientReq&& req);
  void handle_close(Worker& w, ConnId conn, ConnState& state, const std::string& sub);
  void handle_count(Worker& w, ConnId conn, ConnState& state, ClientCount&& count);
  void handle_auth(Worker& w, ConnId conn, ConnState& state, const Event& event);
  void handle_error(Worker& w, ConnId conn, ConnState& state, const ClientMessageError& error);
  void cancel_subscription(Worker& w, ConnId conn, ConnState& state, const std::string& sub);

  void reply_ok(Worker& w, ConnId conn, const Event& event, EventOutcome outcome,
                const std::string& reason);
  void reply(Worker& w, ConnId conn, std::string message, ErrorCode code, bool refusal = true);
  // A bare completion: the message needed no answer.
  void done(Worker& w, ConnId conn);

  const RelayOptions& options_;
  const std::string relay_url_;
  MessageLimits limits_;
  RelayMetrics& metrics_;
  Queues& queues_;
  Outbox& outbox_;
  PubkeyRateLimiter pubkey_limiter_;
  std::atomic<SubSerial> next_serial_{1};
  std::vector<std::thread> threads_;
};

}  // namespace fedai::relay::server
