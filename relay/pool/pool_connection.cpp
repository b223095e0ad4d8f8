// The per-relay connection state machine: connecting, connected, backing off, closed; the
// write queue; pings and dead-connection detection. Service thread only.
#include <cstring>

#include <spdlog/spdlog.h>

#include "core/nostr/message.h"
#include "relay/pool/pool_impl.h"

namespace fedai::relay {
namespace {

std::string ms_text(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

}  // namespace

void RelayPool::Impl::add_relay(RelayUrl url) {
  if (relays.contains(url.text)) return;
  auto relay = std::make_unique<Relay>();
  relay->url = std::move(url);
  relay->backoff = ReconnectBackoff(options.backoff, Clock::now());
  {
    std::lock_guard lock(counters_mutex);
    auto it = counters_by_url.find(relay->url.text);
    // Removed again before this ran: nothing to do.
    if (it == counters_by_url.end()) return;
    relay->counters = it->second;
  }
  Relay* r = relay.get();
  lws_context* context = loop->context();
  r->reconnect_timer = std::make_unique<LwsTimer>(context, [this, r] { start_connect(*r); });
  r->connect_timer = std::make_unique<LwsTimer>(context, [this, r] {
    if (r->status != RelayStatus::connecting) return;
    if (r->conn != nullptr) abandon(r->conn);
    r->conn = nullptr;
    connection_lost(*r, "connect timeout after " + ms_text(options.connect_timeout));
  });
  r->ping_timer = std::make_unique<LwsTimer>(context, [this, r] { send_ping(*r); });
  r->pong_timer = std::make_unique<LwsTimer>(context, [this, r] { on_pong_deadline(*r); });
  r->auth_timer = std::make_unique<LwsTimer>(context, [this, r] {
    auth_finished(*r, false, "no AUTH answer within " + ms_text(options.auth_timeout));
  });
  relays.emplace(r->url.text, std::move(relay));
  start_connect(*r);
}

void RelayPool::Impl::remove_relay(const std::string& url) {
  Relay* r = find_relay(url);
  if (r == nullptr) return;
  if (r->conn != nullptr) abandon(r->conn);
  r->conn = nullptr;
  fail_relay_publishes(*r, "relay removed from the pool");
  set_status(*r, RelayStatus::closed, "removed");
  for (auto& [id, sub] : subscriptions) sub->relays.erase(r);
  relays.erase(url);
  check_all_eose_everywhere();
}

void RelayPool::Impl::set_status(Relay& relay, RelayStatus status, const std::string& reason) {
  if (relay.status == status && status != RelayStatus::backing_off) return;
  relay.status = status;
  if (!reason.empty() && status != RelayStatus::connected) relay.last_error = reason;
  relay.counters->set_status(status, status == RelayStatus::connected ? "" : reason, unix_now());
  if (status == RelayStatus::backing_off || status == RelayStatus::closed) {
    // A relay down for long retries every few seconds: its lines are summarised.
    if (std::uint64_t held; log_limiter.allow(relay.url.text, held))
      spdlog::info("relay {}: {} ({}){}", relay.url.text, to_string(status), reason,
                   LogLimiter::suffix(held));
  } else
    spdlog::debug("relay {}: {}", relay.url.text, to_string(status));
  if (options.on_status)
    post_callback([cb = options.on_status, url = relay.url.text, status, reason] {
      cb(url, status, reason);
    });
}

void RelayPool::Impl::start_connect(Relay& relay) {
  relay.reconnect_timer->cancel();
  std::uint64_t generation = ++relay.generation;
  relay.counters->add(RelayCounter::attempts);
  set_status(relay, RelayStatus::connecting, "");
  relay.connect_timer->schedule(options.connect_timeout);
  std::string url = relay.url.text;
  resolver.resolve(
      relay.url.host, relay.url.port, [this, url, generation](Result<std::string> address) {
        loop->post([this, url, generation, address = std::move(address)] {
          if (shutting_down) return;
          Relay* r = find_relay(url);
          if (r == nullptr || r->generation != generation || r->status != RelayStatus::connecting)
            return;
          if (!address) {
            connection_lost(*r, address.error().message);
            return;
          }
          open_socket(*r, generation, *address);
        });
      });
}

void RelayPool::Impl::open_socket(Relay& relay, std::uint64_t generation,
                                  const std::string& address) {
  Conn* conn = new_conn(Conn::Kind::websocket);
  conn->relay = &relay;
  relay.conn = conn;
  std::string host = relay.url.host_header();
  lws_client_connect_info info{};
  info.context = loop->context();
  info.address = address.c_str();
  info.port = relay.url.port;
  info.ssl_connection = relay.url.secure ? LCCSCF_USE_SSL : 0;
  info.path = relay.url.path.c_str();
  info.host = host.c_str();
  info.origin = host.c_str();
  info.protocol = nullptr;  // relays speak no WebSocket subprotocol
  info.local_protocol_name = "fedai-relay-pool";
  info.ietf_version_or_minus_one = -1;
  info.opaque_user_data = conn;
  info.pwsi = &conn->wsi;
  lws* wsi = lws_client_connect_via_info(&info);
  // lws may already have reported the failure through CLIENT_CONNECTION_ERROR (which
  // detached the conn); otherwise report it here.
  if (wsi == nullptr && conn->relay == &relay && relay.generation == generation) {
    conn->relay = nullptr;
    relay.conn = nullptr;
    connection_lost(relay, "cannot start a connection to " + address);
  }
}

void RelayPool::Impl::abandon(Conn* conn) {
  conn->relay = nullptr;
  conn->fetch = nullptr;
  if (conn->wsi == nullptr) return;
  if (conn->established && conn->kind == Conn::Kind::websocket) {
    // Say goodbye with a close frame; kill it anyway if that does not happen within 2 s.
    conn->close_requested = true;
    lws_callback_on_writable(conn->wsi);
    lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, 2);
  } else {
    lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  }
}

void RelayPool::Impl::on_established(Relay& relay) {
  relay.connect_timer->cancel();
  bool reconnect = relay.ever_connected;
  relay.ever_connected = true;
  relay.connected_at = Clock::now();
  relay.backoff.connected(relay.connected_at);
  relay.peer_close.clear();
  relay.last_rx_at = relay.connected_at;
  relay.counters->add(RelayCounter::connections);
  if (reconnect) relay.counters->add(RelayCounter::reconnects);
  set_status(relay, RelayStatus::connected, "");
  // Subscriptions first, in the order they were made, then whatever waited for the connection.
  std::deque<Outbound> waiting;
  waiting.swap(relay.send_queue);
  for (auto& [id, sub] : subscriptions) send_req(relay, *sub);
  for (auto& m : waiting) relay.send_queue.push_back(std::move(m));
  relay.counters->set_send_queue_depth(relay.send_queue.size());
  if (!relay.send_queue.empty() && relay.conn != nullptr) lws_callback_on_writable(relay.conn->wsi);
  if (options.ping_interval.count() > 0) relay.ping_timer->schedule(options.ping_interval);
  check_all_eose_everywhere();
}

void RelayPool::Impl::connection_lost(Relay& relay, const std::string& reason) {
  if (relay.status == RelayStatus::closed || relay.status == RelayStatus::backing_off) return;
  bool was_connected = relay.status == RelayStatus::connected;
  if (relay.conn != nullptr) {
    relay.conn->relay = nullptr;
    relay.conn = nullptr;
  }
  relay.connect_timer->cancel();
  relay.ping_timer->cancel();
  relay.pong_timer->cancel();
  relay.auth_timer->cancel();
  relay.ping_due = false;
  UnixSeconds now = unix_now();
  if (was_connected) {
    relay.counters->add(RelayCounter::disconnects);
    relay.disconnected_at = now;
  }
  // Subscriptions go out again on the next connection, with the catch-up rule.
  for (auto& [id, sub] : subscriptions) {
    auto it = sub->relays.find(&relay);
    if (it == sub->relays.end()) continue;
    auto& state = it->second;
    if (state.generation != 0) state.catch_up.disconnected_at = now;
    state.generation = 0;
    state.eose = false;
    state.closed = false;
    state.awaiting_auth = false;
    state.auth_retry_used = false;
  }
  fail_relay_publishes(relay, was_connected
                                  ? "connection closed before the relay answered: " + reason
                                  : "not connected: " + reason);
  relay.send_queue.clear();
  relay.counters->set_send_queue_depth(0);
  relay.rx.clear();
  relay.rx_oversized = false;
  relay.challenge.clear();
  relay.auth = Relay::Auth::none;
  relay.counters->rx_paused = false;

  auto delay =
      relay.backoff.failed(Clock::now(), std::uniform_real_distribution<double>(0, 1)(rng));
  set_status(relay, RelayStatus::backing_off, reason + "; retrying in " + ms_text(delay));
  relay.reconnect_timer->schedule(delay);
  check_all_eose_everywhere();
}

void RelayPool::Impl::enqueue(Relay& relay, Outbound message, bool front) {
  if (front)
    relay.send_queue.push_front(std::move(message));
  else
    relay.send_queue.push_back(std::move(message));
  relay.counters->set_send_queue_depth(relay.send_queue.size());
  if (relay.status == RelayStatus::connected && relay.conn != nullptr && relay.conn->wsi != nullptr)
    lws_callback_on_writable(relay.conn->wsi);
}

int RelayPool::Impl::on_writeable(Relay& relay, lws* wsi) {
  if (relay.ping_due) {
    relay.ping_due = false;
    unsigned char buf[LWS_PRE + 8];
    auto ns = relay.ping_sent_at.time_since_epoch().count();
    std::memcpy(buf + LWS_PRE, &ns, 8);
    if (lws_write(wsi, buf + LWS_PRE, 8, LWS_WRITE_PING) < 8) return -1;
    spdlog::trace("relay {}: ping sent", relay.url.text);
  }
  // Several messages per callback while the socket takes them.
  for (int n = 0; n < 64 && !relay.send_queue.empty(); ++n) {
    Outbound m = std::move(relay.send_queue.front());
    relay.send_queue.pop_front();
    if (m.verb == Outbound::Verb::event) {
      // Timed out (or answered through another copy) while it waited: don't send it late.
      auto it = publishes.find(m.publish_id);
      if (it == publishes.end() || it->second->done[result_index(*it->second, relay)]) continue;
    }
    const std::string& text = *m.text;
    relay.tx.resize(LWS_PRE + text.size());
    std::memcpy(relay.tx.data() + LWS_PRE, text.data(), text.size());
    int written = lws_write(wsi, relay.tx.data() + LWS_PRE, text.size(), LWS_WRITE_TEXT);
    if (written < static_cast<int>(text.size())) {
      relay.counters->set_send_queue_depth(relay.send_queue.size());
      return -1;
    }
    relay.counters->add(RelayCounter::bytes_sent, text.size());
    relay.counters->add(RelayCounter::messages_sent);
    if (lws_send_pipe_choked(wsi)) break;
  }
  relay.counters->set_send_queue_depth(relay.send_queue.size());
  if (!relay.send_queue.empty()) lws_callback_on_writable(wsi);
  return 0;
}

void RelayPool::Impl::send_ping(Relay& relay) {
  if (relay.status != RelayStatus::connected || relay.conn == nullptr) return;
  // While reading is paused for backpressure a pong could not be read: don't judge then. One
  // ping at a time: a new one would push the outstanding one's deadline back forever.
  if (!relay.counters->rx_paused && !relay.pong_timer->pending()) {
    relay.ping_due = true;
    relay.ping_sent_at = Clock::now();
    lws_callback_on_writable(relay.conn->wsi);
    relay.pong_timer->schedule(options.pong_timeout);
  }
  relay.ping_timer->schedule(options.ping_interval);
}

void RelayPool::Impl::on_pong(Relay& relay, const void* in, std::size_t len) {
  Clock::rep ns = 0;
  if (len == 8) std::memcpy(&ns, in, 8);
  spdlog::trace("relay {}: pong ({} bytes)", relay.url.text, len);
  if (ns != relay.ping_sent_at.time_since_epoch().count()) return;  // not our latest ping
  relay.pong_timer->cancel();
  relay.counters->record_latency(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - relay.ping_sent_at));
}

void RelayPool::Impl::on_pong_deadline(Relay& relay) {
  spdlog::trace("relay {}: pong deadline", relay.url.text);
  if (relay.status != RelayStatus::connected) return;
  // Traffic after the ping proves the connection alive even if the pong is still queued.
  if (relay.last_rx_at > relay.ping_sent_at || relay.counters->rx_paused) return;
  Conn* conn = relay.conn;
  relay.conn = nullptr;
  if (conn != nullptr) {
    conn->relay = nullptr;
    if (conn->wsi != nullptr)
      lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  }
  connection_lost(relay, "no pong within " + ms_text(options.pong_timeout));
}

int RelayPool::Impl::websocket_callback(Conn& conn, lws* wsi, lws_callback_reasons reason, void* in,
                                        std::size_t len) {
  if (reason == LWS_CALLBACK_CLIENT_WRITEABLE && (conn.relay == nullptr || conn.close_requested)) {
    lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, nullptr, 0);
    return -1;
  }
  if (reason == LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER) {
    auto** p = static_cast<unsigned char**>(in);
    unsigned char* end = *p + len;
    const auto& ua = options.user_agent;
    if (!ua.empty() &&
        lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>("user-agent:"),
                                    reinterpret_cast<const unsigned char*>(ua.data()),
                                    static_cast<int>(ua.size()), p, end) != 0)
      return -1;
    return 0;
  }
  Relay* relay = conn.relay;
  if (relay == nullptr) {
    // Detached: ignore everything; refuse data so the socket winds down.
    return reason == LWS_CALLBACK_CLIENT_RECEIVE ? -1 : 0;
  }
  switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      conn.established = true;
      conn.wsi = wsi;
      on_established(*relay);
      return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      std::string why = in != nullptr && len > 0 ? std::string(static_cast<const char*>(in), len)
                        : in != nullptr          ? std::string(static_cast<const char*>(in))
                                                 : "connection failed";
      conn.relay = nullptr;
      relay->conn = nullptr;
      connection_lost(*relay, why);
      return 0;
    }
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      std::string why = "relay closed the connection";
      if (len >= 2) {
        auto* b = static_cast<const unsigned char*>(in);
        why += " (" + std::to_string((b[0] << 8) | b[1]);
        if (len > 2) why += " " + std::string(reinterpret_cast<const char*>(b + 2), len - 2);
        why += ")";
      }
      relay->peer_close = why;
      return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED: {
      conn.relay = nullptr;
      relay->conn = nullptr;
      connection_lost(*relay, relay->peer_close.empty() ? "connection closed" : relay->peer_close);
      return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
      relay->last_rx_at = Clock::now();
      relay->counters->add(RelayCounter::bytes_received, len);
      on_receive(*relay, static_cast<const char*>(in), len,
                 lws_is_final_fragment(wsi) != 0 && lws_remaining_packet_payload(wsi) == 0);
      return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
      relay->last_rx_at = Clock::now();
      on_pong(*relay, in, len);
      return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      return on_writeable(*relay, wsi);
    default:
      return 0;
  }
}

}  // namespace fedai::relay
