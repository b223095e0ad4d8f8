// NIP-98 HTTP auth: a signed kind-27235 event in the Authorization header
// ("Nostr <base64 of the event JSON>") binding a request's absolute URL, method and body hash.
//
// Checks are pure: `now` comes from the caller. Refusing a replay of the same event within the
// window needs state (the ids seen), so it is the caller's job; verify_http_auth returns the
// event so that its id can be recorded.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/nostr/event.h"
#include "core/nostr/keys.h"
#include "core/util/result.h"

namespace fedai {

inline constexpr Kind kHttpAuthKind = 27235;
inline constexpr UnixSeconds kHttpAuthWindow = 60;  // NIP-98's suggested window, in seconds
inline constexpr std::size_t kMaxHttpAuthEventBytes = 16 * 1024;

// Lowercase hex SHA-256 of a request body: the value of the `payload` tag.
std::string payload_hash(std::string_view body);

// A signed kind-27235 event with ["u", url], ["method", method] and, when `body` is given,
// ["payload", payload_hash(*body)]. Content is empty, as NIP-98 asks.
Event make_http_auth(const Keypair& keys, std::string_view url, std::string_view method,
                     std::optional<std::string_view> body, UnixSeconds now);

// "Nostr " + base64 of the event's JSON.
std::string authorization_header(const Event& event);

// Checks an Authorization header value against the request it came with:
//   - scheme "Nostr" (ASCII case-insensitive, as RFC 9110 says of auth schemes), then the
//     strict base64 of an event of at most kMaxHttpAuthEventBytes;
//   - the event parses and its id and signature verify (checked last: it is the costly part);
//   - kind 27235;
//   - |now - created_at| <= window;
//   - exactly one `u` tag, equal byte for byte to `url` (the absolute URL with its query);
//   - exactly one `method` tag, equal to `method` ignoring ASCII case;
//   - at most one `payload` tag. If present it must equal payload_hash(body), an absent body
//     counting as empty, so a payload tag also binds "no body". If absent, the request must have
//     no body or an empty one: a signed request without a body hash could be replayed with any
//     other body within the window.
// Returns the event, or the first failed check as "invalid: ..." ("auth-required: ..." for an
// empty header).
Result<Event> verify_http_auth(std::string_view header_value, std::string_view url,
                               std::string_view method, std::optional<std::string_view> body,
                               UnixSeconds now, UnixSeconds window = kHttpAuthWindow);

}  // namespace fedai
