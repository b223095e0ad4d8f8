// The official vectors in ../shared/vectors: BIP-340, NIP-19 and signed Nostr events.
#include <gtest/gtest.h>

#include <sstream>
#include <vector>

#include "core/nostr/event.h"
#include "core/nostr/keys.h"
#include "core/nostr/nip19.h"
#include "core/util/hex.h"
#include "tests/support/vectors.h"

namespace fedai {
namespace {

std::vector<std::uint8_t> from_hex_any(const std::string& h) {
  std::vector<std::uint8_t> out(h.size() / 2);
  EXPECT_TRUE(hex::decode(h, out, /*allow_upper=*/true)) << h;
  return out;
}

struct Bip340Row {
  std::string index, secret, pubkey, aux, message, sig, result, comment;
};

std::vector<Bip340Row> read_bip340() {
  std::istringstream in(test::read_file(test::vector_path("bip340-test-vectors.csv")));
  std::vector<Bip340Row> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, ',')) cols.push_back(col);
    cols.resize(8);
    rows.push_back({cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7]});
  }
  return rows;
}

TEST(Bip340Vectors, AllNineteenVerifyAsStated) {
  auto rows = read_bip340();
  ASSERT_EQ(rows.size(), 19u);
  for (const auto& r : rows) {
    auto pk = PublicKey::from_hex(r.pubkey, /*allow_upper=*/true);
    auto sig = Signature::from_hex(r.sig, /*allow_upper=*/true);
    ASSERT_TRUE(pk && sig) << "vector " << r.index;
    auto msg = from_hex_any(r.message);
    bool expected = r.result == "TRUE";
    EXPECT_EQ(verify_signature_message(*pk, msg, *sig), expected)
        << "vector " << r.index << " " << r.comment;
    if (msg.size() == 32) {
      std::span<const std::uint8_t, 32> m32(msg.data(), 32);
      EXPECT_EQ(verify_signature(*pk, m32, *sig), expected) << "vector " << r.index;
    }
  }
}

TEST(Bip340Vectors, SigningReproducesSignatures) {
  int signed_count = 0;
  for (const auto& r : read_bip340()) {
    if (r.secret.empty()) continue;
    auto msg = from_hex_any(r.message);
    if (msg.size() != 32) continue;  // 15-18: Nostr signs only 32-byte ids (sign32)
    auto sk = SecretKey::from_hex(r.secret);
    ASSERT_TRUE(sk) << "vector " << r.index;
    Keypair keys(*sk);
    EXPECT_EQ(keys.public_key(), *PublicKey::from_hex(r.pubkey, true)) << "vector " << r.index;
    auto aux = from_hex_any(r.aux);
    Signature sig = keys.sign(std::span<const std::uint8_t, 32>(msg.data(), 32),
                              std::span<const std::uint8_t, 32>(aux.data(), 32));
    EXPECT_EQ(sig, *Signature::from_hex(r.sig, true)) << "vector " << r.index;
    ++signed_count;
  }
  EXPECT_EQ(signed_count, 4);
}

TEST(NostrEventVectors, ValidEventsVerifyWithStatedId) {
  auto doc = test::read_vector_json("nostr-events.json");
  ASSERT_EQ(doc["valid"].size(), 35u);
  for (const auto& entry : doc["valid"]) {
    const std::string json = entry["event"].dump();
    const std::string stated_id = entry["event"]["id"];
    auto ev = parse_verified_event(json);
    ASSERT_TRUE(ev) << stated_id << ": " << ev.error().to_string();
    EXPECT_EQ(ev->id.hex(), stated_id);
    EXPECT_EQ(canonical_serialization(ev->pubkey, ev->created_at, ev->kind, ev->tags, ev->content),
              entry["serialized"].get<std::string>());
    // Our wire form parses back to the same event.
    auto again = parse_verified_event(to_json(*ev));
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_EQ(*again, *ev);
  }
}

TEST(NostrEventVectors, InvalidEventsAreRejected) {
  auto doc = test::read_vector_json("nostr-events.json");
  ASSERT_EQ(doc["invalid"].size(), 3u);
  for (const auto& entry : doc["invalid"]) {
    auto ev = parse_verified_event(entry["event"].dump());
    ASSERT_FALSE(ev) << entry["event"]["id"];
    EXPECT_EQ(ev.error().code, ErrorCode::invalid);
    EXPECT_EQ(ev.error().message, "event id does not match its content");
    // The signature itself is good over the stated id: the id check is what catches them.
    auto parsed = parse_event(entry["event"].dump());
    ASSERT_TRUE(parsed);
    EXPECT_TRUE(verify_signature(parsed->pubkey, parsed->id.span(), parsed->sig));
  }
}

TEST(Nip19Vectors, BareKeysRoundTrip) {
  auto doc = test::read_vector_json("nip19-vectors.json");
  ASSERT_EQ(doc["bare"].size(), 3u);
  for (const auto& v : doc["bare"]) {
    const std::string type = v["type"], hex_value = v["hex"], text = v["bech32"];
    auto entity = nip19::decode(text);
    ASSERT_TRUE(entity) << text << ": " << entity.error().to_string();
    EXPECT_EQ(nip19::prefix_of(*entity), type);
    if (type == "npub") {
      auto pk = std::get<nip19::Npub>(*entity).pubkey;
      EXPECT_EQ(pk.hex(), hex_value);
      EXPECT_EQ(nip19::encode_npub(pk), text);
    } else {
      const auto& sk = std::get<nip19::Nsec>(*entity).secret;
      EXPECT_EQ(sk.reveal_hex(), hex_value);
      EXPECT_EQ(nip19::encode_nsec(sk), text);
    }
  }
}

TEST(Nip19Vectors, NprofileDecodesToPubkeyAndRelays) {
  auto doc = test::read_vector_json("nip19-vectors.json");
  ASSERT_EQ(doc["tlv"].size(), 1u);
  const auto& v = doc["tlv"][0];
  auto entity = nip19::decode(v["bech32"].get<std::string>());
  ASSERT_TRUE(entity) << entity.error().to_string();
  const auto& p = std::get<nip19::ProfilePointer>(*entity);
  EXPECT_EQ(p.pubkey.hex(), v["pubkey"]);
  EXPECT_EQ(p.relays, v["relays"].get<std::vector<std::string>>());
  auto again = nip19::encode_nprofile(p);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, v["bech32"]);
}

}  // namespace
}  // namespace fedai
