#include "core/nostr/bech32.h"

#include <array>

namespace fedai::bech32 {
namespace {

constexpr char kCharset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

constexpr std::array<std::int8_t, 128> make_reverse() {
  std::array<std::int8_t, 128> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 32; ++i) {
    t[static_cast<unsigned char>(kCharset[i])] = static_cast<std::int8_t>(i);
    char upper = kCharset[i];
    if (upper >= 'a' && upper <= 'z') upper = static_cast<char>(upper - 'a' + 'A');
    t[static_cast<unsigned char>(upper)] = static_cast<std::int8_t>(i);
  }
  return t;
}
constexpr auto kReverse = make_reverse();

std::uint32_t polymod(std::span<const std::uint8_t> values, std::uint32_t chk = 1) {
  constexpr std::uint32_t kGen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  for (std::uint8_t v : values) {
    std::uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; ++i)
      if ((top >> i) & 1) chk ^= kGen[i];
  }
  return chk;
}

std::vector<std::uint8_t> hrp_expand(std::string_view hrp) {
  std::vector<std::uint8_t> out;
  out.reserve(hrp.size() * 2 + 1);
  for (char c : hrp) out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) >> 5));
  out.push_back(0);
  for (char c : hrp) out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) & 31));
  return out;
}

}  // namespace

Result<Decoded> decode(std::string_view text, std::size_t max_length) {
  if (text.size() > max_length)
    return invalid("bech32 string longer than " + std::to_string(max_length) + " characters");
  bool lower = false, upper = false;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126) return invalid("bech32 string has a character outside US-ASCII 33..126");
    lower |= (c >= 'a' && c <= 'z');
    upper |= (c >= 'A' && c <= 'Z');
  }
  if (lower && upper) return invalid("bech32 string mixes upper and lower case");
  auto sep = text.rfind('1');
  if (sep == std::string_view::npos) return invalid("bech32 string has no separator '1'");
  if (sep == 0) return invalid("bech32 string has an empty human-readable part");
  if (text.size() - sep - 1 < 6) return invalid("bech32 string too short for a checksum");

  Decoded out;
  out.hrp.reserve(sep);
  for (char c : text.substr(0, sep))
    out.hrp.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
  std::vector<std::uint8_t> values = hrp_expand(out.hrp);
  std::size_t data_start = values.size();
  for (char c : text.substr(sep + 1)) {
    std::int8_t v = kReverse[static_cast<unsigned char>(c)];
    if (v < 0) return invalid(std::string("bech32 string has an invalid character '") + c + "'");
    values.push_back(static_cast<std::uint8_t>(v));
  }
  if (polymod(values) != 1) return invalid("bech32 checksum mismatch");
  out.words.assign(values.begin() + static_cast<std::ptrdiff_t>(data_start), values.end() - 6);
  return out;
}

std::string encode(std::string_view hrp, std::span<const std::uint8_t> words) {
  std::vector<std::uint8_t> values = hrp_expand(hrp);
  values.insert(values.end(), words.begin(), words.end());
  values.insert(values.end(), 6, 0);
  std::uint32_t mod = polymod(values) ^ 1;
  std::string out(hrp);
  out.reserve(hrp.size() + 1 + words.size() + 6);
  out += '1';
  for (std::uint8_t w : words) out += kCharset[w & 31];
  for (int i = 0; i < 6; ++i) out += kCharset[(mod >> (5 * (5 - i))) & 31];
  return out;
}

std::vector<std::uint8_t> to_words(std::span<const std::uint8_t> bytes) {
  std::vector<std::uint8_t> out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 31));
    }
  }
  if (bits > 0) out.push_back(static_cast<std::uint8_t>((acc << (5 - bits)) & 31));
  return out;
}

Result<std::vector<std::uint8_t>> from_words(std::span<const std::uint8_t> words) {
  std::vector<std::uint8_t> out;
  out.reserve(words.size() * 5 / 8);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t w : words) {
    if (w > 31) return invalid("bech32 word out of range");
    acc = ((acc << 5) | w) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 5) return invalid("bech32 data has excess padding");
  if ((acc & ((1u << bits) - 1)) != 0) return invalid("bech32 data has non-zero padding");
  return out;
}

}  // namespace fedai::bech32
