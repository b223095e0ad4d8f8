// Helpers for the relay pool tests: thread-safe inboxes the pool's callbacks fill and the test
// waits on with a deadline (never a sleep), and ready-made event and filter builders.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/nostr/event.h"
#include "core/nostr/filter.h"
#include "core/util/time.h"
#include "relay/pool/relay_pool.h"

namespace fedai::test {

using namespace std::chrono_literals;

// Generous: the machine is shared and Node.js starts slowly; a passing run never waits this long.
inline constexpr std::chrono::milliseconds kWait{15'000};

template <class T>
class Inbox {
 public:
  void push(T value) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(value));
    }
    cv_.notify_all();
  }
  // Waits until `pred(items)` holds; false on timeout.
  bool wait_until(const std::function<bool(const std::vector<T>&)>& pred,
                  std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return pred(items_); });
  }
  bool wait_for_count(std::size_t n, std::chrono::milliseconds timeout = kWait) {
    return wait_until([n](const std::vector<T>& v) { return v.size() >= n; }, timeout);
  }
  std::vector<T> items() const {
    std::lock_guard lock(mutex_);
    return items_;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<T> items_;
};

struct ReceivedEvent {
  Event event;
  std::string relay;
};

// Records every callback of one subscription.
struct SubscriptionProbe {
  Inbox<ReceivedEvent> events;
  Inbox<std::string> eose;  // relay urls
  Inbox<int> all_eose;
  Inbox<std::pair<std::string, std::string>> closed;  // relay, reason

  relay::SubscriptionHandlers handlers() {
    relay::SubscriptionHandlers h;
    h.on_event = [this](const Event& e, const std::string& r) { events.push({e, r}); };
    h.on_eose = [this](const std::string& r) { eose.push(r); };
    h.on_all_eose = [this] { all_eose.push(1); };
    h.on_closed = [this](const std::string& r, const std::string& why) { closed.push({r, why}); };
    return h;
  }
  bool has_event(const EventId& id) {
    for (const auto& e : events.items())
      if (e.event.id == id) return true;
    return false;
  }
};

struct StatusChange {
  std::string relay;
  relay::RelayStatus status;
  std::string reason;
};

// Status changes of every relay, for RelayPoolOptions::on_status.
struct StatusProbe {
  Inbox<StatusChange> changes;
  std::function<void(const std::string&, relay::RelayStatus, const std::string&)> callback() {
    return [this](const std::string& r, relay::RelayStatus s, const std::string& why) {
      changes.push({r, s, why});
    };
  }
  // Waits for the `n`-th time (1-based) `relay` entered `status`.
  bool wait_for(const std::string& relay_url, relay::RelayStatus status, std::size_t n = 1,
                std::chrono::milliseconds timeout = kWait) {
    return changes.wait_until(
        [&](const std::vector<StatusChange>& v) {
          std::size_t seen = 0;
          for (const auto& c : v)
            if (c.relay == relay_url && c.status == status) ++seen;
          return seen >= n;
        },
        timeout);
  }
};

// Publishes and waits for the per-relay results; nullopt if the callback never came.
inline std::optional<std::vector<relay::RelayPublishResult>> publish_and_wait(
    relay::RelayPool& pool, const Event& event, std::chrono::milliseconds timeout = 5s,
    std::vector<std::string> relays = {}) {
  auto promise = std::make_shared<std::promise<std::vector<relay::RelayPublishResult>>>();
  auto future = promise->get_future();
  pool.publish(
      event, timeout,
      [promise](const EventId&, std::vector<relay::RelayPublishResult> results) {
        promise->set_value(std::move(results));
      },
      std::move(relays));
  if (future.wait_for(timeout + kWait) != std::future_status::ready) return std::nullopt;
  return future.get();
}

inline const relay::RelayPublishResult* result_for(
    const std::vector<relay::RelayPublishResult>& results, const std::string& relay_url) {
  for (const auto& r : results)
    if (r.relay == relay_url) return &r;
  return nullptr;
}

inline std::optional<relay::PublishOutcome> outcome_for(
    const std::vector<relay::RelayPublishResult>& results, const std::string& relay_url) {
  if (const auto* r = result_for(results, relay_url)) return r->outcome;
  return std::nullopt;
}

inline Event make_event(const Keypair& keys, std::string content, Kind kind = 1, Tags tags = {},
                        UnixSeconds created_at = 0) {
  EventTemplate t;
  t.kind = kind;
  t.created_at = created_at != 0 ? created_at : unix_now();
  t.tags = std::move(tags);
  t.content = std::move(content);
  return sign_event(std::move(t), keys);
}

// {"authors":[pubkey],"kinds":[kind]}
inline Filter author_filter(const PublicKey& author, Kind kind = 1) {
  Filter f;
  f.authors = std::vector<PublicKey>{author};
  f.kinds = std::vector<Kind>{kind};
  f.normalize();
  return f;
}

}  // namespace fedai::test
