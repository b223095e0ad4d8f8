// Addressable coordinates: "<kind>:<pubkey hex>:<d>", the address of the latest version of a
// replaceable (d is "") or addressable event, as used in NIP-01 `a` tags and `#a` filters.
#pragma once

#include <compare>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/nostr/event.h"
#include "core/util/result.h"

namespace fedai {

struct Coordinate {
  Kind kind = 0;
  PublicKey pubkey;
  std::string d;

  // "kind:pubkeyhex:d"; the d part is written verbatim (it may contain ':').
  std::string to_string() const;

  // Strict: kind in canonical decimal (no sign or leading zero) of a replaceable or addressable
  // kind, 64 lowercase hex characters, then everything after the second ':' as d (empty for a
  // replaceable kind, whose coordinate is "kind:pubkey:"). Reasons are `invalid:`.
  static Result<Coordinate> parse(std::string_view text);

  auto operator<=>(const Coordinate&) const = default;
  bool operator==(const Coordinate&) const = default;
};

struct CoordinateHash {
  std::size_t operator()(const Coordinate& c) const;
};

// The coordinate an event occupies: (kind, pubkey, "") for replaceable kinds, (kind, pubkey,
// d tag value or "") for addressable kinds, nullopt for regular and ephemeral kinds.
std::optional<Coordinate> coordinate_of(const Event& event);

}  // namespace fedai
