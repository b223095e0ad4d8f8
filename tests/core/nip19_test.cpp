#include "core/nostr/nip19.h"

#include <gtest/gtest.h>

#include "core/nostr/bech32.h"

namespace fedai {
namespace {

PublicKey pk_of(char c) {
  return *PublicKey::from_hex(std::string(64, c));
}

TEST(Nip19, NoteRoundTrip) {
  EventId id = *EventId::from_hex(std::string(62, 'a') + "01");
  std::string s = nip19::encode_note(id);
  EXPECT_TRUE(s.starts_with("note1"));
  auto back = nip19::decode_note(s);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, id);
}

TEST(Nip19, NeventRoundTripWithOptionalFields) {
  nip19::EventPointer p{
      *EventId::from_hex(std::string(64, 'b')), {"wss://a", "wss://b"}, pk_of('c'), 36090};
  auto s = nip19::encode_nevent(p);
  ASSERT_TRUE(s);
  auto back = nip19::decode(*s);
  ASSERT_TRUE(back);
  EXPECT_EQ(std::get<nip19::EventPointer>(*back), p);

  nip19::EventPointer bare{
      *EventId::from_hex(std::string(64, 'b')), {}, std::nullopt, std::nullopt};
  auto s2 = nip19::encode_nevent(bare);
  ASSERT_TRUE(s2);
  EXPECT_EQ(std::get<nip19::EventPointer>(*nip19::decode(*s2)), bare);
}

TEST(Nip19, NaddrRoundTrip) {
  nip19::AddressPointer p{"node-1:llama-3", pk_of('d'), 36090, {"ws://127.0.0.1:7447"}};
  auto s = nip19::encode_naddr(p);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->starts_with("naddr1"));
  auto back = nip19::decode(*s);
  ASSERT_TRUE(back);
  EXPECT_EQ(std::get<nip19::AddressPointer>(*back), p);
  p.identifier = "";
  auto empty_d = nip19::encode_naddr(p);
  ASSERT_TRUE(empty_d);
  EXPECT_EQ(std::get<nip19::AddressPointer>(*nip19::decode(*empty_d)).identifier, "");
}

TEST(Nip19, Errors) {
  std::string npub = nip19::encode_npub(pk_of('e'));
  std::string flipped = npub;
  flipped[10] = flipped[10] == 'q' ? 'p' : 'q';
  EXPECT_EQ(nip19::decode(flipped).error().message, "bech32 checksum mismatch");
  EXPECT_EQ(nip19::decode_nsec(npub).error().message, "expected nsec, got npub");
  // Right checksum, wrong prefix.
  auto words = bech32::to_words(pk_of('e').bytes);
  EXPECT_EQ(nip19::decode(bech32::encode("nfoo", words)).error().message,
            "unknown NIP-19 prefix 'nfoo'");
  // Right prefix, wrong length.
  std::vector<std::uint8_t> short_payload(31, 1);
  EXPECT_EQ(nip19::decode(bech32::encode("npub", bech32::to_words(short_payload))).error().message,
            "npub payload must be 32 bytes, got 31");
  // A TLV whose value runs past the end.
  std::vector<std::uint8_t> tlv{0, 32, 1, 2};
  EXPECT_EQ(nip19::decode(bech32::encode("nprofile", bech32::to_words(tlv))).error().message,
            "TLV value runs past the end");
  // naddr without a kind.
  std::vector<std::uint8_t> naddr{0, 0, 2, 32};
  naddr.insert(naddr.end(), 32, 7);
  EXPECT_EQ(nip19::decode(bech32::encode("naddr", bech32::to_words(naddr))).error().message,
            "naddr is missing its kind");
  // nsec out of range.
  std::vector<std::uint8_t> zero(32, 0);
  EXPECT_EQ(nip19::decode(bech32::encode("nsec", bech32::to_words(zero))).error().message,
            "nsec is not a valid secp256k1 secret key");
}

TEST(Nip19, UnknownTlvTypesAreIgnored) {
  std::vector<std::uint8_t> tlv{9, 2, 0xaa, 0xbb, 0, 32};
  tlv.insert(tlv.end(), 32, 0x11);
  auto d = nip19::decode(bech32::encode("nprofile", bech32::to_words(tlv)));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(std::get<nip19::ProfilePointer>(*d).pubkey, pk_of('1'));
}

TEST(Nip19, RelayTooLongToEncode) {
  nip19::ProfilePointer p{pk_of('a'), {std::string(256, 'x')}};
  EXPECT_FALSE(nip19::encode_nprofile(p));
}

}  // namespace
}  // namespace fedai
