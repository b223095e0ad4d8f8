// Bech32 (BIP-173) as NIP-19 and BOLT11 use it: the original checksum constant, not bech32m.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.h"

namespace fedai::bech32 {

struct Decoded {
  std::string hrp;                  // lowercase
  std::vector<std::uint8_t> words;  // 5-bit groups, checksum removed
};

// BIP-173 limits a string to 90 characters; NIP-19's TLV forms and BOLT11 invoices need more,
// so the caller gives the limit.
Result<Decoded> decode(std::string_view text, std::size_t max_length);
std::string encode(std::string_view hrp, std::span<const std::uint8_t> words);

// Regroups 8-bit bytes into 5-bit words, zero-padding the last.
std::vector<std::uint8_t> to_words(std::span<const std::uint8_t> bytes);
// Regroups 5-bit words into bytes. Fails on more than 4 bits of padding or non-zero padding.
Result<std::vector<std::uint8_t>> from_words(std::span<const std::uint8_t> words);

}  // namespace fedai::bech32
