// Eight bytes at a time ("SIMD within a register") for the hot byte scans of text: JSON strings
// written and read, HTTP header values. A loop over bytes costs about ten instructions a byte,
// and a job's events and headers are kilobytes of base64 and hex with nothing to escape.
//
// Each test sets the high bit of the bytes it finds (Bit Twiddling Hacks, "haszero" and
// "hasless"). A byte can be flagged falsely only above a byte truly found, so "any?" is exact and
// the lowest flag is the first true one.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace fedai::swar {

constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHigh = 0x8080808080808080ull;

inline std::uint64_t load(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Bytes of v that are below n (n <= 0x80; bytes from 0x80 up are never flagged).
constexpr std::uint64_t below(std::uint64_t v, unsigned char n) {
  return (v - kOnes * n) & ~v & kHigh;
}

// Bytes of v equal to c.
constexpr std::uint64_t equal(std::uint64_t v, unsigned char c) {
  return below(v ^ (kOnes * c), 1);
}

// Bytes of v from 0x80 up.
constexpr std::uint64_t high(std::uint64_t v) {
  return v & kHigh;
}

// The index (0-7) of the first flagged byte; `flags` is not zero. Little-endian byte order.
inline unsigned first(std::uint64_t flags) {
  static_assert(std::endian::native == std::endian::little);
  return static_cast<unsigned>(std::countr_zero(flags)) / 8;
}

}  // namespace fedai::swar
