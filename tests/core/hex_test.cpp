#include "core/util/hex.h"

#include <gtest/gtest.h>

#include <array>

#include "core/util/bytes.h"

namespace fedai {
namespace {

TEST(Hex, EncodesLowercase) {
  std::array<std::uint8_t, 4> b{0x00, 0xab, 0x7f, 0xff};
  EXPECT_EQ(hex::encode(b), "00ab7fff");
}

TEST(Hex, DecodesExactLength) {
  std::array<std::uint8_t, 2> out{};
  EXPECT_TRUE(hex::decode("beef", out));
  EXPECT_EQ(out[0], 0xbe);
  EXPECT_EQ(out[1], 0xef);
  EXPECT_FALSE(hex::decode("bee", out));
  EXPECT_FALSE(hex::decode("beefee", out));
  EXPECT_FALSE(hex::decode("bexf", out));
}

TEST(Hex, UppercaseOnlyWhenAllowed) {
  std::array<std::uint8_t, 2> out{};
  EXPECT_FALSE(hex::decode("BEEF", out));
  EXPECT_TRUE(hex::decode("BEEF", out, /*allow_upper=*/true));
  EXPECT_EQ(out[0], 0xbe);
  EXPECT_FALSE(hex::is_lower_hex("BEEF", 2));
  EXPECT_TRUE(hex::is_lower_hex("beef", 2));
}

TEST(FixedBytes, OrdersLexicographically) {
  auto a = Bytes32::from_hex(std::string(63, '0') + "1");
  auto b = Bytes32::from_hex(std::string(62, '0') + "10");
  ASSERT_TRUE(a && b);
  EXPECT_LT(*a, *b);
  EXPECT_EQ(a->hex(), std::string(63, '0') + "1");
}

}  // namespace
}  // namespace fedai
