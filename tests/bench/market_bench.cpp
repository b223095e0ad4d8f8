// Auction clearing (nips/F-03): 1,000 sealed bids offered to one book, then cleared. Each bid is
// checked against every rule (including the duplicate-bidder scan), scored in ppm, hashed for the
// tie-break and ranked. Reported as time per clearing (offers included).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "core/market/auction.h"

namespace {

using namespace fedai;
using namespace fedai::market;

constexpr UnixMillis kOpenedAt = 1'700'000'000'000;

struct Setup {
  AuctionTerms terms;
  std::vector<BidOffer> offers;
  std::vector<PeerView> peers;
};

Setup make_setup(std::size_t n) {
  Setup s;
  std::mt19937_64 rng(1);
  auto fill = [&](auto& fixed) {
    for (auto& b : fixed.bytes) b = static_cast<std::uint8_t>(rng());
  };
  fill(s.terms.rfb_id);
  fill(s.terms.job_id);
  fill(s.terms.router);
  s.terms.max_price = Msat{100'000};
  s.terms.deadline = Millis{30'000};
  s.terms.opened_at = kOpenedAt;
  for (std::size_t i = 0; i < n; ++i) {
    BidOffer b;
    fill(b.bid_id);
    fill(b.bidder);
    b.addressee = s.terms.router;
    b.rfb_ref = s.terms.rfb_id;
    b.job_id = s.terms.job_id;
    // Few distinct prices and etas, so that many ties reach the hash.
    b.price = Msat{1'000 + 1'000 * (rng() % 50)};
    b.in_per_1k = Msat{10};
    b.out_per_1k = Msat{20};
    b.eta = Millis{500 * (1 + rng() % 20)};
    b.endpoint = "http://node.example:8080";
    fill(b.capacity_token);
    b.valid_until = kOpenedAt / 1000 + 60;
    b.received_at = kOpenedAt + static_cast<UnixMillis>(rng() % 500);
    s.offers.push_back(b);
    PeerView p;
    p.known = true;
    p.reputation_ppm = static_cast<std::uint32_t>(rng() % 1'000'001);
    p.stake_units = rng() % 30;
    s.peers.push_back(p);
  }
  return s;
}

void BM_ClearAuction1000Bids(benchmark::State& state) {
  const Setup setup = make_setup(1'000);
  const AuctionParams params;
  for (auto _ : state) {
    AuctionBook book;
    book.terms = setup.terms;
    for (std::size_t i = 0; i < setup.offers.size(); ++i) {
      if (!book.offer(setup.offers[i], setup.peers[i]).ok()) state.SkipWithError("bid refused");
    }
    auto winner = book.clear(setup.terms.closes_at(), params);
    if (!winner) state.SkipWithError("no winner");
    benchmark::DoNotOptimize(winner);
  }
  state.SetItemsProcessed(state.iterations() * 1'000);
}
BENCHMARK(BM_ClearAuction1000Bids)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
