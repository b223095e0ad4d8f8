// NIP-11: the relay information document, served on HTTP GET with
// `Accept: application/nostr+json`. Its limitation block states the limits actually enforced.
#pragma once

#include <string>

#include "relay/server/relay_options.h"

namespace fedai::relay::server {

// The NIPs this relay implements.
inline constexpr int kSupportedNips[] = {1, 9, 11, 40, 42, 45};

std::string software_version();
std::string nip11_document(const RelayOptions& options);

}  // namespace fedai::relay::server
