#include "relay/server/relay_options.h"

#include <algorithm>

#include "core/nostr/key_text.h"

namespace fedai::relay::server {
namespace {

using Values = std::vector<std::string>;
using options::boolean;
using options::integer;
using options::parse_listen;
using options::parse_u64;
using options::quoted;
using options::single;
using options::text;
using Spec = RelayOptionSpec;

Spec authors(std::string name, std::string help, std::vector<PublicKey> RelayOptions::*field) {
  return Spec{std::move(name), OptionType::string_list, std::move(help),
              [field](const RelayOptions& o) {
                return (o.*field).empty() ? std::string("(none)")
                                          : std::to_string((o.*field).size()) + " keys";
              },
              // The whole list at once: a later source replaces an earlier one's.
              [field](RelayOptions& o, const Values& v) -> Status {
                std::vector<PublicKey> keys;
                for (const auto& s : v) {
                  auto pk = parse_public_key(s);
                  if (!pk) return invalid(quoted(s) + " is not a public key (npub or hex)");
                  keys.push_back(*pk);
                }
                std::sort(keys.begin(), keys.end());
                keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
                o.*field = std::move(keys);
                return {};
              }};
}

std::string show_endpoint(const std::string& host, std::uint16_t port) {
  if (host.empty()) return "";
  std::string out;
  bool v6 = host.find(':') != std::string::npos;
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

std::vector<Spec> make_specs() {
  std::vector<Spec> s;
  // ---- network ----
  s.push_back({"listen", OptionType::string,
               "Address and port to serve WebSocket and NIP-11 on (HOST:PORT; port 0 picks a free "
               "one, printed on stdout)",
               [](const RelayOptions& o) { return show_endpoint(o.listen_host, o.listen_port); },
               [](RelayOptions& o, const Values& v) -> Status {
                 if (auto st = single(v); !st) return st;
                 return parse_listen(v[0], o.listen_host, o.listen_port);
               }});
  s.push_back({"metrics-listen", OptionType::string,
               "Address and port of the Prometheus endpoint (GET /metrics); empty: off",
               [](const RelayOptions& o) { return show_endpoint(o.metrics_host, o.metrics_port); },
               [](RelayOptions& o, const Values& v) -> Status {
                 if (auto st = single(v); !st) return st;
                 if (v[0].empty()) {
                   o.metrics_host.clear();
                   o.metrics_port = 0;
                   return {};
                 }
                 return parse_listen(v[0], o.metrics_host, o.metrics_port);
               }});
  s.push_back(text<RelayOptions>(
      "relay-url",
      "This relay's public URL (ws:// or wss://), which NIP-42 AUTH events must name; "
      "empty: ws://<listen>",
      &RelayOptions::relay_url, [](const std::string& url) -> Status {
        if (!url.empty() && url.rfind("ws://", 0) != 0 && url.rfind("wss://", 0) != 0)
          return invalid(quoted(url) + " must start with ws:// or wss://");
        return {};
      }));
  // ---- storage ----
  s.push_back(text<RelayOptions>("db", "Directory of the LMDB event store (created if missing)",
                                 &RelayOptions::db_path, [](const std::string& p) -> Status {
                                   if (p.empty()) return invalid("must not be empty");
                                   return {};
                                 }));
  s.push_back(integer<RelayOptions>(
      "db-map-size-mib",
      "LMDB map size in MiB: the most the store can grow to (address space, not "
      "memory)",
      &RelayOptions::db_map_size_mib, 16, std::uint64_t{1} << 30));
  s.push_back(boolean<RelayOptions>(
      "db-sync",
      "fsync each write batch before answering OK (false: faster, but a crash can "
      "lose events already acknowledged)",
      &RelayOptions::db_sync));
  s.push_back(integer<RelayOptions>("default-limit",
                                    "Events a REQ filter returns when it has no limit",
                                    &RelayOptions::default_limit, 1, 1'000'000));
  s.push_back(integer<RelayOptions>("max-limit",
                                    "The most events one REQ filter returns, whatever its limit",
                                    &RelayOptions::max_limit, 1, 1'000'000));
  s.push_back(integer<RelayOptions>("purge-interval",
                                    "Seconds between purges of expired events (NIP-40)",
                                    &RelayOptions::purge_interval_seconds, 1, 86400));
  // ---- write policy ----
  s.push_back(boolean<RelayOptions>("auth-required",
                                    "Require NIP-42 authentication before EVENT, REQ and COUNT",
                                    &RelayOptions::auth_required));
  s.push_back({"allow-kind", OptionType::integer_list,
               "Accept only these kinds (repeat the option or list them); empty: every kind",
               [](const RelayOptions& o) {
                 if (o.allow_kinds.empty()) return std::string("(all)");
                 std::string out;
                 for (Kind k : o.allow_kinds) {
                   if (!out.empty()) out += ',';
                   out += std::to_string(k);
                 }
                 return out;
               },
               [](RelayOptions& o, const Values& v) -> Status {
                 std::vector<Kind> kinds;
                 for (const auto& item : v) {
                   std::uint64_t k = 0;
                   if (auto st = parse_u64(item, 0, 65535, k); !st) return st;
                   kinds.push_back(static_cast<Kind>(k));
                 }
                 std::sort(kinds.begin(), kinds.end());
                 kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
                 o.allow_kinds = std::move(kinds);
                 return {};
               }});
  s.push_back(authors("allow-author",
                      "Accept events only from these authors (npub or hex; repeat); empty: anyone",
                      &RelayOptions::allow_authors));
  s.push_back(authors("block-author", "Refuse events from these authors (npub or hex; repeat)",
                      &RelayOptions::block_authors));
  s.push_back(integer<RelayOptions>(
      "max-future-seconds", "Refuse events whose created_at is more than this far in the future",
      &RelayOptions::max_future_seconds, 0, 10u * 365 * 86400));
  // ---- limits ----
  s.push_back(integer<RelayOptions>("max-connections", "Concurrent WebSocket connections",
                                    &RelayOptions::max_connections, 1, 1'000'000));
  s.push_back(integer<RelayOptions>("max-message-bytes",
                                    "Largest client message (and event) in bytes",
                                    &RelayOptions::max_message_bytes, 1024, 64u << 20));
  s.push_back(integer<RelayOptions>("max-subscriptions", "Open subscriptions per connection",
                                    &RelayOptions::max_subscriptions, 1, 100'000));
  s.push_back(integer<RelayOptions>("max-filters", "Filters per REQ or COUNT",
                                    &RelayOptions::max_filters, 1, 1000));
  s.push_back(integer<RelayOptions>("max-event-tags", "Tags per event",
                                    &RelayOptions::max_event_tags, 1, 100'000));
  s.push_back(integer<RelayOptions>("max-subid-length", "Characters in a subscription id",
                                    &RelayOptions::max_subid_length, 1, 1024));
  s.push_back(integer<RelayOptions>(
      "messages-per-second",
      "Messages a connection may send per second (token bucket); 0: unlimited",
      &RelayOptions::messages_per_second, 0, 10'000'000));
  s.push_back(integer<RelayOptions>("message-burst",
                                    "Burst size of the per-connection message bucket",
                                    &RelayOptions::message_burst, 1, 10'000'000));
  s.push_back(
      integer<RelayOptions>("pubkey-events-per-second",
                            "Events one author may publish per second, over all connections; 0: "
                            "unlimited",
                            &RelayOptions::pubkey_events_per_second, 0, 10'000'000));
  s.push_back(integer<RelayOptions>("pubkey-burst", "Burst size of the per-author bucket",
                                    &RelayOptions::pubkey_burst, 1, 10'000'000));
  s.push_back(integer<RelayOptions>(
      "max-pending-bytes",
      "Bytes queued for sending to one connection before it is cut off as a slow "
      "reader",
      &RelayOptions::max_pending_bytes, 64 * 1024, std::uint64_t{1} << 34));
  s.push_back(integer<RelayOptions>(
      "max-in-flight",
      "Messages of one connection being processed before the relay stops reading "
      "from it",
      &RelayOptions::max_in_flight, 1, 1'000'000));
  // ---- threads and queues ----
  s.push_back(integer<RelayOptions>("verify-threads",
                                    "Threads that parse and verify messages; 0: one per CPU",
                                    &RelayOptions::verify_threads, 0, 256));
  s.push_back(integer<RelayOptions>("query-threads",
                                    "Threads that answer REQ and COUNT from the store",
                                    &RelayOptions::query_threads, 1, 256));
  s.push_back(integer<RelayOptions>("ingest-queue", "Messages queued per verify thread",
                                    &RelayOptions::ingest_queue, 16, 10'000'000));
  s.push_back(integer<RelayOptions>("write-queue", "Verified events queued for the writer",
                                    &RelayOptions::write_queue, 16, 10'000'000));
  s.push_back(integer<RelayOptions>("fanout-queue", "Work queued for live fan-out",
                                    &RelayOptions::fanout_queue, 16, 10'000'000));
  s.push_back(integer<RelayOptions>("query-queue", "Queries queued per query thread",
                                    &RelayOptions::query_queue, 1, 1'000'000));
  s.push_back(integer<RelayOptions>("write-batch-max",
                                    "Most events the writer commits in one transaction",
                                    &RelayOptions::write_batch_max, 1, 1'000'000));
  s.push_back(integer<RelayOptions>("ephemeral-dedupe",
                                    "Recent ephemeral event ids remembered to drop duplicates",
                                    &RelayOptions::ephemeral_dedupe, 1, 100'000'000));
  // ---- NIP-11 ----
  s.push_back(text<RelayOptions>("name", "Relay name in the NIP-11 document", &RelayOptions::name));
  s.push_back(text<RelayOptions>("description", "Description in the NIP-11 document",
                                 &RelayOptions::description));
  s.push_back(text<RelayOptions>("contact", "Operator contact in the NIP-11 document",
                                 &RelayOptions::contact));
  s.push_back(text<RelayOptions>("pubkey",
                                 "Operator public key in the NIP-11 document (npub or hex)",
                                 &RelayOptions::operator_pubkey));
  // ---- process ----
  s.push_back(options::log_level<RelayOptions>(&RelayOptions::log_level));
  return s;
}

}  // namespace

const std::vector<RelayOptionSpec>& relay_option_specs() {
  static const std::vector<RelayOptionSpec> specs = make_specs();
  return specs;
}

Status validate(RelayOptions& o) {
  if (o.default_limit > o.max_limit)
    return invalid("default-limit (" + std::to_string(o.default_limit) +
                   ") is larger than max-limit (" + std::to_string(o.max_limit) + ")");
  if (o.messages_per_second > 0 && o.message_burst < 1)
    return invalid("message-burst must be at least 1");
  if (o.max_pending_bytes < o.max_message_bytes)
    return invalid("max-pending-bytes (" + std::to_string(o.max_pending_bytes) +
                   ") must be at least max-message-bytes (" + std::to_string(o.max_message_bytes) +
                   ")");
  if (!o.operator_pubkey.empty()) {
    auto pk = parse_public_key(o.operator_pubkey);
    if (!pk) return invalid("pubkey '" + o.operator_pubkey + "' is not a public key");
    o.operator_pubkey = pk->hex();
  }
  if (!o.metrics_host.empty() && o.metrics_host == o.listen_host && o.metrics_port != 0 &&
      o.metrics_port == o.listen_port)
    return invalid("metrics-listen must differ from listen");
  if (!o.allow_authors.empty()) {
    for (const auto& pk : o.block_authors)
      if (std::binary_search(o.allow_authors.begin(), o.allow_authors.end(), pk))
        return invalid("author " + pk.hex() + " is both allowed and blocked");
  }
  return {};
}

}  // namespace fedai::relay::server
