#include "core/util/base64.h"

#include <openssl/evp.h>

#include <array>

namespace fedai::base64 {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_reverse() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}
constexpr auto kReverse = make_reverse();

}  // namespace

std::string encode(std::span<const std::uint8_t> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  if (bytes.empty()) return out;
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string encode(std::string_view bytes) {
  return encode({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

Result<std::vector<std::uint8_t>> decode(std::string_view text) {
  if (text.size() % 4 != 0) return invalid("base64 length is not a multiple of 4");
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=')
    pad = (text.size() >= 2 && text[text.size() - 2] == '=') ? 2 : 1;
  for (std::size_t i = 0; i < text.size() - pad; ++i)
    if (kReverse[static_cast<unsigned char>(text[i])] < 0)
      return invalid("base64 has a character outside the alphabet");
  if (pad) {
    // The bits the padding leaves unused must be zero, so every byte string has one encoding.
    auto last = kReverse[static_cast<unsigned char>(text[text.size() - pad - 1])];
    if ((pad == 1 && (last & 0x03)) || (pad == 2 && (last & 0x0f)))
      return invalid("base64 has non-zero padding bits");
  }
  std::vector<std::uint8_t> out(text.size() / 4 * 3);
  if (text.empty()) return out;
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return invalid("malformed base64");
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

}  // namespace fedai::base64
