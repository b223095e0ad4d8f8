// Keys as people type them: bech32 (nsec/npub) or 64 hex digits in either case.
#pragma once

#include <string_view>

#include "core/nostr/keys.h"
#include "core/util/result.h"

namespace fedai {

Result<SecretKey> parse_secret_key(std::string_view text);
Result<PublicKey> parse_public_key(std::string_view text);

}  // namespace fedai
