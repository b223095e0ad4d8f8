// Fixed-size byte strings with a tag type, so an EventId can't be passed where a PublicKey is
// meant.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/util/hex.h"

namespace fedai {

template <std::size_t N, class Tag>
struct FixedBytes {
  static constexpr std::size_t size = N;
  std::array<std::uint8_t, N> bytes{};

  // Strict: exactly 2N lowercase hex digits (the form on the wire).
  static std::optional<FixedBytes> from_hex(std::string_view text, bool allow_upper = false) {
    FixedBytes out;
    if (!hex::decode(text, out.bytes, allow_upper)) return std::nullopt;
    return out;
  }
  static FixedBytes from_span(std::span<const std::uint8_t, N> in) {
    FixedBytes out;
    std::memcpy(out.bytes.data(), in.data(), N);
    return out;
  }

  std::string hex() const { return hex::encode(bytes); }
  std::uint8_t* data() { return bytes.data(); }
  const std::uint8_t* data() const { return bytes.data(); }
  std::span<const std::uint8_t, N> span() const { return bytes; }
  bool is_zero() const {
    for (auto b : bytes)
      if (b != 0) return false;
    return true;
  }

  auto operator<=>(const FixedBytes&) const = default;
  bool operator==(const FixedBytes&) const = default;
};

using Bytes32 = FixedBytes<32, struct Bytes32Tag>;

// Hashes for unordered containers: the bytes are already uniformly distributed (ids, keys).
struct FixedBytesHash {
  template <std::size_t N, class Tag>
  std::size_t operator()(const FixedBytes<N, Tag>& b) const {
    static_assert(N >= sizeof(std::size_t));
    std::size_t h;
    std::memcpy(&h, b.bytes.data(), sizeof h);
    return h;
  }
};

}  // namespace fedai
