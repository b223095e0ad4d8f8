#include "core/nostr/coordinate.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <unordered_set>

namespace fedai {
namespace {

const std::string kPk(64, 'b');
const PublicKey kPubkey = *PublicKey::from_hex(kPk);

Event event_with(Kind kind, Tags tags = {}) {
  Event e;
  e.kind = kind;
  e.pubkey = kPubkey;
  e.tags = std::move(tags);
  return e;
}

TEST(Coordinate, AddressableRoundTrip) {
  std::string text = "36090:" + kPk + ":node-1:llama:8b";  // d may contain ':'
  auto c = Coordinate::parse(text);
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->kind, 36090);
  EXPECT_EQ(c->pubkey, kPubkey);
  EXPECT_EQ(c->d, "node-1:llama:8b");
  EXPECT_EQ(c->to_string(), text);

  auto empty_d = Coordinate::parse("30000:" + kPk + ":");
  ASSERT_TRUE(empty_d);
  EXPECT_EQ(empty_d->d, "");
  EXPECT_EQ(empty_d->to_string(), "30000:" + kPk + ":");
}

TEST(Coordinate, ReplaceableHasAnEmptyD) {
  for (Kind k : {Kind{0}, Kind{3}, Kind{10000}, Kind{10002}, Kind{19999}}) {
    std::string text = std::to_string(k) + ":" + kPk + ":";
    auto c = Coordinate::parse(text);
    ASSERT_TRUE(c) << text;
    EXPECT_EQ(c->to_string(), text);
  }
}

TEST(Coordinate, ParseRefusals) {
  const std::string shape = "invalid: coordinate must be <kind>:<pubkey>:<d>";
  const std::string kind = "invalid: coordinate kind must be an integer between 0 and 65535";
  const std::string pk = "invalid: coordinate pubkey must be 64 lowercase hex characters";
  const std::pair<std::string, std::string> cases[] = {
      {"", shape},
      {"36090", shape},
      {"36090:" + kPk, shape},  // the trailing ':' is required even for an empty d
      {":" + kPk + ":x", kind},
      {"036090:" + kPk + ":x", kind},
      {"+30000:" + kPk + ":x", kind},
      {"-1:" + kPk + ":x", kind},
      {"65536:" + kPk + ":x", kind},
      {"100000:" + kPk + ":x", kind},
      {"3x:" + kPk + ":x", kind},
      {"1:" + kPk + ":", "invalid: coordinate kind 1 is neither replaceable nor addressable"},
      {"26090:" + kPk + ":",
       "invalid: coordinate kind 26090 is neither replaceable nor addressable"},
      {"40000:" + kPk + ":",
       "invalid: coordinate kind 40000 is neither replaceable nor addressable"},
      {"10002:" + kPk + ":x", "invalid: coordinate of replaceable kind 10002 must have an empty d"},
      {"30000:" + std::string(64, 'B') + ":x", pk},
      {"30000:" + kPk.substr(1) + ":x", pk},
      {"30000::x", pk},
      {"30000:npub1xyz:x", pk},
  };
  for (const auto& [text, reason] : cases) {
    auto c = Coordinate::parse(text);
    ASSERT_FALSE(c) << text;
    EXPECT_EQ(c.error().to_string(), reason) << text;
  }
  EXPECT_TRUE(Coordinate::parse("0:" + kPk + ":"));  // "0" itself is canonical
}

TEST(Coordinate, OrderingAndHashing) {
  PublicKey a = *PublicKey::from_hex(std::string(64, 'a'));
  Coordinate c1{30000, a, "x"};
  Coordinate c2{30000, a, "y"};
  Coordinate c3{30000, kPubkey, "a"};
  Coordinate c4{36090, a, ""};
  EXPECT_LT(c1, c2);  // kind, then pubkey, then d
  EXPECT_LT(c2, c3);
  EXPECT_LT(c3, c4);
  EXPECT_EQ(c1, (Coordinate{30000, a, "x"}));
  EXPECT_NE(c1, c2);
  std::set<Coordinate> ordered = {c4, c3, c2, c1, c1};
  EXPECT_EQ(ordered.size(), 4u);
  EXPECT_EQ(*ordered.begin(), c1);
  std::unordered_set<Coordinate, CoordinateHash> hashed = {c1, c2, c3, c4, c2};
  EXPECT_EQ(hashed.size(), 4u);
  EXPECT_TRUE(hashed.contains(Coordinate{36090, a, ""}));
  EXPECT_NE(CoordinateHash{}(c1), CoordinateHash{}(c2));
}

TEST(Coordinate, OfAnEvent) {
  EXPECT_FALSE(coordinate_of(event_with(1)));
  EXPECT_FALSE(coordinate_of(event_with(26090, {{"d", "x"}})));
  EXPECT_FALSE(coordinate_of(event_with(40000, {{"d", "x"}})));
  EXPECT_EQ(coordinate_of(event_with(0)), (Coordinate{0, kPubkey, ""}));
  // A replaceable event's d tag plays no part in its address.
  EXPECT_EQ(coordinate_of(event_with(10002, {{"d", "x"}})), (Coordinate{10002, kPubkey, ""}));
  EXPECT_EQ(coordinate_of(event_with(36090, {{"t", "q"}, {"d", "node:m"}, {"d", "other"}})),
            (Coordinate{36090, kPubkey, "node:m"}));
  EXPECT_EQ(coordinate_of(event_with(36090)), (Coordinate{36090, kPubkey, ""}));
  EXPECT_EQ(coordinate_of(event_with(36090, {{"d"}})), (Coordinate{36090, kPubkey, ""}));
  // The address of an event parses back to itself.
  auto c = coordinate_of(event_with(36091, {{"d", "a:b"}}));
  ASSERT_TRUE(c);
  EXPECT_EQ(*Coordinate::parse(c->to_string()), *c);
}

}  // namespace
}  // namespace fedai
