#include "core/nostr/nip40.h"

#include <gtest/gtest.h>

#include <string>

namespace fedai {
namespace {

Event with_tags(Tags tags) {
  Event e;
  e.kind = 36092;
  e.created_at = 1000;
  e.tags = std::move(tags);
  return e;
}

TEST(Nip40, NoTagMeansNoExpiration) {
  Event e = with_tags({{"d", "x"}, {"expirationx", "5"}, {"exp", "5"}});
  auto exp = expiration_of(e);
  ASSERT_TRUE(exp);
  EXPECT_FALSE(exp->has_value());
  EXPECT_FALSE(is_expired(e, 0));
  EXPECT_FALSE(is_expired(e, kMaxCreatedAt));
}

TEST(Nip40, ExpiredFromTheExpirationSecondOn) {
  // NIP-40: the timestamp "at which the message SHOULD be considered expired".
  Event e = with_tags({{"expiration", "1600000000"}});
  auto exp = expiration_of(e);
  ASSERT_TRUE(exp);
  EXPECT_EQ(*exp, std::optional<UnixSeconds>(1600000000));
  EXPECT_FALSE(is_expired(e, 0));
  EXPECT_FALSE(is_expired(e, 1599999999));
  EXPECT_TRUE(is_expired(e, 1600000000));
  EXPECT_TRUE(is_expired(e, 1600000001));
}

TEST(Nip40, ExtremesAndLeadingZeros) {
  EXPECT_EQ(*expiration_of(with_tags({{"expiration", "0"}})), std::optional<UnixSeconds>(0));
  EXPECT_TRUE(is_expired(with_tags({{"expiration", "0"}}), 0));
  EXPECT_EQ(*expiration_of(with_tags({{"expiration", "9007199254740991"}})),
            std::optional<UnixSeconds>(kMaxCreatedAt));
  EXPECT_EQ(*expiration_of(with_tags({{"expiration", "000123"}})), std::optional<UnixSeconds>(123));
  // Extra elements after the value are ignored, as for any tag.
  EXPECT_EQ(*expiration_of(with_tags({{"expiration", "7", "extra"}})),
            std::optional<UnixSeconds>(7));
}

TEST(Nip40, MalformedExpirationIsAReasonAndCountsAsExpired) {
  const std::string digits_reason =
      "invalid: expiration must be a unix timestamp in decimal digits, at most 9007199254740991";
  struct Case {
    Tags tags;
    std::string reason;
  };
  const Case cases[] = {
      {{{"expiration", ""}}, digits_reason},
      {{{"expiration", "abc"}}, digits_reason},
      {{{"expiration", "-5"}}, digits_reason},
      {{{"expiration", "+5"}}, digits_reason},
      {{{"expiration", " 5"}}, digits_reason},
      {{{"expiration", "5 "}}, digits_reason},
      {{{"expiration", "1.5"}}, digits_reason},
      {{{"expiration", "1e9"}}, digits_reason},
      {{{"expiration", "0x10"}}, digits_reason},
      {{{"expiration", "9007199254740992"}}, digits_reason},
      {{{"expiration", "99999999999999999999999"}}, digits_reason},
      {{{"expiration"}}, "invalid: expiration tag has no value"},
      {{{"expiration", "5"}, {"expiration", "5"}}, "invalid: more than one expiration tag"},
      {{{"expiration", "5"}, {"expiration"}}, "invalid: more than one expiration tag"},
  };
  for (const auto& c : cases) {
    Event e = with_tags(c.tags);
    auto exp = expiration_of(e);
    ASSERT_FALSE(exp) << to_json(e);
    EXPECT_EQ(exp.error().to_string(), c.reason) << to_json(e);
    EXPECT_TRUE(is_expired(e, 0)) << to_json(e);
  }
}

TEST(Nip40, TagBuilderRoundTrips) {
  EXPECT_EQ(expiration_tag(1700000060), (Tag{"expiration", "1700000060"}));
  Event e = with_tags({expiration_tag(kMaxCreatedAt)});
  EXPECT_EQ(*expiration_of(e), std::optional<UnixSeconds>(kMaxCreatedAt));
}

}  // namespace
}  // namespace fedai
