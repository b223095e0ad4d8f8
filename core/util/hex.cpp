#include "core/util/hex.h"

#include <array>

namespace fedai::hex {
namespace {

constexpr char kDigits[] = "0123456789abcdef";

// -1 for not a digit; uppercase letters map to 16+value so callers can refuse them cheaply.
constexpr std::array<std::int8_t, 256> make_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<std::int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<std::int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[c] = static_cast<std::int8_t>(16 + c - 'A' + 10);
  return t;
}
constexpr auto kTable = make_table();

}  // namespace

std::string encode(std::span<const std::uint8_t> bytes) {
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

bool decode(std::string_view text, std::span<std::uint8_t> out, bool allow_upper) {
  if (text.size() != out.size() * 2) return false;
  const std::int8_t limit = allow_upper ? 32 : 16;
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::int8_t hi = kTable[static_cast<unsigned char>(text[2 * i])];
    std::int8_t lo = kTable[static_cast<unsigned char>(text[2 * i + 1])];
    if (hi < 0 || lo < 0 || hi >= limit || lo >= limit) return false;
    out[i] = static_cast<std::uint8_t>(((hi & 15) << 4) | (lo & 15));
  }
  return true;
}

bool is_lower_hex(std::string_view text, std::size_t n_bytes) {
  if (text.size() != n_bytes * 2) return false;
  for (char c : text) {
    std::int8_t v = kTable[static_cast<unsigned char>(c)];
    if (v < 0 || v >= 16) return false;
  }
  return true;
}

}  // namespace fedai::hex
