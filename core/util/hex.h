// Hex encoding. Nostr puts ids, keys and signatures on the wire as lowercase hex; fedai accepts
// only lowercase where the protocol says so, and either case where a person types a key.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace fedai::hex {

std::string encode(std::span<const std::uint8_t> bytes);

// Decodes exactly out.size() bytes from 2*out.size() hex digits. Returns false on a wrong
// length or a non-hex digit; uppercase digits are rejected unless allow_upper is set.
bool decode(std::string_view text, std::span<std::uint8_t> out, bool allow_upper = false);

// True when text is 2*n lowercase hex digits.
bool is_lower_hex(std::string_view text, std::size_t n_bytes);

}  // namespace fedai::hex
