// The sealed-bid auction of nips/F-03: every eligibility rule, scoring at the extremes, ties,
// clearing, retries within the budget, and the binary form of the book.
#include "core/market/auction.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "core/market/peers.h"
#include "core/nostr/sha256.h"
#include "core/util/binary.h"

namespace fedai::market {
namespace {

constexpr UnixMillis kOpenedAt = 1'700'000'000'000;
constexpr std::int64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();
constexpr std::uint64_t k2p53m1 = (std::uint64_t{1} << 53) - 1;

PublicKey key(std::uint8_t n) {
  PublicKey k;
  k.bytes.fill(n);
  return k;
}
EventId event_id(std::uint8_t n) {
  EventId e;
  e.bytes.fill(n);
  return e;
}
JobId job(std::uint8_t n) {
  JobId j;
  j.bytes.fill(n);
  return j;
}

AuctionTerms make_terms() {
  AuctionTerms t;
  t.rfb_id = event_id(0xAA);
  t.job_id = job(0x11);
  t.router = key(0xEE);
  t.max_price = Msat{10'000};
  t.deadline = Millis{30'000};
  t.opened_at = kOpenedAt;
  t.bid_window = Millis{500};
  return t;
}

BidOffer make_bid(const AuctionTerms& t, std::uint8_t who, std::uint64_t price,
                  std::uint64_t eta = 1'000) {
  BidOffer b;
  b.bid_id = event_id(who);
  b.bidder = key(who);
  b.addressee = t.router;
  b.rfb_ref = t.rfb_id;
  b.job_id = t.job_id;
  b.price = Msat{price};
  b.in_per_1k = Msat{10};
  b.out_per_1k = Msat{20};
  b.eta = Millis{eta};
  b.endpoint = "http://node-" + std::to_string(who) + ".example:8080";
  b.capacity_token.bytes.fill(who);
  b.valid_until = kOpenedAt / 1000 + 60;
  b.received_at = kOpenedAt + 100;
  return b;
}

PeerView known_peer(std::uint32_t reputation = 500'000, std::uint64_t stake = 0) {
  PeerView p;
  p.known = true;
  p.reputation_ppm = reputation;
  p.stake_units = stake;
  return p;
}

AuctionBook make_book() {
  AuctionBook book;
  book.terms = make_terms();
  return book;
}

// The NIP-01 prefix of a refusal.
std::string refusal(const Status& s) {
  return s.ok() ? std::string("ok") : s.error().to_string();
}
bool starts_with(const std::string& s, std::string_view prefix) {
  return s.rfind(prefix, 0) == 0;
}

// ---- Scores -------------------------------------------------------------------------------------

// The score rule changed with issue 14 (nips/F-03 "Scoring"): price is judged against the
// auction's cheapest good bid, not against max_price, and reputation and eta add at most 6% of
// that price. The old rule (0.6 * price / max_price + 0.2 * eta + 0.2 * (1 - reputation)) let a
// node 20% dearer win ~170 auctions in a row on reputation alone.

TEST(MarketScore, FollowsTheFormulaInPpmOfTheCheapestBid) {
  AuctionTerms t = make_terms();  // deadline 30,000 ms
  AuctionParams p;                // w_eta 1%, w_rep 5%
  BidOffer b = make_bid(t, 1, 1'200, 7'500);
  // 1,200 against a cheapest of 1,000: 1.2; eta 0.25 of the deadline: 0.01 * 0.25; reputation
  // 0.5: 0.05 * 0.5.
  EXPECT_EQ(score_ppm(Msat{1'000}, t, b, 500'000, 0, p), 1'200'000 + 2'500 + 25'000);
  // Perfect reputation removes the reputation term; above 1.0 reads as 1.0.
  EXPECT_EQ(score_ppm(Msat{1'000}, t, b, 1'000'000, 0, p), 1'202'500);
  EXPECT_EQ(score_ppm(Msat{1'000}, t, b, 4'000'000'000U, 0, p), 1'202'500);
  // An eta beyond the deadline counts as the deadline.
  b.eta = Millis{90'000};
  EXPECT_EQ(score_ppm(Msat{1'000}, t, b, 500'000, 0, p), 1'200'000 + 10'000 + 25'000);
  // max_price plays no part.
  t.max_price = Msat{1'000'000};
  EXPECT_EQ(score_ppm(Msat{1'000}, t, b, 500'000, 0, p), 1'235'000);
  // The cheapest bid itself scores 1.0 on price.
  b.price = Msat{1'000};
  EXPECT_EQ(score_ppm(Msat{1'000}, t, b, 1'000'000, 0, p), 1'010'000);
}

TEST(MarketScore, ExtremeValuesNeitherOverflowNorWrap) {
  AuctionParams p;
  AuctionTerms t = make_terms();
  BidOffer b = make_bid(t, 1, 0);
  t.deadline = Millis{1};
  b.eta = Millis{std::numeric_limits<std::uint64_t>::max()};
  // The largest price against a cheapest of 1: beyond int64, saturated, never wrapped.
  b.price = Msat{std::numeric_limits<std::uint64_t>::max()};
  EXPECT_EQ(score_ppm(Msat{1}, t, b, 0, 0, p), kMaxInt64);
  EXPECT_EQ(score_ppm(Msat{1}, t, b, 0, std::numeric_limits<std::uint64_t>::max(), p), kMaxInt64);
  // The largest weights: 128-bit intermediates.
  AuctionParams heavy;
  heavy.w_eta_ppm = std::numeric_limits<std::uint32_t>::max();
  heavy.w_rep_ppm = std::numeric_limits<std::uint32_t>::max();
  b.price = Msat{k2p53m1};
  EXPECT_EQ(score_ppm(Msat{k2p53m1}, t, b, 0, 0, heavy),
            1'000'000 + 2 * static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max()));
  // A zero cheapest or deadline counts as 1, no trap.
  t.deadline = Millis{0};
  b.price = Msat{0};
  b.eta = Millis{0};
  EXPECT_EQ(score_ppm(Msat{0}, t, b, 1'000'000, 0, p), 0);
}

TEST(MarketScore, StakeShrinksOnlyTheEtaAndReputationTerms) {
  AuctionParams p;  // cap 25%, 1% per unit
  AuctionTerms t = make_terms();
  BidOffer b = make_bid(t, 1, 1'000, 30'000);  // eta at the deadline: 10,000
  const std::int64_t base = score_ppm(Msat{1'000}, t, b, 0, 0, p);
  ASSERT_EQ(base, 1'000'000 + 10'000 + 50'000);
  std::int64_t previous = base;
  const std::uint64_t stakes[] = {1,  5,     24,         25,
                                  26, 1'000, 1ULL << 40, std::numeric_limits<std::uint64_t>::max()};
  for (std::uint64_t units : stakes) {
    const std::int64_t s = score_ppm(Msat{1'000}, t, b, 0, units, p);
    EXPECT_GE(s, 1'000'000 + 60'000LL * 1'000'000 / 1'250'000) << units;
    EXPECT_LE(s, previous) << units;  // more stake never hurts
    previous = s;
  }
  EXPECT_EQ(score_ppm(Msat{1'000}, t, b, 0, 25, p), 1'048'000);

  // So a whale with the worst record loses to a stakeless bid 5% cheaper.
  AuctionBook book = make_book();
  ASSERT_TRUE(book.offer(b, known_peer(0, std::numeric_limits<std::uint64_t>::max())).ok());
  BidOffer modest = make_bid(t, 2, 950, 30'000);
  ASSERT_TRUE(book.offer(modest, known_peer(300'000, 0)).ok());
  auto winner = book.clear(t.closes_at(), p);
  ASSERT_TRUE(winner);
  EXPECT_EQ(winner->offer.bidder, key(2));
}

// F-03's worked numbers: 1,000 msat at reputation 0.5 against 1,200 msat at 0.95.
TEST(MarketScore, PriceDecidesBetweenGoodNodes) {
  AuctionParams p;
  AuctionBook book = make_book();
  ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 1'200), known_peer(950'000)).ok());
  ASSERT_TRUE(book.offer(make_bid(book.terms, 2, 1'000), known_peer(500'000)).ok());
  auto winner = book.clear(book.terms.closes_at(), p);
  ASSERT_TRUE(winner);
  EXPECT_EQ(winner->offer.bidder, key(2));
  // eta 1,000 of 30,000 ms: 333 ppm each.
  EXPECT_EQ(book.bids[0].score_ppm, 1'000'000 + 333 + 25'000);
  EXPECT_EQ(book.bids[1].score_ppm, 1'200'000 + 333 + 2'500);
}

TEST(MarketScore, ReputationBreaksNearTies) {
  AuctionParams p;
  // 1,000 at 0.5 against 1,020 at 0.95: the 2% gap is worth less than 0.45 of reputation (2.25%).
  {
    AuctionBook book = make_book();
    ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 1'020), known_peer(950'000)).ok());
    ASSERT_TRUE(book.offer(make_bid(book.terms, 2, 1'000), known_peer(500'000)).ok());
    auto winner = book.clear(book.terms.closes_at(), p);
    ASSERT_TRUE(winner);
    EXPECT_EQ(winner->offer.bidder, key(1));
    EXPECT_EQ(book.bids[0].score_ppm, 1'020'000 + 333 + 2'500);
    EXPECT_EQ(book.bids[1].score_ppm, 1'000'000 + 333 + 25'000);
  }
  // 1,000 against 1,030: 3% is more than 2.25%, the cheaper bid wins.
  {
    AuctionBook book = make_book();
    ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 1'030), known_peer(950'000)).ok());
    ASSERT_TRUE(book.offer(make_bid(book.terms, 2, 1'000), known_peer(500'000)).ok());
    auto winner = book.clear(book.terms.closes_at(), p);
    ASSERT_TRUE(winner);
    EXPECT_EQ(winner->offer.bidder, key(2));
  }
  // Equal prices: the better record wins.
  {
    AuctionBook book = make_book();
    ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 1'000), known_peer(900'000)).ok());
    ASSERT_TRUE(book.offer(make_bid(book.terms, 2, 1'000), known_peer(910'000)).ok());
    auto winner = book.clear(book.terms.closes_at(), p);
    ASSERT_TRUE(winner);
    EXPECT_EQ(winner->offer.bidder, key(2));
  }
}

TEST(MarketScore, BidsBelowTheReputationFloorComeAfterEveryOther) {
  AuctionParams p;  // floor 0.3
  AuctionBook book = make_book();
  // A bad node at half the price, a good one, and a node exactly at the floor.
  ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 500), known_peer(299'999)).ok());
  ASSERT_TRUE(book.offer(make_bid(book.terms, 2, 2'000), known_peer(300'000)).ok());
  ASSERT_TRUE(book.offer(make_bid(book.terms, 3, 1'000), known_peer(900'000)).ok());
  auto winner = book.clear(book.terms.closes_at(), p);
  ASSERT_TRUE(winner);
  EXPECT_EQ(winner->offer.bidder, key(3));
  EXPECT_EQ(book.bids[1].offer.bidder, key(2));
  // The bad bid is the last resort: when the others fail it still gets the job.
  EXPECT_EQ(book.bids[2].offer.bidder, key(1));
  // Scored against the cheapest of its own tier: the good bids against 1,000, the bad against 500.
  EXPECT_EQ(book.bids[0].score_ppm, 1'000'000 + 333 + 5'000);
  EXPECT_EQ(book.bids[2].score_ppm, 1'000'000 + 333 + 35'000);
  // Alone, a bid below the floor wins.
  AuctionBook lone = make_book();
  ASSERT_TRUE(lone.offer(make_bid(lone.terms, 1, 500), known_peer(0)).ok());
  auto only = lone.clear(lone.terms.closes_at(), p);
  ASSERT_TRUE(only);
  EXPECT_EQ(only->offer.bidder, key(1));
}

TEST(MarketScore, APeerOnTrialCountsWithAPerfectReputation) {
  AuctionParams p;
  AuctionBook book = make_book();
  PeerView newcomer = known_peer(500'000);
  newcomer.trial = true;
  // At the same price as a peer with a long good record, the newcomer gets the job: its trial.
  ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 1'000), known_peer(980'000)).ok());
  ASSERT_TRUE(book.offer(make_bid(book.terms, 2, 1'000), newcomer).ok());
  EXPECT_EQ(book.bids[1].reputation_ppm, 1'000'000u);
  auto winner = book.clear(book.terms.closes_at(), p);
  ASSERT_TRUE(winner);
  EXPECT_EQ(winner->offer.bidder, key(2));
  // on_trial: fewer than trial_jobs outcomes, none failed.
  EXPECT_TRUE(on_trial(0, 0, p.trial_jobs));
  EXPECT_TRUE(on_trial(4, 0, 5));
  EXPECT_FALSE(on_trial(5, 0, 5));
  EXPECT_FALSE(on_trial(1, 1, 5));
}

TEST(MarketScore, TieBreakKeyIsSha256OfRfbIdThenBidder) {
  const EventId rfb = event_id(0x5A);
  const PublicKey bidder = key(0xC3);
  std::string concatenated(rfb.bytes.begin(), rfb.bytes.end());
  concatenated.append(bidder.bytes.begin(), bidder.bytes.end());
  const Sha256Digest expected = sha256(concatenated);
  EXPECT_EQ(tie_break_key(rfb, bidder).hex(), expected.hex());
  // The order matters: swapping the inputs gives another key.
  EXPECT_NE(tie_break_key(rfb, bidder), tie_break_key(event_id(0xC3), key(0x5A)));
}

// ---- Which bids count ---------------------------------------------------------------------------

TEST(MarketAuction, RefusesABidAboveTheMaxPrice) {
  AuctionBook book = make_book();
  Status s = book.offer(make_bid(book.terms, 1, 10'001), known_peer());
  EXPECT_EQ(refusal(s), "invalid: bid price is above max_price_msat");
  EXPECT_TRUE(book.offer(make_bid(book.terms, 2, 10'000), known_peer()).ok());  // at the max
  ASSERT_EQ(book.bids.size(), 1u);
  EXPECT_EQ(book.bids[0].offer.bidder, key(2));
}

TEST(MarketAuction, RefusesABidAfterTheWindowClosed) {
  AuctionBook book = make_book();
  BidOffer late = make_bid(book.terms, 1, 100);
  late.received_at = book.terms.closes_at() + 1;
  EXPECT_EQ(refusal(book.offer(late, known_peer())),
            "invalid: bid arrived after the bid window closed");
  BidOffer last_moment = make_bid(book.terms, 2, 100);
  last_moment.received_at = book.terms.closes_at();
  EXPECT_TRUE(book.offer(last_moment, known_peer()).ok());
  EXPECT_EQ(book.bids.size(), 1u);
}

TEST(MarketAuction, RefusesABidFromAnUnknownPeer) {
  AuctionBook book = make_book();
  PeerView stranger;  // no CAPS for the model
  Status s = book.offer(make_bid(book.terms, 1, 100), stranger);
  EXPECT_EQ(refusal(s), "blocked: unknown peer (no CAPS for the model)");
  EXPECT_TRUE(book.bids.empty());
}

TEST(MarketAuction, RefusesABidFromACircuitBrokenPeer) {
  AuctionBook book = make_book();
  Breaker breaker;
  BreakerParams bp;
  for (int i = 0; i < 3; ++i) breaker.on_failure(kOpenedAt - 1'000, bp);
  PeerView peer = known_peer();
  peer.breaker_open = breaker.is_open(kOpenedAt + 100);
  ASSERT_TRUE(peer.breaker_open);
  EXPECT_EQ(refusal(book.offer(make_bid(book.terms, 1, 100), peer)),
            "blocked: peer circuit breaker is open");
  EXPECT_TRUE(book.bids.empty());
}

TEST(MarketAuction, RefusesABidToAnotherAddressee) {
  AuctionBook book = make_book();
  BidOffer b = make_bid(book.terms, 1, 100);
  b.addressee = key(0x77);
  EXPECT_EQ(refusal(book.offer(b, known_peer())), "invalid: bid is not addressed to us (p tag)");
  EXPECT_TRUE(book.bids.empty());
}

TEST(MarketAuction, RefusesABidForAnotherRfb) {
  AuctionBook book = make_book();
  BidOffer b = make_bid(book.terms, 1, 100);
  b.rfb_ref = event_id(0xAB);
  EXPECT_EQ(refusal(book.offer(b, known_peer())), "invalid: bid names another RFB (e tag)");
  EXPECT_TRUE(book.bids.empty());
}

TEST(MarketAuction, RefusesABidWithAnotherJobId) {
  AuctionBook book = make_book();
  BidOffer b = make_bid(book.terms, 1, 100);
  b.job_id = job(0x12);
  EXPECT_EQ(refusal(book.offer(b, known_peer())), "invalid: bid job_id differs from the RFB's");
  EXPECT_TRUE(book.bids.empty());
}

TEST(MarketAuction, RefusesAnExpiredBid) {
  AuctionBook book = make_book();
  book.terms.bid_window = Millis{2'000};  // so that lateness is not what refuses these
  // NIP-40: expired from valid_until on. Received at exactly valid_until * 1000: expired.
  BidOffer at_expiry = make_bid(book.terms, 1, 100);
  at_expiry.valid_until = kOpenedAt / 1000;
  at_expiry.received_at = kOpenedAt;
  EXPECT_EQ(refusal(book.offer(at_expiry, known_peer())),
            "invalid: bid expired (valid_until passed)");
  // Half a second later, same valid_until: still expired.
  BidOffer after = at_expiry;
  after.bidder = key(2);
  after.received_at = kOpenedAt + 499;
  EXPECT_FALSE(book.offer(after, known_peer()).ok());
  // One millisecond before valid_until: counts.
  BidOffer before = make_bid(book.terms, 3, 100);
  before.valid_until = kOpenedAt / 1000 + 1;
  before.received_at = kOpenedAt + 999;
  EXPECT_TRUE(book.offer(before, known_peer()).ok());
  EXPECT_EQ(book.bids.size(), 1u);
  // valid_at itself, including negative times (floor division).
  BidOffer neg;
  neg.valid_until = -1;
  EXPECT_TRUE(neg.valid_at(-1'001));
  EXPECT_FALSE(neg.valid_at(-1'000));
  EXPECT_FALSE(neg.valid_at(0));
  neg.valid_until = std::numeric_limits<std::int64_t>::max();
  EXPECT_TRUE(neg.valid_at(std::numeric_limits<std::int64_t>::max()));
}

TEST(MarketAuction, TheFirstValidBidOfAPeerCountsLaterOnesAreDuplicates) {
  AuctionBook book = make_book();
  // A refused bid does not use up the bidder's turn.
  EXPECT_FALSE(book.offer(make_bid(book.terms, 1, 20'000), known_peer()).ok());
  ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 900), known_peer()).ok());
  // A second valid bid, even a better one, is a duplicate.
  BidOffer cheaper = make_bid(book.terms, 1, 100);
  cheaper.bid_id = event_id(0x42);
  EXPECT_EQ(refusal(book.offer(cheaper, known_peer())),
            "duplicate: a bid from this peer already counts");
  ASSERT_EQ(book.bids.size(), 1u);
  EXPECT_EQ(book.bids[0].offer.price, Msat{900});
}

TEST(MarketAuction, RefusesBidsOnceTheBookIsNotOpen) {
  AuctionParams p;
  AuctionBook book = make_book();
  ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 100), known_peer()).ok());
  ASSERT_TRUE(book.clear(book.terms.closes_at(), p));
  Status s = book.offer(make_bid(book.terms, 2, 50), known_peer());
  EXPECT_EQ(refusal(s), "invalid: auction is cleared, not taking bids");

  AuctionBook cancelled = make_book();
  cancelled.cancel();
  EXPECT_TRUE(cancelled.is_terminal());
  EXPECT_TRUE(starts_with(refusal(cancelled.offer(make_bid(cancelled.terms, 2, 50), known_peer())),
                          "invalid: auction is cancelled"));
  EXPECT_TRUE(cancelled.bids.empty());
}

// ---- Ties ---------------------------------------------------------------------------------------

TEST(MarketAuction, TiesGoToTheLowerPrice) {
  AuctionParams p;
  AuctionBook book = make_book();
  // 1e9 and 1e9 + 1 msat both score 1.0 on price (ppm of the cheapest, rounded down).
  book.terms.max_price = Msat{2'000'000'000};
  ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 1'000'000'001), known_peer()).ok());
  ASSERT_TRUE(book.offer(make_bid(book.terms, 2, 1'000'000'000), known_peer()).ok());
  auto winner = book.clear(book.terms.closes_at(), p);
  ASSERT_TRUE(winner);
  EXPECT_EQ(book.bids[0].score_ppm, book.bids[1].score_ppm);  // a real tie
  EXPECT_EQ(winner->offer.bidder, key(2));
}

TEST(MarketAuction, EqualScoreAndPriceGoToTheLowerEta) {
  AuctionParams p;
  AuctionBook book = make_book();
  book.terms.deadline = Millis{1'000'000'000};  // etas of 100 and 200 ms both score 0 on eta
  ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 500, 200), known_peer()).ok());
  ASSERT_TRUE(book.offer(make_bid(book.terms, 2, 500, 100), known_peer()).ok());
  auto winner = book.clear(book.terms.closes_at(), p);
  ASSERT_TRUE(winner);
  EXPECT_EQ(book.bids[0].score_ppm, book.bids[1].score_ppm);
  EXPECT_EQ(winner->offer.bidder, key(2));
}

TEST(MarketAuction, FullTiesGoToTheLowerHashOfRfbIdAndBidder) {
  AuctionParams p;
  for (std::uint8_t rfb : {0xAA, 0x01, 0x02, 0x03}) {
    const Bytes32 k1 = tie_break_key(event_id(rfb), key(1));
    const Bytes32 k2 = tie_break_key(event_id(rfb), key(2));
    ASSERT_NE(k1, k2);
    const PublicKey expected = k1 < k2 ? key(1) : key(2);
    // Whichever arrives first, the hash decides.
    for (bool one_first : {true, false}) {
      AuctionBook book = make_book();
      book.terms.rfb_id = event_id(rfb);
      BidOffer b1 = make_bid(book.terms, 1, 500, 1'000);
      BidOffer b2 = make_bid(book.terms, 2, 500, 1'000);
      ASSERT_TRUE(book.offer(one_first ? b1 : b2, known_peer()).ok());
      ASSERT_TRUE(book.offer(one_first ? b2 : b1, known_peer()).ok());
      auto winner = book.clear(book.terms.closes_at(), p);
      ASSERT_TRUE(winner);
      EXPECT_EQ(book.bids[0].score_ppm, book.bids[1].score_ppm);
      EXPECT_EQ(winner->offer.bidder, expected) << int{rfb} << " " << one_first;
    }
  }
  // Across those RFBs the hash does not always favour the same bidder (no grinding by key).
  int one_wins = 0;
  for (int rfb = 0; rfb < 32; ++rfb) {
    auto id = event_id(static_cast<std::uint8_t>(rfb));
    one_wins += tie_break_key(id, key(1)) < tie_break_key(id, key(2)) ? 1 : 0;
  }
  EXPECT_GT(one_wins, 0);
  EXPECT_LT(one_wins, 32);
}

TEST(MarketAuction, RankOrdersByScoreAndFillsScores) {
  AuctionParams p;
  AuctionTerms t = make_terms();
  std::vector<AcceptedBid> bids;
  for (std::uint8_t who : {1, 2, 3, 4}) {
    AcceptedBid a;
    a.offer = make_bid(t, who, 1'000U * (5U - who));  // 4,000 3,000 2,000 1,000
    bids.push_back(a);
  }
  rank(bids, t, p);
  ASSERT_EQ(bids.size(), 4u);
  EXPECT_EQ(bids[0].offer.bidder, key(4));
  EXPECT_EQ(bids[3].offer.bidder, key(1));
  for (std::size_t i = 0; i < bids.size(); ++i) {
    EXPECT_EQ(bids[i].score_ppm, score_ppm(Msat{1'000}, t, bids[i].offer, 500'000, 0, p));
    if (i > 0) {
      EXPECT_LT(bids[i - 1].score_ppm, bids[i].score_ppm);
    }
  }
}

// ---- Clearing and retries -----------------------------------------------------------------------

TEST(MarketAuction, AnRfbWithNoBidsExpires) {
  AuctionParams p;
  AuctionBook book = make_book();
  // Before the window closes nothing happens.
  EXPECT_FALSE(book.clear(book.terms.closes_at() - 1, p));
  EXPECT_EQ(book.state, AuctionState::open);
  EXPECT_FALSE(book.clear(book.terms.closes_at(), p));
  EXPECT_EQ(book.state, AuctionState::expired);
  EXPECT_TRUE(book.is_terminal());
  EXPECT_EQ(book.attempts, 0u);
  EXPECT_FALSE(book.current);
  // Cooldown before the job is auctioned again: from the RFB.
  EXPECT_EQ(book.reauction_not_before(p), kOpenedAt + 2'000);
  // Nothing more happens to a terminal book.
  EXPECT_FALSE(book.award_next(book.terms.closes_at() + 1, p));
  EXPECT_EQ(book.state, AuctionState::expired);
}

TEST(MarketAuction, AnRfbWhoseBidsAllLapsedByClearingExpires) {
  AuctionParams p;
  AuctionBook book = make_book();
  BidOffer b = make_bid(book.terms, 1, 100);
  b.valid_until = kOpenedAt / 1000 + 1;
  b.received_at = kOpenedAt;
  ASSERT_TRUE(book.offer(b, known_peer()).ok());
  EXPECT_FALSE(book.clear(kOpenedAt + 1'000, p));  // valid_until reached
  EXPECT_EQ(book.state, AuctionState::expired);
}

TEST(MarketAuction, AWinnerThatNeverAnswersPassesToTheNextBestThenFailsExplicitly) {
  AuctionParams p;  // retry budget 3
  AuctionBook book = make_book();
  // Arrival order differs from rank order: 2 is best, then 4, 1, 3.
  ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 3'000), known_peer()).ok());
  ASSERT_TRUE(book.offer(make_bid(book.terms, 2, 1'000), known_peer()).ok());
  ASSERT_TRUE(book.offer(make_bid(book.terms, 3, 4'000), known_peer()).ok());
  ASSERT_TRUE(book.offer(make_bid(book.terms, 4, 2'000), known_peer()).ok());

  UnixMillis now = book.terms.closes_at();
  auto first = book.clear(now, p);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->offer.bidder, key(2));
  EXPECT_EQ(book.state, AuctionState::cleared);
  EXPECT_EQ(book.attempts, 1u);
  ASSERT_TRUE(book.current);
  EXPECT_EQ(*book.current, 0u);
  EXPECT_TRUE(book.bids[0].tried);
  EXPECT_TRUE(book.mark_awarded());  // the AWARD is published
  EXPECT_EQ(book.state, AuctionState::awarded);
  EXPECT_FALSE(book.mark_awarded());  // only from cleared

  now += 5'000;  // no JOB_RESULT before submit_by
  auto second = book.winner_failed(now, p);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->offer.bidder, key(4));
  EXPECT_EQ(book.state, AuctionState::awarded);
  EXPECT_EQ(book.attempts, 2u);
  EXPECT_EQ(*book.current, 1u);

  now += 5'000;
  auto third = book.award_next(now, p);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->offer.bidder, key(1));
  EXPECT_EQ(book.attempts, 3u);

  now += 5'000;  // the budget of 3 attempts is spent although bidder 3 is untried and valid
  EXPECT_FALSE(book.award_next(now, p));
  EXPECT_EQ(book.state, AuctionState::failed);
  EXPECT_TRUE(book.is_terminal());
  EXPECT_FALSE(book.current);
  EXPECT_EQ(book.attempts, 3u);
  EXPECT_FALSE(book.bids[3].tried);
  EXPECT_EQ(book.bids[3].offer.bidder, key(3));
  // And stays failed.
  EXPECT_FALSE(book.award_next(now, p));
  EXPECT_EQ(book.state, AuctionState::failed);
}

TEST(MarketAuction, FailsWhenNoUntriedBidIsLeftWithinTheBudget) {
  AuctionParams p;
  AuctionBook book = make_book();
  ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 1'000), known_peer()).ok());
  ASSERT_TRUE(book.offer(make_bid(book.terms, 2, 2'000), known_peer()).ok());
  UnixMillis now = book.terms.closes_at();
  ASSERT_TRUE(book.clear(now, p));
  ASSERT_TRUE(book.award_next(now + 1, p));
  EXPECT_FALSE(book.award_next(now + 2, p));
  EXPECT_EQ(book.state, AuctionState::failed);
  EXPECT_EQ(book.attempts, 2u);
}

TEST(MarketAuction, ARetrySkipsABidWhoseReservationLapsed) {
  AuctionParams p;
  AuctionBook book = make_book();
  const std::int64_t base_s = kOpenedAt / 1000;
  BidOffer best = make_bid(book.terms, 1, 1'000);
  BidOffer second = make_bid(book.terms, 2, 2'000);
  second.valid_until = base_s + 10;  // lapses before the winner's failure is known
  BidOffer third = make_bid(book.terms, 3, 3'000);
  third.valid_until = base_s + 60;
  for (const BidOffer& b : {best, second, third}) ASSERT_TRUE(book.offer(b, known_peer()).ok());

  ASSERT_TRUE(book.clear(book.terms.closes_at(), p));
  ASSERT_TRUE(book.mark_awarded());
  // At valid_until exactly the reservation has lapsed (NIP-40).
  auto next = book.award_next((base_s + 10) * 1000, p);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->offer.bidder, key(3));
  EXPECT_FALSE(book.bids[1].tried);
  EXPECT_EQ(book.attempts, 2u);
  // Once third lapses too, nothing valid is left: failed within the budget.
  EXPECT_FALSE(book.award_next((base_s + 60) * 1000, p));
  EXPECT_EQ(book.state, AuctionState::failed);
}

TEST(MarketAuction, AwardNextDoesNothingBeforeClearing) {
  AuctionParams p;
  AuctionBook book = make_book();
  ASSERT_TRUE(book.offer(make_bid(book.terms, 1, 1'000), known_peer()).ok());
  EXPECT_FALSE(book.award_next(book.terms.closes_at(), p));
  EXPECT_EQ(book.state, AuctionState::open);
  EXPECT_EQ(book.attempts, 0u);
}

TEST(MarketAuction, StateNames) {
  EXPECT_EQ(to_string(AuctionState::open), "open");
  EXPECT_EQ(to_string(AuctionState::cleared), "cleared");
  EXPECT_EQ(to_string(AuctionState::awarded), "awarded");
  EXPECT_EQ(to_string(AuctionState::expired), "expired");
  EXPECT_EQ(to_string(AuctionState::cancelled), "cancelled");
  EXPECT_EQ(to_string(AuctionState::failed), "failed");
}

// ---- Binary form --------------------------------------------------------------------------------

AuctionBook busy_book() {
  AuctionParams p;
  AuctionBook book = make_book();
  for (std::uint8_t who = 1; who <= 5; ++who) {
    BidOffer b = make_bid(book.terms, who, 1'000U * who, 700U * who);
    b.received_at = kOpenedAt + who;
    (void)book.offer(b, known_peer(100'000U * who, who));
  }
  (void)book.clear(book.terms.closes_at(), p);
  (void)book.mark_awarded();
  (void)book.award_next(book.terms.closes_at() + 10, p);
  return book;
}

TEST(MarketAuctionCodec, RoundTripsExactlyInEveryState) {
  std::vector<AuctionBook> books;
  books.push_back(make_book());  // open, empty
  AuctionBook open = make_book();
  ASSERT_TRUE(open.offer(make_bid(open.terms, 9, 123), known_peer(1, 2)).ok());
  books.push_back(open);
  books.push_back(busy_book());  // awarded, second attempt, scores filled
  AuctionBook failed = busy_book();
  AuctionParams p;
  while (failed.award_next(failed.terms.closes_at() + 20, p)) {
  }
  books.push_back(failed);
  AuctionBook extremes = make_book();
  extremes.terms.opened_at = -5;
  extremes.terms.max_price = Msat{std::numeric_limits<std::uint64_t>::max()};
  BidOffer odd = make_bid(extremes.terms, 7, std::numeric_limits<std::uint64_t>::max());
  odd.valid_until = std::numeric_limits<std::int64_t>::min();
  odd.received_at = std::numeric_limits<std::int64_t>::max();
  odd.endpoint = std::string(3'000, 'x');
  AcceptedBid a;
  a.offer = odd;
  a.reputation_ppm = std::numeric_limits<std::uint32_t>::max();
  a.stake_units = std::numeric_limits<std::uint64_t>::max();
  a.score_ppm = std::numeric_limits<std::int64_t>::min();
  a.tried = true;
  extremes.bids.push_back(a);
  extremes.state = AuctionState::cancelled;
  extremes.attempts = std::numeric_limits<std::uint32_t>::max();
  extremes.current = 0;
  books.push_back(extremes);

  ASSERT_EQ(books[2].bids.size(), 5u);
  ASSERT_EQ(books[2].state, AuctionState::awarded);
  ASSERT_EQ(books[2].attempts, 2u);
  ASSERT_EQ(books[3].state, AuctionState::failed);
  for (const AuctionBook& book : books) {
    const std::string bytes = book.encode();
    auto back = AuctionBook::decode(bytes);
    ASSERT_TRUE(back) << to_string(book.state);
    EXPECT_EQ(*back, book);
    EXPECT_EQ(back->encode(), bytes);
  }
}

TEST(MarketAuctionCodec, RejectsEveryTruncation) {
  const std::string bytes = busy_book().encode();
  ASSERT_TRUE(AuctionBook::decode(bytes));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(AuctionBook::decode(std::string_view(bytes).substr(0, n))) << n;
  }
}

TEST(MarketAuctionCodec, RejectsGarbage) {
  AuctionBook one = make_book();
  ASSERT_TRUE(one.offer(make_bid(one.terms, 1, 100), known_peer()).ok());
  ASSERT_TRUE(one.clear(one.terms.closes_at(), AuctionParams{}));
  const std::string good = one.encode();
  ASSERT_TRUE(AuctionBook::decode(good));
  // The tail is [tried=1][attempts=1][has current=1][current=0].
  ASSERT_EQ(good.substr(good.size() - 4), std::string("\x01\x01\x01\x00", 4));

  auto mutated = [&](std::size_t at, char v) {
    std::string s = good;
    s[at] = v;
    return s;
  };
  EXPECT_FALSE(AuctionBook::decode(""));
  EXPECT_FALSE(AuctionBook::decode(mutated(0, 'B')));              // magic
  EXPECT_FALSE(AuctionBook::decode(mutated(1, 2)));                // version
  EXPECT_FALSE(AuctionBook::decode(mutated(good.size() - 4, 2)));  // tried flag
  EXPECT_FALSE(AuctionBook::decode(mutated(good.size() - 2, 2)));  // has-current flag
  EXPECT_FALSE(AuctionBook::decode(mutated(good.size() - 1, 1)));  // current out of range
  EXPECT_FALSE(AuctionBook::decode(good + '\0'));                  // trailing byte

  // The state byte follows the terms: 2 + 32 + 16 + 32 bytes and four varints.
  BinaryWriter w;
  w.varint(one.terms.max_price.value());
  w.varint(one.terms.deadline.value());
  w.svarint(one.terms.opened_at);
  w.varint(one.terms.bid_window.value());
  const std::size_t state_at = 2 + 32 + 16 + 32 + w.data().size();
  ASSERT_EQ(good[state_at], static_cast<char>(AuctionState::cleared));
  EXPECT_FALSE(AuctionBook::decode(mutated(state_at, 6)));
  EXPECT_FALSE(AuctionBook::decode(mutated(state_at, '\xff')));
  EXPECT_TRUE(AuctionBook::decode(mutated(state_at, 5)));  // failed: a valid state
  // A bid count far beyond what the bytes can hold.
  std::string huge = good.substr(0, state_at + 1);
  huge += std::string("\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 9);
  EXPECT_FALSE(AuctionBook::decode(huge));

  // The same bidder twice can't come from offer().
  AuctionBook twice = one;
  twice.bids.push_back(twice.bids[0]);
  EXPECT_FALSE(AuctionBook::decode(twice.encode()));

  // Random bytes, with and without a valid header.
  std::mt19937_64 rng(42);
  for (int i = 0; i < 2'000; ++i) {
    std::string junk(rng() % 400, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 2 == 0 && junk.size() >= 2) {
      junk[0] = 'A';
      junk[1] = 1;
    }
    EXPECT_FALSE(AuctionBook::decode(junk)) << i;
  }
  // Random single-byte corruptions never crash, and what decodes re-encodes to itself.
  for (std::size_t at = 0; at < good.size(); ++at) {
    for (int v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      auto back = AuctionBook::decode(mutated(at, static_cast<char>(v)));
      if (back) {
        EXPECT_EQ(AuctionBook::decode(back->encode()), back);
      }
    }
  }
}

}  // namespace
}  // namespace fedai::market
