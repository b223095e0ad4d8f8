// The EventStore conformance suite, run against the LMDB store and the naive reference, plus a
// differential test that compares the two on thousands of random events and filters.
#include "core/store/event_store.h"

#include <gtest/gtest.h>

#include <random>

#include "core/nostr/coordinate.h"
#include "core/nostr/nip40.h"
#include "tests/support/naive_event_store.h"
#include "tests/support/temp_dir.h"

namespace fedai {
namespace {

using store::EventStore;
using store::WriteStatus;

constexpr UnixSeconds kNow = 1'700'000'000;

const Keypair& alice() {
  static Keypair k = Keypair::generate();
  return k;
}
const Keypair& bob() {
  static Keypair k = Keypair::generate();
  return k;
}

Event make(const Keypair& k, Kind kind, UnixSeconds at, Tags tags = {}, std::string content = "") {
  return sign_event({kind, at, std::move(tags), std::move(content)}, k);
}

struct LmdbFactory {
  test::TempDir dir;
  std::unique_ptr<EventStore> make() {
    auto s = EventStore::open({dir.sub("db")});
    if (!s) throw std::runtime_error(s.error().to_string());
    return std::move(*s);
  }
};
struct NaiveFactory {
  std::unique_ptr<EventStore> make() { return std::make_unique<test::NaiveEventStore>(); }
};

template <class Factory>
class EventStoreConformance : public ::testing::Test {
 protected:
  void SetUp() override { store = factory.make(); }

  WriteStatus put(const Event& e, UnixSeconds now = kNow) {
    return store->write(std::span(&e, 1), now)[0].status;
  }
  std::vector<EventId> ids(const std::vector<Filter>& filters, UnixSeconds now = kNow) {
    std::vector<EventId> out;
    store->query(filters, now, [&](const EventId& id, std::string_view json) {
      auto e = parse_verified_event(json);
      EXPECT_TRUE(e) << json;
      if (e) {
        EXPECT_EQ(e->id, id);
      }
      out.push_back(id);
      return true;
    });
    return out;
  }
  static Filter kinds(std::vector<Kind> k) {
    Filter f;
    f.kinds = std::move(k);
    f.normalize();
    return f;
  }

  Factory factory;
  std::unique_ptr<EventStore> store;
};

using Backends = ::testing::Types<LmdbFactory, NaiveFactory>;
TYPED_TEST_SUITE(EventStoreConformance, Backends);

TYPED_TEST(EventStoreConformance, StoresAndRefusesDuplicates) {
  Event e = make(alice(), 1, kNow - 10, {}, "hello");
  EXPECT_EQ(this->put(e), WriteStatus::stored);
  EXPECT_EQ(this->put(e), WriteStatus::duplicate);
  auto json = this->store->get(e.id);
  ASSERT_TRUE(json);
  EXPECT_EQ(*parse_verified_event(*json), e);
  EXPECT_EQ(this->store->stats().events, 1u);
}

TYPED_TEST(EventStoreConformance, NewestFirstLowestIdOnTies) {
  std::vector<Event> es;
  for (int i = 0; i < 6; ++i) es.push_back(make(alice(), 1, kNow - (i / 2), {}, std::to_string(i)));
  for (const auto& e : es) this->put(e);
  std::sort(es.begin(), es.end(), [](const Event& a, const Event& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.id < b.id;
  });
  std::vector<EventId> want;
  for (const auto& e : es) want.push_back(e.id);
  EXPECT_EQ(this->ids({this->kinds({1})}), want);
  Filter limited = this->kinds({1});
  limited.limit = 3;
  want.resize(3);
  EXPECT_EQ(this->ids({limited}), want);
}

TYPED_TEST(EventStoreConformance, ReplaceableKeepsNewestAndLowestIdOnTie) {
  Event older = make(alice(), 0, kNow - 20, {}, "v1");
  Event newer = make(alice(), 0, kNow - 10, {}, "v2");
  EXPECT_EQ(this->put(newer), WriteStatus::stored);
  EXPECT_EQ(this->put(older), WriteStatus::superseded);
  EXPECT_EQ(this->ids({this->kinds({0})}), std::vector<EventId>{newer.id});

  // Same created_at: the lower id wins whatever the arrival order.
  Event a = make(bob(), 10002, kNow, {}, "a"), b = make(bob(), 10002, kNow, {}, "b");
  const Event& low = a.id < b.id ? a : b;
  const Event& high = a.id < b.id ? b : a;
  EXPECT_EQ(this->put(high), WriteStatus::stored);
  EXPECT_EQ(this->put(low), WriteStatus::stored);
  EXPECT_EQ(this->put(high), WriteStatus::superseded);  // replaced, so no longer a duplicate
  EXPECT_EQ(this->ids({this->kinds({10002})}), std::vector<EventId>{low.id});
}

TYPED_TEST(EventStoreConformance, TieBreakVectorKeepsTheLowerId) {
  // The kind-0 pair of nostr-events.json: same pubkey and created_at; NIP-01 keeps the lower id.
  Event a = make(alice(), 0, kNow, {}, "x"), b = make(alice(), 0, kNow, {}, "y");
  EXPECT_EQ(this->put(a), WriteStatus::stored);
  auto second = this->put(b);
  EventId kept = std::min(a.id, b.id);
  EXPECT_EQ(second, b.id < a.id ? WriteStatus::stored : WriteStatus::superseded);
  EXPECT_EQ(this->ids({this->kinds({0})}), std::vector<EventId>{kept});
}

TYPED_TEST(EventStoreConformance, AddressableIsPerDTag) {
  Event x1 = make(alice(), 36090, kNow - 5, {{"d", "x"}}),
        x2 = make(alice(), 36090, kNow, {{"d", "x"}});
  Event y = make(alice(), 36090, kNow - 9, {{"d", "y"}});
  Event other = make(bob(), 36090, kNow - 9, {{"d", "x"}});
  for (const auto& e : {x1, y, other}) EXPECT_EQ(this->put(e), WriteStatus::stored);
  auto w = this->store->write(std::span(&x2, 1), kNow);
  EXPECT_EQ(w[0].status, WriteStatus::stored);
  EXPECT_EQ(w[0].removed, std::vector<EventId>{x1.id});
  auto got = this->ids({this->kinds({36090})});
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(std::count(got.begin(), got.end(), x1.id), 0);
}

TYPED_TEST(EventStoreConformance, EphemeralIsNeverStored) {
  EXPECT_EQ(this->put(make(alice(), 26090, kNow)), WriteStatus::rejected);
  EXPECT_EQ(this->store->stats().events, 0u);
}

TYPED_TEST(EventStoreConformance, ExpirationRefusedHiddenAndPurged) {
  Event past = make(alice(), 1, kNow - 100, {expiration_tag(kNow)});
  EXPECT_EQ(this->put(past), WriteStatus::expired);  // expired at exactly now
  Event soon = make(alice(), 1, kNow - 100, {expiration_tag(kNow + 10)});
  Event bad = make(alice(), 1, kNow - 100, {{"expiration", "soon"}});
  EXPECT_EQ(this->put(soon), WriteStatus::stored);
  EXPECT_EQ(this->put(bad), WriteStatus::rejected);
  EXPECT_EQ(this->ids({this->kinds({1})}), std::vector<EventId>{soon.id});
  EXPECT_TRUE(this->ids({this->kinds({1})}, kNow + 10).empty());  // never served once expired
  EXPECT_EQ(this->store->purge_expired(kNow + 9), 0u);
  EXPECT_EQ(this->store->purge_expired(kNow + 10), 1u);
  EXPECT_EQ(this->store->stats().events, 0u);
}

TYPED_TEST(EventStoreConformance, DeletionByIdAndAddress) {
  Event note = make(alice(), 1, kNow - 50, {}, "oops");
  Event bobs = make(bob(), 1, kNow - 50, {}, "bob's");
  Event addr = make(alice(), 30023, kNow - 40, {{"d", "post"}});
  for (const auto& e : {note, bobs, addr}) this->put(e);
  std::string coord = Coordinate{30023, alice().public_key(), "post"}.to_string();
  Event del =
      make(alice(), 5, kNow - 30, {{"e", note.id.hex()}, {"e", bobs.id.hex()}, {"a", coord}});
  auto w = this->store->write(std::span(&del, 1), kNow);
  EXPECT_EQ(w[0].status, WriteStatus::stored);
  EXPECT_EQ(w[0].removed.size(), 2u);  // alice's note and address; never bob's note
  EXPECT_TRUE(this->store->get(bobs.id));
  EXPECT_FALSE(this->store->get(note.id));
  EXPECT_EQ(this->put(note), WriteStatus::deleted);  // can't come back
  Event old_addr = make(alice(), 30023, kNow - 35, {{"d", "post"}});
  EXPECT_EQ(this->put(old_addr), WriteStatus::deleted);
  Event new_addr = make(alice(), 30023, kNow - 20, {{"d", "post"}});
  EXPECT_EQ(this->put(new_addr), WriteStatus::stored);  // newer than the deletion
}

TYPED_TEST(EventStoreConformance, FiltersByTagAuthorKindAndTime) {
  Event a = make(alice(), 1, kNow - 3, {{"t", "llama"}, {"p", "x"}});
  Event b = make(bob(), 1, kNow - 2, {{"t", "mistral"}});
  Event c = make(bob(), 7, kNow - 1, {{"t", "llama"}});
  for (const auto& e : {a, b, c}) this->put(e);
  Filter t;
  t.tags = {{'t', {"llama"}}};
  EXPECT_EQ(this->ids({t}), (std::vector<EventId>{c.id, a.id}));
  Filter ak;
  ak.authors = std::vector<PublicKey>{bob().public_key()};
  ak.kinds = std::vector<Kind>{1};
  EXPECT_EQ(this->ids({ak}), std::vector<EventId>{b.id});
  Filter since;
  since.since = kNow - 2;
  since.until = kNow - 2;
  EXPECT_EQ(this->ids({since}), std::vector<EventId>{b.id});
  // Two filters: each event once.
  EXPECT_EQ(this->ids({t, this->kinds({1, 7})}), (std::vector<EventId>{c.id, b.id, a.id}));
  EXPECT_EQ(this->store->count({t, this->kinds({1, 7})}, kNow), 3u);
  Filter by_id;
  by_id.ids = std::vector<EventId>{a.id, c.id};
  by_id.normalize();
  EXPECT_EQ(this->ids({by_id}), (std::vector<EventId>{c.id, a.id}));
}

// ---- differential: LMDB against the naive store ----

std::string random_value(std::mt19937& rng) {
  static const std::vector<std::string> values = {
      "a", "b", "llama", "mistral", "", std::string(200, 'z'), std::string(200, 'y'), "é", "a:b"};
  return values[rng() % values.size()];
}

Event random_event(std::mt19937& rng, const std::vector<Keypair>& keys) {
  static const Kind kinds[] = {1, 1, 1, 7, 0, 3, 10002, 30023, 36090, 5, 1984};
  Kind kind = kinds[rng() % std::size(kinds)];
  const Keypair& k = keys[rng() % keys.size()];
  UnixSeconds at = kNow - static_cast<UnixSeconds>(rng() % 40);
  Tags tags;
  int n = static_cast<int>(rng() % 4);
  for (int i = 0; i < n; ++i) {
    static const char* names[] = {"t", "p", "e", "d", "T", "long"};
    tags.push_back({names[rng() % std::size(names)], random_value(rng)});
  }
  if (is_addressable(kind) && rng() % 2) tags.push_back({"d", random_value(rng)});
  if (rng() % 10 == 0)
    tags.push_back(expiration_tag(kNow + static_cast<UnixSeconds>(rng() % 20) - 5));
  return sign_event({kind, at, tags, std::to_string(rng() % 5)}, k);
}

Filter random_filter(std::mt19937& rng, const std::vector<Keypair>& keys,
                     const std::vector<Event>& seen) {
  Filter f;
  if (rng() % 3 == 0) {
    std::vector<Kind> ks;
    for (int i = 0; i < 1 + static_cast<int>(rng() % 3); ++i) {
      static const Kind kinds[] = {1, 7, 0, 3, 10002, 30023, 36090, 5, 1984, 2};
      ks.push_back(kinds[rng() % std::size(kinds)]);
    }
    f.kinds = ks;
  }
  if (rng() % 3 == 0) {
    std::vector<PublicKey> as;
    for (int i = 0; i < 1 + static_cast<int>(rng() % 2); ++i)
      as.push_back(keys[rng() % keys.size()].public_key());
    f.authors = as;
  }
  if (rng() % 3 == 0) {
    static const char letters[] = {'t', 'p', 'e', 'd', 'T'};
    TagFilter t{letters[rng() % std::size(letters)], {}};
    for (int i = 0; i < 1 + static_cast<int>(rng() % 2); ++i) t.values.push_back(random_value(rng));
    f.tags.push_back(t);
    if (rng() % 3 == 0 && t.letter != 'd') f.tags.push_back(TagFilter{'d', {random_value(rng)}});
  }
  if (rng() % 8 == 0 && !seen.empty()) {
    std::vector<EventId> ids;
    for (int i = 0; i < 1 + static_cast<int>(rng() % 4); ++i)
      ids.push_back(seen[rng() % seen.size()].id);
    f.ids = ids;
  }
  if (rng() % 4 == 0) f.since = kNow - static_cast<UnixSeconds>(rng() % 40);
  if (rng() % 4 == 0) f.until = kNow - static_cast<UnixSeconds>(rng() % 40);
  if (rng() % 2 == 0) f.limit = static_cast<std::uint32_t>(rng() % 12);
  f.normalize();
  return f;
}

TEST(EventStoreDifferential, IndexedQueriesMatchAFullScan) {
  test::TempDir dir;
  auto lmdb = EventStore::open({dir.sub("db"), std::size_t{1} << 30, false, 30, 100});
  ASSERT_TRUE(lmdb) << lmdb.error().to_string();
  test::NaiveEventStore naive(30, 100);
  std::mt19937 rng(42);
  std::vector<Keypair> keys;
  for (int i = 0; i < 5; ++i) keys.push_back(Keypair::generate());
  std::vector<Event> seen;
  std::size_t nonempty = 0, queries = 0;
  for (int round = 0; round < 40; ++round) {
    std::vector<Event> batch;
    for (int i = 0; i < 100; ++i) batch.push_back(random_event(rng, keys));
    // Deletions that name earlier events.
    if (!seen.empty())
      for (int i = 0; i < 3; ++i) {
        const Event& target = seen[rng() % seen.size()];
        Tags tags = {{"e", target.id.hex()}};
        if (auto c = coordinate_of(target)) tags.push_back({"a", c->to_string()});
        const Keypair& k = rng() % 2 ? keys[rng() % keys.size()] : keys[0];
        batch.push_back(sign_event({5, kNow - 10, tags, ""}, k));
      }
    seen.insert(seen.end(), batch.begin(), batch.end());
    UnixSeconds now = kNow + round % 7;
    auto a = (*lmdb)->write(batch, now);
    auto b = naive.write(batch, now);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      ASSERT_EQ(a[i].status, b[i].status) << "event " << i << " of round " << round;
      auto ra = a[i].removed, rb = b[i].removed;
      std::sort(ra.begin(), ra.end());
      std::sort(rb.begin(), rb.end());
      ASSERT_EQ(ra, rb);
    }
    for (int q = 0; q < 100; ++q) {
      std::vector<Filter> filters;
      for (int i = 0; i < 1 + static_cast<int>(rng() % 2); ++i)
        filters.push_back(random_filter(rng, keys, seen));
      std::vector<std::string> ga, gb;
      (*lmdb)->query(filters, now, [&](const EventId&, std::string_view j) {
        ga.emplace_back(j);
        return true;
      });
      naive.query(filters, now, [&](const EventId&, std::string_view j) {
        gb.emplace_back(j);
        return true;
      });
      ASSERT_EQ(ga, gb) << "filters: " << to_json(filters);
      ASSERT_EQ((*lmdb)->count(filters, now), naive.count(filters, now)) << to_json(filters);
      nonempty += !ga.empty();
      ++queries;
    }
    if (round % 10 == 9) {
      ASSERT_EQ((*lmdb)->purge_expired(now), naive.purge_expired(now));
    }
  }
  ASSERT_EQ((*lmdb)->stats().events, naive.stats().events);
  // Most queries must return something, or the comparison proves little.
  EXPECT_GT(nonempty, queries / 3);
}

TEST(EventStoreLmdb, SurvivesReopen) {
  test::TempDir dir;
  Event e = make(alice(), 1, kNow, {{"t", "x"}}, "persisted");
  {
    auto s = EventStore::open({dir.sub("db")});
    ASSERT_TRUE(s);
    (*s)->write(std::span(&e, 1), kNow);
  }
  auto s = EventStore::open({dir.sub("db")});
  ASSERT_TRUE(s);
  EXPECT_TRUE((*s)->get(e.id));
  Event e2 = make(alice(), 1, kNow, {}, "second");
  EXPECT_EQ((*s)->write(std::span(&e2, 1), kNow)[0].status, WriteStatus::stored);
  EXPECT_EQ((*s)->stats().events, 2u);
}

TEST(EventStoreLmdb, OpenFailureIsAnError) {
  auto s = EventStore::open({"/proc/fedai-cannot-be-here"});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::error);
}

}  // namespace
}  // namespace fedai
