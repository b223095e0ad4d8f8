// The query threads: answer REQ (stored events, then EOSE) and COUNT (NIP-45) from the store,
// each in its own LMDB read transaction. Results go to the Outbox in chunks as they are read,
// so a large answer starts flowing early; a CLOSE (or the connection closing) stops a query
// between two events.
#pragma once

#include <chrono>
#include <thread>
#include <vector>

#include "core/store/event_store.h"
#include "relay/server/relay_metrics.h"
#include "relay/server/relay_options.h"
#include "relay/server/stages.h"

namespace fedai::relay::server {

class QueryWorkers {
 public:
  QueryWorkers(store::EventStore& store, RelayMetrics& metrics, Queues& queues, Outbox& outbox);
  ~QueryWorkers();
  QueryWorkers(const QueryWorkers&) = delete;
  QueryWorkers& operator=(const QueryWorkers&) = delete;

  // One thread per query queue.
  void start();
  void join();

 private:
  void run(BoundedQueue<QueryItem>& queue);
  void answer(QueryReq& q, std::vector<Delivery>& out);
  void answer(QueryCount& q, std::vector<Delivery>& out);
  void observe(std::chrono::steady_clock::time_point started);

  store::EventStore& store_;
  RelayMetrics& metrics_;
  Queues& queues_;
  Outbox& outbox_;
  std::vector<std::thread> threads_;
};

}  // namespace fedai::relay::server
