// agents/dataplane: the node's checks of nips/F-04 ("What the node checks", 1-6 and 8), one test
// per refusal class, each asserting the F-06 code, the HTTP status and the reason's beginning.
#include <gtest/gtest.h>

#include "agents/dataplane/verify_submit.h"
#include "core/nostr/sha256.h"
#include "core/util/base64.h"
#include "tests/support/dataplane_fixtures.h"

namespace fedai::agents::dataplane {
namespace {

using protocol::PrivacyLevel;
using protocol::ProtocolError;
using test::JobSpec;
using test::SignedJob;

constexpr UnixSeconds kNow = 1767225600;
const std::string kUrl = "http://127.0.0.1:8080/fedai/v1/jobs";

class VerifySubmit : public ::testing::Test {
 protected:
  JobSpec spec(PrivacyLevel privacy = PrivacyLevel::pl0) {
    JobSpec s;
    s.url = kUrl;
    s.privacy = privacy;
    s.now = kNow;
    return s;
  }
  SignedJob job(const JobSpec& s) { return test::make_job(keys.router, keys.node, s); }
  SignedJob job() { return job(spec()); }

  Refused<VerifiedSubmit> verify(SubmitRequest request, UnixSeconds now = kNow,
                                 NodeLimits limits = {}) {
    return verify_job_submit(request, now, node_keys, limits);
  }

  // Asserts the refusal's code, HTTP status and the start of its reason.
  static void expect_refused(const Refused<VerifiedSubmit>& r, ProtocolError code, int status,
                             std::string_view reason_prefix) {
    ASSERT_FALSE(r) << "accepted";
    EXPECT_EQ(r.error().code, code) << protocol::to_string(r.error().code);
    EXPECT_EQ(r.error().http_status(), status);
    std::string reason = r.error().reason.to_string();
    EXPECT_TRUE(reason.starts_with(reason_prefix)) << reason;
    // The F-06 body carries both.
    std::string body = r.error().body();
    EXPECT_NE(body.find(std::string(protocol::to_string(code))), std::string::npos) << body;
  }

  test::DataplaneKeys keys;
  protocol::ConversationKeyCache node_keys{keys.node};
};

// ---- The happy paths ----------------------------------------------------------------------------

TEST_F(VerifySubmit, AcceptsAPl0JobAndReturnsWhatTheStateMachineNeeds) {
  auto s = spec();
  s.plaintext = test::chat_body("Say hello", false, 16);
  SignedJob j = job(s);
  auto r = verify(j.request(kUrl));
  ASSERT_TRUE(r) << r.error().reason.to_string();
  EXPECT_EQ(r->submit_id(), j.submit.id);
  EXPECT_EQ(r->award_id(), j.award.id);
  EXPECT_EQ(r->router(), keys.router.public_key());
  EXPECT_EQ(r->job_id(), s.job_id);
  EXPECT_EQ(r->price(), s.price);
  ASSERT_TRUE(std::holds_alternative<protocol::AuctionBasis>(r->award.basis));
  EXPECT_EQ(r->plaintext, s.plaintext);
  ASSERT_EQ(r->input.messages.size(), 1u);
  EXPECT_EQ(r->input.messages[0].role, "user");
  EXPECT_EQ(r->input.messages[0].content, "Say hello");
  EXPECT_EQ(r->input.model, "tiny");
  EXPECT_EQ(r->max_output_tokens(), 16u);  // the body asks for less than the JOB_SUBMIT allows
  JobContext c = r->context();
  EXPECT_EQ(c.submit_id, j.submit.id);
  EXPECT_EQ(c.node, keys.node.public_key());
  EXPECT_EQ(c.input_hash, sha256(s.plaintext));
  EXPECT_EQ(c.awarded_price, s.price);
}

TEST_F(VerifySubmit, AcceptsASealedPl2PostedPriceJob) {
  auto s = spec(PrivacyLevel::pl2);
  s.posted_price = true;
  s.stream = true;
  SignedJob j = job(s);
  EXPECT_EQ(j.content_type, "application/nostr-nip44");
  EXPECT_EQ(j.body.find("Say hello"), std::string::npos);  // sealed on the wire
  auto r = verify(j.request(kUrl));
  ASSERT_TRUE(r) << r.error().reason.to_string();
  EXPECT_EQ(r->plaintext, s.plaintext);
  EXPECT_TRUE(r->submit.stream);
  EXPECT_EQ(r->submit.privacy, PrivacyLevel::pl2);
  ASSERT_TRUE(std::holds_alternative<protocol::PostedPriceBasis>(r->award.basis));
  // The conversation key with this router is now cached: the next job derives none.
  std::size_t misses = node_keys.misses();
  SignedJob k = job(s);
  ASSERT_TRUE(verify(k.request(kUrl)));
  EXPECT_EQ(node_keys.misses(), misses);
}

TEST_F(VerifySubmit, WithoutACacheGivesTheSameAnswers) {
  SignedJob j = job(spec(PrivacyLevel::pl1));
  auto r = verify_job_submit(j.request(kUrl), kNow, keys.node);
  ASSERT_TRUE(r) << r.error().reason.to_string();
  j.body[10] ^= 1;
  auto bad = verify_job_submit(j.request(kUrl), kNow, keys.node);
  expect_refused(bad, ProtocolError::invalid, 400, "invalid: JOB_SUBMIT payload does not match");
}

TEST_F(VerifySubmit, ReadsTheHeadersOfAnHttpRequest) {
  SignedJob j = job();
  http::Request req;
  req.method = "POST";
  req.headers = {{"authorization", j.authorization()},
                 {"x-fedai-award", j.award_header()},
                 {"content-type", "application/json; charset=utf-8"}};
  req.body = j.body;
  auto r = verify(submit_request(req, kUrl));
  ASSERT_TRUE(r) << r.error().reason.to_string();
}

// ---- 1. The Authorization header ----------------------------------------------------------------

TEST_F(VerifySubmit, MissingAuthorizationIs401) {
  SignedJob j = job();
  auto req = j.request(kUrl);
  req.authorization.reset();
  expect_refused(verify(req), ProtocolError::auth, 401, "auth-required: JOB_SUBMIT is missing");
  req.authorization = "   ";
  expect_refused(verify(req), ProtocolError::auth, 401, "auth-required: JOB_SUBMIT is missing");
}

TEST_F(VerifySubmit, AnotherSchemeOrBadBase64IsRefused) {
  SignedJob j = job();
  auto req = j.request(kUrl);
  std::string bearer = "Bearer " + j.award_header();
  req.authorization = bearer;
  expect_refused(verify(req), ProtocolError::invalid, 400,
                 "invalid: Authorization scheme must be Nostr");
  req.authorization = "Nostr not*base64!";
  expect_refused(verify(req), ProtocolError::invalid, 400,
                 "invalid: JOB_SUBMIT in the Authorization header is not valid base64");
  std::string not_json = "Nostr " + base64::encode(std::string_view("not json"));
  req.authorization = not_json;
  expect_refused(verify(req), ProtocolError::invalid, 400,
                 "invalid: JOB_SUBMIT in the Authorization header: ");
}

TEST_F(VerifySubmit, AnotherKindIsRefused) {
  SignedJob j = job();
  // A NIP-98 event in the right place: the right shape, the wrong kind.
  EventTemplate t{27235, kNow, {{"u", kUrl}, {"method", "POST"}}, ""};
  std::string header = "Nostr " + base64::encode(to_json(sign_event(t, keys.router)));
  auto req = j.request(kUrl);
  req.authorization = header;
  expect_refused(verify(req), ProtocolError::invalid, 400,
                 "invalid: expected kind 26094 (JOB_SUBMIT), got 27235");
}

// ---- 2. Id and signature ------------------------------------------------------------------------

TEST_F(VerifySubmit, BadSignatureIsRefused) {
  SignedJob j = job();
  j.submit.sig.bytes[5] ^= 0x01;
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: JOB_SUBMIT does not verify (bad signature)");
  SignedJob k = job();
  k.submit.created_at += 1;  // the id no longer matches the content
  expect_refused(verify(k.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: JOB_SUBMIT does not verify (event id does not match");
}

// ---- 3. The time window -------------------------------------------------------------------------

TEST_F(VerifySubmit, LateJobSubmitIsOutsideTheWindow) {
  auto s = spec();
  s.submit_by_in = 120;  // the award outlives the window
  SignedJob j = job(s);
  expect_refused(verify(j.request(kUrl), kNow + 61), ProtocolError::invalid, 400,
                 "invalid: JOB_SUBMIT is outside the time window (created 61 s ago");
  EXPECT_TRUE(verify(j.request(kUrl), kNow + 60));  // the edge is inside
}

TEST_F(VerifySubmit, EarlyJobSubmitIsOutsideTheWindow) {
  SignedJob j = job();
  expect_refused(verify(j.request(kUrl), kNow - 61), ProtocolError::invalid, 400,
                 "invalid: JOB_SUBMIT is outside the time window (dated 61 s ahead");
}

// ---- 4. URL and method --------------------------------------------------------------------------

TEST_F(VerifySubmit, AnotherUrlIsRefused) {
  SignedJob j = job();
  expect_refused(verify(j.request("http://127.0.0.1:9090/fedai/v1/jobs")), ProtocolError::invalid,
                 400, "invalid: JOB_SUBMIT is for a different URL");
}

TEST_F(VerifySubmit, AnotherMethodIsRefused) {
  SignedJob j = job();
  auto req = j.request(kUrl);
  req.method = "PUT";
  expect_refused(verify(req), ProtocolError::invalid, 400,
                 "invalid: JOB_SUBMIT is for POST, not PUT");
}

// ---- 5. The body hash ---------------------------------------------------------------------------

TEST_F(VerifySubmit, TamperedBodyFailsThePayloadHash) {
  SignedJob j = job();
  j.body.replace(j.body.find("hello"), 5, "HELLO");
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: JOB_SUBMIT payload does not match the body");
}

// ---- 6. The AWARD -------------------------------------------------------------------------------

TEST_F(VerifySubmit, MissingOrUndecodableAwardIsRefused) {
  SignedJob j = job();
  auto req = j.request(kUrl);
  req.award.reset();
  expect_refused(verify(req), ProtocolError::invalid, 400, "invalid: AWARD is missing");
  req.award = "%%%";
  expect_refused(verify(req), ProtocolError::invalid, 400,
                 "invalid: AWARD in the X-Fedai-Award header is not valid base64");
}

TEST_F(VerifySubmit, AwardThatDoesNotVerifyIsRefused) {
  SignedJob j = job();
  j.award.sig.bytes[0] ^= 0x80;
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: AWARD does not verify (bad signature)");
}

TEST_F(VerifySubmit, AnAwardVerifiedBeforeIsCheckedByItsIdOnly) {
  SignedJob j = job();
  NodeLimits limits;
  limits.award_already_verified = [&](const EventId& id) { return id == j.award.id; };
  // The signature is not checked again (a broken one passes)...
  j.award.sig.bytes[0] ^= 0x80;
  EXPECT_TRUE(verify(j.request(kUrl), kNow, limits));
  // ...but the id is: a changed AWARD with the known id is refused.
  j.award.created_at += 1;
  expect_refused(verify(j.request(kUrl), kNow, limits), ProtocolError::invalid, 400,
                 "invalid: AWARD does not verify (event id does not match");
}

TEST_F(VerifySubmit, AwardOfAnotherKindIsRefused) {
  auto s = spec();
  SignedJob j = job(s);
  EventTemplate t{1, kNow, {}, "not an award"};
  j.award = sign_event(t, keys.router);
  j.submit_fields.award_id = j.award.id;
  j.submit = test::make_submit(keys.router, j.submit_fields, kNow);
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: expected kind 26092 (AWARD), got 1");
}

TEST_F(VerifySubmit, AwardByAnotherRouterIsRefused) {
  auto s = spec();
  SignedJob j = job(s);
  // The stranger awarded the job; the router submits it, naming that award.
  j.award = test::make_award(keys.stranger, keys.node.public_key(), s);
  j.submit_fields.award_id = j.award.id;
  j.submit = test::make_submit(keys.router, j.submit_fields, kNow);
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: AWARD is not by the JOB_SUBMIT's author");
}

TEST_F(VerifySubmit, AwardToAnotherNodeIsRefused) {
  auto s = spec();
  SignedJob j = job(s);
  j.award = test::make_award(keys.router, keys.stranger.public_key(), s);
  j.submit_fields.award_id = j.award.id;
  j.submit = test::make_submit(keys.router, j.submit_fields, kNow);
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: AWARD is for another node");
}

TEST_F(VerifySubmit, AwardOtherThanTheOneNamedIsRefused) {
  auto s = spec();
  SignedJob j = job(s);
  j.award = test::make_award(keys.router, keys.node.public_key(), s);  // a second, valid award
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: AWARD is not the one the JOB_SUBMIT names");
}

TEST_F(VerifySubmit, ExpiredAwardIs410) {
  auto s = spec();
  s.submit_by_in = 5;
  SignedJob j = job(s);
  EXPECT_TRUE(verify(j.request(kUrl), kNow + 5));  // submit_by itself is still in time
  expect_refused(verify(j.request(kUrl), kNow + 6), ProtocolError::award_expired, 410,
                 "invalid: AWARD passed its submit_by");
}

TEST_F(VerifySubmit, JobIdOtherThanTheAwardsIsRefused) {
  auto s = spec();
  SignedJob j = job(s);
  j.submit_fields.job_id = protocol::new_job_id();
  j.submit = test::make_submit(keys.router, j.submit_fields, kNow);
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: AWARD is for another job than the JOB_SUBMIT");
}

// ---- 8. Privacy, Content-Type, size, decryption, input_hash -------------------------------------

TEST_F(VerifySubmit, PrivacyAboveTheNodesMaximumIs422) {
  SignedJob j = job(spec(PrivacyLevel::pl2));
  NodeLimits limits;
  limits.privacy_max = PrivacyLevel::pl1;
  expect_refused(verify(j.request(kUrl), kNow, limits), ProtocolError::privacy_unsupported, 422,
                 "invalid: PL2 is above this node's privacy_max PL1");
}

TEST_F(VerifySubmit, SealedBodyWithThePl0ContentTypeIsRefused) {
  SignedJob j = job(spec(PrivacyLevel::pl1));
  j.content_type = "application/json";
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: a PL1 job body must be application/nostr-nip44");
}

TEST_F(VerifySubmit, ClearBodyWithTheSealedContentTypeIsRefused) {
  SignedJob j = job(spec(PrivacyLevel::pl0));
  j.content_type = "application/nostr-nip44";
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: a PL0 job body must be application/json");
}

TEST_F(VerifySubmit, BodyOverTheNodesLimitIs413) {
  SignedJob j = job();
  NodeLimits limits;
  limits.max_body_bytes = 10;
  expect_refused(verify(j.request(kUrl), kNow, limits), ProtocolError::too_large, 413,
                 "invalid: job body is larger than 10 bytes");
}

TEST_F(VerifySubmit, InputHashMismatchIsRefused) {
  for (auto level : {PrivacyLevel::pl0, PrivacyLevel::pl2}) {
    auto s = spec(level);
    SignedJob j = job(s);
    j.submit_fields.input_hash = sha256("something else");
    j.submit = test::make_submit(keys.router, j.submit_fields, kNow);
    expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                   "invalid: job body does not match input_hash");
  }
}

TEST_F(VerifySubmit, SealedBodyThatDoesNotDecryptIsRefused) {
  auto s = spec(PrivacyLevel::pl1);
  SignedJob j = job(s);
  // Sealed by the stranger instead of the router: the payload hash binds it, but it does not open.
  auto body =
      protocol::seal_job_body(s.plaintext, s.privacy, keys.stranger, keys.node.public_key());
  ASSERT_TRUE(body);
  j.body = body->bytes;
  j.submit_fields.payload_hash = body->payload_hash;
  j.submit = test::make_submit(keys.router, j.submit_fields, kNow);
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: job body does not decrypt");
}

TEST_F(VerifySubmit, BodyThatIsNoChatRequestIsRefused) {
  auto s = spec();
  s.plaintext = R"({"prompt":"not a chat"})";
  SignedJob j = job(s);
  expect_refused(verify(j.request(kUrl)), ProtocolError::invalid, 400,
                 "invalid: job body must have a non-empty messages array");
}

// ---- Order
// ----------------------------------------------------------------------------------------

TEST_F(VerifySubmit, TheFirstFailedCheckIsTheOneReported) {
  // Late (3), for another URL (4), with a tampered body (5) and an expired award (6): the window
  // is checked first.
  auto s = spec();
  SignedJob j = job(s);
  j.body += " ";
  expect_refused(verify(j.request("http://elsewhere/fedai/v1/jobs"), kNow + 100),
                 ProtocolError::invalid, 400, "invalid: JOB_SUBMIT is outside the time window");
  // In the window: the URL is next.
  expect_refused(verify(j.request("http://elsewhere/fedai/v1/jobs"), kNow + 31),
                 ProtocolError::invalid, 400, "invalid: JOB_SUBMIT is for a different URL");
  // Then the body; the expired award comes after.
  expect_refused(verify(j.request(kUrl), kNow + 31), ProtocolError::invalid, 400,
                 "invalid: JOB_SUBMIT payload does not match");
}

}  // namespace
}  // namespace fedai::agents::dataplane
