#include "core/protocol/units.h"

#include <algorithm>
#include <array>

#include "core/nostr/keys.h"

namespace fedai::protocol {
namespace {

__extension__ using u128 = unsigned __int128;

constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || is_digit(c);
}

template <class Pred>
bool all_of_length(std::string_view s, std::size_t max_len, Pred ok) {
  if (s.empty() || s.size() > max_len) return false;
  return std::all_of(s.begin(), s.end(), ok);
}

}  // namespace

std::string Surge::to_json() const {
  std::string out = std::to_string(milli_ / kScale);
  out += '.';
  std::uint32_t frac = milli_ % kScale;
  std::string digits = {static_cast<char>('0' + frac / 100),
                        static_cast<char>('0' + frac / 10 % 10),
                        static_cast<char>('0' + frac % 10)};
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  return out + digits;
}

std::optional<Surge> Surge::parse(std::string_view s) {
  // The JSON number grammar, read as an exact decimal: digits, an optional fraction, an
  // optional exponent. A minus sign can never be in range.
  std::string digits;      // integer and fraction digits, leading zeros dropped
  std::int64_t scale = 0;  // value = digits * 10^(scale)
  std::size_t i = 0;
  auto take_digits = [&](bool fraction) {
    std::size_t start = i;
    while (i < s.size() && is_digit(s[i])) {
      if (!(digits.empty() && s[i] == '0')) digits += s[i];
      if (fraction) --scale;
      ++i;
      if (digits.size() > 64) return false;  // far beyond anything in range
    }
    return i > start;
  };
  if (!take_digits(false)) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!take_digits(true)) return std::nullopt;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    std::size_t start = i;
    std::int64_t exp = 0;
    while (i < s.size() && is_digit(s[i])) {
      exp = std::min<std::int64_t>(exp * 10 + (s[i] - '0'), 1000);
      ++i;
    }
    if (i == start) return std::nullopt;
    scale += negative ? -exp : exp;
  }
  if (i != s.size()) return std::nullopt;
  // Thousandths: digits * 10^(scale + 3), which must be a whole number.
  std::int64_t shift = scale + 3;
  while (shift < 0 && !digits.empty() && digits.back() == '0') {
    digits.pop_back();
    ++shift;
  }
  if (digits.empty()) return std::nullopt;  // zero
  if (shift < 0) return std::nullopt;       // finer than a thousandth
  if (shift + static_cast<std::int64_t>(digits.size()) > 5) return std::nullopt;  // >= 100.0
  std::uint32_t milli = 0;
  for (char c : digits) milli = milli * 10 + static_cast<std::uint32_t>(c - '0');
  for (std::int64_t k = 0; k < shift; ++k) milli *= 10;
  Surge out(milli);
  if (!out.in_range()) return std::nullopt;
  return out;
}

Surge Surge::from_load(std::uint64_t queue_depth, Millis p95_latency, std::uint64_t q, Millis l) {
  u128 qq = std::max<std::uint64_t>(q, 1);
  u128 ll = std::max<std::uint64_t>(l.value(), 1);
  // 1000 * (queue_depth / q + p95 / l) = 1000 * (queue_depth * l + p95 * q) / (q * l), floored.
  u128 num = (u128{queue_depth} * ll + u128{p95_latency.value()} * qq) * kScale;
  u128 extra = num / (qq * ll);
  if (extra >= kMaxMilli - kScale) return Surge(kMaxMilli);
  return Surge(kScale + static_cast<std::uint32_t>(extra));
}

JobId new_job_id() {
  auto bytes = random_bytes32();
  return JobId::from_span(std::span<const std::uint8_t, 16>(bytes.data(), 16));
}

CapacityToken new_capacity_token() {
  auto bytes = random_bytes32();
  return CapacityToken::from_span(std::span<const std::uint8_t, 16>(bytes.data(), 16));
}

bool is_model_id(std::string_view s) {
  return all_of_length(s, kMaxModelIdLength, [](char c) {
    return (c >= 'A' && c <= 'Z') || is_lower_alnum(c) || c == '.' || c == '_' || c == ':' ||
           c == '/' || c == '-';
  });
}

bool is_job_type(std::string_view s) {
  return all_of_length(s, kMaxJobTypeLength,
                       [](char c) { return is_lower_alnum(c) || c == '_' || c == '-'; });
}

bool is_instance_id(std::string_view s) {
  return is_job_type(s) && s.size() <= kMaxInstanceIdLength;
}

bool is_job_id(std::string_view s) {
  return hex::is_lower_hex(s, 16);
}

bool is_http_url(std::string_view s) {
  if (s.size() > kMaxUrlLength) return false;
  std::string_view rest;
  if (s.starts_with("http://"))
    rest = s.substr(7);
  else if (s.starts_with("https://"))
    rest = s.substr(8);
  else
    return false;
  if (rest.empty() || rest.front() == '/' || rest.front() == '?' || rest.front() == '#')
    return false;  // no host
  // Printable ASCII without space.
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

}  // namespace fedai::protocol
