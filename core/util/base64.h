// Standard base64 (RFC 4648 section 4, with padding) through OpenSSL, strict on decode.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.h"

namespace fedai::base64 {

std::string encode(std::span<const std::uint8_t> bytes);
std::string encode(std::string_view bytes);

// Refuses anything but canonical padded base64: whitespace, a length that is not a multiple
// of 4, misplaced '=', characters outside the alphabet, and non-zero unused bits.
Result<std::vector<std::uint8_t>> decode(std::string_view text);

}  // namespace fedai::base64
