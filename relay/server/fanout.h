// Live subscriptions: matches every stored or ephemeral event against the open subscriptions
// and hands each match to the Outbox. One thread owns all subscriptions, so nothing is locked.
//
// A subscription is registered before its query starts and is "held" until the query thread
// says its stored events and EOSE are out (FanQueryDone): live events for it wait here until
// then, so a client sees stored events, EOSE, then live ones. The hold is bounded; a query that
// takes too long just gets its live events early (before EOSE) rather than lose them.
//
// Ephemeral events come here straight from the verify threads: they are deduplicated by id in
// a bounded cache of recent ids, answered with OK and fanned out, never stored.
#pragma once

#include <map>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "relay/server/recent_ids.h"
#include "relay/server/relay_metrics.h"
#include "relay/server/relay_options.h"
#include "relay/server/stages.h"

namespace fedai::relay::server {

class Fanout {
 public:
  Fanout(const RelayOptions& options, RelayMetrics& metrics, Queues& queues, Outbox& outbox);
  ~Fanout();
  Fanout(const Fanout&) = delete;
  Fanout& operator=(const Fanout&) = delete;

  void start();
  void join();

  // Most live events held back for one subscription while its query runs.
  static constexpr std::size_t kMaxHeld = 4096;

 private:
  struct LiveSub {
    ConnId conn;
    SubSerial serial;
    SharedText head;
    std::vector<Filter> filters;
    std::vector<Kind> kinds;  // the union of the filters' kinds; empty: some filter has none
    bool held = true;
    std::vector<SharedText> held_events;
  };

  void run();
  void handle(FanoutItem& item);
  void subscribe(FanSubscribe& m);
  void unsubscribe(SubSerial serial);
  void release(LiveSub& sub);
  void publish(const Event& event, const SharedText& json);
  void deliver(LiveSub& sub, const SharedText& json);

  RelayMetrics& metrics_;
  Queues& queues_;
  Outbox& outbox_;
  std::thread thread_;

  std::unordered_map<SubSerial, std::unique_ptr<LiveSub>> subs_;
  std::unordered_map<ConnId, std::vector<SubSerial>> by_conn_;
  // Subscriptions whose every filter names kinds are indexed by those kinds; the rest are
  // checked against every event.
  std::unordered_map<Kind, std::vector<LiveSub*>> by_kind_;
  std::vector<LiveSub*> any_kind_;
  RecentIds recent_ephemeral_;
  std::map<std::uint64_t, FanStored> pending_;  // fanned out, not yet committed (by batch)
  std::vector<Delivery> out_;
};

}  // namespace fedai::relay::server
