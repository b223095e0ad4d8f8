// A REQ over 1M stored events (issue 3): the time to answer typical filters, straight from the
// relay's EventStore and through a live `fedai relay` server (RelayServer in process, a
// Boost.Beast client over loopback, REQ sent to EOSE received).
//
// The store is bulk-loaded once and kept between runs (FEDAI_BENCH_DIR, default /tmp;
// FEDAI_BENCH_REQ_EVENTS sets the size, default 1,000,000). The events are generated, not
// signed: 2,000 authors, ids computed as NIP-01 says, random signatures (the store doesn't
// verify; the point is query speed). Mix: 70% kind 1 (40% with a p tag, 30% with a t tag),
// 15% kind 7 and 10% kind 6 (e and p tags), 5% kind 1111; created_at one second apart over
// ~11.6 days with jitter. Run with scripts/bench relay.
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/nostr/event.h"
#include "core/nostr/filter.h"
#include "core/store/event_store.h"
#include "relay/server/relay_server.h"

namespace {

using namespace fedai;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

constexpr UnixSeconds kBase = 1'700'000'000;
constexpr std::size_t kAuthors = 2000;
constexpr std::size_t kTopics = 100;
constexpr std::size_t kVariants = 64;  // each benchmark cycles over this many filters

std::size_t event_count() {
  const char* n = std::getenv("FEDAI_BENCH_REQ_EVENTS");
  return n && *n ? static_cast<std::size_t>(std::strtoull(n, nullptr, 10)) : 1'000'000;
}

std::string db_dir() {
  const char* base = std::getenv("FEDAI_BENCH_DIR");
  return std::string(base && *base ? base : "/tmp") + "/fedai-bench-relay-req-" +
         std::to_string(event_count());
}

// The authors' public keys: deterministic bytes (a store never checks a pubkey is on the curve
// here; what matters is their spread).
std::vector<PublicKey> authors() {
  std::mt19937_64 rng(42);
  std::vector<PublicKey> out(kAuthors);
  for (auto& pk : out)
    for (auto& b : pk.bytes) b = static_cast<std::uint8_t>(rng());
  return out;
}

Event make_event(std::size_t i, std::mt19937_64& rng, const std::vector<PublicKey>& keys) {
  Event e;
  e.pubkey = keys[rng() % keys.size()];
  e.created_at = kBase + static_cast<UnixSeconds>(i) + static_cast<UnixSeconds>(rng() % 600) - 300;
  const auto roll = rng() % 100;
  const auto ref = [&] { return keys[rng() % keys.size()].hex(); };
  const auto eid = [&] {
    EventId id;
    for (auto& b : id.bytes) b = static_cast<std::uint8_t>(rng());
    return id.hex();
  };
  if (roll < 70) {
    e.kind = 1;
    if (rng() % 100 < 40) e.tags.push_back({"p", ref()});
    if (rng() % 100 < 30) e.tags.push_back({"t", "topic" + std::to_string(rng() % kTopics)});
    e.content = "note " + std::to_string(i) + " " + std::string(80 + rng() % 120, 'x');
  } else if (roll < 85) {
    e.kind = 7;
    e.tags = {{"e", eid()}, {"p", ref()}};
    e.content = "+";
  } else if (roll < 95) {
    e.kind = 6;
    e.tags = {{"e", eid()}, {"p", ref()}};
  } else {
    e.kind = 1111;
    e.tags = {{"e", eid()}, {"p", ref()}, {"k", "1"}};
    e.content = "comment " + std::to_string(i);
  }
  e.id = compute_event_id(e);
  for (auto& b : e.sig.bytes) b = static_cast<std::uint8_t>(rng());
  return e;
}

// Fills the store unless a complete one of this size is already there.
void ensure_loaded(const std::string& dir) {
  const std::string marker = dir + "/loaded";
  if (std::filesystem::exists(marker)) return;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  store::EventStoreOptions so;
  so.path = dir;
  so.sync = false;
  auto opened = store::EventStore::open(so);
  if (!opened) throw std::runtime_error("cannot open " + dir + ": " + opened.error().message);
  auto& store = **opened;
  const std::size_t n = event_count();
  const auto keys = authors();
  std::mt19937_64 rng(7);
  std::vector<Event> batch;
  auto started = std::chrono::steady_clock::now();
  std::size_t stored = 0;
  for (std::size_t i = 0; i < n;) {
    batch.clear();
    for (std::size_t k = 0; k < 10'000 && i < n; ++k, ++i)
      batch.push_back(make_event(i, rng, keys));
    for (const auto& r : store.write(batch, unix_now()))
      if (r.accepted()) ++stored;
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  auto stats = store.stats();
  std::fprintf(stderr,
               "relay_req_bench: loaded %zu events into %s in %.1f s (%.0f events/s, %.0f MiB "
               "used)\n",
               stored, dir.c_str(), seconds, static_cast<double>(stored) / seconds,
               static_cast<double>(stats.map_used_bytes) / 1048576.0);
  std::ofstream(marker) << stored << "\n";
}

// ---- the filters ----

// `kVariants` filters of one shape, as REQ JSON; `variant` picks among them.
std::string filter_json(const std::string& shape, std::size_t variant) {
  static const auto keys = authors();
  const std::size_t n = event_count();
  std::mt19937_64 rng(1000 + variant);
  if (shape == "kinds_limit") return R"({"kinds":[1],"limit":500})";
  if (shape == "kinds_limit_100")
    return variant % 2 ? R"({"kinds":[7],"limit":100})" : R"({"kinds":[1],"limit":100})";
  if (shape == "author_limit")
    return R"({"authors":[")" + keys[rng() % keys.size()].hex() + R"("],"limit":100})";
  if (shape == "author_kinds_limit")
    return R"({"authors":[")" + keys[rng() % keys.size()].hex() + R"("],"kinds":[1],"limit":100})";
  if (shape == "ptag_limit")
    return R"({"#p":[")" + keys[rng() % keys.size()].hex() + R"("],"limit":100})";
  if (shape == "ttag_limit")
    return R"({"#t":["topic)" + std::to_string(rng() % kTopics) + R"("],"limit":100})";
  if (shape == "since_until") {  // a one-hour window somewhere in the range, default limit
    auto since = kBase + static_cast<UnixSeconds>(rng() % (n > 3600 ? n - 3600 : 1));
    return R"({"since":)" + std::to_string(since) + R"(,"until":)" + std::to_string(since + 3599) +
           "}";
  }
  if (shape == "kinds_since_until") {  // kind 7 in a one-hour window
    auto since = kBase + static_cast<UnixSeconds>(rng() % (n > 3600 ? n - 3600 : 1));
    return R"({"kinds":[7],"since":)" + std::to_string(since) + R"(,"until":)" +
           std::to_string(since + 3599) + "}";
  }
  throw std::invalid_argument("unknown filter shape " + shape);
}

const std::vector<std::string> kShapes = {"kinds_limit",        "kinds_limit_100",  "author_limit",
                                          "author_kinds_limit", "ptag_limit",       "ttag_limit",
                                          "since_until",        "kinds_since_until"};

// ---- the relay, started once over the loaded store ----

relay::server::RelayServer& server() {
  static std::unique_ptr<relay::server::RelayServer> s = [] {
    spdlog::set_level(spdlog::level::warn);
    std::string dir = db_dir();
    ensure_loaded(dir);
    relay::server::RelayOptions o;
    o.listen_port = 0;
    o.db_path = dir;
    o.db_sync = false;
    auto started = relay::server::RelayServer::start(o);
    if (!started) throw std::runtime_error("relay: " + started.error().message);
    return std::move(*started);
  }();
  return *s;
}

void set_counters(benchmark::State& state, std::size_t returned, std::size_t bytes) {
  state.SetItemsProcessed(static_cast<std::int64_t>(returned));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["events_per_query"] =
      benchmark::Counter(static_cast<double>(returned) / static_cast<double>(state.iterations()));
}

// The store's query, as the relay's query thread calls it: each matching event's JSON copied
// out (the query thread hands it to the outbox).
void BM_StoreQuery(benchmark::State& state, const std::string& shape) {
  auto& store = server().store();
  std::vector<std::vector<Filter>> filters;
  for (std::size_t v = 0; v < kVariants; ++v) {
    auto f = parse_filter(filter_json(shape, v));
    if (!f) throw std::runtime_error(f.error().message);
    filters.push_back({*f});
  }
  std::size_t returned = 0, bytes = 0, scanned = 0, i = 0;
  std::string out;
  const UnixSeconds now = unix_now();
  for (auto _ : state) {
    auto stats =
        store.query(filters[i++ % kVariants], now, [&](const EventId&, std::string_view json) {
          out.assign(json);
          bytes += json.size();
          return true;
        });
    returned += stats.returned;
    scanned += stats.scanned;
  }
  set_counters(state, returned, bytes);
  state.counters["scanned_per_query"] =
      benchmark::Counter(static_cast<double>(scanned) / static_cast<double>(state.iterations()));
}

// A WebSocket client that sends REQ and reads to EOSE.
class ReqClient {
 public:
  explicit ReqClient(int port) : ws_(ioc_) {
    tcp::resolver resolver(ioc_);
    boost::asio::connect(ws_.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
    ws_.next_layer().set_option(tcp::no_delay(true));
    ws_.handshake("127.0.0.1:" + std::to_string(port), "/");
    ws_.text(true);
  }
  // Events received for the REQ; their bytes added to `bytes`.
  std::size_t req(const std::string& filter, std::size_t& bytes) {
    // One subscription id: each REQ replaces the previous (already answered) one.
    ws_.write(boost::asio::buffer(R"(["REQ","q",)" + filter + "]"));
    std::size_t n = 0;
    for (;;) {
      buf_.clear();
      ws_.read(buf_);
      std::string_view s(static_cast<const char*>(buf_.data().data()), buf_.size());
      if (s.starts_with(R"(["EVENT","q")")) {
        ++n;
        bytes += s.size();
      } else if (s.starts_with(R"(["EOSE","q")")) {
        return n;
      } else if (s.starts_with(R"(["CLOSED")")) {
        throw std::runtime_error("relay closed the REQ: " + std::string(s));
      }
    }
  }

 private:
  boost::asio::io_context ioc_;
  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buf_;
};

// REQ to EOSE through the live relay: parse and route on a verify thread, the store query on a
// query thread, framing and sending on the libwebsockets thread, and the client's reading.
void BM_LiveReq(benchmark::State& state, const std::string& shape) {
  ReqClient client(server().port());
  std::vector<std::string> filters;
  for (std::size_t v = 0; v < kVariants; ++v) filters.push_back(filter_json(shape, v));
  std::size_t returned = 0, bytes = 0, i = 0;
  for (auto _ : state) returned += client.req(filters[i++ % kVariants], bytes);
  set_counters(state, returned, bytes);
}

[[maybe_unused]] const bool registered = [] {
  for (const auto& shape : kShapes)
    benchmark::RegisterBenchmark(("BM_StoreQuery/" + shape).c_str(), BM_StoreQuery, shape)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  for (const auto& shape : kShapes)
    benchmark::RegisterBenchmark(("BM_LiveReq/" + shape).c_str(), BM_LiveReq, shape)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
