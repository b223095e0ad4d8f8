#include "core/nostr/keys.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <span>
#include <thread>

#include "core/nostr/key_text.h"
#include "core/nostr/nip19.h"
#include "core/nostr/sha256.h"

namespace fedai {
namespace {

TEST(Keys, GeneratedKeysSignAndVerify) {
  Keypair a = Keypair::generate();
  Keypair b = Keypair::generate();
  EXPECT_NE(a.public_key(), b.public_key());
  auto msg = sha256(std::string_view("message"));
  Signature sig = a.sign(msg.span());
  EXPECT_TRUE(verify_signature(a.public_key(), msg.span(), sig));
  EXPECT_FALSE(verify_signature(b.public_key(), msg.span(), sig));
  // Fresh aux randomness: two signatures over the same message differ, both verify.
  Signature sig2 = a.sign(msg.span());
  EXPECT_NE(sig, sig2);
  EXPECT_TRUE(verify_signature(a.public_key(), msg.span(), sig2));
}

// Verification keeps parsed keys per thread in slots chosen by the key's first two bytes: two
// keys that share a slot must still never stand in for each other, nor an invalid key for a
// valid one.
TEST(Keys, VerificationNeverConfusesKeysThatShareACacheSlot) {
  std::map<std::uint16_t, Keypair> by_prefix;
  std::optional<std::pair<Keypair, Keypair>> pair;
  while (!pair) {
    Keypair k = Keypair::generate();
    auto prefix =
        static_cast<std::uint16_t>(k.public_key().bytes[0] << 8 | k.public_key().bytes[1]);
    auto [it, fresh] = by_prefix.emplace(prefix, k);
    if (!fresh) pair.emplace(it->second, k);
  }
  const auto& [a, b] = *pair;
  auto msg = sha256(std::string_view("same slot"));
  Signature sa = a.sign(msg.span()), sb = b.sign(msg.span());
  for (int round = 0; round < 3; ++round) {
    EXPECT_TRUE(verify_signature(a.public_key(), msg.span(), sa));
    EXPECT_FALSE(verify_signature(b.public_key(), msg.span(), sa));
    EXPECT_TRUE(verify_signature(b.public_key(), msg.span(), sb));
    EXPECT_FALSE(verify_signature(a.public_key(), msg.span(), sb));
    PublicKey off_curve = a.public_key();
    off_curve.bytes.fill(0);  // x = 0 is not on the curve
    off_curve.bytes[0] = a.public_key().bytes[0];
    off_curve.bytes[1] = a.public_key().bytes[1];
    if (!is_valid_public_key(off_curve)) {
      EXPECT_FALSE(verify_signature(off_curve, msg.span(), sa));
    }
  }
}

// Random bytes come from a per-thread pool refilled 1 KiB at a time: draws across refills never
// repeat.
TEST(Keys, RandomDrawsDoNotRepeatAcrossRefills) {
  std::set<std::array<std::uint8_t, 32>> seen;
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(seen.insert(random_bytes32()).second);
}

TEST(Keys, SecretKeyRange) {
  std::array<std::uint8_t, 32> zero{};
  EXPECT_FALSE(SecretKey::from_bytes(zero));
  // n, the group order, is not a valid key; n-1 is.
  EXPECT_FALSE(
      SecretKey::from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"));
  EXPECT_TRUE(
      SecretKey::from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140"));
  EXPECT_FALSE(SecretKey::from_hex("abc"));
}

TEST(Keys, PublicKeyValidity) {
  // x = 0 is not on the curve; the generator's x is.
  EXPECT_FALSE(is_valid_public_key(PublicKey{}));
  EXPECT_TRUE(is_valid_public_key(
      *PublicKey::from_hex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")));
}

TEST(KeyText, AcceptsNsecAndHexEitherCase) {
  Keypair k = Keypair::generate();
  std::string hex = k.secret_key().reveal_hex();
  std::string upper = hex;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& text : {hex, upper, nip19::encode_nsec(k.secret_key())}) {
    auto sk = parse_secret_key(text);
    ASSERT_TRUE(sk) << sk.error().to_string();
    EXPECT_EQ(*sk, k.secret_key());
  }
  EXPECT_FALSE(parse_secret_key("nsec1qqqq"));
  EXPECT_FALSE(parse_secret_key(std::string(64, '0')));
  EXPECT_FALSE(parse_secret_key(nip19::encode_npub(k.public_key())));
}

TEST(KeyText, AcceptsNpubAndHex) {
  Keypair k = Keypair::generate();
  auto a = parse_public_key(nip19::encode_npub(k.public_key()));
  auto b = parse_public_key(k.public_key().hex());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, k.public_key());
  EXPECT_EQ(*b, k.public_key());
  EXPECT_FALSE(parse_public_key(std::string(64, '0')));  // not on the curve
}

TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(sha256(std::string_view("")).hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256(std::string_view("abc")).hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.update(std::string_view("a"));
  h.update(std::string_view("bc"));
  EXPECT_EQ(h.finish().hex(), sha256(std::string_view("abc")).hex());
}

TEST(Sha256, HmacRfc4231Case2) {
  std::string key = "Jefe", data = "what do ya want for nothing?";
  auto mac = hmac_sha256({reinterpret_cast<const std::uint8_t*>(key.data()), key.size()},
                         {reinterpret_cast<const std::uint8_t*>(data.data()), data.size()});
  EXPECT_EQ(mac.hex(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// hmac_sha256 reuses one context per thread: each call starts from its own key only, and a key
// longer than SHA-256's block (hashed first, RFC 4231 case 6) works on a reused context too.
TEST(Sha256, HmacReusedContextStartsFromEachKey) {
  auto bytes = [](const std::string& s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  const std::string jefe = "Jefe", jefe_data = "what do ya want for nothing?";
  const std::string long_key(131, '\xaa'),
      long_data = "Test Using Larger Than Block-Size Key - Hash Key First";
  const char* case2 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  const char* case6 = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(hmac_sha256(bytes(long_key), bytes(long_data)).hex(), case6);
    EXPECT_EQ(hmac_sha256(bytes(jefe), bytes(jefe_data)).hex(), case2);
  }
  std::string from_other_thread;
  std::thread([&] {
    from_other_thread = hmac_sha256(bytes(long_key), bytes(long_data)).hex();
  }).join();
  EXPECT_EQ(from_other_thread, case6);
}

}  // namespace
}  // namespace fedai
