#include "core/nostr/bech32.h"

#include <gtest/gtest.h>

namespace fedai {
namespace {

// BIP-173's valid and invalid checksum examples.
TEST(Bech32, Bip173ValidStrings) {
  for (const std::string& s : std::vector<std::string>{
           "A12UEL5L", "a12uel5l",
           "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5"
           "tgs",
           "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", "11" + std::string(82, 'q') + "c8247j",
           "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w", "?1ezyfcl"}) {
    auto d = bech32::decode(s, 90);
    ASSERT_TRUE(d) << s << ": " << d.error().message;
    std::string lower = s;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(bech32::encode(d->hrp, d->words), lower);
  }
}

TEST(Bech32, Bip173InvalidStrings) {
  for (const char* s : {"\x20"
                        "1nwldj5",
                        "\x7f"
                        "1axkwrx",
                        "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcha"
                        "ractersbio1569pvx",
                        "pzry9x0s0muk", "1pzry9x0s0muk", "x1b4n0q5v", "li1dgmt3", "de1lg7wt\xff",
                        "A1G7SGD8", "10a06t8", "1qzzfhee", "A12UEl5L"}) {
    EXPECT_FALSE(bech32::decode(s, 90)) << s;
  }
}

TEST(Bech32, WordsRoundTripAndStrictPadding) {
  std::vector<std::uint8_t> bytes{0x00, 0xff, 0x10, 0x81};  // 32 bits: 3 bits of padding
  auto words = bech32::to_words(bytes);
  auto back = bech32::from_words(words);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, bytes);
  words.back() |= 1;  // non-zero padding bit
  EXPECT_FALSE(bech32::from_words(words));
  std::vector<std::uint8_t> excess{0, 0};  // 10 bits: 8 data + 2 padding is fine
  EXPECT_TRUE(bech32::from_words(excess));
  std::vector<std::uint8_t> too_much{0, 0, 0};  // 15 bits: 7 bits of padding
  EXPECT_FALSE(bech32::from_words(too_much));
}

TEST(Bech32, LengthLimitIsTheCallers) {
  std::string hrp = "nevent";
  std::vector<std::uint8_t> words(200, 3);
  std::string s = bech32::encode(hrp, words);
  EXPECT_FALSE(bech32::decode(s, 90));
  EXPECT_TRUE(bech32::decode(s, 5000));
}

}  // namespace
}  // namespace fedai
