// F-03 auction messages: RFB (26090), BID (26091, sealed to the RFB's author), AWARD (26092,
// sealed to the winner), CANCEL (26093). Ephemeral events on relays, each with NIP-40 expiration.
//
// Sealed kinds are parsed by a party to the conversation: the addressee (p tag) or the author
// (a router reading back its own AWARD from its log). Anyone else gets
// `invalid: AWARD is not addressed to us`.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "core/nostr/event.h"
#include "core/nostr/keys.h"
#include "core/protocol/conversation_keys.h"
#include "core/protocol/kinds.h"
#include "core/protocol/units.h"
#include "core/util/result.h"

namespace fedai::protocol {

inline constexpr Millis kMinBidWindow{50};
inline constexpr Millis kMaxBidWindow{10'000};
inline constexpr Millis kDefaultBidWindow{500};
// RFB expiration = created_at + ceil(bid_window_ms / 1000) + kRfbExpirationSlack.
inline constexpr UnixSeconds kRfbExpirationSlack = 5;
// CANCEL expiration = created_at + kCancelLifetime.
inline constexpr UnixSeconds kCancelLifetime = 60;
// F-01 freshness: auction messages older than this on the receiver's clock are ignored.
inline constexpr UnixSeconds kAuctionFreshness = 60;

// 26090: request for bids, public. Tags m, t, expiration.
struct Rfb {
  JobId job_id;
  std::string model;
  std::string job_type;
  PrivacyLevel privacy = PrivacyLevel::pl0;  // PL0..PL2
  Tokens input_tokens = 0;                   // the router's estimate
  Tokens max_output_tokens = 1;              // >= 1
  Msat max_price_msat{1};                    // >= 1, for the whole job
  Millis bid_window_ms = kDefaultBidWindow;  // 50..10000
  Millis deadline_ms{1};                     // >= 1, from AWARD to complete result
  bool stream = false;

  bool operator==(const Rfb&) const = default;
};

// The RFB's expiration for a given created_at (F-03).
UnixSeconds rfb_expiration(UnixSeconds created_at, Millis bid_window);

// 26091: a sealed offer. Tags p = router (the RFB's author, who alone can read it),
// e = the RFB (marker "rfb"), expiration = valid_until.
struct Bid {
  EventId rfb_id;
  PublicKey router;
  JobId job_id;         // equals the RFB's
  Msat price_msat;      // price_for_job at input_tokens and max_output_tokens, surge included
  Msat in_per_1k_msat;  // the rates METERING will use
  Msat out_per_1k_msat;
  Msat min_msat;  // the minimum METERING will use (optional on the wire, default 0)
  Millis eta_ms;
  std::string endpoint;  // where to send the job (F-04)
  CapacityToken capacity_token;
  UnixSeconds valid_until = 0;  // after created_at

  bool operator==(const Bid&) const = default;
};

// What an AWARD rests on: a won auction, or a posted price (no RFB).
struct AuctionBasis {
  EventId rfb_id;                // e, marker "rfb"
  EventId bid_id;                // e, marker "bid"
  CapacityToken capacity_token;  // echoes the BID's
  bool operator==(const AuctionBasis&) const = default;
};
struct PostedPriceBasis {
  EventId price_id;  // e, marker "price": the PRICE_ANNOUNCE accepted
  bool operator==(const PostedPriceBasis&) const = default;
};

// 26092: the job is yours. Tags p = node (the winner, who alone can read it), the basis's e
// tags, expiration = submit_by.
struct Award {
  PublicKey node;
  std::variant<AuctionBasis, PostedPriceBasis> basis;
  JobId job_id;
  Msat price_msat;            // the bid's, or the posted price for the job
  UnixSeconds submit_by = 0;  // after created_at: the JOB_SUBMIT must arrive before
  Millis deadline_ms;

  bool operator==(const Award&) const = default;
};

// The clear part of an AWARD, readable by anyone: a losing node learns from it that the job
// went elsewhere and releases its reservation.
struct AwardRoute {
  PublicKey node;
  std::optional<EventId> rfb_id;
  std::optional<EventId> bid_id;
  std::optional<EventId> price_id;
  UnixSeconds submit_by = 0;  // the expiration tag
  bool operator==(const AwardRoute&) const = default;
};

// 26093: the router abandons an auction or takes an award back. Tags e = the RFB (marker
// "rfb") and/or the AWARD (marker "award", for a posted-price award, which has no RFB), p = the
// awarded node when there is one, expiration = created_at + 60.
struct Cancel {
  std::optional<EventId> rfb_id;
  std::optional<EventId> award_id;
  std::optional<PublicKey> node;
  JobId job_id;
  ProtocolError reason = ProtocolError::cancelled;

  bool operator==(const Cancel&) const = default;
};

Status validate(const Rfb& rfb);
Status validate(const Bid& bid);
Status validate(const Award& award);
Status validate(const Cancel& cancel);

// Signed (and for BID and AWARD sealed) events with created_at = now. The sealed kinds also come
// in forms that take the signer's ConversationKeyCache, for agents that seal to the same peers
// all day; the Keypair forms derive the NIP-44 key on each call.
Result<Event> build(const Rfb& rfb, const Keypair& router, UnixSeconds now);
Result<Event> build(const Bid& bid, const Keypair& node, UnixSeconds now);
Result<Event> build(const Bid& bid, ConversationKeyCache& node, UnixSeconds now);
Result<Event> build(const Award& award, const Keypair& router, UnixSeconds now);
Result<Event> build(const Award& award, ConversationKeyCache& router, UnixSeconds now);
Result<Event> build(const Cancel& cancel, const Keypair& router, UnixSeconds now);

Result<Rfb> parse_rfb(const Event& e);
// `us`: the router that published the RFB (or the bidder itself).
Result<Bid> parse_bid(const Event& e, const Keypair& us);
Result<Bid> parse_bid(const Event& e, ConversationKeyCache& us);
// `us`: the awarded node (or the router that wrote it).
Result<Award> parse_award(const Event& e, const Keypair& us);
Result<Award> parse_award(const Event& e, ConversationKeyCache& us);
Result<AwardRoute> parse_award_route(const Event& e);
// The rest of parse_award, for a caller that already read the route (parse_award_route(e)).
Result<Award> parse_award(const Event& e, const AwardRoute& route, ConversationKeyCache& us);
Result<Cancel> parse_cancel(const Event& e);

// F-01 freshness of a relayed auction message on the receiver's clock: refused when its
// expiration has passed (`invalid: BID has expired`) or it was created more than 60 seconds
// ago (`invalid: RFB is stale`). Relays keep ephemeral events for minutes; this keeps a node
// from bidding on old RFBs.
Status check_fresh(const Event& e, UnixSeconds now);

}  // namespace fedai::protocol
