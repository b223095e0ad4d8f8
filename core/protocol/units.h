// Units and identifiers of the fedai protocol as types (F-01): money is Msat, durations Millis,
// multipliers Surge (fixed point), ids fixed-size byte strings. No bare integers for money.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/util/bytes.h"

namespace fedai::protocol {

// The largest integer fedai writes in JSON: 2^53 - 1, which every JSON implementation
// (JavaScript's in particular) reads exactly. F-01 bounds amounts and durations by it.
inline constexpr std::uint64_t kMaxJsonInteger = (std::uint64_t{1} << 53) - 1;

namespace detail {
// A non-negative quantity bounded by kMaxJsonInteger, distinct per Tag so that millisatoshis
// can't be added to milliseconds.
template <class Tag>
class Quantity {
 public:
  constexpr Quantity() = default;
  constexpr explicit Quantity(std::uint64_t v) : v_(v) {}

  constexpr std::uint64_t value() const { return v_; }
  constexpr auto operator<=>(const Quantity&) const = default;

  // Checked arithmetic: nullopt when the result leaves 0..kMaxJsonInteger (what the wire can
  // carry). Use these on anything a peer influenced.
  friend constexpr std::optional<Quantity> checked_add(Quantity a, Quantity b) {
    if (a.v_ > kMaxJsonInteger || b.v_ > kMaxJsonInteger - a.v_) return std::nullopt;
    return Quantity(a.v_ + b.v_);
  }
  friend constexpr std::optional<Quantity> checked_sub(Quantity a, Quantity b) {
    if (b.v_ > a.v_) return std::nullopt;
    return Quantity(a.v_ - b.v_);
  }
  friend constexpr std::optional<Quantity> checked_mul(Quantity a, std::uint64_t n) {
    if (n != 0 && a.v_ > kMaxJsonInteger / n) return std::nullopt;
    return Quantity(a.v_ * n);
  }
  // Clamped at 0 and kMaxJsonInteger, for totals that only need to stay on the wire.
  friend constexpr Quantity saturating_add(Quantity a, Quantity b) {
    auto s = checked_add(a, b);
    return s ? *s : Quantity(kMaxJsonInteger);
  }
  friend constexpr Quantity saturating_sub(Quantity a, Quantity b) {
    return b.v_ > a.v_ ? Quantity(0) : Quantity(a.v_ - b.v_);
  }
  friend constexpr Quantity min(Quantity a, Quantity b) { return a < b ? a : b; }
  friend constexpr Quantity max(Quantity a, Quantity b) { return a < b ? b : a; }

  // True when the wire can carry it (0..2^53-1).
  constexpr bool fits_json() const { return v_ <= kMaxJsonInteger; }

 private:
  std::uint64_t v_ = 0;
};
}  // namespace detail

// Millisatoshis: every amount in fedai (F-01, `_msat` fields).
using Msat = detail::Quantity<struct MsatTag>;
// Milliseconds: every duration in fedai (F-01, `_ms` fields).
using Millis = detail::Quantity<struct MillisTag>;

inline constexpr Msat kMaxMsat{kMaxJsonInteger};

// Token counts (F-01: 0..2^32-1).
using Tokens = std::uint32_t;

// The surge multiplier of F-02 in fixed point: thousandths, 1000 (1.0) .. 5000 (5.0). On the
// wire it is a JSON number with at most three decimals ("1.25"), read exactly, so that every
// implementation computes the same price from it.
class Surge {
 public:
  static constexpr std::uint32_t kScale = 1000;
  static constexpr std::uint32_t kMinMilli = 1000;
  static constexpr std::uint32_t kMaxMilli = 5000;

  constexpr Surge() = default;  // 1.0
  static constexpr Surge from_milli(std::uint32_t milli) { return Surge(milli); }
  static constexpr Surge one() { return Surge(kScale); }

  constexpr std::uint32_t milli() const { return milli_; }
  constexpr bool in_range() const { return milli_ >= kMinMilli && milli_ <= kMaxMilli; }
  constexpr auto operator<=>(const Surge&) const = default;

  // The shortest decimal with at least one fractional digit: 1000 -> "1.0", 1250 -> "1.25".
  std::string to_json() const;
  // Reads a JSON number token exactly ("1.25", "1.250", "125e-2", "2"): nullopt when it is not
  // a whole number of thousandths or is outside 1.0..5.0.
  static std::optional<Surge> parse(std::string_view json_number);

  // F-02's surge rule: clamp(1, 5, 1 + queue_depth / q + p95_latency_ms / l), rounded down to a
  // thousandth. q and l are the operator's knobs (defaults 8 jobs and 10,000 ms); zero counts
  // as one.
  static Surge from_load(std::uint64_t queue_depth, Millis p95_latency, std::uint64_t q = 8,
                         Millis l = Millis{10'000});

 private:
  constexpr explicit Surge(std::uint32_t milli) : milli_(milli) {}
  std::uint32_t milli_ = kScale;
};

// A job id: 16 random bytes chosen by the router, 32 lowercase hex characters on the wire.
using JobId = FixedBytes<16, struct JobIdTag>;
// A capacity token: names the slot a node reserved for one BID, 32 lowercase hex characters.
using CapacityToken = FixedBytes<16, struct CapacityTokenTag>;

// Fresh ids from the operating system's CSPRNG.
JobId new_job_id();
CapacityToken new_capacity_token();

// ---- Identifier syntax (F-01) -------------------------------------------------------------------

// 1..128 characters from A-Z a-z 0-9 . _ : / -
bool is_model_id(std::string_view s);
// 1..32 characters from a-z 0-9 _ -
bool is_job_type(std::string_view s);
// 1..32 characters from a-z 0-9 _ -  (F-01 instance ids, used in `d` tags)
bool is_instance_id(std::string_view s);
// 32 lowercase hex characters.
bool is_job_id(std::string_view s);
// An absolute http:// or https:// URL with a host, of at most 2048 printable ASCII characters
// and no spaces. Not a full RFC 3986 check: just enough that a peer can't smuggle in something
// that is not a URL.
bool is_http_url(std::string_view s);

inline constexpr std::size_t kMaxModelIdLength = 128;
inline constexpr std::size_t kMaxJobTypeLength = 32;
inline constexpr std::size_t kMaxInstanceIdLength = 32;
inline constexpr std::size_t kMaxUrlLength = 2048;

}  // namespace fedai::protocol
