// NIP-11: a relay's information document, served over HTTP at the relay's URL to requests
// with `Accept: application/nostr+json`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.h"

namespace fedai::relay {

struct RelayLimitation {
  std::optional<std::uint64_t> max_message_length;
  std::optional<std::uint64_t> max_subscriptions;
  std::optional<std::uint64_t> max_filters;
  std::optional<std::uint64_t> max_limit;
  std::optional<std::uint64_t> max_subid_length;
  std::optional<std::uint64_t> max_event_tags;
  std::optional<std::uint64_t> max_content_length;
  std::optional<std::uint64_t> min_pow_difficulty;
  std::optional<bool> auth_required;
  std::optional<bool> payment_required;
  std::optional<bool> restricted_writes;
};

struct RelayInformation {
  std::string name;
  std::string description;
  std::string pubkey;
  std::string contact;
  std::string software;
  std::string version;
  std::vector<int> supported_nips;
  RelayLimitation limitation;
  std::string json;  // the whole document as received, for fields not modelled here

  bool supports(int nip) const;
};

// Reads the document. Only "not a JSON object" is an error: fields of the wrong type are
// skipped, since relays in the wild disagree on them (numbers as strings, nulls).
Result<RelayInformation> parse_relay_information(std::string_view json);

}  // namespace fedai::relay
