#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runners/http_client.h"

namespace fedai::runners {
namespace {

using Events = std::vector<SseParser::Event>;

Events parse_all(std::string_view text, std::size_t piece = 0) {
  SseParser parser;
  Events out;
  auto collect = [&](const SseParser::Event& e) { out.push_back(e); };
  if (piece == 0) {
    EXPECT_TRUE(parser.feed(text, collect));
  } else {
    for (std::size_t i = 0; i < text.size(); i += piece)
      EXPECT_TRUE(parser.feed(text.substr(i, piece), collect));
  }
  return out;
}

TEST(SseParser, DispatchesOnBlankLine) {
  auto events = parse_all("data: hello\n\ndata: world\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "hello");
  EXPECT_EQ(events[0].event, "");
  EXPECT_EQ(events[1].data, "world");
}

TEST(SseParser, JoinsDataLinesAndKeepsEventNames) {
  auto events = parse_all("event: result\ndata: a\ndata:b\ndata:  c\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "result");
  // One leading space is removed, no more.
  EXPECT_EQ(events[0].data, "a\nb\n c");
}

TEST(SseParser, IgnoresCommentsUnknownFieldsAndEventsWithoutData) {
  auto events = parse_all(": ping\n\nid: 7\nretry: 100\nfoo: bar\n\nevent: x\n\ndata: y\n\n");
  ASSERT_EQ(events.size(), 1u);
  // The event type of a dispatch-less block does not leak into the next event.
  EXPECT_EQ(events[0].event, "");
  EXPECT_EQ(events[0].data, "y");
}

TEST(SseParser, FieldWithoutColonIsAnEmptyValue) {
  auto events = parse_all("data\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "");
}

TEST(SseParser, AcceptsCrLfCrAndLfLineEnds) {
  auto events = parse_all("data: a\r\n\r\ndata: b\r\rdata: c\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].data, "a");
  EXPECT_EQ(events[1].data, "b");
  EXPECT_EQ(events[2].data, "c");
}

TEST(SseParser, SameEventsWhateverTheChunking) {
  std::string text =
      "\xEF\xBB\xBF"
      "event: e1\r\ndata: {\"x\":1}\r\n\r\n: c\n\ndata: line1\rdata: line2\r\r"
      "data: last\n\n";
  auto whole = parse_all(text);
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[0].event, "e1");
  EXPECT_EQ(whole[0].data, "{\"x\":1}");
  EXPECT_EQ(whole[1].data, "line1\nline2");
  EXPECT_EQ(whole[2].data, "last");
  for (std::size_t piece = 1; piece <= text.size(); ++piece) {
    auto split = parse_all(text, piece);
    ASSERT_EQ(split.size(), whole.size()) << "piece " << piece;
    for (std::size_t i = 0; i < whole.size(); ++i) {
      EXPECT_EQ(split[i].event, whole[i].event) << "piece " << piece;
      EXPECT_EQ(split[i].data, whole[i].data) << "piece " << piece;
    }
  }
}

TEST(SseParser, StripsOnlyALeadingByteOrderMark) {
  auto events = parse_all(
      "\xEF\xBB\xBF"
      "data: x\n\ndata: \xEF\xBB\xBFy\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "x");
  EXPECT_EQ(events[1].data, "\xEF\xBB\xBFy");
}

TEST(SseParser, HoldsAnUnfinishedEvent) {
  SseParser parser;
  Events out;
  auto collect = [&](const SseParser::Event& e) { out.push_back(e); };
  EXPECT_TRUE(parser.feed("data: par", collect));
  EXPECT_TRUE(parser.feed("tial\n", collect));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(parser.feed("\n", collect));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "partial");
}

TEST(SseParser, RefusesAnEventBeyondTheLimit) {
  SseParser parser(64);
  Events out;
  auto collect = [&](const SseParser::Event& e) { out.push_back(e); };
  EXPECT_TRUE(parser.feed("data: small\n\n", collect));
  EXPECT_FALSE(parser.feed("data: " + std::string(100, 'x'), collect));
  // Stays failed.
  EXPECT_FALSE(parser.feed("\n\ndata: ok\n\n", collect));
  ASSERT_EQ(out.size(), 1u);

  SseParser lines(64);
  std::string many;
  for (int i = 0; i < 10; ++i) many += "data: 0123456789\n";
  EXPECT_FALSE(lines.feed(many, collect));
}

}  // namespace
}  // namespace fedai::runners
