#include "core/protocol/data_plane.h"

#include <limits>

#include "core/nostr/nip44.h"
#include "core/protocol/codec.h"

namespace fedai::protocol {

using detail::Checker;
using detail::ContentWriter;
using detail::FieldReader;
using detail::TagReader;

namespace {

constexpr std::string_view kSubmitName = "JOB_SUBMIT";
constexpr std::string_view kResultName = "JOB_RESULT";
constexpr std::string_view kMeteringName = "METERING";

Error fail(std::string_view kind, std::string what) {
  return invalid(std::string(kind) + " " + what);
}

// The media type of a Content-Type value, lowercased, without parameters or spaces.
std::string media_type(std::string_view content_type) {
  std::string out;
  for (char c : content_type.substr(0, content_type.find(';'))) {
    if (c == ' ' || c == '\t') continue;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

bool looks_like_json_object(std::string_view content) {
  auto first = content.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && content[first] == '{';
}

}  // namespace

std::string jobs_url(std::string_view endpoint) {
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.remove_suffix(1);
  return std::string(endpoint) + std::string(kJobsPath);
}

// ---- JOB_SUBMIT ---------------------------------------------------------------------------------

Status validate(const JobSubmit& s) {
  Checker k(kSubmitName);
  k.url("url", s.url);
  k.require(s.method == "POST", "method must be POST");
  k.no_pl3("privacy", s.privacy);
  return k.status();
}

Result<Event> build(const JobSubmit& s, const Keypair& router, UnixSeconds now) {
  if (auto st = validate(s); !st) return st.error();
  ContentWriter w;
  w.string("job_id", s.job_id.hex());
  w.string("privacy", to_string(s.privacy));
  w.string("input_hash", s.input_hash.hex());
  w.integer("max_output_tokens", s.max_output_tokens);
  w.boolean("stream", s.stream);
  Tags tags = {{"u", s.url},
               {"method", s.method},
               {"payload", s.payload_hash.hex()},
               detail::e_tag(s.award_id, "award"),
               detail::p_tag(s.node)};
  return detail::sign_checked({kJobSubmit, now, std::move(tags), std::move(w).finish()}, router);
}

Result<JobSubmit> parse_job_submit(const Event& e) {
  auto opened = detail::open_content(e, kJobSubmit, e.content);
  if (!opened) return opened.error();
  FieldReader& f = *opened;
  JobSubmit s;
  s.job_id = f.job_id("job_id");
  s.privacy = f.privacy("privacy");
  s.input_hash = f.hash("input_hash");
  s.max_output_tokens = f.tokens("max_output_tokens");
  s.stream = f.boolean("stream");
  if (f.error()) return *f.error();

  TagReader t(kSubmitName, e);
  auto url = t.single("u");
  auto method = t.single("method");
  auto payload = t.single("payload");
  auto award = t.event_ref("award");
  auto node = t.pubkey("p");
  if (t.error()) return *t.error();
  auto payload_hash = Sha256Digest::from_hex(*payload);
  if (!payload_hash) return fail(kSubmitName, "payload tag must be 64 lowercase hex characters");
  s.url = *url;
  s.method = *method;
  s.payload_hash = *payload_hash;
  s.award_id = *award;
  s.node = *node;
  if (auto st = validate(s); !st) return st.error();
  return s;
}

// ---- JOB_RESULT ---------------------------------------------------------------------------------

Status validate(const JobResult& r) {
  Checker k(kResultName);
  k.no_pl3("privacy", r.privacy);
  if (r.status == JobStatus::failed)
    k.require(r.error.has_value(), "error is required when status is failed");
  else
    k.require(!r.error.has_value(), "error is only for a failed status");
  return k.status();
}

Result<Event> build(const JobResult& r, const Keypair& node, UnixSeconds now) {
  ConversationKeyCache keys(node, 1);
  return build(r, keys, now);
}

Result<Event> build(const JobResult& r, ConversationKeyCache& node, UnixSeconds now) {
  if (auto st = validate(r); !st) return st.error();
  ContentWriter w;
  w.string("job_id", r.job_id.hex());
  w.string("status", to_string(r.status));
  w.string("text", r.text);
  w.string("finish_reason", to_string(r.finish_reason));
  if (r.error) w.string("error", to_string(*r.error));
  std::string content = std::move(w).finish();
  if (is_sealed(r.privacy)) {
    auto sealed = detail::seal(content, node, r.router);
    if (!sealed) return sealed.error();
    content = std::move(*sealed);
  }
  Tags tags = {detail::e_tag(r.job_submit_id, "job"), detail::e_tag(r.award_id, "award"),
               detail::p_tag(r.router)};
  return detail::sign_checked({kJobResult, now, std::move(tags), std::move(content)}, node.self());
}

Result<JobResult> parse_job_result(const Event& e, const Keypair& us, PrivacyLevel privacy) {
  ConversationKeyCache keys(us, 1);
  return parse_job_result(e, keys, privacy);
}

Result<JobResult> parse_job_result(const Event& e, ConversationKeyCache& us, PrivacyLevel privacy) {
  if (auto st = detail::expect_kind(e, kJobResult); !st) return st.error();
  TagReader t(kResultName, e);
  auto router = t.pubkey("p");
  if (t.error()) return *t.error();
  if (us.self().public_key() != *router && us.self().public_key() != e.pubkey)
    return fail(kResultName, "is not addressed to us");
  std::string plain;
  if (is_sealed(privacy)) {
    if (looks_like_json_object(e.content))
      return fail(kResultName, "must be sealed for a " + std::string(to_string(privacy)) + " job");
    auto opened = detail::unseal(e, *router, us);
    if (!opened) return opened.error();
    plain = std::move(*opened);
  } else {
    if (!looks_like_json_object(e.content))
      return fail(kResultName, "must be in the clear for a PL0 job");
    plain = e.content;
  }

  auto opened = detail::open_content(e, kJobResult, plain);
  if (!opened) return opened.error();
  FieldReader& f = *opened;
  JobResult r;
  r.router = *router;
  r.privacy = privacy;
  r.job_id = f.job_id("job_id");
  r.status =
      f.enumerated<JobStatus>("status", parse_job_status, "\"ok\", \"partial\" or \"failed\"");
  r.text = f.string("text");
  r.finish_reason = f.enumerated<FinishReason>("finish_reason", parse_finish_reason,
                                               "\"stop\", \"length\" or \"error\"");
  r.error = f.optional_error_code("error");
  if (f.error()) return *f.error();
  if (auto st = validate(r); !st) return st.error();

  auto job = t.event_ref("job");
  auto award = t.event_ref("award");
  if (t.error()) return *t.error();
  r.job_submit_id = *job;
  r.award_id = *award;
  return r;
}

// ---- METERING -----------------------------------------------------------------------------------

Status validate(const Metering& m) {
  Checker k(kMeteringName);
  k.duration("wall_ms", m.wall_ms);
  k.time("started_at", m.started_at);
  k.time("finished_at", m.finished_at);
  k.require(m.finished_at >= m.started_at, "finished_at must not be before started_at");
  k.amount("price_msat", m.price_msat);
  return k.status();
}

Result<Event> build(const Metering& m, const Keypair& node, UnixSeconds now) {
  if (auto st = validate(m); !st) return st.error();
  ContentWriter w;
  w.string("job_id", m.job_id.hex());
  w.integer("tokens_in", m.tokens_in);
  w.integer("tokens_out", m.tokens_out);
  w.integer("wall_ms", m.wall_ms.value());
  w.integer("started_at", static_cast<std::uint64_t>(m.started_at));
  w.integer("finished_at", static_cast<std::uint64_t>(m.finished_at));
  w.string("input_hash", m.input_hash.hex());
  w.string("output_hash", m.output_hash.hex());
  w.integer("price_msat", m.price_msat.value());
  Tags tags = {detail::e_tag(m.job_submit_id, "job"), detail::p_tag(m.router)};
  return detail::sign_checked({kMetering, now, std::move(tags), std::move(w).finish()}, node);
}

Result<Metering> parse_metering(const Event& e) {
  auto opened = detail::open_content(e, kMetering, e.content);
  if (!opened) return opened.error();
  FieldReader& f = *opened;
  Metering m;
  m.job_id = f.job_id("job_id");
  m.tokens_in = f.tokens("tokens_in");
  m.tokens_out = f.tokens("tokens_out");
  m.wall_ms = f.millis("wall_ms");
  m.started_at = f.seconds("started_at");
  m.finished_at = f.seconds("finished_at");
  m.input_hash = f.hash("input_hash");
  m.output_hash = f.hash("output_hash");
  m.price_msat = f.msat("price_msat");
  if (f.error()) return *f.error();
  if (auto st = validate(m); !st) return st.error();

  TagReader t(kMeteringName, e);
  auto job = t.event_ref("job");
  auto router = t.pubkey("p");
  if (t.error()) return *t.error();
  m.job_submit_id = *job;
  m.router = *router;
  return m;
}

// ---- The job body -------------------------------------------------------------------------------

Result<JobBody> seal_job_body(std::string_view plaintext, PrivacyLevel privacy,
                              const Keypair& router, const PublicKey& node) {
  ConversationKeyCache keys(router, 1);
  return seal_job_body(plaintext, privacy, keys, node);
}

Result<JobBody> seal_job_body(std::string_view plaintext, PrivacyLevel privacy,
                              ConversationKeyCache& router, const PublicKey& node) {
  if (privacy == PrivacyLevel::pl3)
    return invalid("a PL3 job never leaves the router (ERR_PRIVACY_UNSUPPORTED)");
  JobBody body;
  body.input_hash = sha256(plaintext);
  if (is_sealed(privacy)) {
    auto sealed = detail::seal(plaintext, router, node);
    if (!sealed) return sealed.error();
    body.bytes = std::move(*sealed);
    body.content_type = kContentTypeSealed;
    body.payload_hash = sha256(body.bytes);
  } else {
    body.bytes = std::string(plaintext);
    body.content_type = kContentTypeJson;
    body.payload_hash = body.input_hash;  // the same bytes
  }
  return body;
}

std::uint64_t job_body_size(std::uint64_t plaintext_bytes, PrivacyLevel privacy) {
  if (privacy == PrivacyLevel::pl3) return 0;
  if (!is_sealed(privacy)) return plaintext_bytes;
  // NIP-44 v2: base64 of version (1) + nonce (32) + length prefix + padded plaintext + MAC (32).
  if (plaintext_bytes > nip44::kMaxPlaintextSize) return std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t prefix = plaintext_bytes < nip44::kExtendedPrefixThreshold ? 2 : 6;
  const std::uint64_t decoded = 1 + 32 + prefix + nip44::calc_padded_len(plaintext_bytes) + 32;
  return (decoded + 2) / 3 * 4;
}

Result<std::string> open_job_body(std::string_view body, std::string_view content_type,
                                  const JobSubmit& submit, const PublicKey& router,
                                  const Keypair& node) {
  std::string_view want = is_sealed(submit.privacy) ? kContentTypeSealed : kContentTypeJson;
  if (media_type(content_type) != want)
    return invalid("a " + std::string(to_string(submit.privacy)) + " job body must be " +
                   std::string(want));
  std::string plain;
  if (is_sealed(submit.privacy)) {
    auto key = nip44::conversation_key(node.secret_key(), router);
    if (!key) return invalid("job body does not decrypt (" + key.error().message + ")");
    auto opened = nip44::decrypt(body, *key);
    if (!opened) return invalid("job body does not decrypt (" + opened.error().message + ")");
    plain = std::move(*opened);
  } else {
    plain = std::string(body);
  }
  if (sha256(plain) != submit.input_hash) return invalid("job body does not match input_hash");
  return plain;
}

}  // namespace fedai::protocol
