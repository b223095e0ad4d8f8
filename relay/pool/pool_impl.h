// RelayPool's insides (not a public header). Everything below `loop` is touched only on the
// libwebsockets service thread, except where a comment says otherwise.
#pragma once

#include <libwebsockets.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/nostr/message.h"
#include "core/util/log_limiter.h"
#include "relay/lws_loop.h"
#include "relay/pool/backoff.h"
#include "relay/pool/catch_up.h"
#include "relay/pool/delivery_thread.h"
#include "relay/pool/event_verifier.h"
#include "relay/pool/host_resolver.h"
#include "relay/pool/lws_timer.h"
#include "relay/pool/relay_counters.h"
#include "relay/pool/relay_pool.h"
#include "relay/pool/relay_url.h"
#include "relay/pool/seen_events.h"

namespace fedai::relay {

using Clock = std::chrono::steady_clock;

struct Relay;
struct InformationFetch;

// One libwebsockets connection (a WebSocket to a relay, or an HTTP request for NIP-11). lws
// holds a pointer to it (opaque user data) until the wsi is destroyed; the owner detaches by
// nulling `relay`/`fetch`, after which every callback for the wsi is ignored.
struct Conn {
  enum class Kind { websocket, information };
  Kind kind = Kind::websocket;
  Relay* relay = nullptr;
  InformationFetch* fetch = nullptr;
  lws* wsi = nullptr;
  bool established = false;
  bool close_requested = false;
};

struct Outbound {
  enum class Verb { event, req, close, auth };
  Verb verb = Verb::event;
  std::shared_ptr<const std::string> text;
  std::uint64_t publish_id = 0;  // for event
};

// A message received from a relay, waiting its turn: events wait for verification, and EOSE and
// CLOSED wait behind the events that came before them.
struct Inbound {
  enum class Type { event, eose, closed };
  Type type = Type::event;
  SubscriptionId subscription = 0;
  std::shared_ptr<VerifyJob> job;  // event
  std::string message;             // closed
  std::uint64_t generation = 0;    // the connection it came on
};

struct Relay {
  RelayUrl url;
  std::shared_ptr<RelayCounters> counters;
  RelayStatus status = RelayStatus::connecting;
  std::string last_error;
  Conn* conn = nullptr;
  std::uint64_t generation = 0;  // one per connection attempt
  ReconnectBackoff backoff;      // consecutive failures, when last healthy
  bool ever_connected = false;
  Clock::time_point connected_at{};
  UnixSeconds disconnected_at = 0;
  std::string peer_close;  // the close frame's code and reason, when the relay sent one

  std::unique_ptr<LwsTimer> reconnect_timer;
  std::unique_ptr<LwsTimer> connect_timer;
  std::unique_ptr<LwsTimer> ping_timer;
  std::unique_ptr<LwsTimer> pong_timer;
  std::unique_ptr<LwsTimer> auth_timer;

  // Outbound.
  std::deque<Outbound> send_queue;
  std::vector<unsigned char> tx;
  bool ping_due = false;
  Clock::time_point ping_sent_at{};
  Clock::time_point last_rx_at{};

  // Inbound.
  std::string rx;
  bool rx_oversized = false;
  std::deque<Inbound> inbound;

  // NIP-42.
  enum class Auth { none, pending, ok, failed };
  std::string challenge;
  Auth auth = Auth::none;
  EventId auth_event_id;
  std::vector<std::uint64_t> publishes_awaiting_auth;

  // Publishes sent (or queued) to this relay and not yet answered, by event id.
  std::unordered_map<EventId, std::vector<std::uint64_t>, FixedBytesHash> awaiting_ok;
};

struct RelaySubscription {
  std::uint64_t generation = 0;  // the connection the REQ went out on (0: not sent)
  bool eose = false;             // on that connection
  bool closed = false;           // refused on that connection (final)
  bool awaiting_auth = false;    // refused with auth-required:, AUTH in progress
  bool auth_retry_used = false;
  CatchUpState catch_up;
};

struct Subscription {
  SubscriptionId id = 0;
  std::string wire_id;
  std::vector<Filter> filters;
  std::shared_ptr<SubscriptionHandlers> handlers;
  bool all_eose_fired = false;
  std::unordered_map<const Relay*, RelaySubscription> relays;
};

struct Publish {
  std::uint64_t id = 0;
  EventId event_id;
  std::shared_ptr<const std::string> text;
  std::vector<RelayPublishResult> results;
  std::vector<bool> done;
  std::vector<bool> auth_retried;
  std::size_t remaining = 0;
  PublishCallback callback;
  Clock::time_point started{};
  std::unique_ptr<LwsTimer> timer;
};

struct InformationFetch {
  std::uint64_t id = 0;
  std::string url;  // as the caller gave it
  RelayUrl target;
  InformationCallback callback;
  std::unique_ptr<LwsTimer> timer;
  Conn* conn = nullptr;
  std::string body;
  int http_status = 0;
};

struct RelayPool::Impl : std::enable_shared_from_this<RelayPool::Impl> {
  explicit Impl(RelayPoolOptions options);
  ~Impl();

  // ---- any thread ----
  void start();
  void shutdown();
  void post_callback(std::function<void()> fn);  // onto the executor
  void notify_verified();                        // from a verifier thread

  RelayPoolOptions options;
  LogLimiter log_limiter;  // status and drop lines, summarised when they flood
  MessageLimits limits;
  std::unique_ptr<DeliveryThread> delivery;  // when options.executor is empty
  Executor executor;
  std::unique_ptr<LwsLoop> loop;
  std::unique_ptr<EventVerifier> verifier;
  HostResolver resolver;
  std::atomic<bool> pump_posted{false};
  std::atomic<std::uint64_t> next_subscription{1};
  std::atomic<bool> stopped{false};
  std::once_flag shutdown_once;

  // Snapshot side of the relays: url -> counters (guarded by counters_mutex).
  mutable std::mutex counters_mutex;
  std::map<std::string, std::shared_ptr<RelayCounters>> counters_by_url;
  Gauge* dedupe_gauge = nullptr;

  // ---- service thread ----
  void on_stop();
  int callback(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len);
  int websocket_callback(Conn& conn, lws* wsi, lws_callback_reasons reason, void* in,
                         std::size_t len);
  int information_callback(Conn& conn, lws* wsi, lws_callback_reasons reason, void* in,
                           std::size_t len);

  // Connections (pool_connection.cpp).
  void add_relay(RelayUrl url);
  void remove_relay(const std::string& url);
  void start_connect(Relay& relay);
  void open_socket(Relay& relay, std::uint64_t generation, const std::string& address);
  void on_established(Relay& relay);
  void connection_lost(Relay& relay, const std::string& reason);
  void abandon(Conn* conn);
  void set_status(Relay& relay, RelayStatus status, const std::string& reason);
  void enqueue(Relay& relay, Outbound message, bool front = false);
  bool has_room(const Relay& relay) const {
    return relay.send_queue.size() < options.max_send_queue;
  }
  int on_writeable(Relay& relay, lws* wsi);
  void send_ping(Relay& relay);
  void on_pong(Relay& relay, const void* in, std::size_t len);
  void on_pong_deadline(Relay& relay);
  Relay* find_relay(const std::string& url);
  Conn* new_conn(Conn::Kind kind);

  // Inbound and subscriptions (pool_inbound.cpp).
  void on_receive(Relay& relay, const char* data, std::size_t len, bool final);
  void handle_message(Relay& relay, std::string_view text);
  void pump();
  void pump_relay(Relay& relay);
  void deliver_event(Relay& relay, Inbound& item);
  void deliver_eose(Relay& relay, Inbound& item);
  void deliver_closed(Relay& relay, Inbound& item);
  void update_flow_control(Relay& relay);
  void subscribe(SubscriptionId id, std::vector<Filter> filters,
                 std::shared_ptr<SubscriptionHandlers> handlers);
  void unsubscribe(SubscriptionId id);
  void send_req(Relay& relay, Subscription& sub);
  void check_all_eose(Subscription& sub);
  void check_all_eose_everywhere();
  void report_closed(Relay& relay, Subscription& sub, const std::string& reason);

  // NIP-42 (pool_inbound.cpp).
  void on_challenge(Relay& relay, const std::string& challenge);
  void send_auth(Relay& relay);
  void await_auth(Relay& relay);
  void auth_finished(Relay& relay, bool ok, const std::string& message);

  // Publishing (pool_publish.cpp).
  void publish(std::shared_ptr<const std::string> text, EventId id,
               std::chrono::milliseconds timeout, PublishCallback callback,
               std::vector<std::string> relays, Clock::time_point started);
  void enqueue_publish(Relay& relay, Publish& pub, std::size_t index);
  void on_ok(Relay& relay, const RelayOk& ok);
  void complete(Publish& pub, std::size_t index, PublishOutcome outcome, std::string message);
  void fail_relay_publishes(Relay& relay, const std::string& reason);
  std::size_t result_index(const Publish& pub, const Relay& relay) const;

  // NIP-11 (pool_information.cpp).
  void fetch_information(std::string url, RelayUrl target, std::chrono::milliseconds timeout,
                         InformationCallback callback);
  void finish_fetch(InformationFetch& fetch, Result<RelayInformation> result);

  std::mt19937_64 rng{std::random_device{}()};
  std::map<std::string, std::unique_ptr<Relay>> relays;
  std::map<SubscriptionId, std::unique_ptr<Subscription>> subscriptions;
  std::unordered_map<std::string, Subscription*> subscriptions_by_wire_id;
  std::unordered_map<std::uint64_t, std::unique_ptr<Publish>> publishes;
  std::uint64_t next_publish = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<InformationFetch>> fetches;
  std::uint64_t next_fetch = 1;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns;
  std::unique_ptr<SeenEvents> seen;
  // Events being verified, by id: a copy of the same event from another relay waits for the
  // same job instead of being verified again (only when it is identical: a forged copy with a
  // genuine id must not be able to sink the genuine one).
  std::unordered_map<EventId, std::weak_ptr<VerifyJob>, FixedBytesHash> verifying;
  bool shutting_down = false;
};

}  // namespace fedai::relay
