#include "core/protocol/price.h"

#include <algorithm>

namespace fedai::protocol {
namespace {

__extension__ using u128 = unsigned __int128;

// ceil(scale_num * (in * a + out * b) / denominator), or nullopt above kMaxJsonInteger.
// in, out < 2^32 and a, b, scale_num < 2^53: the sum is below 2^86 and times scale_num (< 2^13)
// below 2^99, well inside 128 bits.
std::optional<std::uint64_t> ceil_price(Msat a, Msat b, Tokens in, Tokens out,
                                        std::uint64_t scale_num, std::uint64_t denominator) {
  if (!a.fits_json() || !b.fits_json()) return std::nullopt;
  u128 total = (u128{in} * a.value() + u128{out} * b.value()) * scale_num;
  u128 price = (total + denominator - 1) / denominator;
  if (price > kMaxJsonInteger) return std::nullopt;
  return static_cast<std::uint64_t>(price);
}

Error too_large() {
  return invalid("price exceeds the largest amount the protocol carries (2^53-1 msat)");
}

}  // namespace

Result<Msat> price_for_job(Msat in_per_1k, Msat out_per_1k, Msat min_msat, Surge surge,
                           Tokens in_tokens, Tokens out_tokens) {
  auto p = ceil_price(in_per_1k, out_per_1k, in_tokens, out_tokens, surge.milli(),
                      std::uint64_t{1000} * Surge::kScale);
  if (!p || !min_msat.fits_json()) return too_large();
  return max(min_msat, Msat{*p});
}

Msat surged_rate(Msat rate, Surge surge) {
  u128 scaled = (u128{rate.value()} * surge.milli() + Surge::kScale - 1) / Surge::kScale;
  return Msat{static_cast<std::uint64_t>(std::min<u128>(scaled, kMaxJsonInteger))};
}

Result<Msat> metering_price(Msat in_per_1k, Msat out_per_1k, Msat min_msat, Tokens tokens_in,
                            Tokens tokens_out, Msat awarded_price) {
  auto p = ceil_price(in_per_1k, out_per_1k, tokens_in, tokens_out, 1, 1000);
  if (!p || !min_msat.fits_json()) return too_large();
  return min(max(min_msat, Msat{*p}), awarded_price);
}

}  // namespace fedai::protocol
