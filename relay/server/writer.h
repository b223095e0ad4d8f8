// The one writer: takes every verified event queued, writes them in one LMDB transaction
// (group commit), answers each with its own OK from the store's WriteResult, and hands what was
// stored to fan-out. It also purges expired events now and then. It never waits on the network:
// answers go to the Outbox.
#pragma once

#include <thread>

#include "core/store/event_store.h"
#include "relay/server/relay_metrics.h"
#include "relay/server/relay_options.h"
#include "relay/server/stages.h"

namespace fedai::relay::server {

class Writer {
 public:
  Writer(const RelayOptions& options, store::EventStore& store, RelayMetrics& metrics,
         Queues& queues, Outbox& outbox);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void start();
  // Joins the thread; close the queues first. Events queued before that are still written.
  void join();

 private:
  void run();
  void write_batch(std::vector<WriteItem>& items);
  void purge();

  const RelayOptions& options_;
  store::EventStore& store_;
  RelayMetrics& metrics_;
  Queues& queues_;
  Outbox& outbox_;
  std::thread thread_;
  // Reused between batches.
  std::vector<Event> events_;
  std::uint64_t batches_ = 0;
  std::vector<Delivery> replies_;
};

}  // namespace fedai::relay::server
