// The router's reducers, driven record by record through the framework on in-memory tables:
// the auction path, the posted-price path, every refusal, retries and failure, restart, and
// replay determinism.
#include "core/router/router_machine.h"

#include <gtest/gtest.h>

#include <random>

#include "core/machine/runner.h"
#include "core/router/codec.h"

namespace fedai::router {
namespace {

using machine::ApplyOutcome;
using protocol::Millis;
using protocol::Msat;
using Status = ApplyOutcome::Status;

constexpr UnixMillis kT0 = 1'700'000'000'000;

PublicKey key(std::uint8_t b) {
  PublicKey k;
  k.bytes.fill(b);
  return k;
}
EventId id(std::uint8_t b, std::uint8_t salt = 0) {
  EventId e;
  e.bytes.fill(b);
  e.bytes[0] = salt;
  return e;
}
JobId job_id(std::uint8_t b) {
  JobId j;
  j.bytes.fill(b);
  return j;
}

const PublicKey kRouter = key(0xee);
const PublicKey kNodeA = key(0xa1), kNodeB = key(0xb2), kNodeC = key(0xc3);

RouterPolicy policy() {
  RouterPolicy p;
  p.self = kRouter;
  return p;
}

class Harness {
 public:
  explicit Harness(RouterPolicy p = policy()) {
    EXPECT_EQ(push(RouterMachine::record(p, kT0 - 1)).status, Status::applied);
  }

  ApplyOutcome push(const machine::Record& r) {
    last_ = machine::apply_record(machine_, tables_, r);
    log_.push_back(r);
    return last_;
  }
  const std::vector<machine::Effect>& effects() const { return last_.effects; }

  template <class T>
  T effect(EffectType type) const {
    for (const auto& e : last_.effects)
      if (e.type == type) return *codec::decode<T>(e.payload);
    ADD_FAILURE() << "no effect of type " << type;
    return T{};
  }
  bool has_effect(EffectType type) const {
    for (const auto& e : last_.effects)
      if (e.type == type) return true;
    return false;
  }

  JobState job(const JobId& j) {
    machine::Overlay view(tables_);
    return *RouterMachine::job(view, j);
  }
  market::AuctionBook book(const JobId& j) {
    machine::Overlay view(tables_);
    return *RouterMachine::auction(view, j);
  }
  bool has_job(const JobId& j) {
    machine::Overlay view(tables_);
    return RouterMachine::job(view, j).has_value();
  }
  std::size_t count(machine::TableId table) {
    std::size_t n = 0;
    tables_.scan(table, "", [&](std::string_view, std::string_view) {
      ++n;
      return true;
    });
    return n;
  }
  std::optional<PeerStats> peer(const PublicKey& k) {
    machine::Overlay view(tables_);
    return RouterMachine::peer(view, k);
  }

  void announce(const PublicKey& node, const std::string& model, UnixMillis at,
                Msat in = Msat{1000}, Msat out = Msat{2000}) {
    CapsReceived c;
    c.node = node;
    c.event_id = id(node.bytes[0], 1);
    c.created_at = at / 1000;
    c.instance = "node";
    c.model = model;
    c.job_types = {"chat"};
    c.endpoint = "http://127.0.0.1/" + node.hex().substr(0, 4);
    c.privacy_max = protocol::PrivacyLevel::pl2;
    c.max_output_tokens = 4096;
    c.streaming = true;
    ASSERT_EQ(push(RouterMachine::record(c, at)).status, Status::applied);
    PriceReceived p;
    p.node = node;
    p.event_id = id(node.bytes[0], 2);
    p.created_at = at / 1000;
    p.instance = "node";
    p.model = model;
    p.job_type = "chat";
    p.in_per_1k = in;
    p.out_per_1k = out;
    p.min = Msat{100};
    ASSERT_EQ(push(RouterMachine::record(p, at)).status, Status::applied);
  }

  // JobRequested through RfbSent: the auction is open at `at`.
  EventId open_auction(const JobId& j, UnixMillis at, Msat max_price = Msat{1'000'000}) {
    JobRequested req;
    req.job_id = j;
    req.model = "tiny";
    req.job_type = "chat";
    req.input_tokens = 100;
    req.max_output_tokens = 200;
    req.max_price = max_price;
    req.bid_window = Millis{500};
    req.deadline = Millis{10'000};
    EXPECT_EQ(push(RouterMachine::record(req, at)).status, Status::applied);
    EXPECT_TRUE(has_effect(kComposeRfb));
    EventId rfb = id(0x50, j.bytes[0]);
    EXPECT_EQ(
        push(RouterMachine::record(kRfbSent, EventSent{j, 0, rfb, at / 1000, "{\"rfb\":1}"}, at))
            .status,
        Status::applied);
    return rfb;
  }

  BidReceived bid(const JobId& j, const EventId& rfb, const PublicKey& node, Msat price,
                  UnixMillis at, std::uint8_t salt = 0) {
    BidReceived b;
    b.bid.bid_id = id(node.bytes[0], static_cast<std::uint8_t>(0x80 + salt));
    b.bid.bidder = node;
    b.bid.addressee = kRouter;
    b.bid.rfb_ref = rfb;
    b.bid.job_id = j;
    b.bid.price = price;
    b.bid.in_per_1k = Msat{1000};
    b.bid.out_per_1k = Msat{2000};
    b.bid.min = Msat{100};
    b.bid.eta = Millis{1000};
    b.bid.endpoint = "http://127.0.0.1/" + node.hex().substr(0, 4);
    b.bid.capacity_token.bytes.fill(node.bytes[0]);
    b.bid.valid_until = at / 1000 + 30;
    b.bid.received_at = at;
    return b;
  }

  machine::Record timer(TimerKind kind, const JobId& j, std::uint32_t attempt, UnixMillis at) {
    return RouterMachine::record(TimerFired{kind, j, attempt}, at);
  }

  Sha256Digest hash() const { return machine::state_hash(machine_, tables_); }
  const std::vector<machine::Record>& log() const { return log_; }
  const RouterMachine& machine() const { return machine_; }

 private:
  RouterMachine machine_;
  machine::MemoryTables tables_;
  ApplyOutcome last_;
  std::vector<machine::Record> log_;
};

TEST(RouterMachine, AuctionHappyPath) {
  Harness h;
  h.announce(kNodeA, "tiny", kT0);
  h.announce(kNodeB, "tiny", kT0);
  JobId j = job_id(1);
  EventId rfb = h.open_auction(j, kT0 + 1000);
  EXPECT_TRUE(h.has_effect(kPublish));
  auto timer = h.effect<ArmTimer>(kArmTimer);
  EXPECT_EQ(timer.at, kT0 + 1500);
  EXPECT_EQ(h.job(j).phase, JobPhase::bidding);

  EXPECT_EQ(h.push(RouterMachine::record(h.bid(j, rfb, kNodeA, Msat{9000}, kT0 + 1100), kT0 + 1100))
                .status,
            Status::applied);
  EXPECT_EQ(h.push(RouterMachine::record(h.bid(j, rfb, kNodeB, Msat{7000}, kT0 + 1200), kT0 + 1200))
                .status,
            Status::applied);

  ASSERT_EQ(h.push(h.timer(TimerKind::bid_window, j, 1, kT0 + 1500)).status, Status::applied);
  auto award = h.effect<ComposeAward>(kComposeAward);
  EXPECT_EQ(award.node, kNodeB);  // the cheaper bid, other things equal
  EXPECT_EQ(award.price, Msat{7000});
  EXPECT_EQ(award.attempt, 1u);
  EXPECT_TRUE(award.rfb_id && award.bid_id && award.capacity_token);

  EventId award_id = id(0x60);
  ASSERT_EQ(h.push(RouterMachine::record(kAwardSent, EventSent{j, 1, award_id, 0, "{\"award\":1}"},
                                         kT0 + 1510))
                .status,
            Status::applied);
  EXPECT_TRUE(h.has_effect(kPublish));
  auto dispatch = h.effect<Dispatch>(kDispatch);
  EXPECT_EQ(dispatch.node, kNodeB);
  EXPECT_EQ(dispatch.award_json, "{\"award\":1}");
  EXPECT_EQ(h.book(j).state, market::AuctionState::awarded);
  // The same AWARD again (an effect carried out twice across a crash) changes nothing: the job's
  // phase guards it, with no seen id kept for the router's own events.
  auto awarded = h.job(j);
  EXPECT_EQ(h.push(RouterMachine::record(kAwardSent, EventSent{j, 1, award_id, 0, "{\"award\":1}"},
                                         kT0 + 1511))
                .status,
            Status::applied);
  EXPECT_TRUE(h.effects().empty());
  EXPECT_EQ(h.job(j).phase, JobPhase::dispatching);
  EXPECT_EQ(h.job(j).awarded_at, awarded.awarded_at);

  DispatchOutcome ok{j,
                     1,
                     true,
                     protocol::ProtocolError::internal,
                     market::Outcome::success,
                     "",
                     100,
                     150,
                     Msat{6500},
                     Millis{800},
                     id(0x70)};
  ASSERT_EQ(h.push(RouterMachine::record(ok, kT0 + 2400)).status, Status::applied);
  auto reply = h.effect<ClientReply>(kClientReply);
  EXPECT_TRUE(reply.ok);
  EXPECT_EQ(h.job(j).phase, JobPhase::done);
  EXPECT_EQ(h.job(j).price, Msat{6500});
  EXPECT_EQ(h.peer(kNodeB)->jobs_ok, 1u);
  EXPECT_GT(h.peer(kNodeB)->reputation.success_ppm, 500'000u);
}

TEST(RouterMachine, BidsAreRefusedByRule) {
  Harness h;
  h.announce(kNodeA, "tiny", kT0);
  h.announce(kNodeB, "tiny", kT0);
  JobId j = job_id(2);
  EventId rfb = h.open_auction(j, kT0 + 1000, Msat{10'000});
  auto refused = [&](BidReceived b, UnixMillis at) {
    auto r = h.push(RouterMachine::record(b, at));
    EXPECT_EQ(r.status, Status::rejected);
    return r.error;
  };
  // Unknown peer: no CAPS for the model.
  EXPECT_TRUE(
      refused(h.bid(j, rfb, kNodeC, Msat{5000}, kT0 + 1100), kT0 + 1100).starts_with("blocked:"));
  // Above the RFB's max price.
  EXPECT_TRUE(
      refused(h.bid(j, rfb, kNodeA, Msat{10'001}, kT0 + 1100), kT0 + 1100).starts_with("invalid:"));
  // Addressed to someone else.
  auto wrong = h.bid(j, rfb, kNodeA, Msat{5000}, kT0 + 1100);
  wrong.bid.addressee = kNodeC;
  EXPECT_TRUE(refused(wrong, kT0 + 1100).starts_with("invalid:"));
  // For an RFB we never sent.
  EXPECT_TRUE(refused(h.bid(j, id(0x99), kNodeA, Msat{5000}, kT0 + 1100), kT0 + 1100)
                  .starts_with("invalid: BID names no RFB of ours"));
  // After the window closed.
  EXPECT_TRUE(
      refused(h.bid(j, rfb, kNodeA, Msat{5000}, kT0 + 1501), kT0 + 1501).starts_with("invalid:"));
  // A good one, then a second from the same peer.
  EXPECT_EQ(h.push(RouterMachine::record(h.bid(j, rfb, kNodeA, Msat{5000}, kT0 + 1100), kT0 + 1100))
                .status,
            Status::applied);
  EXPECT_TRUE(refused(h.bid(j, rfb, kNodeA, Msat{4000}, kT0 + 1200, 1), kT0 + 1200)
                  .starts_with("duplicate:"));
  // The very same BID event again: the framework's duplicate.
  EXPECT_EQ(h.push(RouterMachine::record(h.bid(j, rfb, kNodeA, Msat{5000}, kT0 + 1100), kT0 + 1300))
                .status,
            Status::duplicate);
  EXPECT_EQ(h.book(j).bids.size(), 1u);
}

TEST(RouterMachine, CircuitBrokenPeerCannotBid) {
  RouterPolicy p = policy();
  p.breaker.failures_to_open = 1;
  Harness h(p);
  h.announce(kNodeA, "tiny", kT0);
  h.announce(kNodeB, "tiny", kT0);
  // Node A wins and never answers: its breaker opens.
  JobId j1 = job_id(3);
  EventId rfb1 = h.open_auction(j1, kT0 + 1000);
  h.push(RouterMachine::record(h.bid(j1, rfb1, kNodeA, Msat{5000}, kT0 + 1100), kT0 + 1100));
  h.push(h.timer(TimerKind::bid_window, j1, 1, kT0 + 1500));
  h.push(RouterMachine::record(kAwardSent, EventSent{j1, 1, id(0x61), 0, "{}"}, kT0 + 1510));
  h.push(h.timer(TimerKind::dispatch_deadline, j1, 1, kT0 + 20'000));
  EXPECT_EQ(h.peer(kNodeA)->breaker.state, market::Breaker::State::open);
  // Its next bid is refused while the breaker is open.
  JobId j2 = job_id(4);
  EventId rfb2 = h.open_auction(j2, kT0 + 21'000);
  auto r = h.push(
      RouterMachine::record(h.bid(j2, rfb2, kNodeA, Msat{5000}, kT0 + 21'100, 2), kT0 + 21'100));
  EXPECT_EQ(r.status, Status::rejected);
  EXPECT_TRUE(r.error.starts_with("blocked:")) << r.error;
}

TEST(RouterMachine, NoBidsReauctionsAfterCooldownThenFails) {
  Harness h;
  JobId j = job_id(5);
  h.open_auction(j, kT0);
  ASSERT_EQ(h.push(h.timer(TimerKind::bid_window, j, 1, kT0 + 500)).status, Status::applied);
  EXPECT_EQ(h.job(j).phase, JobPhase::cooling);
  EXPECT_EQ(h.book(j).state, market::AuctionState::expired);
  auto cooldown = h.effect<ArmTimer>(kArmTimer);
  EXPECT_EQ(cooldown.at, kT0 + 2000);  // F-03: not before the last RFB + 2 s
  // Rounds 2 and 3, no bids either.
  for (std::uint32_t round = 2; round <= 3; ++round) {
    UnixMillis t = kT0 + 2000 * static_cast<UnixMillis>(round);
    ASSERT_EQ(h.push(h.timer(TimerKind::cooldown, j, round - 1, t)).status, Status::applied);
    EXPECT_EQ(h.effect<ComposeRfb>(kComposeRfb).round, round);
    h.push(RouterMachine::record(
        kRfbSent, EventSent{j, 0, id(0x51, static_cast<std::uint8_t>(round)), 0, "{}"}, t));
    h.push(h.timer(TimerKind::bid_window, j, round, t + 500));
  }
  EXPECT_EQ(h.job(j).phase, JobPhase::failed);
  auto reply = h.effect<ClientReply>(kClientReply);
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error, protocol::ProtocolError::no_bids);
}

TEST(RouterMachine, SilentWinnerIsReplacedByTheNextBidderThenTheJobFails) {
  Harness h;
  h.announce(kNodeA, "tiny", kT0);
  h.announce(kNodeB, "tiny", kT0);
  h.announce(kNodeC, "tiny", kT0);
  JobId j = job_id(6);
  EventId rfb = h.open_auction(j, kT0 + 1000);
  h.push(RouterMachine::record(h.bid(j, rfb, kNodeA, Msat{3000}, kT0 + 1100), kT0 + 1100));
  h.push(RouterMachine::record(h.bid(j, rfb, kNodeB, Msat{4000}, kT0 + 1100), kT0 + 1100));
  h.push(RouterMachine::record(h.bid(j, rfb, kNodeC, Msat{5000}, kT0 + 1100), kT0 + 1100));
  h.push(h.timer(TimerKind::bid_window, j, 1, kT0 + 1500));
  EXPECT_EQ(h.effect<ComposeAward>(kComposeAward).node, kNodeA);

  PublicKey expected[] = {kNodeB, kNodeC};
  UnixMillis t = kT0 + 1510;
  for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
    h.push(RouterMachine::record(
        kAwardSent, EventSent{j, attempt, id(0x62, static_cast<std::uint8_t>(attempt)), 0, "{}"},
        t));
    t += 13'000;  // past the deadline (10 s) and the slack (2 s)
    ASSERT_EQ(h.push(h.timer(TimerKind::dispatch_deadline, j, attempt, t)).status, Status::applied);
    EXPECT_TRUE(h.has_effect(kComposeCancel));  // the silent node's award is taken back
    if (attempt < 3) {
      auto next = h.effect<ComposeAward>(kComposeAward);
      EXPECT_EQ(next.node, expected[attempt - 1]);
      EXPECT_EQ(next.attempt, attempt + 1);
    }
  }
  EXPECT_EQ(h.job(j).phase, JobPhase::failed);
  auto reply = h.effect<ClientReply>(kClientReply);
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error, protocol::ProtocolError::timeout);
  EXPECT_NE(reply.reason.find("retry budget spent"), std::string::npos);
  for (const auto& n : {kNodeA, kNodeB, kNodeC}) EXPECT_EQ(h.peer(n)->jobs_failed, 1u);
}

TEST(RouterMachine, StaleOutcomesAreIgnored) {
  Harness h;
  h.announce(kNodeA, "tiny", kT0);
  h.announce(kNodeB, "tiny", kT0);
  JobId j = job_id(7);
  EventId rfb = h.open_auction(j, kT0 + 1000);
  h.push(RouterMachine::record(h.bid(j, rfb, kNodeA, Msat{3000}, kT0 + 1100), kT0 + 1100));
  h.push(RouterMachine::record(h.bid(j, rfb, kNodeB, Msat{4000}, kT0 + 1100), kT0 + 1100));
  h.push(h.timer(TimerKind::bid_window, j, 1, kT0 + 1500));
  h.push(RouterMachine::record(kAwardSent, EventSent{j, 1, id(0x63), 0, "{}"}, kT0 + 1510));
  DispatchOutcome refused{j,
                          1,
                          false,
                          protocol::ProtocolError::busy,
                          market::Outcome::failure,
                          "busy",
                          0,
                          0,
                          Msat{0},
                          Millis{0},
                          EventId{}};
  h.push(RouterMachine::record(refused, kT0 + 1600));
  EXPECT_EQ(h.job(j).attempts, 2u);
  // A late answer for attempt 1 changes nothing.
  auto before = h.hash();
  DispatchOutcome late{j,
                       1,
                       true,
                       protocol::ProtocolError::internal,
                       market::Outcome::success,
                       "",
                       1,
                       1,
                       Msat{1},
                       Millis{1},
                       id(0x71)};
  EXPECT_EQ(h.push(RouterMachine::record(late, kT0 + 1700)).status, Status::applied);
  EXPECT_TRUE(h.effects().empty());
  EXPECT_EQ(h.hash(), before);
}

TEST(RouterMachine, PostedPricePicksTheCheapestAvailableNode) {
  Harness h;
  h.announce(kNodeA, "tiny", kT0, Msat{1000}, Msat{1000});
  h.announce(kNodeB, "tiny", kT0, Msat{500}, Msat{500});
  h.announce(kNodeC, "tiny", kT0, Msat{100}, Msat{100});
  // C is the cheapest but saturated.
  StatusReceived sat{
      kNodeC, "node", kT0 / 1000, kT0 / 1000 + 90, protocol::Backpressure::saturated, 9, Millis{0}};
  h.push(RouterMachine::record(sat, kT0));
  JobRequested req;
  req.job_id = job_id(8);
  req.model = "tiny";
  req.job_type = "chat";
  req.input_tokens = 1000;
  req.max_output_tokens = 1000;
  req.max_price = Msat{1'000'000};
  req.mode = JobMode::posted;
  ASSERT_EQ(h.push(RouterMachine::record(req, kT0 + 1000)).status, Status::applied);
  auto award = h.effect<ComposeAward>(kComposeAward);
  EXPECT_EQ(award.node, kNodeB);
  EXPECT_EQ(award.price, Msat{1000});  // (1000*500 + 1000*500) / 1000
  EXPECT_TRUE(award.price_id);
  EXPECT_FALSE(award.rfb_id);
  // A posted-price award is not published: it travels with the job.
  h.push(
      RouterMachine::record(kAwardSent, EventSent{req.job_id, 1, id(0x64), 0, "{}"}, kT0 + 1010));
  EXPECT_FALSE(h.has_effect(kPublish));
  EXPECT_TRUE(h.has_effect(kDispatch));
}

TEST(RouterMachine, PrivacyLevel3NeverLeaves) {
  Harness h;
  h.announce(kNodeA, "tiny", kT0);
  JobRequested req;
  req.job_id = job_id(9);
  req.model = "tiny";
  req.job_type = "chat";
  req.max_price = Msat{1000};
  req.privacy = protocol::PrivacyLevel::pl3;
  ASSERT_EQ(h.push(RouterMachine::record(req, kT0)).status, Status::applied);
  EXPECT_FALSE(h.has_effect(kComposeRfb));
  EXPECT_EQ(h.effect<ClientReply>(kClientReply).error,
            protocol::ProtocolError::privacy_unsupported);
}

TEST(RouterMachine, RestartFailsInFlightJobsExplicitly) {
  Harness h;
  h.announce(kNodeA, "tiny", kT0);
  JobId j = job_id(10);
  EventId rfb = h.open_auction(j, kT0 + 1000);
  h.push(RouterMachine::record(h.bid(j, rfb, kNodeA, Msat{3000}, kT0 + 1100), kT0 + 1100));
  h.push(h.timer(TimerKind::bid_window, j, 1, kT0 + 1500));
  h.push(RouterMachine::record(kAwardSent, EventSent{j, 1, id(0x65), 0, "{}"}, kT0 + 1510));
  ASSERT_EQ(h.push(RouterMachine::record(Startup{1}, kT0 + 5000)).status, Status::applied);
  EXPECT_EQ(h.job(j).phase, JobPhase::failed);
  EXPECT_EQ(h.job(j).reason, "the router restarted");
  auto cancel = h.effect<ComposeCancel>(kComposeCancel);
  EXPECT_EQ(cancel.node, kNodeA);
  EXPECT_TRUE(cancel.award_id);
}

TEST(RouterMachine, DuplicateJobIdIsRefused) {
  Harness h;
  JobId j = job_id(11);
  h.open_auction(j, kT0);
  JobRequested again;
  again.job_id = j;
  again.model = "tiny";
  again.job_type = "chat";
  again.max_price = Msat{10};
  auto r = h.push(RouterMachine::record(again, kT0 + 10));
  EXPECT_EQ(r.status, Status::rejected);
  EXPECT_TRUE(r.error.starts_with("duplicate:"));
}

// Random interleavings of requests, announcements, bids, timers and outcomes: applying the log
// again from empty tables gives the same state hash (replay is deterministic).
TEST(RouterMachine, ReplayOfRandomSessionsIsDeterministic) {
  for (int seed = 1; seed <= 10; ++seed) {
    Harness live;
    std::mt19937 rng(seed);
    PublicKey nodes[] = {kNodeA, kNodeB, kNodeC};
    for (const auto& n : nodes) live.announce(n, "tiny", kT0);
    UnixMillis t = kT0 + 1000;
    for (int k = 0; k < 20; ++k) {
      JobId j = job_id(static_cast<std::uint8_t>(100 + k));
      EventId rfb = live.open_auction(j, t);
      for (const auto& n : nodes)
        if (rng() % 3)
          live.push(RouterMachine::record(live.bid(j, rfb, n, Msat{1000 + rng() % 9000}, t + 100),
                                          t + 100));
      live.push(live.timer(TimerKind::bid_window, j, 1, t + 500));
      for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
        if (live.job(j).phase != JobPhase::composing_award) break;
        live.push(RouterMachine::record(
            kAwardSent,
            EventSent{j, attempt, id(0x66, static_cast<std::uint8_t>(k * 4 + attempt)), 0, "{}"},
            t + 510));
        bool ok = rng() % 2;
        DispatchOutcome o{j,
                          attempt,
                          ok,
                          protocol::ProtocolError::runner,
                          market::Outcome::failure,
                          "x",
                          1,
                          2,
                          Msat{900},
                          Millis{700},
                          id(0x72)};
        live.push(RouterMachine::record(o, t + 600 + attempt));
      }
      if (rng() % 4 == 0) live.push(RouterMachine::record(ClientGone{j}, t + 900));
      t += 3000;
    }
    Harness replay;  // starts with the same policy record, then replays
    for (std::size_t i = 1; i < live.log().size(); ++i) replay.push(live.log()[i]);
    EXPECT_EQ(replay.hash(), live.hash()) << "seed " << seed;
  }
}

// The newest kKeepFinishedJobs finished jobs are kept; an older one is forgotten with its
// auction book and its RFB (a late bid for it names no RFB of ours), and its peer's totals stay.
TEST(RouterMachine, KeepsOnlyTheNewestFinishedJobs) {
  Harness h;
  auto numbered = [](std::uint64_t n) {
    JobId j;
    j.bytes.fill(0x11);
    for (int i = 0; i < 8; ++i)
      j.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
    return j;
  };
  const JobId first = numbered(0);
  EventId rfb = h.open_auction(first, kT0);
  ASSERT_EQ(h.push(RouterMachine::record(ClientGone{first}, kT0 + 1)).status, Status::applied);
  ASSERT_TRUE(h.has_job(first));
  EXPECT_EQ(h.count(RouterMachine::kRfbs), 1u);
  for (std::uint64_t n = 1; n <= RouterMachine::kKeepFinishedJobs; ++n) {
    JobRequested req;
    req.job_id = numbered(n);
    req.model = "tiny";
    req.job_type = "chat";
    req.max_output_tokens = 10;
    req.max_price = Msat{1'000'000};
    req.mode = JobMode::auction;
    UnixMillis at = kT0 + 10 + static_cast<UnixMillis>(n);
    ASSERT_EQ(h.push(RouterMachine::record(req, at)).status, Status::applied);
    ASSERT_EQ(h.push(RouterMachine::record(ClientGone{req.job_id}, at)).status, Status::applied);
  }
  EXPECT_FALSE(h.has_job(first));
  EXPECT_TRUE(h.has_job(numbered(1)));
  EXPECT_TRUE(h.has_job(numbered(RouterMachine::kKeepFinishedJobs)));
  EXPECT_EQ(h.count(RouterMachine::kJobs), RouterMachine::kKeepFinishedJobs);
  EXPECT_EQ(h.count(RouterMachine::kFinished), RouterMachine::kKeepFinishedJobs);
  EXPECT_EQ(h.count(RouterMachine::kAuctions), 0u);
  EXPECT_EQ(h.count(RouterMachine::kRfbs), 0u);
  EXPECT_EQ(
      h.push(RouterMachine::record(h.bid(first, rfb, kNodeA, Msat{5000}, kT0 + 2000), kT0 + 2000))
          .error,
      "invalid: BID names no RFB of ours");
}

}  // namespace
}  // namespace fedai::router

// The store opens one LMDB table per name; a table the reducer uses without a name is an error
// only a real store finds (the policy table once was).
TEST(RouterMachine, NamesEveryTableItUses) {
  EXPECT_EQ(fedai::router::RouterMachine{}.tables().size(),
            std::size_t{fedai::router::RouterMachine::kFinished} + 1);
}
