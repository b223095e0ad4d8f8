// What a buyer keeps about sellers (nips/F-02, F-03): reputation EMAs, the circuit breaker over
// time, the posted-price choice and the spending caps with their sliding windows.
#include "core/market/peers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/util/binary.h"

namespace fedai::market {
namespace {

constexpr UnixMillis kT0 = 1'700'000'000'000;
constexpr UnixMillis kMinute = 60'000;
constexpr UnixMillis kHour = 3'600'000;
constexpr UnixMillis kDay = 86'400'000;

PublicKey key(std::uint8_t n) {
  PublicKey k;
  k.bytes.fill(n);
  return k;
}

// ---- Reputation ---------------------------------------------------------------------------------

TEST(MarketReputation, ANewPeerStartsAtOneHalf) {
  Reputation r;
  EXPECT_EQ(r.success_ppm, 500'000u);
  EXPECT_EQ(r.latency_ppm, 500'000u);
  EXPECT_EQ(r.receipts_ppm, 500'000u);
  EXPECT_EQ(r.score_ppm(), 500'000u);
  EXPECT_EQ(r.jobs, 0u);
}

TEST(MarketReputation, ScoreWeighsSuccessLatencyAndReceipts) {
  Reputation r;
  r.success_ppm = 1'000'000;
  r.latency_ppm = 0;
  r.receipts_ppm = 0;
  EXPECT_EQ(r.score_ppm(), 600'000u);
  r.success_ppm = 0;
  r.latency_ppm = 1'000'000;
  EXPECT_EQ(r.score_ppm(), 200'000u);
  r.latency_ppm = 0;
  r.receipts_ppm = 1'000'000;
  EXPECT_EQ(r.score_ppm(), 200'000u);
  r.success_ppm = 333'333;
  r.latency_ppm = 1;
  r.receipts_ppm = 7;
  EXPECT_EQ(r.score_ppm(), (6u * 333'333 + 2 * 1 + 2 * 7) / 10);  // rounded down
  // Out-of-range stored values read as 1.0.
  r.success_ppm = r.latency_ppm = r.receipts_ppm = std::numeric_limits<std::uint32_t>::max();
  EXPECT_EQ(r.score_ppm(), 1'000'000u);
}

TEST(MarketReputation, OneOutcomeMovesEachEmaByATenth) {
  const Millis promised{1'000};
  Reputation ok;
  ok.record(Outcome::success, Millis{800}, promised);  // on time
  EXPECT_EQ(ok.success_ppm, 550'000u);
  EXPECT_EQ(ok.latency_ppm, 550'000u);
  EXPECT_EQ(ok.receipts_ppm, 550'000u);
  EXPECT_EQ(ok.jobs, 1u);

  Reputation failed;
  failed.record(Outcome::failure, Millis{800}, promised);
  EXPECT_EQ(failed.success_ppm, 450'000u);
  EXPECT_EQ(failed.latency_ppm, 500'000u);  // unchanged
  EXPECT_EQ(failed.receipts_ppm, 500'000u);

  Reputation timed_out;
  timed_out.record(Outcome::timeout, Millis{0}, promised);  // latency 0 whatever the wall
  EXPECT_EQ(timed_out.success_ppm, 450'000u);
  EXPECT_EQ(timed_out.latency_ppm, 450'000u);
  EXPECT_EQ(timed_out.receipts_ppm, 500'000u);

  Reputation lying;
  lying.record(Outcome::bad_receipt, Millis{500}, promised);
  EXPECT_EQ(lying.success_ppm, 450'000u);
  EXPECT_EQ(lying.latency_ppm, 550'000u);  // the result came, on time
  EXPECT_EQ(lying.receipts_ppm, 450'000u);
  EXPECT_EQ(lying.jobs, 1u);
}

TEST(MarketReputation, LatencySampleIsLinearBetweenPromisedAndTwicePromised) {
  // Start latency at 0 so the new value is ceil(sample / 10).
  auto latency_after = [](std::uint64_t wall, std::uint64_t promised) {
    Reputation r;
    r.latency_ppm = 0;
    r.record(Outcome::success, Millis{wall}, Millis{promised});
    return r.latency_ppm;
  };
  EXPECT_EQ(latency_after(0, 1'000), 100'000u);      // sample 1e6
  EXPECT_EQ(latency_after(1'000, 1'000), 100'000u);  // on the dot: 1e6
  EXPECT_EQ(latency_after(1'500, 1'000), 50'000u);   // halfway: 5e5
  EXPECT_EQ(latency_after(1'750, 1'000), 25'000u);   // 2.5e5
  EXPECT_EQ(latency_after(1'999, 1'000), 100u);      // 1e3
  EXPECT_EQ(latency_after(2'000, 1'000), 0u);        // twice: 0
  EXPECT_EQ(latency_after(9'000, 1'000), 0u);
  EXPECT_EQ(latency_after(1'001, 3), 0u);    // beyond 2x
  EXPECT_EQ(latency_after(4, 3), 66'667u);   // floor(1e6 * 2 / 3) = 666,666 -> ceil /10
  EXPECT_EQ(latency_after(0, 0), 100'000u);  // no promise, instant
  EXPECT_EQ(latency_after(1, 0), 0u);        // no promise, any delay
  // Extreme durations don't overflow.
  const std::uint64_t big = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(latency_after(big, big), 100'000u);
  EXPECT_EQ(latency_after(big, big / 2 + 1), 0u);  // just under twice: rounds to 0
  EXPECT_EQ(latency_after(big - 1, big / 2 + 1), 0u);
}

TEST(MarketReputation, ConvergesExactlyToARunOfEqualOutcomes) {
  Reputation r;
  int steps = 0;
  while (r.score_ppm() != 1'000'000u && steps < 1'000) {
    r.record(Outcome::success, Millis{10}, Millis{100});
    ++steps;
  }
  EXPECT_EQ(r.success_ppm, 1'000'000u);
  EXPECT_EQ(r.latency_ppm, 1'000'000u);
  EXPECT_EQ(r.receipts_ppm, 1'000'000u);
  // A tenth per step: about ln(5e5) / -ln(0.9) ~ 125 steps, then the rounding finishes it.
  EXPECT_GT(steps, 100);
  EXPECT_LT(steps, 200);
  // And down: timeouts take success and latency to 0; receipts keep their 1.0.
  for (int i = 0; i < 300; ++i) r.record(Outcome::timeout, Millis{0}, Millis{100});
  EXPECT_EQ(r.success_ppm, 0u);
  EXPECT_EQ(r.latency_ppm, 0u);
  EXPECT_EQ(r.receipts_ppm, 1'000'000u);
  EXPECT_EQ(r.score_ppm(), 200'000u);
  EXPECT_EQ(r.jobs, static_cast<std::uint64_t>(steps) + 300);
  // The last step near the bound is never stuck short of it.
  Reputation near;
  near.success_ppm = 999'999;
  near.record(Outcome::success, Millis{1}, Millis{1});
  EXPECT_EQ(near.success_ppm, 1'000'000u);
  near.success_ppm = 1;
  near.record(Outcome::failure, Millis{1}, Millis{1});
  EXPECT_EQ(near.success_ppm, 0u);
}

TEST(MarketReputation, StaysWithinBoundsUnderAnyHistory) {
  std::mt19937_64 rng(7);
  Reputation r;
  for (int i = 0; i < 20'000; ++i) {
    auto outcome = static_cast<Outcome>(rng() % 4);
    r.record(outcome, Millis{rng() % 5'000}, Millis{rng() % 3'000});
    ASSERT_LE(r.success_ppm, 1'000'000u);
    ASSERT_LE(r.latency_ppm, 1'000'000u);
    ASSERT_LE(r.receipts_ppm, 1'000'000u);
    ASSERT_LE(r.score_ppm(), 1'000'000u);
  }
  EXPECT_EQ(r.jobs, 20'000u);
  // A mostly failing peer ranks below a mostly succeeding one.
  Reputation good, bad;
  for (int i = 0; i < 100; ++i) {
    bool flip = rng() % 10 == 0;
    good.record(flip ? Outcome::failure : Outcome::success, Millis{100}, Millis{100});
    bad.record(flip ? Outcome::success : Outcome::failure, Millis{100}, Millis{100});
  }
  EXPECT_GT(good.score_ppm(), bad.score_ppm());
  // Values stored out of range (a corrupt projection) are clamped before the update.
  Reputation corrupt;
  corrupt.success_ppm = std::numeric_limits<std::uint32_t>::max();
  corrupt.record(Outcome::success, Millis{1}, Millis{1});
  EXPECT_EQ(corrupt.success_ppm, 1'000'000u);
}

// ---- Circuit breaker ----------------------------------------------------------------------------

TEST(MarketBreaker, OpensAfterConsecutiveFailuresAndHalfOpensAfterThePeriod) {
  BreakerParams p;  // 3 failures, 60 s, cap 30 min
  Breaker b;
  EXPECT_TRUE(b.allows(kT0));
  b.on_failure(kT0, p);
  b.on_failure(kT0 + 1, p);
  EXPECT_EQ(b.state, Breaker::State::closed);
  EXPECT_TRUE(b.allows(kT0 + 2));
  EXPECT_FALSE(b.is_open(kT0 + 2));
  b.on_failure(kT0 + 2, p);
  EXPECT_EQ(b.state, Breaker::State::open);
  EXPECT_EQ(b.open_until, kT0 + 2 + 60'000);
  EXPECT_EQ(b.open_for, Millis{60'000});

  EXPECT_TRUE(b.is_open(kT0 + 60'001));
  EXPECT_FALSE(b.allows(kT0 + 60'001));
  EXPECT_EQ(b.state, Breaker::State::open);
  // The period is over: is_open says so without granting anything...
  EXPECT_FALSE(b.is_open(kT0 + 60'002));
  EXPECT_EQ(b.state, Breaker::State::open);
  // ...and allows() grants exactly one trial.
  EXPECT_TRUE(b.allows(kT0 + 60'002));
  EXPECT_EQ(b.state, Breaker::State::half_open);
  EXPECT_FALSE(b.allows(kT0 + 60'003));
  EXPECT_TRUE(b.is_open(kT0 + 60'003));

  // The trial succeeds: closed, counters reset.
  b.on_success();
  EXPECT_EQ(b.state, Breaker::State::closed);
  EXPECT_EQ(b.consecutive_failures, 0u);
  EXPECT_TRUE(b.allows(kT0 + 60'004));
}

TEST(MarketBreaker, AFailedTrialDoublesThePeriodUpToTheCap) {
  BreakerParams p;
  Breaker b;
  UnixMillis now = kT0;
  for (int i = 0; i < 3; ++i) b.on_failure(now, p);
  ASSERT_EQ(b.open_for, Millis{60'000});
  const std::uint64_t expected[] = {120'000, 240'000, 480'000, 960'000, 1'800'000, 1'800'000};
  for (std::uint64_t period : expected) {
    now = b.open_until;
    ASSERT_TRUE(b.allows(now));  // the trial
    ASSERT_EQ(b.state, Breaker::State::half_open);
    b.on_failure(now + 10, p);  // fails
    EXPECT_EQ(b.state, Breaker::State::open);
    EXPECT_EQ(b.open_for, Millis{period});
    EXPECT_EQ(b.open_until, now + 10 + static_cast<UnixMillis>(period));
    EXPECT_FALSE(b.allows(b.open_until - 1));
  }
  // A success closes it and the next opening starts from the base period again.
  now = b.open_until;
  ASSERT_TRUE(b.allows(now));
  b.on_success();
  for (int i = 0; i < 3; ++i) b.on_failure(now + i, p);
  EXPECT_EQ(b.state, Breaker::State::open);
  EXPECT_EQ(b.open_for, Millis{60'000});
}

TEST(MarketBreaker, OnlyConsecutiveFailuresCount) {
  BreakerParams p;
  Breaker b;
  b.on_failure(kT0, p);
  b.on_failure(kT0, p);
  b.on_success();
  b.on_failure(kT0, p);
  b.on_failure(kT0, p);
  EXPECT_EQ(b.state, Breaker::State::closed);
  EXPECT_EQ(b.consecutive_failures, 2u);
  b.on_failure(kT0, p);
  EXPECT_EQ(b.state, Breaker::State::open);
}

TEST(MarketBreaker, ALateFailureWhileOpenDoesNotExtendThePeriod) {
  BreakerParams p;
  Breaker b;
  for (int i = 0; i < 3; ++i) b.on_failure(kT0, p);
  const UnixMillis until = b.open_until;
  b.on_failure(kT0 + 30'000, p);  // a job sent before it opened
  EXPECT_EQ(b.open_until, until);
  EXPECT_EQ(b.consecutive_failures, 4u);
  EXPECT_TRUE(b.allows(until));
}

TEST(MarketBreaker, IsDeterministicInTheTimeItIsGiven) {
  BreakerParams p;
  p.failures_to_open = 1;
  p.open_for = Millis{1'000};
  p.max_open_for = Millis{2'500};
  Breaker a, b;
  for (Breaker* x : {&a, &b}) {
    x->on_failure(5, p);
    (void)x->allows(1'005);
    x->on_failure(1'006, p);
    (void)x->allows(3'006);
    x->on_failure(3'007, p);
  }
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.open_for, Millis{2'500});  // 1,000 -> 2,000 -> 4,000 capped at 2,500
  EXPECT_EQ(a.open_until, 3'007 + 2'500);
  // Near the end of time the deadline saturates rather than wraps.
  Breaker late;
  late.on_failure(std::numeric_limits<UnixMillis>::max() - 10, p);
  EXPECT_EQ(late.open_until, std::numeric_limits<UnixMillis>::max());
  EXPECT_TRUE(late.is_open(std::numeric_limits<UnixMillis>::max() - 1));
}

// F-03 counts incidents: three jobs a crash kills at once are one failure, not three.
TEST(MarketBreaker, ConcurrentFailuresOfOneCrashCountOnce) {
  BreakerParams p;
  Breaker b;
  // Sent at T0, T0+5 and T0+9; the node dies and all three fail at about T0+400.
  EXPECT_TRUE(b.on_failure(kT0 + 400, kT0 + 9, Outcome::failure, p));
  EXPECT_FALSE(b.on_failure(kT0 + 401, kT0, Outcome::failure, p));
  EXPECT_FALSE(b.on_failure(kT0 + 402, kT0 + 5, Outcome::bad_receipt, p));
  EXPECT_EQ(b.consecutive_failures, 1u);
  EXPECT_EQ(b.counted_at, kT0 + 400);
  EXPECT_EQ(b.state, Breaker::State::closed);
  // A job sent after the crash was seen is news: it counts.
  EXPECT_TRUE(b.on_failure(kT0 + 900, kT0 + 400, Outcome::failure, p));
  EXPECT_EQ(b.consecutive_failures, 2u);
  EXPECT_EQ(b.state, Breaker::State::closed);
}

TEST(MarketBreaker, SequentialFailuresStillOpenItAfterThree) {
  BreakerParams p;
  Breaker b;
  UnixMillis t = kT0;
  for (int i = 0; i < 3; ++i) {
    // Each job sent after the previous failure was seen.
    EXPECT_TRUE(b.on_failure(t + 100, t, Outcome::failure, p));
    t += 100;
  }
  EXPECT_EQ(b.state, Breaker::State::open);
  EXPECT_EQ(b.opened_at, kT0 + 300);
  EXPECT_EQ(b.open_until, kT0 + 300 + 60'000);
  EXPECT_EQ(b.times_opened, 1u);
}

// A restart resets connections, it does not hold them: a node that stops answering still opens
// the breaker after three timeouts, however the jobs overlapped.
TEST(MarketBreaker, TimeoutsAlwaysCount) {
  BreakerParams p;
  Breaker b;
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(b.on_failure(kT0 + 62'000 + i, kT0 + i, Outcome::timeout, p));
  EXPECT_EQ(b.state, Breaker::State::open);
}

TEST(MarketBreaker, OnlyTheTrialSettlesHalfOpen) {
  BreakerParams p;
  Breaker b;
  for (int i = 0; i < 3; ++i) b.on_failure(kT0 + i, p);
  const UnixMillis trial = b.open_until;
  ASSERT_TRUE(b.allows(trial));
  EXPECT_EQ(b.trial_at, trial);
  // A job sent before the trial times out meanwhile: it counts, but the trial is still out.
  EXPECT_TRUE(b.on_failure(trial + 10, kT0 + 1, Outcome::timeout, p));
  EXPECT_EQ(b.state, Breaker::State::half_open);
  EXPECT_FALSE(b.allows(trial + 11));
  // The trial fails: open for twice as long.
  EXPECT_TRUE(b.on_failure(trial + 20, trial, Outcome::failure, p));
  EXPECT_EQ(b.state, Breaker::State::open);
  EXPECT_EQ(b.open_for, Millis{120'000});
  EXPECT_EQ(b.times_opened, 2u);
}

TEST(MarketBreaker, AReleasedTrialGoesToTheNextJob) {
  BreakerParams p;
  Breaker b;
  for (int i = 0; i < 3; ++i) b.on_failure(kT0, p);
  ASSERT_TRUE(b.allows(b.open_until));
  b.release_trial(kT0 + 70'000);
  EXPECT_EQ(b.state, Breaker::State::open);
  EXPECT_FALSE(b.is_open(kT0 + 70'000));
  EXPECT_TRUE(b.allows(kT0 + 70'000));
  EXPECT_EQ(b.open_for, Millis{60'000});  // nothing was learnt: the period stays
}

// A node back from a restart announces at once: its trial is due then, not 60 s later. Once per
// opening: after a failed trial only an announcement made since brings the next one forward.
TEST(MarketBreaker, ANewAnnouncementGivesAnEarlyTrialOncePerOpening) {
  BreakerParams p;
  Breaker b;
  const UnixMillis opened = kT0 + 700;  // in the second kT0 / 1000
  for (int i = 0; i < 3; ++i) b.on_failure(opened, p);
  ASSERT_EQ(b.state, Breaker::State::open);
  // Announced before the second it opened: old news.
  EXPECT_FALSE(b.on_announce(opened + 100, kT0 / 1000 - 1));
  EXPECT_TRUE(b.is_open(opened + 100));
  // Announced in that second (a node back in 0.4 s): the trial is due now.
  EXPECT_TRUE(b.on_announce(opened + 400, kT0 / 1000));
  EXPECT_EQ(b.open_until, opened + 400);
  EXPECT_FALSE(b.is_open(opened + 400));
  EXPECT_FALSE(b.on_announce(opened + 450, kT0 / 1000));  // nothing left to shorten
  ASSERT_TRUE(b.allows(opened + 410));
  EXPECT_FALSE(b.on_announce(opened + 420, kT0 / 1000));  // the trial is out
  // The trial fails 10 s later: twice as long, and an announcement from before that is old news.
  const UnixMillis again = opened + 10'410;
  b.on_failure(again, opened + 410, Outcome::failure, p);
  EXPECT_EQ(b.open_for, Millis{120'000});
  EXPECT_EQ(b.opened_at, again);
  EXPECT_FALSE(b.on_announce(again + 100, again / 1000 - 1));
  EXPECT_TRUE(b.is_open(again + 100));
  // One made since: the next trial is due.
  EXPECT_TRUE(b.on_announce(again + 30'000, (again + 30'000) / 1000));
  ASSERT_TRUE(b.allows(again + 30'000));
  b.on_success();
  EXPECT_EQ(b.state, Breaker::State::closed);
  EXPECT_EQ(b.consecutive_failures, 0u);
  EXPECT_FALSE(b.on_announce(kT0 + 500'000, (kT0 + 500'000) / 1000));  // closed: nothing to do
}

// ---- Posted price -------------------------------------------------------------------------------

PostedOffer posted(std::uint8_t node, std::uint64_t price,
                   PostedOffer::Load load = PostedOffer::Load::normal,
                   std::uint32_t reputation = 500'000) {
  PostedOffer o;
  o.node = key(node);
  o.endpoint = "http://n" + std::to_string(node) + ".example";
  o.price = Msat{price};
  o.load = load;
  o.reputation_ppm = reputation;
  return o;
}

std::vector<std::uint8_t> order(const std::vector<PostedOffer>& offers) {
  std::vector<std::uint8_t> out;
  for (const auto& o : offers) out.push_back(o.node.bytes[0]);
  return out;
}

TEST(MarketPosted, DropsSaturatedStaleBrokenAndOverBudgetOffers) {
  std::vector<PostedOffer> offers = {posted(1, 100),   posted(2, 50, PostedOffer::Load::saturated),
                                     posted(3, 60),    posted(4, 70),
                                     posted(5, 1'001), posted(6, 1'000)};
  offers[2].stale = true;
  offers[3].breaker_open = true;
  auto ranked = rank_posted(offers, Msat{1'000});
  EXPECT_EQ(order(ranked), (std::vector<std::uint8_t>{1, 6}));
  EXPECT_TRUE(rank_posted({}, Msat{1'000}).empty());
  EXPECT_TRUE(rank_posted({posted(1, 1)}, Msat{0}).empty());
}

TEST(MarketPosted, BusyCountsAQuarterDearer) {
  using L = PostedOffer::Load;
  // Busy at 100 is worth 125: a normal offer at 124 beats it, one at 126 loses to it.
  EXPECT_EQ(order(rank_posted({posted(1, 100, L::busy), posted(2, 124)}, Msat{1'000})),
            (std::vector<std::uint8_t>{2, 1}));
  EXPECT_EQ(order(rank_posted({posted(1, 100, L::busy), posted(2, 126)}, Msat{1'000})),
            (std::vector<std::uint8_t>{1, 2}));
  // Exactly 125: a tie on price, decided by reputation.
  EXPECT_EQ(
      order(rank_posted({posted(1, 100, L::busy, 600'000), posted(2, 125, L::normal, 500'000)},
                        Msat{1'000})),
      (std::vector<std::uint8_t>{1, 2}));
  EXPECT_EQ(
      order(rank_posted({posted(1, 100, L::busy, 400'000), posted(2, 125, L::normal, 500'000)},
                        Msat{1'000})),
      (std::vector<std::uint8_t>{2, 1}));
  // The budget applies to the real price, not the penalised one.
  EXPECT_EQ(order(rank_posted({posted(1, 1'000, L::busy)}, Msat{1'000})),
            (std::vector<std::uint8_t>{1}));
  // Exact at the top of the range: no overflow, no rounding.
  const std::uint64_t top = (std::uint64_t{1} << 53) - 1;
  EXPECT_EQ(order(rank_posted({posted(1, top, L::busy), posted(2, top)}, Msat{top})),
            (std::vector<std::uint8_t>{2, 1}));
}

// A node that answered busy a moment ago is the last resort: used only when nothing else is
// left, and then by the usual order.
TEST(MarketPosted, PausedOffersComeLast) {
  std::vector<PostedOffer> offers = {posted(1, 10), posted(2, 500), posted(3, 20), posted(4, 900)};
  offers[0].paused = true;
  offers[2].paused = true;
  EXPECT_EQ(order(rank_posted(offers, Msat{1'000})), (std::vector<std::uint8_t>{2, 4, 1, 3}));
}

TEST(MarketPosted, TiesGoToReputationThenNodeKey) {
  auto ranked = rank_posted({posted(9, 100, PostedOffer::Load::normal, 700'000),
                             posted(3, 100, PostedOffer::Load::normal, 700'000),
                             posted(5, 100, PostedOffer::Load::normal, 800'000),
                             posted(1, 90, PostedOffer::Load::normal, 100'000)},
                            Msat{1'000});
  // Node 1 is cheapest, but its reputation (0.1) is below the floor (0.3, F-03 "Scoring"): it
  // comes after every good offer (before issue 14 it came first, on price alone).
  EXPECT_EQ(order(ranked), (std::vector<std::uint8_t>{5, 3, 9, 1}));
}

// The auction's rule on posted prices (F-03 "Scoring"): price in ppm of the cheapest offer,
// plus 5% * (1 - reputation).
TEST(MarketPosted, PriceDecidesBetweenGoodNodesReputationBreaksNearTies) {
  using L = PostedOffer::Load;
  // 1,000 at 0.5 beats 1,200 at 0.95.
  EXPECT_EQ(order(rank_posted(
                {posted(1, 1'200, L::normal, 950'000), posted(2, 1'000, L::normal, 500'000)},
                Msat{10'000})),
            (std::vector<std::uint8_t>{2, 1}));
  // 1,020 at 0.95 beats 1,000 at 0.5: 1,022,500 against 1,025,000.
  EXPECT_EQ(order(rank_posted(
                {posted(1, 1'020, L::normal, 950'000), posted(2, 1'000, L::normal, 500'000)},
                Msat{10'000})),
            (std::vector<std::uint8_t>{1, 2}));
  // A peer on trial counts with a perfect reputation: it wins at the same price.
  std::vector<PostedOffer> offers = {posted(1, 1'000, L::normal, 980'000),
                                     posted(2, 1'000, L::normal, 500'000)};
  offers[1].trial = true;
  EXPECT_EQ(order(rank_posted(offers, Msat{10'000})), (std::vector<std::uint8_t>{2, 1}));
  // Alone, an offer below the floor is still taken.
  EXPECT_EQ(order(rank_posted({posted(1, 1'000, L::normal, 0)}, Msat{10'000})),
            (std::vector<std::uint8_t>{1}));
}

// ---- Spending caps ------------------------------------------------------------------------------

TEST(MarketSpend, PerMinuteCapWithTheSlidingEdge) {
  SpendLedger ledger;
  SpendingCaps caps;
  caps.per_minute = Msat{1'000};
  ledger.record(kT0, Msat{600});
  EXPECT_TRUE(ledger.allows(kT0, Msat{400}, caps));  // exactly the cap
  EXPECT_FALSE(ledger.allows(kT0, Msat{401}, caps));
  // The window is (now - 60 s, now]: the spend at kT0 still counts at kT0 + 59,999...
  EXPECT_EQ(ledger.spent(kT0 + kMinute - 1, Millis{60'000}), Msat{600});
  EXPECT_FALSE(ledger.allows(kT0 + kMinute - 1, Msat{401}, caps));
  // ...and has left it at kT0 + 60,000.
  EXPECT_EQ(ledger.spent(kT0 + kMinute, Millis{60'000}), Msat{0});
  EXPECT_TRUE(ledger.allows(kT0 + kMinute, Msat{1'000}, caps));
  EXPECT_FALSE(ledger.allows(kT0 + kMinute, Msat{1'001}, caps));
  // A spend recorded later than `now` is not in now's window.
  EXPECT_EQ(ledger.spent(kT0 - 1, Millis{60'000}), Msat{0});
}

TEST(MarketSpend, EveryWindowMustHoldTheSpend) {
  SpendLedger ledger;
  SpendingCaps caps;
  caps.per_minute = Msat{1'000};
  caps.per_hour = Msat{2'500};
  caps.per_day = Msat{4'000};
  // 900 a minute for three minutes: each minute is fine, the hour fills up.
  ledger.record(kT0, Msat{900});
  ledger.record(kT0 + kMinute, Msat{900});
  EXPECT_TRUE(ledger.allows(kT0 + 2 * kMinute, Msat{700}, caps));   // hour 2,500
  EXPECT_FALSE(ledger.allows(kT0 + 2 * kMinute, Msat{701}, caps));  // hour 2,501
  ledger.record(kT0 + 2 * kMinute, Msat{700});
  EXPECT_EQ(ledger.spent(kT0 + 2 * kMinute, Millis{3'600'000}), Msat{2'500});
  // An hour after the first spend, it leaves the hour window but stays in the day.
  const UnixMillis later = kT0 + kHour;
  EXPECT_EQ(ledger.spent(later, Millis{3'600'000}), Msat{1'600});
  EXPECT_TRUE(ledger.allows(later, Msat{900}, caps));
  ledger.record(later, Msat{900});
  EXPECT_EQ(ledger.spent(later, Millis{86'400'000}), Msat{3'400});
  // Day cap: 600 left in the day although the minute and hour allow more.
  const UnixMillis evening = kT0 + 5 * kHour;
  EXPECT_TRUE(ledger.allows(evening, Msat{600}, caps));
  EXPECT_FALSE(ledger.allows(evening, Msat{601}, caps));
  // The next day the first spends have slid out.
  EXPECT_TRUE(ledger.allows(kT0 + kDay + 2 * kMinute, Msat{1'000}, caps));
  EXPECT_EQ(ledger.spent(kT0 + kDay, Millis{86'400'000}), Msat{900 + 700 + 900});
}

TEST(MarketSpend, NoCapsAllowAnythingAndSumsNeverWrap) {
  SpendLedger ledger;
  const Msat top{(std::uint64_t{1} << 53) - 1};
  ledger.record(kT0, top);
  ledger.record(kT0, top);
  EXPECT_TRUE(ledger.allows(kT0, top, SpendingCaps{}));
  EXPECT_EQ(ledger.spent(kT0, Millis{60'000}), top);  // saturated
  SpendingCaps caps;
  caps.per_day = top;
  EXPECT_FALSE(ledger.allows(kT0, Msat{1}, caps));
  caps.per_minute = Msat{0};
  SpendLedger empty;
  EXPECT_TRUE(empty.allows(kT0, Msat{0}, caps));
  EXPECT_FALSE(empty.allows(kT0, Msat{1}, caps));
}

TEST(MarketSpend, RecordPrunesWhatNoWindowCanHold) {
  SpendLedger ledger;
  ledger.record(kT0, Msat{1});
  ledger.record(kT0 + 10, Msat{2});
  ledger.record(kT0 + kDay - 1, Msat{4});
  EXPECT_EQ(ledger.size(), 3u);
  EXPECT_EQ(ledger.spent(kT0 + kDay - 1, Millis{86'400'000}), Msat{7});
  ledger.record(kT0 + kDay, Msat{8});  // kT0 is now exactly a day old: out of every window
  EXPECT_EQ(ledger.size(), 3u);
  EXPECT_EQ(ledger.spent(kT0 + kDay, Millis{86'400'000}), Msat{14});
  ledger.record(kT0 + 2 * kDay, Msat{16});
  EXPECT_EQ(ledger.size(), 1u);
  // Out-of-order records are kept in time order.
  ledger.record(kT0 + 2 * kDay - 5, Msat{32});
  EXPECT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger.spent(kT0 + 2 * kDay - 1, Millis{60'000}), Msat{32});
  EXPECT_EQ(ledger.spent(kT0 + 2 * kDay, Millis{60'000}), Msat{48});
  auto back = SpendLedger::decode(ledger.encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, ledger);
}

TEST(MarketSpend, EncodeDecodeRoundTripsAndRejectsMalformedInput) {
  SpendLedger ledger;
  EXPECT_EQ(SpendLedger::decode(ledger.encode()), ledger);  // empty
  ledger.record(-5'000, Msat{3});
  ledger.record(-5'000, Msat{0});
  ledger.record(kMinute, Msat{(std::uint64_t{1} << 53) - 1});
  ledger.record(kMinute + 1, Msat{70});
  const std::string bytes = ledger.encode();
  auto back = SpendLedger::decode(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, ledger);
  EXPECT_EQ(back->encode(), bytes);
  EXPECT_EQ(back->spent(kMinute + 1, Millis{86'400'000}),
            ledger.spent(kMinute + 1, Millis{86'400'000}));

  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(SpendLedger::decode(std::string_view(bytes).substr(0, n))) << n;
  }
  EXPECT_FALSE(SpendLedger::decode(bytes + '\0'));
  std::string bad_magic = bytes;
  bad_magic[0] = 'X';
  EXPECT_FALSE(SpendLedger::decode(bad_magic));
  std::string bad_version = bytes;
  bad_version[1] = 2;
  EXPECT_FALSE(SpendLedger::decode(bad_version));

  // Hand-made: entries out of time order, and entries a day apart.
  auto made = [](std::vector<std::pair<std::int64_t, std::uint64_t>> entries) {
    BinaryWriter w;
    w.u8('S');
    w.u8(1);
    w.varint(entries.size());
    for (auto [t, a] : entries) {
      w.svarint(t);
      w.varint(a);
    }
    return std::move(w).data();
  };
  EXPECT_TRUE(SpendLedger::decode(made({{10, 1}, {20, 2}})));
  EXPECT_FALSE(SpendLedger::decode(made({{20, 1}, {10, 2}})));
  EXPECT_TRUE(SpendLedger::decode(made({{0, 1}, {kDay - 1, 2}})));
  EXPECT_FALSE(SpendLedger::decode(made({{0, 1}, {kDay, 2}})));
  std::string huge_count = made({});
  huge_count.resize(2);
  huge_count += std::string("\xff\xff\xff\xff\x0f", 5);
  EXPECT_FALSE(SpendLedger::decode(huge_count));

  std::mt19937_64 rng(3);
  for (int i = 0; i < 2'000; ++i) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 2 == 0 && junk.size() >= 2) junk[0] = 'X';
    EXPECT_FALSE(SpendLedger::decode(junk)) << i;
  }
}

}  // namespace
}  // namespace fedai::market
