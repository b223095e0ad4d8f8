// BOLT 11 decoding against every example of the spec (../shared/vectors/bolt11-vectors.json,
// copied from lightning/bolts 11-payment-encoding.md): each valid invoice decodes to the fields
// the spec states, its signature verified or its payee recovered; each invalid one is refused.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/lightning/bolt11.h"
#include "core/util/hex.h"
#include "tests/support/param_names.h"
#include "tests/support/vectors.h"

namespace fedai {
namespace {

using nlohmann::json;

template <std::size_t N>
std::string hex_of(const std::array<std::uint8_t, N>& a) {
  return hex::encode(std::span<const std::uint8_t>(a));
}

struct Case {
  std::string name;
  json vector;
};

std::vector<Case> cases(const char* list) {
  json all = json::parse(test::read_file(test::vector_path("bolt11-vectors.json")));
  std::vector<Case> out;
  for (const auto& v : all.at(list)) {
    std::string name = v.value("title", "untitled").substr(0, 48);
    out.push_back({name + "_" + std::to_string(out.size()), v});
  }
  return out;
}

class Bolt11Valid : public testing::TestWithParam<Case> {};

TEST_P(Bolt11Valid, DecodesToTheStatedFields) {
  const json& v = GetParam().vector;
  auto inv = bolt11::decode(v.at("invoice").get<std::string>());
  ASSERT_TRUE(inv) << inv.error().message;
  EXPECT_EQ("ln" + inv->network, v.at("network_prefix").get<std::string>());
  if (v.at("amount_msat").is_null())
    EXPECT_FALSE(inv->amount);
  else
    EXPECT_EQ(inv->amount, protocol::Msat{v.at("amount_msat").get<std::uint64_t>()});
  EXPECT_EQ(inv->timestamp, v.at("timestamp").get<std::uint64_t>());
  EXPECT_EQ(hex_of(inv->payment_hash), v.at("payment_hash").get<std::string>());
  EXPECT_EQ(hex_of(inv->payment_secret), v.at("payment_secret").get<std::string>());
  if (v.at("description").is_null())
    EXPECT_FALSE(inv->description);
  else
    EXPECT_EQ(inv->description, v.at("description").get<std::string>());
  if (v.at("description_hash").is_null())
    EXPECT_FALSE(inv->description_hash);
  else if (inv->description_hash)
    EXPECT_EQ(hex_of(*inv->description_hash), v.at("description_hash").get<std::string>());
  else
    ADD_FAILURE() << "no description hash";
  EXPECT_EQ(inv->expiry_seconds, v.at("expiry_seconds").get<std::uint64_t>());
  if (v.at("min_final_cltv_expiry_delta").is_null())
    EXPECT_FALSE(inv->min_final_cltv_expiry_delta);
  else
    EXPECT_EQ(inv->min_final_cltv_expiry_delta,
              v.at("min_final_cltv_expiry_delta").get<std::uint64_t>());
  EXPECT_EQ(inv->feature_bits, v.at("feature_bits_set").get<std::vector<unsigned>>());
  EXPECT_EQ(hex_of(inv->signing_hash), v.at("signing_hash").get<std::string>());
  EXPECT_EQ(hex_of(inv->signature), v.at("signature_rs_hex").get<std::string>());
  EXPECT_EQ(inv->recovery_id, v.at("recovery_id").get<int>());
  // Without an n field the payee is what the signature recovers to (for the high-S vector, not
  // the spec's usual key: its recovery id was kept while s was negated).
  EXPECT_EQ(hex_of(inv->payee), v.at("payee_pubkey").is_null()
                                    ? v.at("payee_pubkey_recovered").get<std::string>()
                                    : v.at("payee_pubkey").get<std::string>());
  if (v.contains("payee_pubkey_recovered") && !v.at("payee_pubkey_recovered").is_null()) {
    EXPECT_EQ(hex_of(inv->payee), v.at("payee_pubkey_recovered").get<std::string>());
  }
  if (v.contains("fallbacks")) {
    EXPECT_EQ(inv->fallbacks.size(), v.at("fallbacks").size());
  }
  if (v.contains("route_hints")) {
    EXPECT_EQ(inv->route_hints.size(), v.at("route_hints").size());
  }
  if (v.contains("payment_metadata") && !v.at("payment_metadata").is_null()) {
    ASSERT_TRUE(inv->payment_metadata);
    EXPECT_EQ(hex::encode(std::span<const std::uint8_t>(*inv->payment_metadata)),
              v.at("payment_metadata").get<std::string>());
  }
  // Upper case is the same invoice (QR codes use it).
  std::string upper = v.at("invoice").get<std::string>();
  for (char& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  auto again = bolt11::decode(upper);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->payee, inv->payee);
}

INSTANTIATE_TEST_SUITE_P(Spec, Bolt11Valid, testing::ValuesIn(cases("valid")), test::ByName());

class Bolt11Invalid : public testing::TestWithParam<Case> {};

TEST_P(Bolt11Invalid, IsRefusedWithAReason) {
  const json& v = GetParam().vector;
  auto inv = bolt11::decode(v.at("invoice").get<std::string>());
  std::string reason = v.at("reason").get<std::string>();
  ASSERT_FALSE(inv) << "decoded: " << reason;
  EXPECT_TRUE(inv.error().message.starts_with("bolt11: ")) << inv.error().message;
  // Refused for the reason the spec gives, not by accident of another check.
  const std::pair<const char*, const char*> kWhy[] = {
      {"feature bit 100", "feature bit 100"},
      {"checksum", "checksum"},
      {"separator", "separator"},
      {"mixed case", "mixes upper and lower case"},
      {"not recoverable", "recovered"},
      {"too short", "too short"},
      {"multiplier \"x\"", "multiplier 'x'"},
      {"sub-millisatoshi", "whole millisatoshi"},
      {"missing required s", "payment secret"},
      {"high-S", "high-S"},
  };
  bool matched = false;
  for (const auto& [spec, ours] : kWhy) {
    if (reason.find(spec) == std::string::npos) continue;
    matched = true;
    EXPECT_NE(inv.error().message.find(ours), std::string::npos)
        << "spec: " << reason << "; fedai: " << inv.error().message;
  }
  EXPECT_TRUE(matched) << "no expected refusal listed for: " << reason;
}

INSTANTIATE_TEST_SUITE_P(Spec, Bolt11Invalid, testing::ValuesIn(cases("invalid")), test::ByName());

TEST(Bolt11, AChangedFieldBreaksTheSignature) {
  auto all = cases("valid");
  std::string invoice = all.front().vector.at("invoice").get<std::string>();
  // Flip one data character well inside the tagged fields, then fix nothing: the bech32
  // checksum fails first; a decoder that skipped it would recover another payee.
  std::string tampered = invoice;
  tampered[20] = tampered[20] == 'q' ? 'p' : 'q';
  EXPECT_FALSE(bolt11::decode(tampered));
}

}  // namespace
}  // namespace fedai
