// core/util/swar.h and the scans built on it: against byte-by-byte answers, for every byte value
// at every position of a word, and for strings whose special bytes fall anywhere.
#include "core/util/swar.h"

#include <gtest/gtest.h>

#include <string>

#include "core/nostr/event.h"
#include "core/util/json_reader.h"

namespace fedai {
namespace {

std::uint64_t word_with(unsigned char fill, unsigned at, unsigned char b) {
  char bytes[8];
  std::memset(bytes, fill, 8);
  bytes[at] = static_cast<char>(b);
  return swar::load(bytes);
}

TEST(Swar, FlagsExactlyTheBytesAsked) {
  for (unsigned char fill : {0x61, 0xff, 0x80}) {
    for (unsigned at = 0; at < 8; ++at) {
      for (int b = 0; b < 256; ++b) {
        auto v = word_with(fill, at, static_cast<unsigned char>(b));
        auto below = swar::below(v, 0x20);
        EXPECT_EQ(below != 0, b < 0x20) << at << " " << b;
        if (below) {
          EXPECT_EQ(swar::first(below), at);
        }
        auto quote = swar::equal(v, '"');
        EXPECT_EQ(quote != 0, b == '"') << at << " " << b;
        if (quote) {
          EXPECT_EQ(swar::first(quote), at);
        }
        EXPECT_EQ(swar::high(v) != 0, b >= 0x80 || fill >= 0x80);
      }
    }
  }
  // Several matches: the first is reported, whatever follows it.
  char bytes[8] = {'x', 'x', '\x01', '"', '\x00', '\x01', 'x', 'x'};
  auto v = swar::load(bytes);
  EXPECT_EQ(swar::first(swar::below(v, 0x20)), 2u);
  EXPECT_EQ(swar::first(swar::equal(v, '"')), 3u);
}

// Every byte that needs escaping, at every offset of strings up to three words long: the JSON
// written reads back to the same string.
TEST(Swar, JsonStringsRoundTripWhereverTheSpecialBytesFall) {
  const std::string specials = std::string("\"\\\n\r\t\b\f\x01\x1f", 9) + std::string(1, '\0');
  for (std::size_t len = 1; len <= 24; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      for (char c : specials) {
        for (const char* tail : {"", "\xc3\xa9"}) {  // with a multi-byte character after it
          std::string s(len, 'a');
          s[at] = c;
          s += tail;
          std::string json;
          append_json_string(json, s);
          JsonReader r(json);
          std::string back;
          ASSERT_TRUE(r.read_string(back)) << r.error();
          EXPECT_EQ(back, s) << len << "/" << at;
          std::string_view view;
          std::string scratch;
          JsonReader again(json);
          ASSERT_TRUE(again.read_string_view(view, scratch));
          EXPECT_EQ(view, s);
        }
      }
    }
  }
}

}  // namespace
}  // namespace fedai
