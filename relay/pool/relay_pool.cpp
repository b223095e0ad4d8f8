// RelayPool's public methods, the Impl's lifetime, and the libwebsockets callback dispatch.
#include "relay/pool/relay_pool.h"

#include <openssl/x509.h>

#include <filesystem>
#include <mutex>

#include <spdlog/spdlog.h>

#include "core/nostr/message.h"
#include "relay/pool/pool_impl.h"

namespace fedai::relay {
namespace {

constexpr const char* kWebSocketProtocol = "fedai-relay-pool";
constexpr const char* kInformationProtocol = "fedai-relay-information";

int lws_callback(lws* wsi, lws_callback_reasons reason, void* /*user*/, void* in, std::size_t len) {
  auto* context = lws_get_context(wsi);
  auto* impl =
      context == nullptr ? nullptr : static_cast<RelayPool::Impl*>(lws_context_user(context));
  if (impl == nullptr) return 0;
  return impl->callback(wsi, reason, in, len);
}

const lws_protocols kProtocols[] = {
    {kWebSocketProtocol, lws_callback, 0, 64 * 1024, 0, nullptr, 0},
    {kInformationProtocol, lws_callback, 0, 16 * 1024, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

// libwebsockets logs through spdlog: errors as warnings (lws calls a refused connection an
// error; the pool reports those itself), everything else at debug.
void route_lws_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
    lws_set_log_level(LLL_ERR | LLL_WARN, [](int level, const char* line) {
      std::string_view text(line);
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
      if (level == LLL_ERR)
        spdlog::debug("lws: {}", text);
      else
        spdlog::trace("lws: {}", text);
    });
  });
}

std::string default_ca_file() {
  const char* openssl_default = X509_get_default_cert_file();
  std::error_code ec;
  if (openssl_default != nullptr && std::filesystem::exists(openssl_default, ec))
    return openssl_default;
  for (const char* path :
       {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"})
    if (std::filesystem::exists(path, ec)) return path;
  return openssl_default != nullptr ? openssl_default : "";
}

}  // namespace

// ---- Impl lifetime -------------------------------------------------------------------------

RelayPool::Impl::Impl(RelayPoolOptions opts) : options(std::move(opts)) {
  limits.max_message_bytes = options.max_message_bytes;
  limits.event.max_json_bytes = options.max_message_bytes;
  if (options.executor) {
    executor = options.executor;
  } else {
    delivery = std::make_unique<DeliveryThread>();
    executor = [d = delivery.get()](std::function<void()> fn) { d->post(std::move(fn)); };
  }
  if (options.ca_file.empty()) options.ca_file = default_ca_file();
  seen = std::make_unique<SeenEvents>(options.dedupe_capacity);
  if (options.metrics != nullptr)
    dedupe_gauge = &options.metrics->gauge("fedai_pool_dedupe_entries",
                                           "Event ids remembered for deduplication",
                                           {{"pool", options.metrics_pool_label}});
}

RelayPool::Impl::~Impl() {
  shutdown();
}

void RelayPool::Impl::start() {
  route_lws_logs();
  lws_context_creation_info info{};
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = kProtocols;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.client_ssl_ca_filepath = options.ca_file.empty() ? nullptr : options.ca_file.c_str();
  info.user = this;
  // lws's own handshake timeouts; the pool's connect_timeout usually fires first.
  info.timeout_secs =
      static_cast<unsigned>(std::max<std::int64_t>(5, options.connect_timeout.count() / 1000 + 5));
  lws_context* context = lws_create_context(&info);
  if (context == nullptr)
    throw std::runtime_error("relay pool: cannot create the libwebsockets context");
  loop = std::make_unique<LwsLoop>(context);
  verifier = std::make_unique<EventVerifier>(options.verify_threads, [this] { notify_verified(); });
  loop->start();
}

void RelayPool::Impl::shutdown() {
  std::call_once(shutdown_once, [this] {
    stopped = true;
    if (verifier) verifier->stop();
    resolver.stop();
    // The loop object stays (delivery callbacks may still post to it; posts after stop are
    // dropped), but its context is gone, and with it every wsi.
    if (loop) loop->stop([this] { on_stop(); });
    // lws reported every wsi's destruction (WSI_DESTROY), which erased its conn.
    if (!conns.empty())
      spdlog::debug("relay pool: {} connection records outlived the context", conns.size());
    conns.clear();
    if (delivery) delivery->stop();
  });
}

void RelayPool::Impl::post_callback(std::function<void()> fn) {
  try {
    executor(std::move(fn));
  } catch (const std::exception& e) {
    spdlog::error("relay pool: the executor refused a callback: {}", e.what());
  }
}

void RelayPool::Impl::notify_verified() {
  if (pump_posted.exchange(true)) return;
  loop->post([this] {
    pump_posted = false;
    if (!shutting_down) pump();
  });
}

void RelayPool::Impl::on_stop() {
  shutting_down = true;
  for (auto& [id, pub] : publishes) {
    for (std::size_t i = 0; i < pub->done.size(); ++i)
      if (!pub->done[i]) {
        pub->done[i] = true;
        pub->results[i].outcome = PublishOutcome::failed;
        pub->results[i].message = "pool shut down";
      }
    pub->timer.reset();
    post_callback([cb = std::move(pub->callback), eid = pub->event_id,
                   results = std::move(pub->results)]() mutable {
      if (cb) cb(eid, std::move(results));
    });
  }
  publishes.clear();
  for (auto& [id, fetch] : fetches) {
    fetch->timer.reset();
    if (fetch->conn != nullptr) abandon(fetch->conn);
    post_callback([cb = std::move(fetch->callback), url = fetch->url] {
      if (cb) cb(url, make_error(ErrorCode::error, "pool shut down"));
    });
  }
  fetches.clear();
  for (auto& [url, relay] : relays) {
    if (relay->conn != nullptr) abandon(relay->conn);
    relay->conn = nullptr;
    set_status(*relay, RelayStatus::closed, "pool shut down");
  }
  relays.clear();  // cancels every timer while the context still exists
  subscriptions_by_wire_id.clear();
  subscriptions.clear();
}

Conn* RelayPool::Impl::new_conn(Conn::Kind kind) {
  auto conn = std::make_unique<Conn>();
  conn->kind = kind;
  Conn* raw = conn.get();
  conns.emplace(raw, std::move(conn));
  return raw;
}

Relay* RelayPool::Impl::find_relay(const std::string& url) {
  auto it = relays.find(url);
  return it == relays.end() ? nullptr : it->second.get();
}

int RelayPool::Impl::callback(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len) {
  if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
    if (loop) loop->drain();
    return 0;
  }
  auto* conn = static_cast<Conn*>(lws_get_opaque_user_data(wsi));
  if (conn == nullptr || conns.find(conn) == conns.end()) return 0;
  if (reason == LWS_CALLBACK_WSI_DESTROY) {
    if (conn->relay != nullptr && conn->relay->conn == conn) conn->relay->conn = nullptr;
    if (conn->fetch != nullptr && conn->fetch->conn == conn) conn->fetch->conn = nullptr;
    conns.erase(conn);
    return 0;
  }
  try {
    if (conn->kind == Conn::Kind::websocket) return websocket_callback(*conn, wsi, reason, in, len);
    return information_callback(*conn, wsi, reason, in, len);
  } catch (const std::exception& e) {
    // Nothing a relay sends may take the service thread down: drop this connection instead.
    spdlog::error("relay pool: closing a connection after an internal error: {}", e.what());
    if (conn->relay != nullptr)
      connection_lost(*conn->relay, std::string("internal error: ") + e.what());
    return -1;
  }
}

// ---- public API ----------------------------------------------------------------------------

RelayPool::RelayPool(RelayPoolOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {
  impl_->start();
}

RelayPool::~RelayPool() {
  if (impl_) impl_->shutdown();
}

void RelayPool::shutdown() {
  impl_->shutdown();
}

Status RelayPool::add_relay(std::string_view url) {
  auto parsed = parse_relay_url(url);
  if (!parsed) return parsed.error();
  {
    std::lock_guard lock(impl_->counters_mutex);
    auto& counters = impl_->counters_by_url[parsed->text];
    if (counters) return {};
    counters = std::make_shared<RelayCounters>(parsed->text, impl_->options.metrics,
                                               impl_->options.metrics_pool_label);
  }
  impl_->loop->post([impl = impl_.get(), u = std::move(*parsed)]() mutable {
    if (!impl->shutting_down) impl->add_relay(std::move(u));
  });
  return {};
}

void RelayPool::remove_relay(std::string_view url) {
  auto parsed = parse_relay_url(url);
  if (!parsed) return;
  {
    std::lock_guard lock(impl_->counters_mutex);
    impl_->counters_by_url.erase(parsed->text);
  }
  impl_->loop->post([impl = impl_.get(), u = parsed->text] {
    if (!impl->shutting_down) impl->remove_relay(u);
  });
}

std::vector<std::string> RelayPool::relay_urls() const {
  std::lock_guard lock(impl_->counters_mutex);
  std::vector<std::string> out;
  for (const auto& [url, c] : impl_->counters_by_url) out.push_back(url);
  return out;
}

std::vector<RelayStats> RelayPool::stats() const {
  std::lock_guard lock(impl_->counters_mutex);
  std::vector<RelayStats> out;
  for (const auto& [url, c] : impl_->counters_by_url) out.push_back(c->snapshot());
  return out;
}

SubscriptionId RelayPool::subscribe(std::vector<Filter> filters, SubscriptionHandlers handlers) {
  SubscriptionId id = impl_->next_subscription.fetch_add(1);
  auto shared = std::make_shared<SubscriptionHandlers>(std::move(handlers));
  impl_->loop->post([impl = impl_.get(), id, f = std::move(filters), shared]() mutable {
    if (!impl->shutting_down) impl->subscribe(id, std::move(f), std::move(shared));
  });
  return id;
}

void RelayPool::unsubscribe(SubscriptionId id) {
  impl_->loop->post([impl = impl_.get(), id] {
    if (!impl->shutting_down) impl->unsubscribe(id);
  });
}

void RelayPool::publish(const Event& event, std::chrono::milliseconds timeout,
                        PublishCallback callback, std::vector<std::string> relays) {
  auto started = Clock::now();
  if (impl_->stopped) {
    if (callback) callback(event.id, {});
    return;
  }
  auto text = std::make_shared<const std::string>(event_message(event));
  impl_->loop->post([impl = impl_.get(), text, id = event.id, timeout, cb = std::move(callback),
                     r = std::move(relays), started]() mutable {
    impl->publish(std::move(text), id, timeout, std::move(cb), std::move(r), started);
  });
}

void RelayPool::fetch_info(std::string_view url, std::chrono::milliseconds timeout,
                           InformationCallback callback) {
  std::string ws_url(url);
  if (ws_url.rfind("http://", 0) == 0)
    ws_url = "ws://" + ws_url.substr(7);
  else if (ws_url.rfind("https://", 0) == 0)
    ws_url = "wss://" + ws_url.substr(8);
  auto target = parse_relay_url(ws_url);
  if (!target) {
    impl_->post_callback([cb = std::move(callback), u = std::string(url), e = target.error()] {
      if (cb) cb(u, e);
    });
    return;
  }
  impl_->loop->post([impl = impl_.get(), u = std::string(url), t = std::move(*target), timeout,
                     cb = std::move(callback)]() mutable {
    if (impl->shutting_down) {
      impl->post_callback([cb = std::move(cb), u] {
        if (cb) cb(u, make_error(ErrorCode::error, "pool shut down"));
      });
      return;
    }
    impl->fetch_information(std::move(u), std::move(t), timeout, std::move(cb));
  });
}

}  // namespace fedai::relay
