#include "core/nostr/key_text.h"

#include "core/nostr/nip19.h"

namespace fedai {

Result<SecretKey> parse_secret_key(std::string_view text) {
  if (text.starts_with("nsec1") || text.starts_with("NSEC1")) return nip19::decode_nsec(text);
  if (text.size() != 64) return invalid("expected nsec1... or 64 hex digits");
  if (auto key = SecretKey::from_hex(text)) return *key;
  return invalid("not a valid secp256k1 secret key in hex");
}

Result<PublicKey> parse_public_key(std::string_view text) {
  PublicKey pk;
  if (text.starts_with("npub1") || text.starts_with("NPUB1")) {
    auto r = nip19::decode_npub(text);
    if (!r) return r.error();
    pk = *r;
  } else if (auto h = PublicKey::from_hex(text, /*allow_upper=*/true)) {
    pk = *h;
  } else {
    return invalid("expected npub1... or 64 hex digits");
  }
  if (!is_valid_public_key(pk)) return invalid("not a point on secp256k1");
  return pk;
}

}  // namespace fedai
