#include "relay/server/writer.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/nostr/message.h"

namespace fedai::relay::server {
namespace {

EventOutcome outcome_of(store::WriteStatus status) {
  switch (status) {
    case store::WriteStatus::stored:
      return EventOutcome::stored;
    case store::WriteStatus::duplicate:
      return EventOutcome::duplicate;
    case store::WriteStatus::superseded:
      return EventOutcome::superseded;
    case store::WriteStatus::deleted:
      return EventOutcome::deleted;
    case store::WriteStatus::expired:
      return EventOutcome::expired;
    case store::WriteStatus::rejected:
      return EventOutcome::invalid;
  }
  return EventOutcome::error;
}

}  // namespace

Writer::Writer(const RelayOptions& options, store::EventStore& store, RelayMetrics& metrics,
               Queues& queues, Outbox& outbox)
    : options_(options), store_(store), metrics_(metrics), queues_(queues), outbox_(outbox) {}

Writer::~Writer() {
  join();
}

void Writer::start() {
  thread_ = std::thread([this] { run(); });
}

void Writer::join() {
  if (thread_.joinable()) thread_.join();
}

void Writer::run() {
  using Clock = std::chrono::steady_clock;
  const auto interval = std::chrono::seconds(options_.purge_interval_seconds);
  auto next_purge = Clock::now() + interval;
  std::vector<WriteItem> items;
  for (;;) {
    items.clear();
    bool open = queues_.write.pop_all(items, next_purge, options_.write_batch_max);
    if (!items.empty()) write_batch(items);
    if (!open) break;
    if (Clock::now() >= next_purge) {
      purge();
      next_purge = Clock::now() + interval;
    }
  }
}

void Writer::write_batch(std::vector<WriteItem>& items) {
  events_.clear();
  events_.reserve(items.size());
  for (auto& item : items) events_.push_back(std::move(item.event));
  replies_.clear();
  replies_.reserve(items.size());

  std::vector<store::WriteResult> results;
  auto started = std::chrono::steady_clock::now();
  // Accepted events go to fan-out as soon as the store decided them, before the commit and its
  // fsync (live latency is then not the disk's); OKs wait for the commit.
  const std::uint64_t batch = ++batches_;
  bool fanned = false;
  auto decided = [&](std::span<const store::WriteResult> rs) {
    FanStored stored;
    stored.batch = batch;
    for (std::size_t i = 0; i < rs.size(); ++i) {
      if (!rs[i].accepted()) continue;
      stored.events.push_back(events_[i]);
      stored.json.push_back(items[i].json);
    }
    if (stored.events.empty()) return;
    queues_.fanout.push(std::move(stored));
    fanned = true;
  };
  try {
    results = store_.write(events_, unix_now(), decided);
  } catch (const std::exception& e) {
    if (fanned) queues_.fanout.push(FanCommitted{batch});
    // A full map, a disk error: every event of the batch gets an answer, and the next batch
    // tries again.
    spdlog::error("writer: storing a batch of {} events failed: {}", events_.size(), e.what());
    for (std::size_t i = 0; i < events_.size(); ++i) {
      metrics_.event(events_[i].kind, EventOutcome::error);
      metrics_.rejection(ErrorCode::error);
      replies_.push_back(
          {items[i].conn,
           OutMsg::message(ok_message(events_[i].id, false, "error: could not store the event")),
           1});
    }
    outbox_.push(replies_);
    return;
  }
  metrics_.write_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  metrics_.write_batch_size.observe(static_cast<double>(events_.size()));

  for (std::size_t i = 0; i < events_.size(); ++i) {
    const store::WriteResult& r = results[i];
    metrics_.event(events_[i].kind, outcome_of(r.status));
    if (!r.accepted()) {
      auto colon = r.message.find(':');
      std::string_view prefix = std::string_view(r.message).substr(0, colon);
      for (ErrorCode code :
           {ErrorCode::invalid, ErrorCode::duplicate, ErrorCode::blocked, ErrorCode::error})
        if (prefix_of(code) == prefix) metrics_.rejection(code);
    }
    replies_.push_back(
        {items[i].conn, OutMsg::message(ok_message(events_[i].id, r.accepted(), r.message)), 1});
  }
  // Fan-out hears of the commit before anyone hears OK: a client that subscribes after its OK
  // then gets the event from its query only, not again live.
  if (fanned) queues_.fanout.push(FanCommitted{batch});
  outbox_.push(replies_);
}

void Writer::purge() {
  try {
    std::size_t n = store_.purge_expired(unix_now());
    if (n > 0) {
      metrics_.purged.inc(n);
      spdlog::debug("writer: purged {} expired events", n);
    }
  } catch (const std::exception& e) {
    spdlog::error("writer: purging expired events failed: {}", e.what());
  }
}

}  // namespace fedai::relay::server
