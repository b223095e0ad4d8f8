// The sealed payloads of the data plane, sealed and opened with cached conversation keys.
//
// core/protocol's parse_award, build(JobResult) and parse_job_result derive the NIP-44
// conversation key on every call. These do the same checks and give the same reasons, with the
// key from a ConversationKeyCache (tests compare both paths). They belong in core/protocol as
// overloads that take a key; until then they reuse its codec (core/protocol/codec.h).
#pragma once

#include <string>
#include <string_view>

#include "agents/dataplane/conversation_keys.h"
#include "core/nostr/event.h"
#include "core/protocol/auction.h"
#include "core/protocol/data_plane.h"
#include "core/util/result.h"

namespace fedai::agents::dataplane {

// NIP-44 between keys.self() and `peer`.
Result<std::string> seal_to(std::string_view plaintext, const PublicKey& peer,
                            ConversationKeyCache& keys);
Result<std::string> open_from(std::string_view payload, const PublicKey& peer,
                              ConversationKeyCache& keys);

// protocol::parse_award for keys.self() (the awarded node, or the router that wrote it), with
// the route already read by parse_award_route(e).
Result<protocol::Award> open_award(const Event& e, const protocol::AwardRoute& route,
                                   ConversationKeyCache& keys);
Result<protocol::Award> open_award(const Event& e, ConversationKeyCache& keys);

// protocol::build(JobResult), signed by keys.self() (the node).
Result<Event> build_job_result(const protocol::JobResult& result, ConversationKeyCache& keys,
                               UnixSeconds now);

// protocol::parse_job_result for keys.self() (the router): `privacy` is the job's level.
Result<protocol::JobResult> open_job_result(const Event& e, ConversationKeyCache& keys,
                                            protocol::PrivacyLevel privacy);

}  // namespace fedai::agents::dataplane
