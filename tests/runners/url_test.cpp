#include "runners/url.h"

#include <gtest/gtest.h>

namespace fedai::runners {
namespace {

TEST(HttpUrl, ParsesHostPortAndTarget) {
  auto u = parse_http_url("http://127.0.0.1:8080/v1/chat/completions?x=1");
  ASSERT_TRUE(u) << u.error().to_string();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/v1/chat/completions?x=1");
  EXPECT_EQ(u->authority(), "127.0.0.1:8080");
}

TEST(HttpUrl, DefaultsPortAndPath) {
  auto u = parse_http_url("HTTP://Example.org");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "Example.org");
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/");
  auto q = parse_http_url("http://localhost:1?a=b");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->target, "/?a=b");
}

TEST(HttpUrl, ParsesBracketedIpv6) {
  auto u = parse_http_url("http://[::1]:9000/x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_TRUE(u->ipv6);
  EXPECT_EQ(u->port, 9000);
  EXPECT_EQ(u->authority(), "[::1]:9000");
}

TEST(HttpUrl, RefusesWhatItDoesNotSupport) {
  struct Case {
    const char* url;
    const char* why;
  };
  for (auto [url, why] :
       {Case{"https://a.b/", "https is not supported"}, Case{"ftp://a.b/", "unsupported scheme"},
        Case{"127.0.0.1:80", "expected http://"}, Case{"http://", "empty host"},
        Case{"http://:80/", "empty host"}, Case{"http://a:0/", "port must be 1-65535"},
        Case{"http://a:65536/", "port must be 1-65535"},
        Case{"http://a:12x/", "port must be 1-65535"}, Case{"http://a:/", "empty port"},
        Case{"http://u:p@a/", "user info"}, Case{"http://a/b#frag", "fragments"},
        Case{"http://a/b c", "bad character in path"},
        Case{"http://a/b\r\nHost: evil", "bad character in path"},
        Case{"http://a b/", "bad character in host"}, Case{"http://[::1/", "unterminated IPv6"},
        Case{"http://[::1]x/", "unexpected text"}}) {
    auto u = parse_http_url(url);
    ASSERT_FALSE(u) << url;
    EXPECT_EQ(u.error().code, ErrorCode::invalid) << url;
    EXPECT_NE(u.error().message.find(why), std::string::npos) << url << ": " << u.error().message;
  }
}

}  // namespace
}  // namespace fedai::runners
