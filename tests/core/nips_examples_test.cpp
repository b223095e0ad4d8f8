// nips/examples/: every example event verifies (id and signature) and its typed parser accepts
// it (sealed ones opened with the example keys of nips/examples/README.md); the files are what
// the builders make today (tests/tools/make_nip_examples regenerates them); and the examples
// tell one consistent story, as a router and a node would check it.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "core/nostr/bech32.h"
#include "core/nostr/nip40.h"
#include "core/protocol/protocol.h"
#include "tests/support/vectors.h"
#include "tests/tools/nip_examples.h"

namespace fedai::protocol {
namespace {

namespace fs = std::filesystem;
using fedai::test::example_keys;
using fedai::test::read_file;

const std::string kDir = FEDAI_NIPS_EXAMPLES_DIR;

template <class T>
std::string reason(const Result<T>& r) {
  return r ? std::string("(accepted)") : r.error().to_string();
}

// Every committed example event, by file name.
std::map<std::string, Event> committed_events() {
  std::map<std::string, Event> out;
  for (const auto& entry : fs::directory_iterator(kDir)) {
    if (entry.path().extension() != ".json") continue;
    std::string name = entry.path().filename().string();
    auto e = parse_verified_event(read_file(entry.path().string()));
    if (!e) throw std::runtime_error(name + ": " + e.error().to_string());
    out.emplace(name, std::move(*e));
  }
  return out;
}

const Keypair* example_key_for(const PublicKey& pubkey) {
  const auto& k = example_keys();
  for (const Keypair* kp : {&k.router, &k.node, &k.node_b})
    if (kp->public_key() == pubkey) return kp;
  return nullptr;
}

std::optional<PublicKey> p_tag(const Event& e) {
  auto v = e.tag_value("p");
  if (!v) return std::nullopt;
  return PublicKey::from_hex(*v);
}

// The typed parser for the event's kind, as its addressee reads it.
std::string parse_as_addressee(const Event& e, const std::map<std::string, Event>& all) {
  auto sealed_reader = [&]() -> const Keypair& {
    auto p = p_tag(e);
    const Keypair* kp = p ? example_key_for(*p) : nullptr;
    if (kp == nullptr) throw std::runtime_error("no example key for the p tag");
    return *kp;
  };
  switch (e.kind) {
    case kCapsAnnounce:
      return reason(parse_caps_announce(e));
    case kPriceAnnounce:
      return reason(parse_price_announce(e));
    case kStatusAnnounce:
      return reason(parse_status_announce(e));
    case kReceiptSummary:
      return reason(parse_receipt_summary(e));
    case kRfb:
      return reason(parse_rfb(e));
    case kBid:
      return reason(parse_bid(e, sealed_reader()));
    case kAward:
      return reason(parse_award(e, sealed_reader()));
    case kCancel:
      return reason(parse_cancel(e));
    case kJobSubmit:
      return reason(parse_job_submit(e));
    case kJobResult: {
      // The job's privacy level is the JOB_SUBMIT's that the result names.
      std::optional<PrivacyLevel> level;
      for (const auto& [name, other] : all) {
        if (other.kind != kJobSubmit) continue;
        for (const Tag& t : e.tags)
          if (t.size() > 3 && t[3] == "job" && t[1] == other.id.hex())
            level = parse_job_submit(other)->privacy;
      }
      if (!level) return "no JOB_SUBMIT example for this result";
      return reason(parse_job_result(e, sealed_reader(), *level));
    }
    case kMetering:
      return reason(parse_metering(e));
    case kPaymentRequest:
      return reason(parse_payment_request(e));
    case kPaymentReceipt:
      return reason(parse_payment_receipt(e));
    default:
      return "not a fedai kind";
  }
}

TEST(NipsExamples, EveryExampleVerifiesAndParses) {
  auto events = committed_events();
  std::set<Kind> kinds;
  for (const auto& [name, e] : events) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(verify_event(e));
    EXPECT_TRUE(is_fedai_kind(e.kind));
    // Files are named <kind>-<what>.json.
    EXPECT_TRUE(name.starts_with(std::to_string(e.kind) + "-"));
    EXPECT_EQ(parse_as_addressee(e, events), "(accepted)");
    // No raw DEL anywhere (F-01).
    EXPECT_EQ(to_json(e).find('\x7f'), std::string::npos);
    kinds.insert(e.kind);
  }
  EXPECT_EQ(kinds.size(), kAllKinds.size()) << "every kind has an example";
}

TEST(NipsExamples, CommittedFilesAreWhatTheBuildersMake) {
  // If this fails after an intended change to a builder, regenerate:
  //   build/tests/tools/make_nip_examples nips/examples
  std::set<std::string> committed;
  for (const auto& entry : fs::directory_iterator(kDir))
    if (entry.path().filename() != "README.md") committed.insert(entry.path().filename());
  std::set<std::string> generated;
  for (const auto& file : fedai::test::make_nip_examples()) {
    SCOPED_TRACE(file.name);
    generated.insert(file.name);
    ASSERT_TRUE(fs::exists(kDir + "/" + file.name)) << "missing from nips/examples";
    EXPECT_EQ(read_file(kDir + "/" + file.name), file.content);
  }
  EXPECT_EQ(committed, generated);
}

TEST(NipsExamples, ExampleKeysAreTheDocumentedOnes) {
  const auto& k = example_keys();
  EXPECT_EQ(k.router.secret_key().reveal_hex(), std::string(63, '0') + "1");
  EXPECT_EQ(k.router.public_key().hex(),
            "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
  EXPECT_EQ(k.node.secret_key().reveal_hex(), std::string(63, '0') + "2");
  EXPECT_EQ(k.node.public_key().hex(),
            "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5");
  EXPECT_EQ(k.node_b.secret_key().reveal_hex(), std::string(63, '0') + "3");
  EXPECT_EQ(k.node_ln.reveal_hex(), std::string(62, '0') + "0a");
  std::string readme = read_file(kDir + "/README.md");
  for (const Keypair* kp : {&k.router, &k.node, &k.node_b})
    EXPECT_NE(readme.find(kp->public_key().hex()), std::string::npos);
}

// The examples as one job's life: a router and a node would run these checks.
TEST(NipsExamples, TheStoryIsConsistent) {
  auto ev = committed_events();
  const auto& k = example_keys();
  auto get = [&](const std::string& name) -> const Event& { return ev.at(name); };

  auto caps = *parse_caps_announce(get("36090-caps.json"));
  auto price = *parse_price_announce(get("36091-price.json"));
  auto rfb = *parse_rfb(get("26090-rfb.json"));
  auto bid = *parse_bid(get("26091-bid.json"), k.router);
  auto bid_b = *parse_bid(get("26091-bid-b.json"), k.router);
  auto award = *parse_award(get("26092-award.json"), k.node);
  auto submit = *parse_job_submit(get("26094-job-submit.json"));
  auto result = *parse_job_result(get("26095-job-result.json"), k.router, submit.privacy);
  auto metering = *parse_metering(get("26096-metering.json"));
  auto request = *parse_payment_request(get("26097-payment-request.json"));
  auto receipt = *parse_payment_receipt(get("26098-payment-receipt.json"));

  // Announcements are node A's and match each other.
  EXPECT_EQ(get("36090-caps.json").pubkey, k.node.public_key());
  EXPECT_EQ(caps.model, rfb.model);
  EXPECT_EQ(price.model, rfb.model);
  EXPECT_EQ(price.job_type, rfb.job_type);
  EXPECT_LE(rfb.privacy, caps.privacy_max);

  // Both bids answer the RFB, sealed to its author, within its max price.
  const Event& rfb_event = get("26090-rfb.json");
  for (const Bid* b : {&bid, &bid_b}) {
    EXPECT_EQ(b->rfb_id, rfb_event.id);
    EXPECT_EQ(b->router, rfb_event.pubkey);
    EXPECT_EQ(b->job_id, rfb.job_id);
    EXPECT_LE(b->price_msat, rfb.max_price_msat);
  }
  // Node A bid its posted price for the job, surge included.
  EXPECT_EQ(bid.price_msat,
            *price_for_job(price.in_per_1k_msat, price.out_per_1k_msat, price.min_msat, price.surge,
                           rfb.input_tokens, rfb.max_output_tokens));
  // Node B can't read node A's bid.
  EXPECT_EQ(reason(parse_bid(get("26091-bid.json"), k.node_b)),
            "invalid: BID is not addressed to us");

  // The award goes to node A's bid and echoes its capacity token; node B learns it lost.
  const auto& basis = std::get<AuctionBasis>(award.basis);
  EXPECT_EQ(basis.rfb_id, rfb_event.id);
  EXPECT_EQ(basis.bid_id, get("26091-bid.json").id);
  EXPECT_EQ(basis.capacity_token, bid.capacity_token);
  EXPECT_EQ(award.price_msat, bid.price_msat);
  EXPECT_EQ(award.job_id, rfb.job_id);
  auto route = parse_award_route(get("26092-award.json"));
  ASSERT_TRUE(route);
  EXPECT_NE(route->node, get("26091-bid-b.json").pubkey);
  EXPECT_EQ(reason(parse_award(get("26092-award.json"), k.node_b)),
            "invalid: AWARD is not addressed to us");

  // The JOB_SUBMIT names the award and binds the body as sent.
  EXPECT_EQ(submit.award_id, get("26092-award.json").id);
  EXPECT_EQ(submit.url, jobs_url(bid.endpoint));
  EXPECT_EQ(submit.job_id, award.job_id);
  std::string body = read_file(kDir + "/26094-job-submit.body");
  EXPECT_EQ(sha256(body), submit.payload_hash);
  auto plain = open_job_body(body, kContentTypeSealed, submit, k.router.public_key(), k.node);
  ASSERT_TRUE(plain) << reason(plain);
  EXPECT_NE(plain->find("\"messages\""), std::string::npos);

  // Result and metering name the JOB_SUBMIT; hashes bind input and output.
  const Event& submit_event = get("26094-job-submit.json");
  EXPECT_EQ(result.job_submit_id, submit_event.id);
  EXPECT_EQ(metering.job_submit_id, submit_event.id);
  EXPECT_EQ(metering.input_hash, submit.input_hash);
  EXPECT_EQ(metering.output_hash, sha256(result.text));
  EXPECT_LE(metering.tokens_out, submit.max_output_tokens);
  EXPECT_EQ(metering.price_msat,
            *metering_price(bid.in_per_1k_msat, bid.out_per_1k_msat, bid.min_msat,
                            metering.tokens_in, metering.tokens_out, award.price_msat));
  EXPECT_EQ(get("26096-metering.json").pubkey, award.node);

  // Payment: the invoice is for the metered price; the preimage proves it was paid.
  EXPECT_EQ(request.metering_id, get("26096-metering.json").id);
  EXPECT_EQ(request.amount_msat, metering.price_msat);
  EXPECT_EQ(bolt11_amount(request.bolt11), metering.price_msat);
  EXPECT_EQ(receipt.payment_request_id, get("26097-payment-request.json").id);
  EXPECT_EQ(receipt.amount_msat, request.amount_msat);
  EXPECT_EQ(sha256(receipt.preimage.span()), receipt.payment_hash);
  // The invoice's payment hash (its first tagged field, p) is the receipt's.
  auto inv = bech32::decode(request.bolt11, kMaxBolt11Length);
  ASSERT_TRUE(inv);
  ASSERT_GT(inv->words.size(), 7u + 3 + 52);
  EXPECT_EQ(inv->words[7], 1);  // type p
  auto hash_bytes = bech32::from_words(std::span<const std::uint8_t>(inv->words).subspan(10, 52));
  ASSERT_TRUE(hash_bytes);
  EXPECT_EQ(hex::encode(std::span<const std::uint8_t>(*hash_bytes).first(32)),
            receipt.payment_hash.hex());

  // The posted-price job: the award names the PRICE_ANNOUNCE at its formula's price.
  auto posted = *parse_award(get("26092-award-posted.json"), k.node);
  EXPECT_EQ(std::get<PostedPriceBasis>(posted.basis).price_id, get("36091-price.json").id);
  auto submit2 = *parse_job_submit(get("26094-job-submit-pl0.json"));
  EXPECT_EQ(submit2.privacy, PrivacyLevel::pl0);
  std::string body2 = read_file(kDir + "/26094-job-submit-pl0.body");
  EXPECT_EQ(sha256(body2), submit2.payload_hash);
  EXPECT_EQ(sha256(body2), submit2.input_hash);
  EXPECT_TRUE(open_job_body(body2, kContentTypeJson, submit2, k.router.public_key(), k.node));

  // The cancelled auction.
  auto cancel = *parse_cancel(get("26093-cancel.json"));
  EXPECT_EQ(cancel.rfb_id, get("26090-rfb-cancelled.json").id);
  EXPECT_EQ(cancel.job_id, parse_rfb(get("26090-rfb-cancelled.json"))->job_id);
}

TEST(NipsExamples, Bolt11EncoderReproducesTheSpecVector) {
  // The example invoice is made by tests/tools' encoder; check it against BOLT11's first
  // example, signed with the spec's key.
  auto vectors = fedai::test::read_vector_json("bolt11-vectors.json");
  const auto& v = vectors["valid"][0];
  ASSERT_TRUE(v["amount_msat"].is_null());
  auto payee = SecretKey::from_hex(vectors["signing_private_key"].get<std::string>());
  ASSERT_TRUE(payee);
  auto bytes = [](const std::string& hex) {
    std::vector<std::uint8_t> out(hex.size() / 2);
    EXPECT_TRUE(hex::decode(hex, out));
    return out;
  };
  std::string desc = v["description"];
  std::vector<std::uint8_t> desc_bytes(desc.begin(), desc.end());
  std::string invoice =
      fedai::test::encode_bolt11("lnbc", v["timestamp"].get<std::uint64_t>(),
                                 {{16, fedai::test::bolt11_bytes_words(bytes(v["payment_secret"]))},
                                  {1, fedai::test::bolt11_bytes_words(bytes(v["payment_hash"]))},
                                  {13, bech32::to_words(desc_bytes)},
                                  {5, {16, 8, 0}}},
                                 *payee);
  EXPECT_EQ(invoice, v["invoice"].get<std::string>());
}

}  // namespace
}  // namespace fedai::protocol
