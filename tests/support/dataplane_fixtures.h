// Signed data-plane requests for tests (nips/F-04): an AWARD, a JOB_SUBMIT bound to a URL and a
// body, and knobs to make each of them wrong in one way.
#pragma once

#include <optional>
#include <string>

#include "agents/dataplane/verify_submit.h"
#include "core/nostr/event.h"
#include "core/nostr/keys.h"
#include "core/protocol/protocol.h"

namespace fedai::test {

struct DataplaneKeys {
  Keypair router = Keypair::generate();
  Keypair node = Keypair::generate();
  Keypair stranger = Keypair::generate();
};

// A chat body with one user message.
std::string chat_body(std::string_view prompt = "Say hello", bool stream = false,
                      std::optional<unsigned> max_tokens = std::nullopt);

struct JobSpec {
  std::string url = "http://127.0.0.1:8080/fedai/v1/jobs";
  protocol::PrivacyLevel privacy = protocol::PrivacyLevel::pl0;
  std::string plaintext = chat_body();
  protocol::JobId job_id = protocol::new_job_id();
  protocol::Msat price{5'000};
  protocol::Tokens max_output_tokens = 64;
  bool stream = false;
  bool posted_price = false;
  std::optional<EventId> price_id;  // a posted-price AWARD's PRICE (default: a made-up id)
  UnixSeconds now = 1767225600;     // created_at of both events
  UnixSeconds submit_by_in = 30;    // submit_by = now + this
};

struct SignedJob {
  Event award;
  Event submit;
  protocol::JobSubmit submit_fields;
  std::string body;
  std::string content_type;

  std::string authorization() const;  // "Nostr <base64>"
  std::string award_header() const;   // "<base64>"
  // The request as a node receives it at `url`, headers from the events as they are now. The
  // views point into this object (and into `url`).
  agents::dataplane::SubmitRequest request(const std::string& url);

  std::string auth_value, award_value;  // what request() points at
};

// An AWARD from `router` to `node` for `spec`.
Event make_award(const Keypair& router, const PublicKey& node, const JobSpec& spec);
// A JOB_SUBMIT from `router` for `fields`, dated `created_at`.
Event make_submit(const Keypair& router, const protocol::JobSubmit& fields, UnixSeconds created_at);
// The JOB_SUBMIT fields that bind `award` and `body` for `spec`.
protocol::JobSubmit submit_fields(const Event& award, const PublicKey& node,
                                  const protocol::JobBody& body, const JobSpec& spec);
// A complete, valid job.
SignedJob make_job(const Keypair& router, const Keypair& node, const JobSpec& spec = {});

}  // namespace fedai::test
