#include "agents/dataplane/sealed.h"

#include "core/protocol/codec.h"

namespace fedai::agents::dataplane {

using protocol::PrivacyLevel;
using protocol::detail::ContentWriter;
using protocol::detail::FieldReader;

namespace {

constexpr std::string_view kAwardName = "AWARD";
constexpr std::string_view kResultName = "JOB_RESULT";

Error fail(std::string_view kind, std::string_view what) {
  return invalid(std::string(kind) + " " + std::string(what));
}

bool looks_like_json_object(std::string_view content) {
  auto first = content.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && content[first] == '{';
}

// protocol::detail::unseal with a cached key: `us` is the addressee or the author.
Result<std::string> unseal(const Event& e, std::string_view kind, const PublicKey& addressee,
                           ConversationKeyCache& keys) {
  const PublicKey& us = keys.self().public_key();
  const PublicKey* other = nullptr;
  if (us == addressee)
    other = &e.pubkey;
  else if (us == e.pubkey)
    other = &addressee;
  else
    return fail(kind, "is not addressed to us");
  auto key = keys.get(*other);
  if (!key) return fail(kind, "content does not decrypt (" + key.error().message + ")");
  auto plain = nip44::decrypt(e.content, *key);
  if (!plain) return fail(kind, "content does not decrypt (" + plain.error().message + ")");
  return plain;
}

}  // namespace

Result<std::string> seal_to(std::string_view plaintext, const PublicKey& peer,
                            ConversationKeyCache& keys) {
  auto key = keys.get(peer);
  if (!key) return key.error();
  return nip44::encrypt(plaintext, *key);
}

Result<std::string> open_from(std::string_view payload, const PublicKey& peer,
                              ConversationKeyCache& keys) {
  auto key = keys.get(peer);
  if (!key) return key.error();
  return nip44::decrypt(payload, *key);
}

Result<protocol::Award> open_award(const Event& e, ConversationKeyCache& keys) {
  auto route = protocol::parse_award_route(e);
  if (!route) return route.error();
  return open_award(e, *route, keys);
}

Result<protocol::Award> open_award(const Event& e, const protocol::AwardRoute& route,
                                   ConversationKeyCache& keys) {
  auto plain = unseal(e, kAwardName, route.node, keys);
  if (!plain) return plain.error();

  auto opened = protocol::detail::open_content(e, protocol::kAward, *plain);
  if (!opened) return opened.error();
  FieldReader& f = *opened;
  protocol::Award a;
  a.node = route.node;
  a.job_id = f.job_id("job_id");
  a.price_msat = f.msat("price_msat");
  auto token = route.rfb_id ? std::optional(f.capacity_token("capacity_token"))
                            : f.optional_capacity_token("capacity_token");
  a.submit_by = f.seconds("submit_by");
  a.deadline_ms = f.millis("deadline_ms");
  if (f.error()) return *f.error();
  if (auto st = protocol::validate(a); !st) return st.error();

  if (route.rfb_id)
    a.basis = protocol::AuctionBasis{*route.rfb_id, *route.bid_id, *token};
  else if (token)
    return fail(kAwardName, "capacity_token is for auction awards only");
  else
    a.basis = protocol::PostedPriceBasis{*route.price_id};
  if (route.submit_by != a.submit_by) return fail(kAwardName, "expiration must equal submit_by");
  if (a.submit_by <= e.created_at) return fail(kAwardName, "submit_by must be after created_at");
  return a;
}

Result<Event> build_job_result(const protocol::JobResult& r, ConversationKeyCache& keys,
                               UnixSeconds now) {
  if (auto st = protocol::validate(r); !st) return st.error();
  ContentWriter w;
  w.string("job_id", r.job_id.hex());
  w.string("status", protocol::to_string(r.status));
  w.string("text", r.text);
  w.string("finish_reason", protocol::to_string(r.finish_reason));
  if (r.error) w.string("error", protocol::to_string(*r.error));
  std::string content = std::move(w).finish();
  if (protocol::is_sealed(r.privacy)) {
    auto sealed = seal_to(content, r.router, keys);
    if (!sealed) return sealed.error();
    content = std::move(*sealed);
  }
  Tags tags = {protocol::detail::e_tag(r.job_submit_id, "job"),
               protocol::detail::e_tag(r.award_id, "award"), protocol::detail::p_tag(r.router)};
  return protocol::detail::sign_checked(
      {protocol::kJobResult, now, std::move(tags), std::move(content)}, keys.self());
}

Result<protocol::JobResult> open_job_result(const Event& e, ConversationKeyCache& keys,
                                            PrivacyLevel privacy) {
  if (!protocol::is_sealed(privacy)) return protocol::parse_job_result(e, keys.self(), privacy);
  if (auto st = protocol::detail::expect_kind(e, protocol::kJobResult); !st) return st.error();
  protocol::detail::TagReader t(kResultName, e);
  auto router = t.pubkey("p");
  if (t.error()) return *t.error();
  if (keys.self().public_key() != *router && keys.self().public_key() != e.pubkey)
    return fail(kResultName, "is not addressed to us");
  if (looks_like_json_object(e.content))
    return fail(kResultName,
                "must be sealed for a " + std::string(protocol::to_string(privacy)) + " job");
  auto plain = unseal(e, kResultName, *router, keys);
  if (!plain) return plain.error();
  // The opened content through the public parser, as a PL0 result would be read.
  Event clear;
  clear.id = e.id;
  clear.pubkey = e.pubkey;
  clear.created_at = e.created_at;
  clear.kind = e.kind;
  clear.tags = e.tags;
  clear.content = std::move(*plain);
  clear.sig = e.sig;
  auto r = protocol::parse_job_result(clear, keys.self(), PrivacyLevel::pl0);
  if (!r) return r.error();
  r->privacy = privacy;
  return r;
}

}  // namespace fedai::agents::dataplane
