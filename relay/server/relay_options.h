// Everything `fedai relay` can be told, declared once: the struct with its defaults, and a table
// of (name, type, help, default) in core/util/option_table.h's terms, from which the command line,
// the TOML config file, the FEDAI_* environment and docs/relay.md all come, as for every command.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/nostr/event.h"
#include "core/util/option_table.h"
#include "core/util/result.h"

namespace fedai::relay::server {

struct RelayOptions {
  // ---- network ----
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 7447;  // 0: the kernel picks a free port
  std::string metrics_host;          // empty: no metrics endpoint
  std::uint16_t metrics_port = 0;
  std::string relay_url;  // this relay's public ws:// URL (NIP-42); empty: ws://<listen>

  // ---- storage ----
  std::string db_path = "fedai-relay-db";
  std::uint64_t db_map_size_mib = 65536;
  bool db_sync = true;
  std::uint32_t default_limit = 500;
  std::uint32_t max_limit = 5000;
  std::uint32_t purge_interval_seconds = 60;

  // ---- write policy ----
  bool auth_required = false;
  std::vector<Kind> allow_kinds;         // empty: every kind
  std::vector<PublicKey> allow_authors;  // empty: every author
  std::vector<PublicKey> block_authors;
  std::uint32_t max_future_seconds = 900;  // created_at at most this far ahead of the clock

  // ---- limits ----
  std::uint32_t max_connections = 4096;
  std::uint32_t max_message_bytes = 256 * 1024;
  std::uint32_t max_subscriptions = 32;  // per connection
  std::uint32_t max_filters = 10;        // per REQ or COUNT
  std::uint32_t max_event_tags = 2000;
  std::uint32_t max_subid_length = 64;
  std::uint32_t messages_per_second = 10000;  // per connection; 0: unlimited
  std::uint32_t message_burst = 20000;
  std::uint32_t pubkey_events_per_second = 0;  // per author; 0: unlimited
  std::uint32_t pubkey_burst = 1000;
  std::uint64_t max_pending_bytes = 16ull << 20;  // per connection, queued for sending
  std::uint32_t max_in_flight = 1024;             // per connection, before reading pauses

  // ---- threads and queues ----
  std::uint32_t verify_threads = 0;  // 0: one per CPU
  std::uint32_t query_threads = 2;
  std::uint32_t ingest_queue = 16384;  // per verify thread
  std::uint32_t write_queue = 16384;
  std::uint32_t fanout_queue = 16384;
  std::uint32_t query_queue = 1024;  // per query thread
  std::uint32_t write_batch_max = 4096;
  std::uint32_t ephemeral_dedupe = 65536;

  // ---- NIP-11 ----
  std::string name = "fedai relay";
  std::string description = "fedai's embedded Nostr relay";
  std::string contact;
  std::string operator_pubkey;  // hex

  // ---- process (used by the command, not the server) ----
  std::string log_level = "info";
};

using RelayOptionSpec = OptionSpec<RelayOptions>;

// Every option, in the order --help and docs list them.
const std::vector<RelayOptionSpec>& relay_option_specs();

// Checks what no single option can (max_limit >= default_limit, ...) and fills in what
// depends on others. Call after all options are set.
Status validate(RelayOptions& options);

}  // namespace fedai::relay::server
