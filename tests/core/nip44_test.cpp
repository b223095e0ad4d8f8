// NIP-44 v2: every official vector (../shared/vectors/nip44.vectors.json), the extended-length
// vectors from the amended NIP (nip44-extended-length.json), and tampered payloads.
#include "core/nostr/nip44.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/nostr/sha256.h"
#include "core/util/base64.h"
#include "tests/support/vectors.h"

namespace fedai {
namespace {

using nip44::ConversationKey;
using nlohmann::json;

const json& v2() {
  static const json vectors = test::read_vector_json("nip44.vectors.json").at("v2");
  return vectors;
}

template <class T>
T hex_to(const json& value) {
  auto out = T::from_hex(value.get<std::string>());
  EXPECT_TRUE(out) << value;
  return out ? *out : T{};
}

SecretKey secret(const json& value) {
  auto sk = SecretKey::from_hex(value.get<std::string>());
  if (!sk) throw std::runtime_error("bad secret key in vector: " + value.dump());
  return *sk;
}

PublicKey public_of(const SecretKey& sk) {
  return Keypair(sk).public_key();
}

std::string sha256_hex(std::string_view s) {
  return sha256(s).hex();
}

std::string repeat(std::string_view pattern, std::size_t times) {
  std::string out;
  out.reserve(pattern.size() * times);
  for (std::size_t i = 0; i < times; ++i) out += pattern;
  return out;
}

ConversationKey test_key() {
  return *ConversationKey::from_hex(
      "c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d");
}

Bytes32 nonce_one() {
  return *Bytes32::from_hex("0000000000000000000000000000000000000000000000000000000000000001");
}

// Expects `r` to be an `invalid:` error whose message contains `fragment`.
template <class T>
void expect_invalid(const Result<T>& r, std::string_view fragment, const std::string& where) {
  ASSERT_FALSE(r.ok()) << where;
  EXPECT_EQ(r.error().code, ErrorCode::invalid) << where;
  EXPECT_NE(r.error().message.find(fragment), std::string::npos)
      << where << ": got \"" << r.error().to_string() << "\", want \"" << fragment << "\"";
}

// ---------------------------------------------------------------------------------------------
// Valid vectors

TEST(Nip44Vectors, ConversationKeys) {
  const auto& cases = v2().at("valid").at("get_conversation_key");
  ASSERT_EQ(cases.size(), 35u);
  for (const auto& c : cases) {
    auto key = nip44::conversation_key(secret(c.at("sec1")), hex_to<PublicKey>(c.at("pub2")));
    ASSERT_TRUE(key) << c.dump() << ": " << key.error().to_string();
    EXPECT_EQ(key->hex(), c.at("conversation_key").get<std::string>()) << c.dump();
  }
}

TEST(Nip44Vectors, MessageKeys) {
  const auto& block = v2().at("valid").at("get_message_keys");
  auto key = hex_to<ConversationKey>(block.at("conversation_key"));
  const auto& cases = block.at("keys");
  ASSERT_EQ(cases.size(), 32u);
  for (const auto& c : cases) {
    auto keys = nip44::message_keys(key, hex_to<Bytes32>(c.at("nonce")));
    EXPECT_EQ(hex::encode(keys.chacha_key), c.at("chacha_key").get<std::string>()) << c.dump();
    EXPECT_EQ(hex::encode(keys.chacha_nonce), c.at("chacha_nonce").get<std::string>()) << c.dump();
    EXPECT_EQ(hex::encode(keys.hmac_key), c.at("hmac_key").get<std::string>()) << c.dump();
  }
}

TEST(Nip44Vectors, CalcPaddedLen) {
  const auto& cases = v2().at("valid").at("calc_padded_len");
  ASSERT_EQ(cases.size(), 24u);
  for (const auto& c : cases)
    EXPECT_EQ(nip44::calc_padded_len(c.at(0).get<std::size_t>()), c.at(1).get<std::size_t>())
        << c.dump();
}

TEST(Nip44Vectors, EncryptDecrypt) {
  const auto& cases = v2().at("valid").at("encrypt_decrypt");
  ASSERT_EQ(cases.size(), 10u);
  for (const auto& c : cases) {
    SecretKey sec1 = secret(c.at("sec1"));
    SecretKey sec2 = secret(c.at("sec2"));
    const auto expected_key = c.at("conversation_key").get<std::string>();
    const auto plaintext = c.at("plaintext").get<std::string>();
    const auto payload = c.at("payload").get<std::string>();

    auto conv12 = nip44::conversation_key(sec1, public_of(sec2));
    ASSERT_TRUE(conv12) << c.dump();
    EXPECT_EQ(conv12->hex(), expected_key);
    auto encrypted = nip44::encrypt(plaintext, *conv12, hex_to<Bytes32>(c.at("nonce")));
    ASSERT_TRUE(encrypted) << c.dump();
    EXPECT_EQ(*encrypted, payload);

    auto conv21 = nip44::conversation_key(sec2, public_of(sec1));
    ASSERT_TRUE(conv21) << c.dump();
    EXPECT_EQ(conv21->hex(), expected_key);
    auto decrypted = nip44::decrypt(payload, *conv21);
    ASSERT_TRUE(decrypted) << c.dump() << ": " << decrypted.error().to_string();
    EXPECT_EQ(*decrypted, plaintext);
  }
}

TEST(Nip44Vectors, EncryptDecryptLongMessages) {
  const auto& cases = v2().at("valid").at("encrypt_decrypt_long_msg");
  ASSERT_EQ(cases.size(), 3u);
  for (const auto& c : cases) {
    auto key = hex_to<ConversationKey>(c.at("conversation_key"));
    std::string plaintext =
        repeat(c.at("pattern").get<std::string>(), c.at("repeat").get<std::size_t>());
    EXPECT_EQ(sha256_hex(plaintext), c.at("plaintext_sha256").get<std::string>());
    auto payload = nip44::encrypt(plaintext, key, hex_to<Bytes32>(c.at("nonce")));
    ASSERT_TRUE(payload);
    EXPECT_EQ(sha256_hex(*payload), c.at("payload_sha256").get<std::string>());
    auto decrypted = nip44::decrypt(*payload, key);
    ASSERT_TRUE(decrypted) << decrypted.error().to_string();
    EXPECT_TRUE(*decrypted == plaintext);
  }
}

// The table in the amended NIP-44 text: the boundary between the 2-byte and 6-byte prefixes.
TEST(Nip44Vectors, ExtendedLengthPrefix) {
  const json file = test::read_vector_json("nip44-extended-length.json");
  auto key = hex_to<ConversationKey>(file.at("conversation_key"));
  auto nonce = hex_to<Bytes32>(file.at("nonce"));
  ASSERT_EQ(file.at("plaintext_byte").get<std::string>(), "61");
  const auto& cases = file.at("vectors");
  ASSERT_EQ(cases.size(), 3u);
  for (const auto& c : cases) {
    const auto len = c.at("plaintext_len").get<std::size_t>();
    const auto padded_len = c.at("padded_len").get<std::size_t>();
    const auto prefix_bytes = c.at("prefix_bytes").get<std::size_t>();
    std::string plaintext(len, 'a');
    EXPECT_EQ(sha256_hex(plaintext), c.at("plaintext_sha256").get<std::string>());
    EXPECT_EQ(nip44::calc_padded_len(len), padded_len);
    auto payload = nip44::encrypt(plaintext, key, nonce);
    ASSERT_TRUE(payload) << len;
    EXPECT_EQ(sha256_hex(*payload), c.at("payload_sha256").get<std::string>()) << len;
    auto raw = base64::decode(*payload);
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->size(), 1 + 32 + prefix_bytes + padded_len + 32) << len;
    auto decrypted = nip44::decrypt(*payload, key);
    ASSERT_TRUE(decrypted) << len << ": " << decrypted.error().to_string();
    EXPECT_TRUE(*decrypted == plaintext) << len;
  }
}

// ---------------------------------------------------------------------------------------------
// Invalid vectors

TEST(Nip44Vectors, InvalidConversationKeys) {
  const auto& cases = v2().at("invalid").at("get_conversation_key");
  ASSERT_EQ(cases.size(), 8u);
  int bad_secret = 0, bad_public = 0;
  for (const auto& c : cases) {
    const auto note = c.at("note").get<std::string>();
    auto sk = SecretKey::from_hex(c.at("sec1").get<std::string>());
    auto pk = PublicKey::from_hex(c.at("pub2").get<std::string>());
    ASSERT_TRUE(pk) << note;  // well-formed hex; the point itself is what is wrong
    if (note.starts_with("sec1")) {
      EXPECT_FALSE(sk) << note;
      ++bad_secret;
    } else {
      ASSERT_TRUE(sk) << note;
      auto key = nip44::conversation_key(*sk, *pk);
      expect_invalid(key, "NIP-44 public key is not a point on secp256k1", note);
      ++bad_public;
    }
  }
  EXPECT_EQ(bad_secret, 3);
  EXPECT_EQ(bad_public, 5);
}

// Maps each vector's note to the reason fedai gives.
std::string reason_for(const std::string& note) {
  if (note == "unknown encryption version") return "unsupported encoding ('#'";
  if (note == "unknown encryption version 0") return "unknown NIP-44 version 0";
  if (note == "invalid base64") return "NIP-44 payload is not base64";
  if (note == "invalid MAC") return "NIP-44 MAC mismatch";
  if (note == "invalid padding") return "NIP-44 padding is malformed";
  if (note == "invalid payload length: 0") return "NIP-44 payload is empty";
  const std::string prefix = "invalid payload length: ";
  if (note.starts_with(prefix))
    return "NIP-44 payload length " + note.substr(prefix.size()) + " is outside 132..";
  ADD_FAILURE() << "unexpected note " << note;
  return note;
}

TEST(Nip44Vectors, InvalidDecrypt) {
  const auto& cases = v2().at("invalid").at("decrypt");
  ASSERT_EQ(cases.size(), 12u);
  for (const auto& c : cases) {
    const auto note = c.at("note").get<std::string>();
    auto key = hex_to<ConversationKey>(c.at("conversation_key"));
    expect_invalid(nip44::decrypt(c.at("payload").get<std::string>(), key), reason_for(note),
                   note + " " + c.at("payload").get<std::string>());
  }
}

// The vector file predates the extended prefix and lists 0, 65536, 100000 and 10000000 as
// invalid lengths. Under the current NIP only 0 is: the others encrypt and decrypt back.
TEST(Nip44Vectors, EncryptMessageLengthsUnderTheCurrentSpec) {
  const auto& lengths = v2().at("invalid").at("encrypt_msg_lengths");
  ASSERT_EQ(lengths.size(), 4u);
  int rejected = 0, round_tripped = 0;
  for (const auto& l : lengths) {
    const auto len = l.get<std::size_t>();
    std::string plaintext(len, 'x');
    auto payload = nip44::encrypt(plaintext, test_key(), nonce_one());
    if (len == 0) {
      expect_invalid(payload, "NIP-44 plaintext is empty", "length 0");
      ++rejected;
      continue;
    }
    ASSERT_GE(len, nip44::kExtendedPrefixThreshold);
    ASSERT_TRUE(payload) << len;
    auto raw = base64::decode(*payload);
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->size(), 1 + 32 + 6 + nip44::calc_padded_len(len) + 32) << len;
    auto decrypted = nip44::decrypt(*payload, test_key());
    ASSERT_TRUE(decrypted) << len << ": " << decrypted.error().to_string();
    EXPECT_TRUE(*decrypted == plaintext) << len;
    ++round_tripped;
  }
  EXPECT_EQ(rejected, 1);
  EXPECT_EQ(round_tripped, 3);
}

// ---------------------------------------------------------------------------------------------
// Round trips and properties

TEST(Nip44, ConversationKeyIsSymmetric) {
  Keypair a = Keypair::generate();
  Keypair b = Keypair::generate();
  auto ab = nip44::conversation_key(a.secret_key(), b.public_key());
  auto ba = nip44::conversation_key(b.secret_key(), a.public_key());
  ASSERT_TRUE(ab && ba);
  EXPECT_EQ(*ab, *ba);
  auto aa = nip44::conversation_key(a.secret_key(), a.public_key());
  ASSERT_TRUE(aa);
  EXPECT_NE(*aa, *ab);
}

TEST(Nip44, RandomNoncesDifferAndBothDecrypt) {
  auto p1 = nip44::encrypt("hello world", test_key());
  auto p2 = nip44::encrypt("hello world", test_key());
  ASSERT_TRUE(p1 && p2);
  EXPECT_NE(*p1, *p2);
  EXPECT_EQ(*nip44::decrypt(*p1, test_key()), "hello world");
  EXPECT_EQ(*nip44::decrypt(*p2, test_key()), "hello world");
}

TEST(Nip44, ArbitraryBytesRoundTrip) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) bytes += static_cast<char>(i * 7 % 256);  // NULs, invalid UTF-8
  ASSERT_NE(bytes.find('\0'), std::string::npos);
  for (std::size_t len : {1u, 2u, 31u, 32u, 33u, 255u, 256u, 257u, 300u}) {
    std::string plaintext = bytes.substr(0, len);
    auto payload = nip44::encrypt(plaintext, test_key());
    ASSERT_TRUE(payload) << len;
    auto decrypted = nip44::decrypt(*payload, test_key());
    ASSERT_TRUE(decrypted) << len;
    EXPECT_EQ(*decrypted, plaintext) << len;
  }
}

TEST(Nip44, PrefixWidthSwitchesAt65536) {
  for (std::size_t len : {65535u, 65536u}) {
    auto payload = nip44::encrypt(std::string(len, 'q'), test_key(), nonce_one());
    ASSERT_TRUE(payload);
    auto raw = base64::decode(*payload);
    ASSERT_TRUE(raw);
    // Both pad to 65536; only the prefix differs.
    EXPECT_EQ(raw->size(), 1 + 32 + (len < 65536 ? 2 : 6) + 65536 + 32) << len;
  }
}

TEST(Nip44, CalcPaddedLenEdges) {
  EXPECT_EQ(nip44::calc_padded_len(1), 32u);
  EXPECT_EQ(nip44::calc_padded_len(257), 320u);
  EXPECT_EQ(nip44::calc_padded_len(65537), 81920u);
  EXPECT_EQ(nip44::calc_padded_len(nip44::kMaxPlaintextSize), std::size_t{1} << 32);
  EXPECT_EQ(nip44::calc_padded_len(nip44::kMaxPlaintextSize + 1), 0u);
  EXPECT_EQ(nip44::kMaxPayloadSize, 5726623156u);
}

// ---------------------------------------------------------------------------------------------
// Tampered payloads: each is refused with its own reason.

std::string good_payload() {
  // 100 bytes: pads to 128, so the payload (260 chars) can lose a few and stay long enough.
  auto p = nip44::encrypt(std::string(100, 'm'), test_key(), nonce_one());
  if (!p) throw std::runtime_error("encrypt failed");
  return *p;
}

std::vector<std::uint8_t> raw_of(const std::string& payload) {
  auto raw = base64::decode(payload);
  if (!raw) throw std::runtime_error("bad base64");
  return *raw;
}

TEST(Nip44Tamper, FlippedMacByte) {
  auto raw = raw_of(good_payload());
  raw.back() ^= 0x01;
  expect_invalid(nip44::decrypt(base64::encode(raw), test_key()), "NIP-44 MAC mismatch", "mac");
}

TEST(Nip44Tamper, FlippedCiphertextByte) {
  auto raw = raw_of(good_payload());
  raw[1 + 32 + 5] ^= 0x80;
  expect_invalid(nip44::decrypt(base64::encode(raw), test_key()), "NIP-44 MAC mismatch",
                 "ciphertext");
}

TEST(Nip44Tamper, FlippedNonceByte) {
  auto raw = raw_of(good_payload());
  raw[1] ^= 0x01;
  expect_invalid(nip44::decrypt(base64::encode(raw), test_key()), "NIP-44 MAC mismatch", "nonce");
}

TEST(Nip44Tamper, WrongKey) {
  auto other = *ConversationKey::from_hex(
      "3dfef0ce2a4d80a25e7a328accf73448ef67096f65f79588e358d9a0eb9013f1");
  expect_invalid(nip44::decrypt(good_payload(), other), "NIP-44 MAC mismatch", "key");
}

TEST(Nip44Tamper, TruncatedPayload) {
  std::string p = good_payload();
  // Dropping 4 characters keeps it valid base64 but cuts the MAC: the MAC no longer matches.
  expect_invalid(nip44::decrypt(p.substr(0, p.size() - 4), test_key()), "NIP-44 MAC mismatch",
                 "truncated by 4");
  // Dropping one character breaks the base64.
  expect_invalid(nip44::decrypt(p.substr(0, p.size() - 1), test_key()),
                 "NIP-44 payload is not base64", "truncated by 1");
  // Below the minimum size.
  expect_invalid(nip44::decrypt(p.substr(0, 131), test_key()),
                 "NIP-44 payload length 131 is outside 132..5726623156", "131 chars");
}

TEST(Nip44Tamper, BadBase64) {
  std::string p = good_payload();
  std::string with_space = p;
  with_space[50] = ' ';
  expect_invalid(nip44::decrypt(with_space, test_key()),
                 "NIP-44 payload is not base64: base64 has a character outside the alphabet",
                 "space");
  std::string url_safe = p;
  url_safe[60] = '-';
  expect_invalid(nip44::decrypt(url_safe, test_key()), "NIP-44 payload is not base64", "'-'");
  expect_invalid(nip44::decrypt(p + "\n", test_key()), "NIP-44 payload is not base64",
                 "trailing newline");
}

TEST(Nip44Tamper, WrongVersion) {
  for (std::uint8_t version : {0, 1, 3, 255}) {
    auto raw = raw_of(good_payload());
    raw[0] = version;
    expect_invalid(nip44::decrypt(base64::encode(raw), test_key()),
                   "unknown NIP-44 version " + std::to_string(version),
                   "version " + std::to_string(version));
  }
  auto raw = raw_of(good_payload());
  raw[0] = 1;
  auto r = nip44::decrypt(base64::encode(raw), test_key());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "invalid: unknown NIP-44 version 1");
}

TEST(Nip44Tamper, FutureEncodingAndEmpty) {
  std::string future = "#";
  future += good_payload();
  expect_invalid(nip44::decrypt(future, test_key()), "unsupported encoding", "'#'");
  expect_invalid(nip44::decrypt("#", test_key()), "unsupported encoding", "'#' alone");
  expect_invalid(nip44::decrypt("", test_key()), "NIP-44 payload is empty", "empty");
}

// Payloads with a valid MAC around a padded block that is not canonical: the MAC passes, the
// padding check must still refuse them.
std::string seal(const std::vector<std::uint8_t>& padded) {
  const Bytes32 nonce = nonce_one();
  auto keys = nip44::message_keys(test_key(), nonce);
  std::vector<std::uint8_t> raw{nip44::kVersion};
  raw.insert(raw.end(), nonce.bytes.begin(), nonce.bytes.end());
  raw.insert(raw.end(), padded.begin(), padded.end());
  nip44::detail::chacha20_xor(keys, {raw.data() + 33, padded.size()});
  auto mac = hmac_sha256(keys.hmac_key, {raw.data() + 1, raw.size() - 1});
  raw.insert(raw.end(), mac.bytes.begin(), mac.bytes.end());
  return base64::encode(raw);
}

std::vector<std::uint8_t> padded_block(std::vector<std::uint8_t> prefix, std::size_t body,
                                       std::size_t total) {
  std::vector<std::uint8_t> out = std::move(prefix);
  out.resize(out.size() + body, 'z');
  out.resize(total, 0);
  return out;
}

TEST(Nip44Tamper, MalformedPaddingUnderAValidMac) {
  // The construction itself is sound: a canonical block decrypts.
  auto ok = nip44::decrypt(seal(padded_block({0x00, 0x05}, 5, 2 + 32)), test_key());
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(*ok, "zzzzz");
  // A canonical extended block decrypts too.
  auto big = nip44::decrypt(seal(padded_block({0, 0, 0x00, 0x01, 0x00, 0x00}, 65536, 6 + 65536)),
                            test_key());
  ASSERT_TRUE(big) << big.error().to_string();
  EXPECT_EQ(big->size(), 65536u);

  const std::vector<std::pair<const char*, std::vector<std::uint8_t>>> bad = {
      {"u16 length 0 and u32 length 0", padded_block({0, 0, 0, 0, 0, 0}, 0, 6 + 32)},
      {"extended prefix for a short length", padded_block({0, 0, 0, 0, 0, 5}, 5, 6 + 32)},
      {"extended prefix for 65535", padded_block({0, 0, 0, 0, 0xff, 0xff}, 65535, 6 + 65536)},
      {"u16 length beyond the buffer", padded_block({0x00, 0x40}, 32, 2 + 32)},
      {"padded length too long", padded_block({0x00, 0x05}, 5, 2 + 64)},
      {"padded length too short", padded_block({0x00, 0x21}, 33, 2 + 33)},
      {"u16 65535 in a short buffer", padded_block({0xff, 0xff}, 32, 2 + 32)},
      {"u32 2^32-1 in a short buffer", padded_block({0, 0, 0xff, 0xff, 0xff, 0xff}, 0, 6 + 32)},
      {"extended 65536 with u16 padding", padded_block({0, 0, 0, 1, 0, 0}, 65536, 2 + 65536)},
  };
  for (const auto& [what, block] : bad) {
    auto r = nip44::decrypt(seal(block), test_key());
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().to_string(), "invalid: NIP-44 padding is malformed") << what;
  }
}

// ---------------------------------------------------------------------------------------------
// The chunked building blocks (used for data above OpenSSL's int lengths) agree with one-shot.

TEST(Nip44Detail, ChunkedBase64MatchesOneShot) {
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < 1000; ++i) bytes.push_back(static_cast<std::uint8_t>(i * 31 + 7));
  for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 998u, 999u, 1000u}) {
    std::span<const std::uint8_t> part(bytes.data(), n);
    const std::string whole = base64::encode(part);
    for (std::size_t chunk : {3u, 6u, 9u, 300u}) {
      EXPECT_EQ(nip44::detail::base64_encode(part, chunk), whole) << n << "/" << chunk;
      for (std::size_t dchunk : {4u, 8u, 12u, 400u}) {
        auto back = nip44::detail::base64_decode(whole, dchunk);
        ASSERT_TRUE(back) << n << "/" << dchunk;
        EXPECT_TRUE(std::equal(back->begin(), back->end(), part.begin(), part.end()));
      }
    }
  }
  // Padding at a chunk boundary is not the end of the text.
  expect_invalid(nip44::detail::base64_decode("Zg==Zm9v", 4), "'=' before the end", "pad 4");
  expect_invalid(nip44::detail::base64_decode("Zm9vZg==Zm9v", 8), "'=' before the end", "pad 8");
  EXPECT_FALSE(nip44::detail::base64_decode("Zm9vZ===Zm9v", 4));
  EXPECT_FALSE(nip44::detail::base64_decode("Zm9vZm9vZm9", 4));
  EXPECT_FALSE(nip44::detail::base64_decode("Zm9vZm9vZm9!", 4));
}

TEST(Nip44Detail, ChunkedChaChaMatchesOneShot) {
  auto keys = nip44::message_keys(test_key(), nonce_one());
  std::vector<std::uint8_t> one(1000, 0), chunked(1000, 0);
  nip44::detail::chacha20_xor(keys, one);
  nip44::detail::chacha20_xor(keys, chunked, 64);
  EXPECT_EQ(one, chunked);
  EXPECT_NE(one, std::vector<std::uint8_t>(1000, 0));
  nip44::detail::chacha20_xor(keys, one, 128);  // XOR twice: back to zeros
  EXPECT_EQ(one, std::vector<std::uint8_t>(1000, 0));
}

}  // namespace
}  // namespace fedai
