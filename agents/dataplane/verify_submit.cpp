#include "agents/dataplane/verify_submit.h"

#include <cstdint>

#include "core/nostr/sha256.h"
#include "core/util/ascii.h"
#include "core/util/base64.h"

namespace fedai::agents::dataplane {

using protocol::PrivacyLevel;
using protocol::ProtocolError;

namespace {

Refusal bad(std::string message) {
  return refuse(ProtocolError::invalid, std::move(message));
}

std::uint64_t distance(std::int64_t a, std::int64_t b) {
  auto ua = static_cast<std::uint64_t>(a);
  auto ub = static_cast<std::uint64_t>(b);
  return a >= b ? ua - ub : ub - ua;
}

}  // namespace

SubmitRequest submit_request(const http::Request& request, std::string_view url) {
  SubmitRequest s;
  s.method = request.method;
  s.url = url;
  s.authorization = request.header("Authorization");
  s.award = request.header(kAwardHeader);
  s.content_type = request.header("Content-Type").value_or(std::string_view{});
  s.body = request.body;
  return s;
}

Result<Event> decode_header_event(std::string_view value, bool nostr_scheme,
                                  std::string_view what) {
  std::string_view token = trim_ows(value);
  if (nostr_scheme) {
    std::size_t space = 0;
    while (space < token.size() && !is_ows(token[space])) ++space;
    if (!iequals(token.substr(0, space), "Nostr"))
      return invalid("Authorization scheme must be Nostr");
    token = trim_ows(token.substr(space));
  }
  if (token.empty()) return invalid(std::string(what) + " is empty");
  if (token.size() > (kMaxHeaderEventBytes + 2) / 3 * 4)
    return invalid(std::string(what) + " is larger than " + std::to_string(kMaxHeaderEventBytes) +
                   " bytes decoded");
  auto decoded = base64::decode(token);
  if (!decoded) return invalid(std::string(what) + " is not valid base64");
  std::string_view json(reinterpret_cast<const char*>(decoded->data()), decoded->size());
  EventLimits limits;
  limits.max_json_bytes = kMaxHeaderEventBytes;
  auto parsed = parse_event(json, limits);
  if (!parsed) return invalid(std::string(what) + ": " + parsed.error().message);
  return parsed;
}

protocol::Tokens VerifiedSubmit::max_output_tokens() const {
  if (input.max_tokens && *input.max_tokens < submit.max_output_tokens) return *input.max_tokens;
  return submit.max_output_tokens;
}

JobContext VerifiedSubmit::context() const {
  JobContext c;
  c.submit_id = submit_event.id;
  c.award_id = award_event.id;
  c.router = submit_event.pubkey;
  c.node = submit.node;
  c.job_id = submit.job_id;
  c.privacy = submit.privacy;
  c.input_hash = submit.input_hash;
  c.max_output_tokens = submit.max_output_tokens;
  c.awarded_price = award.price_msat;
  c.stream = submit.stream;
  return c;
}

Refused<VerifiedSubmit> verify_job_submit(const SubmitRequest& request, UnixSeconds now,
                                          const Keypair& node, const NodeLimits& limits) {
  protocol::ConversationKeyCache keys(node, 1);
  return verify_job_submit(request, now, keys, limits);
}

Refused<VerifiedSubmit> verify_job_submit(const SubmitRequest& request, UnixSeconds now,
                                          protocol::ConversationKeyCache& keys,
                                          const NodeLimits& limits) {
  VerifiedSubmit v;

  // 1. The Authorization header is present, decodes, parses and is kind 26094.
  if (!request.authorization || trim_ows(*request.authorization).empty())
    return refuse(ProtocolError::auth,
                  "JOB_SUBMIT is missing (Authorization: Nostr <base64 of the event>)");
  auto submit_event =
      decode_header_event(*request.authorization, true, "JOB_SUBMIT in the Authorization header");
  if (!submit_event) return bad(submit_event.error().message);
  v.submit_event = std::move(*submit_event);
  const Event& se = v.submit_event;
  if (se.kind != protocol::kJobSubmit)
    return bad("expected kind 26094 (JOB_SUBMIT), got " + std::to_string(se.kind));
  auto submit = protocol::parse_job_submit(se);
  if (!submit) return bad(submit.error().message);
  v.submit = std::move(*submit);

  // 2. Its id and signature verify.
  if (auto st = verify_event(se); !st)
    return bad("JOB_SUBMIT does not verify (" + st.error().message + ")");

  // 3. created_at is within the window of our clock.
  if (std::uint64_t skew = distance(now, se.created_at);
      skew > static_cast<std::uint64_t>(std::max<UnixSeconds>(limits.window, 0))) {
    return bad("JOB_SUBMIT is outside the time window (" +
               (se.created_at < now ? "created " + std::to_string(skew) + " s ago"
                                    : "dated " + std::to_string(skew) + " s ahead") +
               ", window " + std::to_string(limits.window) + " s)");
  }

  // 4. u is the URL we serve this path at; the method is POST.
  if (v.submit.url != request.url) return bad("JOB_SUBMIT is for a different URL");
  if (request.method != "POST")
    return bad("JOB_SUBMIT is for POST, not " + std::string(request.method));

  // 5. payload is the SHA-256 of the body received.
  if (sha256(request.body) != v.submit.payload_hash)
    return bad("JOB_SUBMIT payload does not match the body");

  // 6. The AWARD verifies, is by the JOB_SUBMIT's author, names us, is the one named, has not
  //    passed submit_by, decrypts, and is for the same job.
  if (!request.award || trim_ows(*request.award).empty())
    return bad("AWARD is missing (" + std::string(kAwardHeader) + ": <base64 of the event>)");
  auto award_event = decode_header_event(*request.award, false,
                                         "AWARD in the " + std::string(kAwardHeader) + " header");
  if (!award_event) return bad(award_event.error().message);
  v.award_event = std::move(*award_event);
  const Event& ae = v.award_event;
  if (ae.kind != protocol::kAward)
    return bad("expected kind 26092 (AWARD), got " + std::to_string(ae.kind));
  bool known = limits.award_already_verified && compute_event_id(ae) == ae.id &&
               limits.award_already_verified(ae.id);
  if (!known) {
    if (auto st = verify_event(ae); !st)
      return bad("AWARD does not verify (" + st.error().message + ")");
  }
  if (ae.pubkey != se.pubkey) return bad("AWARD is not by the JOB_SUBMIT's author");
  auto route = protocol::parse_award_route(ae);
  if (!route) return bad(route.error().message);
  if (route->node != keys.self().public_key()) return bad("AWARD is for another node");
  if (ae.id != v.submit.award_id) return bad("AWARD is not the one the JOB_SUBMIT names");
  if (now > route->submit_by)
    return refuse(ProtocolError::award_expired, "AWARD passed its submit_by " +
                                                    std::to_string(route->submit_by) + " (now " +
                                                    std::to_string(now) + ")");
  auto award = protocol::parse_award(ae, *route, keys);
  if (!award) return bad(award.error().message);
  v.award = std::move(*award);
  if (v.award.job_id != v.submit.job_id) return bad("AWARD is for another job than the JOB_SUBMIT");
  // (The node's state checks the reservation or the free slot: see the header.)

  // 8. A privacy level we accept, matching the Content-Type; the body within our limit; it
  //    decrypts; the plaintext hashes to input_hash.
  if (v.submit.privacy > limits.privacy_max)
    return refuse(ProtocolError::privacy_unsupported,
                  std::string(protocol::to_string(v.submit.privacy)) +
                      " is above this node's privacy_max " +
                      std::string(protocol::to_string(limits.privacy_max)));
  if (!content_type_matches(request.content_type, v.submit.privacy))
    return bad("a " + std::string(protocol::to_string(v.submit.privacy)) + " job body must be " +
               std::string(protocol::is_sealed(v.submit.privacy) ? protocol::kContentTypeSealed
                                                                 : protocol::kContentTypeJson));
  if (request.body.size() > limits.max_body_bytes)
    return refuse(ProtocolError::too_large,
                  "job body is larger than " + std::to_string(limits.max_body_bytes) + " bytes");
  if (protocol::is_sealed(v.submit.privacy)) {
    auto plain = open_job_body(request.body, v.submit, v.router(), keys);
    if (!plain) return bad(plain.error().message);
    v.plaintext = std::move(*plain);
  } else {
    // The body is the plaintext: its hash was checked against payload at 5.
    if (v.submit.input_hash != v.submit.payload_hash)
      return bad("job body does not match input_hash");
    v.plaintext = std::string(request.body);
  }
  auto input = parse_job_input(v.plaintext);
  if (!input) return bad(input.error().message);
  v.input = std::move(*input);
  return v;
}

}  // namespace fedai::agents::dataplane
