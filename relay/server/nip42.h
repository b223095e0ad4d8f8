// NIP-42 authentication on the relay side: the challenge and the check of a kind-22242 event.
#pragma once

#include <string>
#include <string_view>

#include "core/nostr/event.h"
#include "core/util/result.h"

namespace fedai::relay::server {

inline constexpr Kind kAuthKind = 22242;
// How far an AUTH event's created_at may be from the relay's clock.
inline constexpr UnixSeconds kAuthWindowSeconds = 600;

// 32 random hex characters.
std::string make_challenge();

// Compares relay URLs as NIP-42 means them: scheme and host case-insensitively, a trailing
// slash and the default port (80 for ws, 443 for wss) ignored.
bool same_relay_url(std::string_view a, std::string_view b);

// Checks an AUTH event: kind 22242, a `challenge` tag equal to the one this connection was
// given, a `relay` tag naming this relay (skipped when `relay_url` is empty), created_at within
// ten minutes of `now`, and a valid id and signature. Errors are `invalid:` reasons.
Status check_auth_event(const Event& event, std::string_view challenge, std::string_view relay_url,
                        UnixSeconds now);

}  // namespace fedai::relay::server
