#include "core/market/peers.h"

#include <algorithm>
#include <limits>

#include "core/util/binary.h"

namespace fedai::market {
namespace {

__extension__ using u128 = unsigned __int128;
__extension__ using i128 = __int128;

constexpr std::uint32_t kPpm = 1'000'000;
constexpr UnixMillis kDayMs = 86'400'000;

constexpr std::uint8_t kLedgerMagic = 'S';
constexpr std::uint8_t kLedgerVersion = 1;

// x moves a tenth of the way to the sample, the step rounded away from zero (see peers.h).
std::uint32_t ema(std::uint32_t x, std::uint32_t sample) {
  if (sample >= x) return x + (sample - x + 9) / 10;
  return x - (x - sample + 9) / 10;
}

std::uint32_t latency_sample(Millis wall, Millis promised) {
  const std::uint64_t w = wall.value();
  const std::uint64_t p = promised.value();
  if (w <= p) return kPpm;
  const u128 twice = u128{p} * 2;
  if (u128{w} >= twice) return 0;
  // p < w < 2p, so p > 0 and 0 < 2p - w < p.
  return static_cast<std::uint32_t>(u128{kPpm} * (twice - w) / p);
}

// Saturating Msat sum of the entries in (now - span, now].
Msat window_sum(const std::vector<std::pair<UnixMillis, Msat>>& entries, UnixMillis now,
                Millis span) {
  const u128 span_ms = span.value();
  Msat total{0};
  // Entries are in time order: walk back from the newest.
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->first > now) continue;
    // now - t < span, in 128 bits so that neither side overflows.
    const u128 age = static_cast<u128>(static_cast<i128>(now) - it->first);
    if (age >= span_ms) break;
    total = saturating_add(total, it->second);
  }
  return total;
}

}  // namespace

// ---- Reputation ---------------------------------------------------------------------------------

std::uint32_t Reputation::score_ppm() const {
  const std::uint64_t s = std::min(success_ppm, kPpm);
  const std::uint64_t l = std::min(latency_ppm, kPpm);
  const std::uint64_t r = std::min(receipts_ppm, kPpm);
  return static_cast<std::uint32_t>((6 * s + 2 * l + 2 * r) / 10);
}

void Reputation::record(Outcome outcome, Millis wall, Millis promised) {
  // Stored values beyond 1e6 (a corrupt projection) are read as 1e6.
  success_ppm = std::min(success_ppm, kPpm);
  latency_ppm = std::min(latency_ppm, kPpm);
  receipts_ppm = std::min(receipts_ppm, kPpm);
  switch (outcome) {
    case Outcome::success:
      success_ppm = ema(success_ppm, kPpm);
      latency_ppm = ema(latency_ppm, latency_sample(wall, promised));
      receipts_ppm = ema(receipts_ppm, kPpm);
      break;
    case Outcome::failure:
      success_ppm = ema(success_ppm, 0);
      break;
    case Outcome::timeout:
      success_ppm = ema(success_ppm, 0);
      latency_ppm = ema(latency_ppm, 0);
      break;
    case Outcome::bad_receipt:
      success_ppm = ema(success_ppm, 0);
      latency_ppm = ema(latency_ppm, latency_sample(wall, promised));
      receipts_ppm = ema(receipts_ppm, 0);
      break;
  }
  if (jobs != std::numeric_limits<std::uint64_t>::max()) ++jobs;
}

// ---- Breaker ------------------------------------------------------------------------------------

bool Breaker::allows(UnixMillis now) {
  switch (state) {
    case State::closed:
      return true;
    case State::open:
      if (now < open_until) return false;
      state = State::half_open;
      trial_at = now;
      return true;
    case State::half_open:
      return false;  // the one trial is outstanding
  }
  return false;
}

bool Breaker::is_open(UnixMillis now) const {
  switch (state) {
    case State::closed:
      return false;
    case State::open:
      return now < open_until;
    case State::half_open:
      return true;
  }
  return true;
}

void Breaker::on_success() {
  state = State::closed;
  consecutive_failures = 0;
  open_until = 0;
  open_for = Millis{0};
}

bool Breaker::on_failure(UnixMillis now, UnixMillis sent_at, Outcome kind,
                         const BreakerParams& params) {
  // The trial settles whatever counted before it: it is the one job sent since the breaker
  // opened, so its failure is news.
  const bool trial = state == State::half_open && sent_at >= trial_at;
  const bool counts = trial || kind == Outcome::timeout || sent_at >= counted_at;
  if (!counts) return false;
  if (consecutive_failures != std::numeric_limits<std::uint32_t>::max()) ++consecutive_failures;
  counted_at = std::max(counted_at, now);
  auto open_from = [&](Millis period) {
    state = State::open;
    open_for = period;
    opened_at = now;
    if (times_opened != std::numeric_limits<std::uint64_t>::max()) ++times_opened;
    const u128 until = static_cast<u128>(static_cast<i128>(now) + period.value());
    constexpr auto kMax = static_cast<u128>(std::numeric_limits<UnixMillis>::max());
    open_until = static_cast<UnixMillis>(std::min(until, kMax));
  };
  switch (state) {
    case State::closed:
      if (consecutive_failures >= std::max<std::uint32_t>(params.failures_to_open, 1))
        open_from(min(params.open_for, params.max_open_for));
      break;
    case State::half_open: {
      if (!trial) break;  // a job sent before the trial: counted, the trial still out
      auto doubled = checked_mul(open_for, 2);
      Millis next = doubled ? *doubled : params.max_open_for;
      if (next.value() == 0) next = params.open_for;
      open_from(min(next, params.max_open_for));
      break;
    }
    case State::open:
      break;  // a job sent before it opened: counted, the period stands
  }
  return true;
}

void Breaker::release_trial(UnixMillis now) {
  if (state != State::half_open) return;
  state = State::open;
  open_until = now;
}

bool Breaker::on_announce(UnixMillis now, std::int64_t created_at) {
  if (state != State::open || now >= open_until) return false;
  // created_at has whole seconds: an announcement made in the second the breaker opened may
  // be the restart's (a node back in 0.4 s), so that second counts.
  const std::int64_t opened_second = opened_at >= 0 ? opened_at / 1000 : (opened_at - 999) / 1000;
  if (created_at < opened_second) return false;
  open_until = now;
  return true;
}

// ---- Posted price -------------------------------------------------------------------------------

std::vector<PostedOffer> rank_posted(std::vector<PostedOffer> offers, Msat max_price,
                                     std::uint32_t w_rep_ppm, std::uint32_t rep_floor_ppm) {
  std::erase_if(offers, [&](const PostedOffer& o) {
    return o.load == PostedOffer::Load::saturated || o.stale || o.breaker_open ||
           o.price > max_price;
  });
  auto reputation = [](const PostedOffer& o) {
    return o.trial ? kPpm : std::min(o.reputation_ppm, kPpm);
  };
  auto below = [&](const PostedOffer& o) { return reputation(o) < rep_floor_ppm; };
  // BUSY counts 25% dearer: price * 5 (busy) or price * 4 (normal), exactly.
  auto effective = [](const PostedOffer& o) {
    return u128{o.price.value()} * (o.load == PostedOffer::Load::busy ? 5 : 4);
  };
  // The cheapest effective price per tier (paused or not, below the floor or not).
  u128 cheapest[2][2] = {{0, 0}, {0, 0}};
  bool seen[2][2] = {{false, false}, {false, false}};
  for (const PostedOffer& o : offers) {
    const int p = o.paused ? 1 : 0;
    const int f = below(o) ? 1 : 0;
    if (!seen[p][f] || effective(o) < cheapest[p][f]) cheapest[p][f] = effective(o);
    seen[p][f] = true;
  }
  auto score = [&](const PostedOffer& o) {
    const u128 ref = std::max<u128>(cheapest[o.paused ? 1 : 0][below(o) ? 1 : 0], 1);
    // effective < 2^67, so * 1e6 < 2^87: no overflow.
    return effective(o) * kPpm / ref + u128{w_rep_ppm} * (kPpm - reputation(o)) / kPpm;
  };
  std::stable_sort(offers.begin(), offers.end(), [&](const PostedOffer& a, const PostedOffer& b) {
    if (a.paused != b.paused) return b.paused;
    if (below(a) != below(b)) return below(b);
    const u128 sa = score(a);
    const u128 sb = score(b);
    if (sa != sb) return sa < sb;
    if (reputation(a) != reputation(b)) return reputation(a) > reputation(b);
    return a.node < b.node;
  });
  return offers;
}

// ---- Spending caps ------------------------------------------------------------------------------

Msat SpendLedger::spent(UnixMillis now, Millis span) const {
  return window_sum(entries_, now, span);
}

bool SpendLedger::allows(UnixMillis now, Msat amount, const SpendingCaps& caps) const {
  auto within = [&](const std::optional<Msat>& cap, Millis span) {
    if (!cap) return true;
    auto total = checked_add(spent(now, span), amount);
    return total && *total <= *cap;
  };
  return within(caps.per_minute, Millis{60'000}) && within(caps.per_hour, Millis{3'600'000}) &&
         within(caps.per_day, Millis{static_cast<std::uint64_t>(kDayMs)});
}

void SpendLedger::record(UnixMillis now, Msat amount) {
  auto at = std::upper_bound(entries_.begin(), entries_.end(), now,
                             [](UnixMillis t, const auto& e) { return t < e.first; });
  entries_.insert(at, {now, amount});
  // No window (at most a day long, ending at or after the newest entry) holds t <= newest - day.
  const UnixMillis newest = entries_.back().first;
  if (newest < std::numeric_limits<UnixMillis>::min() + kDayMs) return;
  const UnixMillis horizon = newest - kDayMs;
  auto keep = std::upper_bound(entries_.begin(), entries_.end(), horizon,
                               [](UnixMillis t, const auto& e) { return t < e.first; });
  entries_.erase(entries_.begin(), keep);
}

std::string SpendLedger::encode() const {
  BinaryWriter w;
  w.u8(kLedgerMagic);
  w.u8(kLedgerVersion);
  w.varint(entries_.size());
  for (const auto& [t, amount] : entries_) {
    w.svarint(t);
    w.varint(amount.value());
  }
  return std::move(w).data();
}

std::optional<SpendLedger> SpendLedger::decode(std::string_view bytes) {
  BinaryReader r(bytes);
  if (r.u8() != kLedgerMagic || r.u8() != kLedgerVersion) return std::nullopt;
  const std::uint64_t count = r.varint();
  if (!r.ok() || count > bytes.size() / 2) return std::nullopt;  // each entry takes >= 2 bytes
  SpendLedger ledger;
  ledger.entries_.reserve(count);
  for (std::uint64_t i = 0; i < count && r.ok(); ++i) {
    const UnixMillis t = r.svarint();
    const Msat amount{r.varint()};
    if (!ledger.entries_.empty() && t < ledger.entries_.back().first) return std::nullopt;
    ledger.entries_.emplace_back(t, amount);
  }
  if (!r.finished()) return std::nullopt;
  if (!ledger.entries_.empty()) {
    const UnixMillis newest = ledger.entries_.back().first;
    const UnixMillis oldest = ledger.entries_.front().first;
    // The same invariant record() keeps: nothing at or beyond a day before the newest.
    if (newest >= std::numeric_limits<UnixMillis>::min() + kDayMs && oldest <= newest - kDayMs) {
      return std::nullopt;
    }
  }
  return ledger;
}

}  // namespace fedai::market
