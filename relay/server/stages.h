// The messages the relay's threads send each other. Each stage has one inbox (a BoundedQueue of
// a std::variant of these), owns its state, and shares nothing else: the strfry actor model.
//
//   WebSocket thread --IngestItem--> verify thread (sharded by connection)
//   verify thread    --WriteItem---> writer
//   verify thread    --FanoutItem--> fan-out (subscribe, unsubscribe, ephemeral events)
//   verify thread    --QueryItem---> query thread (sharded by connection)
//   writer           --FanoutItem--> fan-out (stored batches)
//   query thread     --FanoutItem--> fan-out (query done)
//   everyone         --Delivery----> Outbox -> WebSocket thread
//
// Work for one connection always lands on the same verify thread and the same query thread,
// so its messages are handled in the order it sent them (a CLOSE never overtakes its REQ).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/nostr/event.h"
#include "core/nostr/filter.h"
#include "relay/server/bounded_queue.h"
#include "relay/server/outbox.h"

namespace fedai::relay::server {

using SubSerial = std::uint64_t;  // unique per REQ over the relay's life
using CancelFlag = std::shared_ptr<std::atomic<bool>>;

// ---- verify threads ----
struct IngestOpen {
  ConnId conn;
  std::string challenge;  // NIP-42, already sent to the client
  std::string peer;       // address, for logs
};
struct IngestText {
  ConnId conn;
  std::string text;
};
struct IngestClosed {
  ConnId conn;
};
// A subscription ended without a CLOSE from the client (its query failed): forget it.
struct IngestSubEnded {
  ConnId conn;
  SubSerial serial;
};
using IngestItem = std::variant<IngestOpen, IngestText, IngestClosed, IngestSubEnded>;

// ---- writer ----
struct WriteItem {
  ConnId conn;
  Event event;
  SharedText json;
};

// ---- fan-out ----
struct FanSubscribe {
  ConnId conn;
  SubSerial serial;
  SharedText head;  // ["EVENT","<sub>",
  std::vector<Filter> filters;
};
struct FanUnsubscribe {
  ConnId conn;
  SubSerial serial;
};
struct FanConnClosed {
  ConnId conn;
};
// The stored events and EOSE of `serial` have been handed to the outbox: live events held
// back for it may follow now.
struct FanQueryDone {
  ConnId conn;
  SubSerial serial;
};
// Accepted events of a write batch, sent once the store decided them and before the commit
// (its fsync): live subscribers get them while the disk works. Until FanCommitted{batch} the
// batch is "pending": a subscription registered meanwhile gets its matching events too, since
// its query's snapshot may predate the commit.
struct FanStored {
  std::uint64_t batch = 0;
  std::vector<Event> events;
  std::vector<SharedText> json;
};
// The batch is committed (or failed: its events are then not stored, and their OKs say so).
struct FanCommitted {
  std::uint64_t batch = 0;
};
struct FanEphemeral {
  ConnId conn;
  Event event;
  SharedText json;
};
using FanoutItem = std::variant<FanSubscribe, FanUnsubscribe, FanConnClosed, FanQueryDone,
                                FanStored, FanCommitted, FanEphemeral>;

// ---- query threads ----
struct QueryReq {
  ConnId conn;
  SubSerial serial;
  std::string sub;
  SharedText head;
  std::vector<Filter> filters;
  CancelFlag canceled;  // set by CLOSE, a replacing REQ, or the connection closing
};
struct QueryCount {
  ConnId conn;
  std::string sub;
  std::vector<Filter> filters;
  CancelFlag canceled;  // the connection's
};
using QueryItem = std::variant<QueryReq, QueryCount>;

// Every stage's inbox, created before any thread starts and closed before any is joined.
struct Queues {
  Queues(std::size_t verify_threads, std::size_t ingest_capacity, std::size_t write_capacity,
         std::size_t fanout_capacity, std::size_t query_threads, std::size_t query_capacity)
      : write(write_capacity), fanout(fanout_capacity) {
    for (std::size_t i = 0; i < verify_threads; ++i)
      ingest.push_back(std::make_unique<BoundedQueue<IngestItem>>(ingest_capacity));
    for (std::size_t i = 0; i < query_threads; ++i)
      query.push_back(std::make_unique<BoundedQueue<QueryItem>>(query_capacity));
  }

  BoundedQueue<IngestItem>& ingest_for(ConnId conn) { return *ingest[conn % ingest.size()]; }
  BoundedQueue<QueryItem>& query_for(ConnId conn) { return *query[conn % query.size()]; }

  std::size_t ingest_depth() const {
    std::size_t n = 0;
    for (const auto& q : ingest) n += q->size();
    return n;
  }
  std::size_t query_depth() const {
    std::size_t n = 0;
    for (const auto& q : query) n += q->size();
    return n;
  }

  void close_all() {
    for (auto& q : ingest) q->close();
    write.close();
    fanout.close();
    for (auto& q : query) q->close();
  }

  std::vector<std::unique_ptr<BoundedQueue<IngestItem>>> ingest;
  BoundedQueue<WriteItem> write;
  BoundedQueue<FanoutItem> fanout;
  std::vector<std::unique_ptr<BoundedQueue<QueryItem>>> query;
};

}  // namespace fedai::relay::server
