#include "relay/server/ws_frontend.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "core/nostr/message.h"
#include "relay/server/message_peek.h"
#include "relay/server/nip11.h"
#include "relay/server/nip42.h"

namespace fedai::relay::server {
namespace {

// What one writable callback sends to one connection: enough to batch many small messages
// into one send(), small enough to keep connections taking turns.
constexpr std::size_t kWriteBudget = 256 * 1024;
constexpr std::size_t kRxChunk = 64 * 1024;
// Bytes kept from each end of an oversized message, to find what to answer.
constexpr std::size_t kKeep = 1024;

const unsigned char* uc(const char* s) {
  return reinterpret_cast<const unsigned char*>(s);
}

// A server-to-client WebSocket text frame header (FIN, unmasked, no extensions).
template <class Buffer>
void append_frame_header(Buffer& out, std::size_t n) {
  out.push_back(0x81);
  if (n < 126) {
    out.push_back(static_cast<unsigned char>(n));
  } else if (n < 65536) {
    out.push_back(126);
    out.push_back(static_cast<unsigned char>(n >> 8));
    out.push_back(static_cast<unsigned char>(n));
  } else {
    out.push_back(127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<unsigned char>(static_cast<std::uint64_t>(n) >> shift));
  }
}

void lws_log_to_spdlog(int level, const char* line) {
  std::string_view text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (level & LLL_ERR)
    spdlog::error("libwebsockets: {}", text);
  else if (level & LLL_WARN)
    spdlog::warn("libwebsockets: {}", text);
  else
    spdlog::debug("libwebsockets: {}", text);
}

const char* iface_for(const std::string& host) {
  if (host.empty() || host == "0.0.0.0" || host == "::" || host == "*") return nullptr;
  return host.c_str();
}

}  // namespace

WsFrontend::WsFrontend(const RelayOptions& options, RelayMetrics& metrics, Queues& queues,
                       Outbox& outbox, std::string nip11_json,
                       std::function<std::string()> metrics_text)
    : options_(options),
      metrics_(metrics),
      queues_(queues),
      outbox_(outbox),
      nip11_json_(std::move(nip11_json)),
      metrics_text_(std::move(metrics_text)) {
  relay_protocols_[0].name = "nostr";
  relay_protocols_[0].callback = &WsFrontend::relay_callback;
  relay_protocols_[0].per_session_data_size = sizeof(Session);
  relay_protocols_[0].rx_buffer_size = kRxChunk;
  relay_protocols_[0].tx_packet_size = kWriteBudget;
  metrics_protocols_[0].name = "http";
  metrics_protocols_[0].callback = &WsFrontend::metrics_callback;
  metrics_protocols_[0].per_session_data_size = sizeof(Session);
  // Ping a connection idle for a minute; hang up if it stays silent another minute.
  idle_policy_.secs_since_valid_ping = 60;
  idle_policy_.secs_since_valid_hangup = 120;
}

WsFrontend::~WsFrontend() {
  stop();
}

Status WsFrontend::start() {
  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_spdlog);

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.user = this;
  info.pt_serv_buf_size = kRxChunk;
  info.count_threads = 1;
  lws_context* context = lws_create_context(&info);
  if (context == nullptr)
    return make_error(ErrorCode::error, "cannot create the libwebsockets context");
  loop_ = std::make_unique<LwsLoop>(context);

  lws_context_creation_info vh;
  std::memset(&vh, 0, sizeof vh);
  vh.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
  vh.port = options_.listen_port;
  vh.iface = iface_for(options_.listen_host);
  vh.protocols = relay_protocols_;
  vh.vhost_name = "relay";
  vh.retry_and_idle_policy = &idle_policy_;
  vh.keepalive_timeout = 5;
  vh.timeout_secs = 20;
  lws_vhost* relay = lws_create_vhost(context, &vh);
  if (relay == nullptr) {
    loop_.reset();
    return make_error(ErrorCode::error, "cannot listen on " + options_.listen_host + ":" +
                                            std::to_string(options_.listen_port));
  }
  port_ = lws_get_vhost_listen_port(relay);

  if (!options_.metrics_host.empty()) {
    lws_context_creation_info mh;
    std::memset(&mh, 0, sizeof mh);
    mh.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    mh.port = options_.metrics_port;
    mh.iface = iface_for(options_.metrics_host);
    mh.protocols = metrics_protocols_;
    mh.vhost_name = "metrics";
    mh.keepalive_timeout = 5;
    mh.timeout_secs = 20;
    lws_vhost* metrics = lws_create_vhost(context, &mh);
    if (metrics == nullptr) {
      loop_.reset();
      return make_error(ErrorCode::error, "cannot listen on " + options_.metrics_host + ":" +
                                              std::to_string(options_.metrics_port) +
                                              " for metrics");
    }
    metrics_port_ = lws_get_vhost_listen_port(metrics);
  }
  loop_->start();
  return {};
}

void WsFrontend::stop() {
  // The loop object stays until destruction: other threads may still wake() it, and a stopped
  // loop drops what they post.
  if (loop_) loop_->stop();
}

void WsFrontend::wake() {
  if (loop_) loop_->post([this] { drain_outbox(); });
}

// ---- callbacks ----

int WsFrontend::relay_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                               std::size_t len) {
  auto* self = static_cast<WsFrontend*>(lws_context_user(lws_get_context(wsi)));
  auto* session = static_cast<Session*>(user);
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      if (self != nullptr && self->loop_) self->loop_->drain();
      return 0;
    case LWS_CALLBACK_ESTABLISHED:
      return self->on_open(wsi, *session);
    case LWS_CALLBACK_RECEIVE:
      return self->on_receive(wsi, *session, static_cast<const char*>(in), len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
      return self->on_writeable(wsi, *session);
    case LWS_CALLBACK_CLOSED:
      self->on_closed(*session);
      return 0;
    case LWS_CALLBACK_HTTP:
      return self->on_http(wsi, *session, false, static_cast<const char*>(in));
    case LWS_CALLBACK_HTTP_WRITEABLE:
      return self->on_http_writeable(wsi, *session);
    case LWS_CALLBACK_CLOSED_HTTP:
      if (session != nullptr) {
        delete session->http_body;
        session->http_body = nullptr;
      }
      return 0;
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

int WsFrontend::metrics_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                                 std::size_t len) {
  auto* self = static_cast<WsFrontend*>(lws_context_user(lws_get_context(wsi)));
  auto* session = static_cast<Session*>(user);
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      if (self != nullptr && self->loop_) self->loop_->drain();
      return 0;
    case LWS_CALLBACK_HTTP:
      return self->on_http(wsi, *session, true, static_cast<const char*>(in));
    case LWS_CALLBACK_HTTP_WRITEABLE:
      return self->on_http_writeable(wsi, *session);
    case LWS_CALLBACK_CLOSED_HTTP:
      if (session != nullptr) {
        delete session->http_body;
        session->http_body = nullptr;
      }
      return 0;
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

// ---- WebSocket ----

int WsFrontend::on_open(lws* wsi, Session& session) {
  if (conns_.size() >= options_.max_connections) {
    metrics_.connections_refused.inc();
    spdlog::warn("refusing a connection: max-connections ({}) reached", options_.max_connections);
    return -1;
  }
  auto c = std::make_unique<Connection>();
  c->id = next_id_++;
  c->wsi = wsi;
  char peer[128] = {};
  lws_get_peer_simple(wsi, peer, sizeof peer);
  c->peer = peer;
  c->messages =
      TokenBucket(options_.messages_per_second, options_.message_burst, TokenBucket::Clock::now());
  session.conn = c.get();
  std::string challenge = make_challenge();
  ConnId id = c->id;
  Connection& conn = *c;
  conns_.emplace(id, std::move(c));
  metrics_.connections.set(static_cast<std::int64_t>(conns_.size()));
  metrics_.connections_opened.inc();
  spdlog::debug("conn {}: open from {}", id, conn.peer);
  queues_.ingest_for(id).push_control(IngestOpen{id, challenge, conn.peer});
  // NIP-42: every connection gets a challenge first.
  enqueue(conn, OutMsg::message(auth_challenge_message(challenge)));
  return 0;
}

int WsFrontend::on_receive(lws* wsi, Session& session, const char* data, std::size_t len) {
  Connection* c = session.conn;
  if (c == nullptr || c->closing) return 0;
  metrics_.bytes_received.inc(len);
  if (!c->in_message) {
    c->in_message = true;
    c->oversized = false;
    c->rx.clear();
    c->rx_tail.clear();
  }
  if (!c->oversized) {
    if (c->rx.size() + len > options_.max_message_bytes) {
      c->oversized = true;
      if (c->rx.size() > kKeep) c->rx.resize(kKeep);
      c->rx.shrink_to_fit();
    } else {
      c->rx.append(data, len);
    }
  }
  if (c->oversized) {
    c->rx_tail.append(data, len);
    if (c->rx_tail.size() > 2 * kKeep) c->rx_tail.erase(0, c->rx_tail.size() - kKeep);
  }
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return 0;
  c->in_message = false;
  if (c->oversized) {
    on_oversized(*c);
    return 0;
  }
  on_message(*c, std::move(c->rx));
  c->rx = std::string();
  return 0;
}

void WsFrontend::on_message(Connection& c, std::string&& text) {
  if (!c.messages.take(TokenBucket::Clock::now())) {
    refuse(c, text, {}, "rate-limited: slow down, too many messages", ErrorCode::rate_limited);
    return;
  }
  IngestItem item = IngestText{c.id, std::move(text)};
  if (!queues_.ingest_for(c.id).try_push(item)) {
    const std::string& t = std::get<IngestText>(item).text;
    refuse(c, t, {}, "rate-limited: the relay is busy, try again", ErrorCode::rate_limited);
    return;
  }
  if (++c.in_flight >= options_.max_in_flight && !c.paused) {
    // Stop reading this connection until its answers catch up.
    lws_rx_flow_control(c.wsi, 0);
    c.paused = true;
    metrics_.paused_reads.inc();
  }
}

void WsFrontend::on_oversized(Connection& c) {
  metrics_.oversized_messages.inc();
  spdlog::debug("conn {}: refused a message larger than {} bytes", c.id,
                options_.max_message_bytes);
  refuse(c, c.rx, c.rx_tail,
         "invalid: message is larger than " + std::to_string(options_.max_message_bytes) + " bytes",
         ErrorCode::invalid);
  c.rx = std::string();
  c.rx_tail = std::string();
}

void WsFrontend::refuse(Connection& c, std::string_view head, std::string_view tail,
                        const std::string& reason, ErrorCode code) {
  MessagePeek peek = peek_message(head.substr(0, kKeep), tail, options_.max_subid_length);
  metrics_.message(peek.verb);
  metrics_.rejection(code);
  enqueue(c, OutMsg::message(refusal_for(peek, reason)));
}

int WsFrontend::on_writeable(lws* wsi, Session& session) {
  Connection* c = session.conn;
  if (c == nullptr) return 0;
  if (c->closing) return -1;
  if (c->out.empty()) return 0;
  wbuf_.resize(LWS_PRE);
  std::size_t taken = 0;
  while (!c->out.empty()) {
    OutMsg& m = c->out.front();
    std::size_t n = m.size();
    if (taken > 0 && wbuf_.size() - LWS_PRE + n > kWriteBudget) break;
    append_frame_header(wbuf_, n);
    m.append_to(wbuf_);
    taken += n;
    c->out.pop_front();
  }
  c->out_bytes -= taken;
  set_pending(-static_cast<std::int64_t>(taken));
  std::size_t total = wbuf_.size() - LWS_PRE;
  // Whole frames, framed above: libwebsockets sends them as they are (and buffers whatever
  // the socket doesn't take, calling back when it has flushed).
  int written = lws_write(wsi, wbuf_.data() + LWS_PRE, total, LWS_WRITE_RAW);
  if (written < 0 || static_cast<std::size_t>(written) < total) return -1;
  metrics_.bytes_sent.inc(total);
  if (wbuf_.capacity() > 4 * kWriteBudget) {
    wbuf_.clear();
    wbuf_.shrink_to_fit();  // one huge message shouldn't pin its buffer forever
  }
  if (!c->out.empty()) lws_callback_on_writable(wsi);
  return 0;
}

void WsFrontend::on_closed(Session& session) {
  Connection* c = session.conn;
  if (c == nullptr) return;
  session.conn = nullptr;
  set_pending(-static_cast<std::int64_t>(c->out_bytes));
  ConnId id = c->id;
  spdlog::debug("conn {}: closed", id);
  queues_.ingest_for(id).push_control(IngestClosed{id});
  conns_.erase(id);
  metrics_.connections.set(static_cast<std::int64_t>(conns_.size()));
}

void WsFrontend::drain_outbox() {
  outbox_.take(deliveries_);
  for (auto& d : deliveries_) {
    auto it = conns_.find(d.conn);
    if (it == conns_.end()) continue;  // closed meanwhile
    Connection& c = *it->second;
    if (d.completes > 0) complete(c, d.completes);
    if (!d.msg.empty()) enqueue(c, std::move(d.msg));
  }
  deliveries_.clear();
}

void WsFrontend::enqueue(Connection& c, OutMsg&& msg) {
  if (c.closing) return;
  std::size_t n = msg.size();
  bool was_empty = c.out.empty();
  c.out.push_back(std::move(msg));
  c.out_bytes += n;
  set_pending(static_cast<std::int64_t>(n));
  if (c.out_bytes > options_.max_pending_bytes) {
    cut_off(c, "slow reader");
    return;
  }
  if (was_empty) lws_callback_on_writable(c.wsi);
}

void WsFrontend::complete(Connection& c, std::uint32_t n) {
  c.in_flight -= std::min(n, c.in_flight);
  if (c.paused && c.in_flight <= options_.max_in_flight / 2 && !c.closing) {
    lws_rx_flow_control(c.wsi, 1);
    c.paused = false;
  }
}

void WsFrontend::cut_off(Connection& c, const char* why) {
  spdlog::warn("conn {} ({}): closing, {}: {} bytes pending (max-pending-bytes {})", c.id, c.peer,
               why, c.out_bytes, options_.max_pending_bytes);
  metrics_.slow_readers_closed.inc();
  c.closing = true;
  set_pending(-static_cast<std::int64_t>(c.out_bytes));
  c.out.clear();
  c.out_bytes = 0;
  // Closed at libwebsockets' next timeout check; nothing more is queued for it meanwhile.
  lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void WsFrontend::set_pending(std::int64_t delta) {
  pending_total_ += delta;
  metrics_.pending_bytes.set(pending_total_);
}

// ---- HTTP ----

int WsFrontend::on_http(lws* wsi, Session& session, bool metrics_vhost, const char* uri) {
  std::string path = uri != nullptr ? uri : "/";
  if (metrics_vhost) {
    if (path == "/metrics")
      return respond(wsi, session, HTTP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
                     metrics_text_(), false);
    return respond(wsi, session, HTTP_STATUS_NOT_FOUND, "text/plain; charset=utf-8",
                   "not found: metrics are at /metrics\n", false);
  }
  if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0)
    return respond(wsi, session, HTTP_STATUS_NO_CONTENT, nullptr, "", true);
  char accept[512] = {};
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_ACCEPT) > 0)
    lws_hdr_copy(wsi, accept, sizeof accept, WSI_TOKEN_HTTP_ACCEPT);
  if (std::strstr(accept, "application/nostr+json") != nullptr)
    return respond(wsi, session, HTTP_STATUS_OK, "application/nostr+json", nip11_json_, true);
  return respond(wsi, session, HTTP_STATUS_OK, "text/plain; charset=utf-8",
                 "fedai relay " + software_version() +
                     ": a Nostr relay. Connect with a Nostr client over WebSocket; send "
                     "'Accept: application/nostr+json' for its NIP-11 document.\n",
                 true);
}

int WsFrontend::respond(lws* wsi, Session& session, unsigned status, const char* content_type,
                        std::string body, bool cors) {
  unsigned char buf[LWS_PRE + 1024];
  unsigned char* start = buf + LWS_PRE;
  unsigned char* p = start;
  unsigned char* end = buf + sizeof buf - 1;
  if (lws_add_http_common_headers(wsi, status, content_type, body.size(), &p, end)) return 1;
  if (cors) {
    if (lws_add_http_header_by_name(wsi, uc("access-control-allow-origin:"), uc("*"), 1, &p, end) ||
        lws_add_http_header_by_name(wsi, uc("access-control-allow-headers:"), uc("*"), 1, &p,
                                    end) ||
        lws_add_http_header_by_name(wsi, uc("access-control-allow-methods:"), uc("GET, OPTIONS"),
                                    12, &p, end))
      return 1;
  }
  if (lws_finalize_write_http_header(wsi, start, &p, end)) return 1;
  if (body.empty()) return lws_http_transaction_completed(wsi) ? -1 : 0;
  delete session.http_body;
  session.http_body = new std::string(std::move(body));
  lws_callback_on_writable(wsi);
  return 0;
}

int WsFrontend::on_http_writeable(lws* wsi, Session& session) {
  if (session.http_body == nullptr) return 0;
  std::vector<unsigned char> buf(LWS_PRE + session.http_body->size());
  std::memcpy(buf.data() + LWS_PRE, session.http_body->data(), session.http_body->size());
  std::size_t n = session.http_body->size();
  delete session.http_body;
  session.http_body = nullptr;
  if (lws_write(wsi, buf.data() + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) != static_cast<int>(n))
    return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

}  // namespace fedai::relay::server
