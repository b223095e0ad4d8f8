#include "tests/support/dataplane_fixtures.h"

#include "core/util/base64.h"

namespace fedai::test {

std::string chat_body(std::string_view prompt, bool stream, std::optional<unsigned> max_tokens) {
  std::string out = R"({"model":"tiny","messages":[{"role":"user","content":)";
  append_json_string(out, prompt);
  out += "}]";
  if (max_tokens) out += ",\"max_tokens\":" + std::to_string(*max_tokens);
  out += stream ? ",\"stream\":true}" : ",\"stream\":false}";
  return out;
}

std::string SignedJob::authorization() const {
  return "Nostr " + base64::encode(to_json(submit));
}

std::string SignedJob::award_header() const {
  return base64::encode(to_json(award));
}

agents::dataplane::SubmitRequest SignedJob::request(const std::string& url) {
  agents::dataplane::SubmitRequest r;
  r.method = "POST";
  r.url = url;
  auth_value = authorization();
  award_value = award_header();
  r.authorization = auth_value;
  r.award = award_value;
  r.content_type = content_type;
  r.body = body;
  return r;
}

Event make_award(const Keypair& router, const PublicKey& node, const JobSpec& spec) {
  protocol::Award a;
  a.node = node;
  if (spec.posted_price) {
    EventId price_id;
    price_id.bytes.fill(0x33);
    a.basis = protocol::PostedPriceBasis{spec.price_id.value_or(price_id)};
  } else {
    EventId rfb, bid;
    rfb.bytes.fill(0x11);
    bid.bytes.fill(0x22);
    a.basis = protocol::AuctionBasis{rfb, bid, protocol::new_capacity_token()};
  }
  a.job_id = spec.job_id;
  a.price_msat = spec.price;
  a.submit_by = spec.now + spec.submit_by_in;
  a.deadline_ms = protocol::Millis{20'000};
  auto e = protocol::build(a, router, spec.now);
  if (!e) throw std::runtime_error(e.error().to_string());
  return *e;
}

Event make_submit(const Keypair& router, const protocol::JobSubmit& fields,
                  UnixSeconds created_at) {
  auto e = protocol::build(fields, router, created_at);
  if (!e) throw std::runtime_error(e.error().to_string());
  return *e;
}

protocol::JobSubmit submit_fields(const Event& award, const PublicKey& node,
                                  const protocol::JobBody& body, const JobSpec& spec) {
  protocol::JobSubmit s;
  s.url = spec.url;
  s.method = "POST";
  s.payload_hash = body.payload_hash;
  s.award_id = award.id;
  s.node = node;
  s.job_id = spec.job_id;
  s.privacy = spec.privacy;
  s.input_hash = body.input_hash;
  s.max_output_tokens = spec.max_output_tokens;
  s.stream = spec.stream;
  return s;
}

SignedJob make_job(const Keypair& router, const Keypair& node, const JobSpec& spec) {
  SignedJob j;
  j.award = make_award(router, node.public_key(), spec);
  auto body = protocol::seal_job_body(spec.plaintext, spec.privacy, router, node.public_key());
  if (!body) throw std::runtime_error(body.error().to_string());
  j.submit_fields = submit_fields(j.award, node.public_key(), *body, spec);
  j.submit = make_submit(router, j.submit_fields, spec.now);
  j.body = body->bytes;
  j.content_type = std::string(body->content_type);
  return j;
}

}  // namespace fedai::test
