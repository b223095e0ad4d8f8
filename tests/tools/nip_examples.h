// The signed example events of nips/examples/, made with the protocol builders from fixed example
// keys (nips/examples/README.md). Used by tests/tools/make_nip_examples.cpp, which writes them,
// and by tests/core/nips_examples_test.cpp, which checks the committed files are what the
// builders make today.
//
// Builders sign with fresh BIP-340 auxiliary randomness and seal with fresh NIP-44 nonces. The
// examples must be reproducible, so each event is re-sealed with a nonce derived from its file
// name and re-signed with zero auxiliary randomness: the same bytes on every run.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/nostr/keys.h"
#include "core/protocol/protocol.h"

namespace fedai::test {

// Example keys. NEVER use them for anything but examples: their secrets are published.
struct ExampleKeys {
  Keypair router;     // secret 0x00..01
  Keypair node;       // secret 0x00..02 (node A, the winner)
  Keypair node_b;     // secret 0x00..03 (node B, the other bidder)
  SecretKey node_ln;  // secret 0x00..0a: node A's Lightning node key, which signs its invoices
};
const ExampleKeys& example_keys();

// The example's fixed clock: 2026-01-01T00:00:00Z.
inline constexpr UnixSeconds kExampleTime = 1767225600;

struct ExampleFile {
  std::string name;     // e.g. "26091-bid.json"
  std::string content;  // the event JSON (pretty-printed, NIP-01 field order), or a body
};

// Every file of nips/examples/ except README.md, in a stable order.
std::vector<ExampleFile> make_nip_examples();

// A BOLT11 invoice signed by `payee` (recoverable ECDSA, RFC 6979 nonces: deterministic).
// `fields` are tagged fields in order: (type, 5-bit words).
struct Bolt11Field {
  std::uint8_t type;
  std::vector<std::uint8_t> words;
};
std::string encode_bolt11(std::string_view hrp, std::uint64_t timestamp,
                          const std::vector<Bolt11Field>& fields, const SecretKey& payee);
// Helpers for the fields: 32 bytes as 52 words; an integer as the fewest big-endian words.
std::vector<std::uint8_t> bolt11_bytes_words(std::span<const std::uint8_t> bytes);
std::vector<std::uint8_t> bolt11_int_words(std::uint64_t value);

}  // namespace fedai::test
