// The node's reducers: bidding, reservations, awards won and lost, accepting each job once.
#include "core/node/node_machine.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/machine/apply.h"
#include "core/machine/record_fields.h"

namespace fedai::node {
namespace {

using machine::ApplyOutcome;
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

// Distinct ids for many jobs: `tag` then the number.
EventId numbered(std::uint8_t tag, std::uint32_t n) {
  EventId e;
  e.bytes.fill(tag);
  std::memcpy(e.bytes.data() + 1, &n, sizeof n);
  return e;
}

const PublicKey kSelf = key(0x11), kRouter = key(0x22), kOther = key(0x33);

NodePolicy policy(std::uint32_t slots = 2) {
  NodePolicy p;
  p.self = kSelf;
  p.max_concurrency = slots;
  ModelOffer tiny;
  tiny.job_types = {"chat"};
  tiny.in_per_1k = Msat{1000};
  tiny.out_per_1k = Msat{2000};
  tiny.min = Msat{100};
  p.models["tiny"] = tiny;
  return p;
}

class Harness {
 public:
  explicit Harness(NodePolicy p = policy()) {
    EXPECT_EQ(push(NodeMachine::record(p, kT0 - 1)).status, Status::applied);
  }
  ApplyOutcome push(const machine::Record& r) {
    return last_ = machine::apply_record(machine_, tables_, r);
  }
  bool has(EffectType t) const {
    for (const auto& e : last_.effects)
      if (e.type == t) return true;
    return false;
  }
  template <class T>
  T effect(EffectType type) const {
    for (const auto& e : last_.effects)
      if (e.type == type) return *record_fields::decode<T>(e.payload);
    ADD_FAILURE() << "no effect " << type;
    return T{};
  }
  Load load() {
    machine::Overlay v(tables_);
    return NodeMachine::load(v);
  }
  std::optional<Reservation> reservation(const EventId& rfb) {
    machine::Overlay v(tables_);
    return NodeMachine::reservation(v, rfb);
  }

  RfbReceived rfb(std::uint8_t n, Msat max_price = Msat{1'000'000}, std::string model = "tiny") {
    RfbReceived r;
    r.rfb_id = id(0x40, n);
    r.router = kRouter;
    r.job_id.bytes.fill(n);
    r.model = std::move(model);
    r.job_type = "chat";
    r.input_tokens = 100;
    r.max_output_tokens = 100;
    r.max_price = max_price;
    r.deadline = Millis{10'000};
    return r;
  }

  // RFB, BID composed and sent: returns the capacity token.
  protocol::CapacityToken bid_on(std::uint8_t n, UnixMillis at) {
    EXPECT_EQ(push(NodeMachine::record(rfb(n), at)).status, Status::applied);
    EXPECT_TRUE(has(kComposeBid));
    protocol::CapacityToken token;
    token.bytes.fill(static_cast<std::uint8_t>(0xc0 + n));
    EXPECT_EQ(
        push(NodeMachine::record(BidSent{id(0x40, n), id(0x41, n), token, "{}"}, at + 5)).status,
        Status::applied);
    EXPECT_TRUE(has(kPublish));
    return token;
  }

  JobSubmitted submit(std::uint8_t n, const protocol::CapacityToken& token,
                      Msat price = Msat{300}) {
    JobSubmitted s;
    s.submit_id = id(0x42, n);
    s.award_id = id(0x43, n);
    s.router = kRouter;
    s.job_id.bytes.fill(n);
    s.price = price;
    s.rfb_id = id(0x40, n);
    s.capacity_token = token;
    s.submit_by = kT0 / 1000 + 30;
    return s;
  }

  // A posted-price job for PRICE `price_id` (announce it first), awarded at `at`.
  JobSubmitted posted(std::uint32_t n, const EventId& price_id, UnixMillis at) {
    JobSubmitted s;
    s.submit_id = numbered(0x50, n);
    s.award_id = numbered(0x51, n);
    s.router = kRouter;
    std::memcpy(s.job_id.data(), &n, sizeof n);
    s.price_id = price_id;
    s.model = "tiny";
    s.job_type = "chat";
    s.input_tokens = 100;
    s.max_output_tokens = 100;
    s.price = Msat{300};
    s.submit_by = at / 1000 + 30;
    return s;
  }

  // Rows in `table` now.
  std::size_t rows(NodeMachine::Table table) {
    machine::Overlay v(tables_);
    std::size_t n = 0;
    v.scan(table, "", [&](std::string_view, std::string_view) { return ++n, true; });
    return n;
  }

 private:
  NodeMachine machine_;
  machine::MemoryTables tables_;
  ApplyOutcome last_;
};

TEST(NodeMachine, BidsWhenItServesAndHasRoom) {
  Harness h;
  ASSERT_EQ(h.push(NodeMachine::record(h.rfb(1), kT0)).status, Status::applied);
  auto bid = h.effect<ComposeBid>(kComposeBid);
  EXPECT_EQ(bid.price, Msat{300});  // 100 in * 1000/1k + 100 out * 2000/1k
  EXPECT_EQ(bid.router, kRouter);
  EXPECT_EQ(h.load().reserved, 1u);
  EXPECT_TRUE(h.has(kArmTimer));
  // Not for a model it does not serve, nor over the RFB's price.
  h.push(NodeMachine::record(h.rfb(2, Msat{1'000'000}, "huge"), kT0));
  EXPECT_FALSE(h.has(kComposeBid));
  h.push(NodeMachine::record(h.rfb(3, Msat{299}), kT0));
  EXPECT_FALSE(h.has(kComposeBid));
  // Fill the second slot, then there is no room.
  h.push(NodeMachine::record(h.rfb(4), kT0));
  EXPECT_TRUE(h.has(kComposeBid));
  h.push(NodeMachine::record(h.rfb(5), kT0));
  EXPECT_FALSE(h.has(kComposeBid));
  EXPECT_EQ(h.load().reserved, 2u);
}

TEST(NodeMachine, LostAwardsAndCancelsReleaseTheSlot) {
  Harness h;
  h.bid_on(1, kT0);
  h.bid_on(2, kT0);
  EXPECT_EQ(h.load().reserved, 2u);
  h.push(NodeMachine::record(AwardSeen{id(0x50, 1), kRouter, kOther, id(0x40, 1)}, kT0 + 100));
  EXPECT_EQ(h.reservation(id(0x40, 1))->state, SlotState::released);
  h.push(NodeMachine::record(CancelSeen{id(0x51, 2), kRouter, id(0x40, 2), std::nullopt, {}},
                             kT0 + 100));
  EXPECT_EQ(h.reservation(id(0x40, 2))->state, SlotState::released);
  EXPECT_EQ(h.load().reserved, 0u);
}

// The router's retry awards the next best bid of the same auction after this node saw the first
// winner's AWARD and released its slot: the bid is still honoured while it is valid and a slot is
// free (nips/F-03, retry budget); not after valid_until, nor with every slot taken.
TEST(NodeMachine, AReleasedBidIsHonouredForARetryWhileValid) {
  Harness h(policy(1));
  auto token = h.bid_on(1, kT0);
  h.push(NodeMachine::record(AwardSeen{id(0x50, 1), kRouter, kOther, id(0x40, 1)}, kT0 + 100));
  ASSERT_EQ(h.reservation(id(0x40, 1))->state, SlotState::released);
  EXPECT_EQ(h.load().reserved, 0u);

  // Past valid_until (10 s bid validity): refused.
  auto late = h.submit(1, token);
  auto r = h.push(NodeMachine::record(late, kT0 + 12'000));
  EXPECT_EQ(r.status, Status::rejected);
  EXPECT_TRUE(r.refusal.reason.to_string().starts_with("invalid:")) << r.refusal.reason.to_string();

  // Every slot taken by a posted-price job: busy.
  ASSERT_EQ(
      h.push(NodeMachine::record(PriceAnnounced{id(0x48), "tiny", "chat", 1000, 0}, kT0)).status,
      Status::applied);
  JobSubmitted posted;
  posted.submit_id = id(0x46);
  posted.award_id = id(0x47);
  posted.router = kRouter;
  posted.job_id.bytes.fill(9);
  posted.price_id = id(0x48);
  posted.model = "tiny";
  posted.job_type = "chat";
  posted.input_tokens = 100;
  posted.max_output_tokens = 100;
  posted.price = Msat{300};
  posted.submit_by = kT0 / 1000 + 30;
  ASSERT_EQ(h.push(NodeMachine::record(posted, kT0 + 200)).status, Status::applied);
  r = h.push(NodeMachine::record(h.submit(1, token), kT0 + 300));
  EXPECT_EQ(r.refusal.reason.to_string(), "error: no free slot");
  EXPECT_EQ(r.refusal.code, protocol::ProtocolError::busy);  // 503

  // The slot frees up: the retry is taken, once.
  h.push(NodeMachine::record(
      JobFinished{kRouter, posted.job_id, true, 100, 80, Millis{100}, Msat{280}}, kT0 + 400));
  EXPECT_EQ(h.push(NodeMachine::record(h.submit(1, token), kT0 + 500)).status, Status::applied);
  EXPECT_EQ(h.load().active, 1u);
  EXPECT_EQ(h.load().reserved, 0u);
  auto again = h.submit(1, token);
  again.submit_id = id(0x44, 1);
  again.award_id = id(0x45, 1);
  r = h.push(NodeMachine::record(again, kT0 + 600));
  EXPECT_EQ(r.status, Status::rejected);
}

TEST(NodeMachine, ReservationLapses) {
  Harness h;
  h.bid_on(1, kT0);
  // The timer fires early (clock skew): nothing happens; at valid_until the slot is freed.
  h.push(NodeMachine::record(TimerFired{id(0x40, 1)}, kT0 + 1000));
  EXPECT_EQ(h.load().reserved, 1u);
  h.push(NodeMachine::record(TimerFired{id(0x40, 1)}, kT0 + 20'000));
  EXPECT_EQ(h.load().reserved, 0u);
}

TEST(NodeMachine, AcceptsEachAwardOnceWithItsReservation) {
  Harness h;
  auto token = h.bid_on(1, kT0);
  h.push(NodeMachine::record(AwardSeen{id(0x43, 1), kRouter, kSelf, id(0x40, 1)}, kT0 + 100));
  EXPECT_EQ(h.reservation(id(0x40, 1))->state, SlotState::won);

  auto wrong = h.submit(1, token);
  wrong.capacity_token->bytes[0] ^= 1;
  auto r = h.push(NodeMachine::record(wrong, kT0 + 200));
  EXPECT_EQ(r.status, Status::rejected);
  EXPECT_EQ(r.refusal.reason.to_string(), "invalid: the AWARD's capacity token is not our bid's");
  EXPECT_EQ(r.refusal.code, protocol::ProtocolError::invalid);  // 400

  auto dear = h.submit(1, token, Msat{301});
  dear.submit_id = id(0x44, 1);
  EXPECT_EQ(h.push(NodeMachine::record(dear, kT0 + 200)).refusal.reason.to_string(),
            "invalid: the AWARD's price is above our bid");

  auto good = h.submit(1, token);
  ASSERT_EQ(h.push(NodeMachine::record(good, kT0 + 300)).status, Status::applied);
  EXPECT_EQ(h.load().active, 1u);
  EXPECT_EQ(h.load().reserved, 0u);
  // The same JOB_SUBMIT again: the framework's duplicate. A new JOB_SUBMIT for the same award:
  // the machine's.
  EXPECT_EQ(h.push(NodeMachine::record(good, kT0 + 400)).status, Status::duplicate);
  auto reuse = good;
  reuse.submit_id = id(0x45, 1);
  r = h.push(NodeMachine::record(reuse, kT0 + 400));
  EXPECT_EQ(r.status, Status::rejected);
  EXPECT_TRUE(r.refusal.reason.to_string().starts_with("duplicate:"))
      << r.refusal.reason.to_string();
  EXPECT_EQ(r.refusal.code, protocol::ProtocolError::duplicate);  // 409

  h.push(NodeMachine::record(
      JobFinished{kRouter, good.job_id, true, 100, 80, Millis{750}, Msat{280}}, kT0 + 1200));
  EXPECT_EQ(h.load().active, 0u);
  EXPECT_EQ(h.load().jobs_done, 1u);
  EXPECT_EQ(h.load().p95(), Millis{750});
  EXPECT_EQ(h.load().earned, Msat{280});
}

TEST(NodeMachine, PostedPriceAwardsNeedTheirPriceAndAFreeSlot) {
  Harness h(policy(1));
  JobSubmitted s;
  s.submit_id = id(0x46);
  s.award_id = id(0x47);
  s.router = kRouter;
  s.job_id.bytes.fill(9);
  s.price_id = id(0x48);
  s.model = "tiny";
  s.job_type = "chat";
  s.input_tokens = 100;
  s.max_output_tokens = 100;
  s.price = Msat{300};
  s.submit_by = kT0 / 1000 + 700;
  EXPECT_EQ(h.push(NodeMachine::record(s, kT0)).refusal.reason.to_string(),
            "invalid: the AWARD names no PRICE of ours");
  // The PRICE the award names, announced at surge 1.0, and a later one at surge 2.0: an award on
  // the first keeps its price while the first is honoured.
  ASSERT_EQ(h.push(NodeMachine::record(PriceAnnounced{id(0x48), "tiny", "chat", 1000, 0}, kT0 - 5))
                .status,
            Status::applied);
  ASSERT_EQ(h.push(NodeMachine::record(PriceAnnounced{id(0x4b), "tiny", "chat", 2000, 0}, kT0 - 1))
                .status,
            Status::applied);
  auto wrong_type = s;
  wrong_type.job_type = "embed";
  EXPECT_EQ(h.push(NodeMachine::record(wrong_type, kT0)).refusal.reason.to_string(),
            "invalid: the AWARD's PRICE is for another model or job type");
  auto lapsed = s;
  auto no_longer = h.push(NodeMachine::record(lapsed, kT0 + 600'001));
  EXPECT_EQ(no_longer.refusal.reason.to_string(),
            "invalid: the AWARD's PRICE is no longer honoured");
  EXPECT_EQ(no_longer.refusal.code, protocol::ProtocolError::award_expired);  // 410
  auto doubled = s;
  doubled.price_id = id(0x4b);
  EXPECT_EQ(h.push(NodeMachine::record(doubled, kT0)).refusal.reason.to_string(),
            "invalid: the AWARD's price is below our posted price");
  s.price = Msat{299};
  EXPECT_EQ(h.push(NodeMachine::record(s, kT0)).refusal.reason.to_string(),
            "invalid: the AWARD's price is below our posted price");
  s.price = Msat{300};
  EXPECT_EQ(h.push(NodeMachine::record(s, kT0)).status, Status::applied);
  JobSubmitted second = s;
  second.submit_id = id(0x49);
  second.award_id = id(0x4a);
  second.job_id.bytes.fill(10);
  second.price = Msat{10'000};
  auto r = h.push(NodeMachine::record(second, kT0));
  EXPECT_EQ(r.status, Status::rejected);
  EXPECT_EQ(r.refusal.reason.to_string(), "error: no free slot");
  EXPECT_EQ(r.refusal.code, protocol::ProtocolError::busy);
}

TEST(NodeMachine, RestartLosesRunningJobs) {
  Harness h;
  auto token = h.bid_on(1, kT0);
  h.push(NodeMachine::record(h.submit(1, token), kT0 + 100));
  EXPECT_EQ(h.load().active, 1u);
  h.push(NodeMachine::record(Startup{1}, kT0 + 1000));
  EXPECT_EQ(h.load().active, 0u);
  EXPECT_EQ(h.load().jobs_failed, 1u);
  // A finish for the lost job is ignored.
  h.push(NodeMachine::record(
      JobFinished{kRouter, h.submit(1, token).job_id, true, 1, 1, Millis{1}, Msat{1}}, kT0 + 2000));
  EXPECT_EQ(h.load().jobs_done, 0u);
}

TEST(NodeMachine, KeepsOnlyTheNewestFinishedJobs) {
  Harness h(policy(1));
  ASSERT_EQ(
      h.push(NodeMachine::record(PriceAnnounced{id(0x48), "tiny", "chat", 1000, 0}, kT0)).status,
      Status::applied);
  const std::uint32_t jobs = NodeMachine::kKeepFinishedJobs + 5;
  JobSubmitted first, last;
  for (std::uint32_t n = 0; n < jobs; ++n) {
    UnixMillis at = kT0 + n;
    auto s = h.posted(n, id(0x48), at);
    ASSERT_EQ(h.push(NodeMachine::record(s, at)).status, Status::applied) << n;
    ASSERT_EQ(h.push(NodeMachine::record(
                         JobFinished{kRouter, s.job_id, true, 1, 1, Millis{5}, Msat{300}}, at))
                  .status,
              Status::applied);
    (n == 0 ? first : last) = s;
  }
  EXPECT_EQ(h.rows(NodeMachine::kJobs), NodeMachine::kKeepFinishedJobs);
  EXPECT_EQ(h.rows(NodeMachine::kFinished), NodeMachine::kKeepFinishedJobs);
  EXPECT_EQ(h.load().jobs_done, jobs);  // the totals stay
  // A late finish for a forgotten job changes nothing; a running job is never forgotten.
  h.push(NodeMachine::record(JobFinished{kRouter, first.job_id, true, 1, 1, Millis{5}, Msat{300}},
                             kT0 + jobs));
  EXPECT_EQ(h.load().jobs_done, jobs);
  auto running = h.posted(jobs, id(0x48), kT0 + jobs);
  ASSERT_EQ(h.push(NodeMachine::record(running, kT0 + jobs)).status, Status::applied);
  EXPECT_EQ(h.rows(NodeMachine::kJobs), NodeMachine::kKeepFinishedJobs + 1);
  EXPECT_EQ(h.rows(NodeMachine::kRunning), 1u);
}

TEST(NodeMachine, UsedAwardsAreRememberedUntilTheyCanNoLongerBeTaken) {
  Harness h(policy(1));
  ASSERT_EQ(
      h.push(NodeMachine::record(PriceAnnounced{id(0x48), "tiny", "chat", 1000, 0}, kT0)).status,
      Status::applied);
  auto s = h.posted(1, id(0x48), kT0);  // submit_by: kT0 + 30 s
  ASSERT_EQ(h.push(NodeMachine::record(s, kT0)).status, Status::applied);
  h.push(NodeMachine::record(JobFinished{kRouter, s.job_id, true, 1, 1, Millis{5}, Msat{300}},
                             kT0 + 100));
  EXPECT_EQ(h.rows(NodeMachine::kUsedAwards), 1u);

  // Within submit_by + slack: the award was used.
  auto reuse = s;
  reuse.submit_id = id(0x52);
  reuse.job_id.bytes.fill(0x52);
  UnixMillis edge = (s.submit_by + NodeMachine::kExpirySlack) * 1000;
  auto r = h.push(NodeMachine::record(reuse, edge));
  EXPECT_EQ(r.status, Status::rejected);
  EXPECT_TRUE(r.refusal.reason.to_string().starts_with("duplicate:"))
      << r.refusal.reason.to_string();
  EXPECT_EQ(h.rows(NodeMachine::kUsedAwards), 1u);

  // After it the award can't be taken at all (the data plane refuses it past submit_by too), and
  // the next record that looks drops its id.
  r = h.push(NodeMachine::record(reuse, edge + 1000));
  EXPECT_EQ(r.refusal.reason.to_string(), "invalid: the AWARD passed its submit_by");
  EXPECT_EQ(r.refusal.code, protocol::ProtocolError::award_expired);  // 410
  h.push(NodeMachine::record(h.rfb(7), edge + 1000));
  EXPECT_EQ(h.rows(NodeMachine::kUsedAwards), 0u);
  EXPECT_EQ(h.rows(NodeMachine::kExpiry), 1u);  // only the new RFB's reservation

  auto unbounded = h.posted(2, id(0x48), kT0);
  unbounded.submit_by = 0;
  EXPECT_EQ(h.push(NodeMachine::record(unbounded, kT0)).refusal.reason.to_string(),
            "invalid: the AWARD has no submit_by");
}

TEST(NodeMachine, ReservationsLapseEvenWhenTheirTimerNeverFired) {
  Harness h(policy(4));
  h.bid_on(1, kT0);
  h.bid_on(2, kT0);
  EXPECT_EQ(h.load().reserved, 2u);
  // RFB 1's timer fires; RFB 2's never does (say the node was down when it was due).
  h.push(NodeMachine::record(TimerFired{id(0x40, 1)}, kT0 + 20'000));
  EXPECT_EQ(h.load().reserved, 1u);
  EXPECT_EQ(h.rows(NodeMachine::kReservations), 2u);

  auto valid_until = h.reservation(id(0x40, 2))->valid_until;
  UnixMillis after = (valid_until + NodeMachine::kExpirySlack + 1) * 1000;
  h.push(NodeMachine::record(h.rfb(3, Msat{1}), after));  // too cheap to bid on; still looks
  EXPECT_EQ(h.rows(NodeMachine::kReservations), 0u);
  EXPECT_EQ(h.load().reserved, 0u);
  EXPECT_FALSE(h.reservation(id(0x40, 2)));
}

}  // namespace
}  // namespace fedai::node

// The store opens one LMDB table per name; a table the reducer uses without a name is an error
// only a real store finds.
TEST(NodeMachine, NamesEveryTableItUses) {
  EXPECT_EQ(fedai::node::NodeMachine{}.tables().size(),
            std::size_t{fedai::node::NodeMachine::kExpiry} + 1);
}
