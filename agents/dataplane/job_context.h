// What both ends keep about one job on the data plane: enough to answer it (node) or to check
// the answer (router) without the events it came from.
#pragma once

#include "core/nostr/event.h"
#include "core/nostr/sha256.h"
#include "core/protocol/kinds.h"
#include "core/protocol/units.h"

namespace fedai::agents::dataplane {

struct JobContext {
  EventId submit_id;  // the JOB_SUBMIT
  EventId award_id;   // the AWARD it names
  PublicKey router;   // who signed both
  PublicKey node;     // the awarded node
  protocol::JobId job_id;
  protocol::PrivacyLevel privacy = protocol::PrivacyLevel::pl0;
  Sha256Digest input_hash;  // of the plaintext body
  protocol::Tokens max_output_tokens = 0;
  protocol::Msat awarded_price;
  bool stream = false;
};

// The rates METERING prices a job at (F-04): the BID's, or for a posted-price award the
// PRICE_ANNOUNCE's with its surge applied.
struct Rates {
  protocol::Msat in_per_1k;
  protocol::Msat out_per_1k;
  protocol::Msat min;
};

}  // namespace fedai::agents::dataplane
