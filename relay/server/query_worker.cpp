#include "relay/server/query_worker.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/nostr/message.h"

namespace fedai::relay::server {
namespace {

// Results go out in chunks of this many events or bytes, whichever comes first.
constexpr std::size_t kChunkEvents = 256;
constexpr std::size_t kChunkBytes = 512 * 1024;

}  // namespace

QueryWorkers::QueryWorkers(store::EventStore& store, RelayMetrics& metrics, Queues& queues,
                           Outbox& outbox)
    : store_(store), metrics_(metrics), queues_(queues), outbox_(outbox) {}

QueryWorkers::~QueryWorkers() {
  join();
}

void QueryWorkers::start() {
  for (auto& q : queues_.query) threads_.emplace_back([this, queue = q.get()] { run(*queue); });
}

void QueryWorkers::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void QueryWorkers::run(BoundedQueue<QueryItem>& queue) {
  std::vector<QueryItem> items;
  std::vector<Delivery> out;
  // One query at a time, so a queue of short ones is not stuck behind a long batch.
  while (queue.pop_all(items, std::chrono::steady_clock::time_point::max(), 1)) {
    for (auto& item : items) {
      std::visit([&](auto& q) { answer(q, out); }, item);
      outbox_.push(out);
    }
    items.clear();
  }
}

void QueryWorkers::observe(std::chrono::steady_clock::time_point started) {
  metrics_.query_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

void QueryWorkers::answer(QueryReq& q, std::vector<Delivery>& out) {
  const auto started = std::chrono::steady_clock::now();
  std::size_t bytes = 0;
  bool failed = false;
  try {
    store_.query(q.filters, unix_now(), [&](const EventId&, std::string_view json) {
      if (q.canceled->load(std::memory_order_relaxed)) return false;
      auto body = std::make_shared<const std::string>(json);
      bytes += body->size();
      out.push_back({q.conn, OutMsg::event(q.head, std::move(body)), 0});
      if (out.size() >= kChunkEvents || bytes >= kChunkBytes) {
        outbox_.push(out);
        bytes = 0;
      }
      return true;
    });
  } catch (const std::exception& e) {
    spdlog::error("conn {}: query failed: {}", q.conn, e.what());
    failed = true;
  }
  observe(started);  // before the answer is out, so that a client that has it sees the count
  if (failed) {
    metrics_.rejection(ErrorCode::error);
    out.push_back({q.conn, OutMsg::message(closed_message(q.sub, "error: the query failed")), 0});
    outbox_.push(out);
    queues_.fanout.push(FanUnsubscribe{q.conn, q.serial});
    queues_.ingest_for(q.conn).push_control(IngestSubEnded{q.conn, q.serial});
    return;
  }
  if (!q.canceled->load()) out.push_back({q.conn, OutMsg::message(eose_message(q.sub)), 0});
  // EOSE is in the outbox before fan-out hears the query is done, so held live events follow
  // it.
  outbox_.push(out);
  queues_.fanout.push(FanQueryDone{q.conn, q.serial});
}

void QueryWorkers::answer(QueryCount& q, std::vector<Delivery>& out) {
  if (q.canceled->load()) return;
  const auto started = std::chrono::steady_clock::now();
  try {
    std::uint64_t n = store_.count(q.filters, unix_now());
    observe(started);
    out.push_back({q.conn, OutMsg::message(count_message(q.sub, n)), 0});
  } catch (const std::exception& e) {
    spdlog::error("conn {}: count failed: {}", q.conn, e.what());
    metrics_.rejection(ErrorCode::error);
    out.push_back({q.conn, OutMsg::message(closed_message(q.sub, "error: the count failed")), 0});
  }
}

}  // namespace fedai::relay::server
