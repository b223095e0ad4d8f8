#include "core/util/base64.h"

#include <gtest/gtest.h>

namespace fedai {
namespace {

std::string decoded(std::string_view s) {
  auto r = base64::decode(s);
  EXPECT_TRUE(r) << s;
  return r ? std::string(r->begin(), r->end()) : "";
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (auto [plain, enc] : cases) {
    EXPECT_EQ(base64::encode(std::string_view(plain)), enc);
    EXPECT_EQ(decoded(enc), plain);
  }
}

TEST(Base64, StrictDecoding) {
  for (const char* bad : {"Zg=", "Zg", "Z===", "Zm9v\n", "Zm 9v", "Zh==", "Zm9=", "=Zm9", "Zm=v",
                          "Zm9v!A==", "Zm-_"}) {
    EXPECT_FALSE(base64::decode(bad)) << bad;
  }
}

}  // namespace
}  // namespace fedai
