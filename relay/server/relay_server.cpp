#include "relay/server/relay_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "relay/server/fanout.h"
#include "relay/server/ingester.h"
#include "relay/server/nip11.h"
#include "relay/server/query_worker.h"
#include "relay/server/relay_metrics.h"
#include "relay/server/writer.h"
#include "relay/server/ws_frontend.h"

namespace fedai::relay::server {

struct RelayServer::Impl {
  RelayOptions options;
  std::string relay_url;
  MetricsRegistry registry;
  RelayMetrics metrics{registry};
  std::unique_ptr<store::EventStore> store;
  std::unique_ptr<Queues> queues;
  std::unique_ptr<Outbox> outbox;
  std::unique_ptr<WsFrontend> frontend;
  std::unique_ptr<Ingester> ingester;
  std::unique_ptr<Writer> writer;
  std::unique_ptr<Fanout> fanout;
  std::unique_ptr<QueryWorkers> queries;
  bool stopped = false;

  std::string metrics_text() {
    metrics.queue_ingest.set(static_cast<std::int64_t>(queues->ingest_depth()));
    metrics.queue_write.set(static_cast<std::int64_t>(queues->write.size()));
    metrics.queue_fanout.set(static_cast<std::int64_t>(queues->fanout.size()));
    metrics.queue_query.set(static_cast<std::int64_t>(queues->query_depth()));
    metrics.queue_outbox.set(static_cast<std::int64_t>(outbox->size()));
    return registry.render();
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    // The network first (no new work), then every inbox; each stage finishes what it holds.
    if (frontend) frontend->stop();
    if (queues) queues->close_all();
    if (ingester) ingester->join();
    if (writer) writer->join();
    if (fanout) fanout->join();
    if (queries) queries->join();
  }
};

namespace {

std::string ws_url(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  return "ws://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

Result<std::unique_ptr<RelayServer>> RelayServer::start(RelayOptions options) {
  if (auto st = validate(options); !st) return st.error();
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  const RelayOptions& o = impl->options;

  store::EventStoreOptions so;
  so.path = o.db_path;
  so.map_size = static_cast<std::size_t>(o.db_map_size_mib) << 20;
  so.sync = o.db_sync;
  so.default_limit = o.default_limit;
  so.max_limit = o.max_limit;
  auto opened = store::EventStore::open(so);
  if (!opened)
    return make_error(ErrorCode::error, "cannot open the event store in " + o.db_path + ": " +
                                            opened.error().message);
  impl->store = std::move(*opened);

  std::size_t verify_threads =
      o.verify_threads != 0 ? o.verify_threads : std::max(1u, std::thread::hardware_concurrency());
  impl->queues = std::make_unique<Queues>(verify_threads, o.ingest_queue, o.write_queue,
                                          o.fanout_queue, o.query_threads, o.query_queue);
  Impl* raw = impl.get();
  impl->outbox = std::make_unique<Outbox>([raw] { raw->frontend->wake(); });
  impl->frontend =
      std::make_unique<WsFrontend>(o, impl->metrics, *impl->queues, *impl->outbox,
                                   nip11_document(o), [raw] { return raw->metrics_text(); });
  // Bind first: with port 0 the relay's own URL is known only now. Connections accepted before
  // the other threads start wait in their queues.
  if (auto st = impl->frontend->start(); !st) {
    impl->stop();
    return st.error();
  }
  impl->relay_url =
      o.relay_url.empty() ? ws_url(o.listen_host, impl->frontend->port()) : o.relay_url;
  // A wildcard address is no name a client can use: without --relay-url, don't compare the
  // AUTH event's relay tag then (the per-connection challenge still binds it).
  std::string auth_url =
      o.relay_url.empty() && (o.listen_host == "0.0.0.0" || o.listen_host == "::")
          ? std::string()
          : impl->relay_url;
  impl->ingester =
      std::make_unique<Ingester>(o, auth_url, impl->metrics, *impl->queues, *impl->outbox);
  impl->writer =
      std::make_unique<Writer>(o, *impl->store, impl->metrics, *impl->queues, *impl->outbox);
  impl->fanout = std::make_unique<Fanout>(o, impl->metrics, *impl->queues, *impl->outbox);
  impl->queries =
      std::make_unique<QueryWorkers>(*impl->store, impl->metrics, *impl->queues, *impl->outbox);
  impl->writer->start();
  impl->fanout->start();
  impl->queries->start();
  impl->ingester->start();
  spdlog::info("relay: listening on {} ({} verify threads, {} query threads, store {})",
               ws_url(o.listen_host, impl->frontend->port()), verify_threads, o.query_threads,
               o.db_path);
  if (!o.metrics_host.empty())
    spdlog::info("relay: metrics on http://{}:{}/metrics", o.metrics_host,
                 impl->frontend->metrics_port());
  return std::unique_ptr<RelayServer>(new RelayServer(std::move(impl)));
}

RelayServer::RelayServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RelayServer::~RelayServer() {
  stop();
}

void RelayServer::stop() {
  impl_->stop();
}

int RelayServer::port() const {
  return impl_->frontend ? impl_->frontend->port() : 0;
}
int RelayServer::metrics_port() const {
  return impl_->frontend ? impl_->frontend->metrics_port() : 0;
}
std::string RelayServer::url() const {
  return ws_url(impl_->options.listen_host, port());
}
const std::string& RelayServer::relay_url() const {
  return impl_->relay_url;
}
const RelayOptions& RelayServer::options() const {
  return impl_->options;
}
MetricsRegistry& RelayServer::metrics() {
  return impl_->registry;
}
std::string RelayServer::metrics_text() {
  return impl_->metrics_text();
}
store::EventStore& RelayServer::store() {
  return *impl_->store;
}

}  // namespace fedai::relay::server
