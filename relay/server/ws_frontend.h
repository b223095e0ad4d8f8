// The libwebsockets side of the relay: the one thread that does network I/O.
//
// It accepts WebSocket connections and HTTP requests (NIP-11, a short text, /metrics on the
// metrics port), reassembles messages up to max-message-bytes, applies each connection's
// message rate limit, and posts the raw text to the connection's verify thread. Everything the
// other stages want sent arrives through the Outbox; the thread frames those messages itself
// and writes all that is pending for a connection in one send. A connection whose pending
// bytes pass max-pending-bytes is cut off (slow reader); one with max-in-flight messages being
// processed is not read from until they are answered (backpressure, not buffering).
#pragma once

#include <libwebsockets.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/util/result.h"
#include "relay/lws_loop.h"
#include "relay/server/relay_metrics.h"
#include "relay/server/relay_options.h"
#include "relay/server/stages.h"
#include "relay/server/token_bucket.h"

namespace fedai::relay::server {

class WsFrontend {
 public:
  WsFrontend(const RelayOptions& options, RelayMetrics& metrics, Queues& queues, Outbox& outbox,
             std::string nip11_json, std::function<std::string()> metrics_text);
  ~WsFrontend();
  WsFrontend(const WsFrontend&) = delete;
  WsFrontend& operator=(const WsFrontend&) = delete;

  // Binds the ports and starts the service thread. The error says what failed to bind.
  Status start();
  // Closes every connection and joins the service thread. Idempotent.
  void stop();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }

  // Called by the Outbox (from any thread) when it has something to send.
  void wake();

 private:
  struct Connection {
    ConnId id = 0;
    lws* wsi = nullptr;
    std::string peer;
    // Reassembly of the message being received.
    std::string rx;
    std::string rx_tail;  // the last bytes of an oversized message
    bool in_message = false;
    bool oversized = false;
    // Outbound.
    std::deque<OutMsg> out;
    std::size_t out_bytes = 0;
    // Limits.
    TokenBucket messages;
    std::uint32_t in_flight = 0;
    bool paused = false;
    bool closing = false;
  };
  struct Session {  // lws per-session data: plain pointers, zeroed by lws
    Connection* conn;
    std::string* http_body;
  };

  static int relay_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                            std::size_t len);
  static int metrics_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                              std::size_t len);

  int on_open(lws* wsi, Session& session);
  int on_receive(lws* wsi, Session& session, const char* data, std::size_t len);
  int on_writeable(lws* wsi, Session& session);
  void on_closed(Session& session);
  int on_http(lws* wsi, Session& session, bool metrics_vhost, const char* uri);
  int respond(lws* wsi, Session& session, unsigned status, const char* content_type,
              std::string body, bool cors);
  int on_http_writeable(lws* wsi, Session& session);

  void on_message(Connection& c, std::string&& text);
  void on_oversized(Connection& c);
  void refuse(Connection& c, std::string_view head, std::string_view tail,
              const std::string& reason, ErrorCode code);
  void drain_outbox();
  void enqueue(Connection& c, OutMsg&& msg);
  void complete(Connection& c, std::uint32_t n);
  void cut_off(Connection& c, const char* why);
  void set_pending(std::int64_t delta);

  const RelayOptions& options_;
  RelayMetrics& metrics_;
  Queues& queues_;
  Outbox& outbox_;
  const std::string nip11_json_;
  std::function<std::string()> metrics_text_;

  lws_protocols relay_protocols_[2]{};
  lws_protocols metrics_protocols_[2]{};
  lws_retry_bo_t idle_policy_{};
  std::unique_ptr<LwsLoop> loop_;
  int port_ = 0;
  int metrics_port_ = 0;

  // Service thread only.
  std::unordered_map<ConnId, std::unique_ptr<Connection>> conns_;
  ConnId next_id_ = 1;
  std::vector<Delivery> deliveries_;
  std::vector<unsigned char> wbuf_;
  std::int64_t pending_total_ = 0;
};

}  // namespace fedai::relay::server
