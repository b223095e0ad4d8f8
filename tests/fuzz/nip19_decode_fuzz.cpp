// NIP-19 decoding on arbitrary strings: never crashes; whatever decodes re-encodes to a string
// that decodes to the same entity.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/nostr/nip19.h"

namespace {

bool same(const fedai::nip19::Entity& a, const fedai::nip19::Entity& b) {
  using namespace fedai::nip19;
  if (a.index() != b.index()) return false;
  if (auto* x = std::get_if<Npub>(&a)) return x->pubkey == std::get<Npub>(b).pubkey;
  if (auto* x = std::get_if<Nsec>(&a)) return x->secret == std::get<Nsec>(b).secret;
  if (auto* x = std::get_if<Note>(&a)) return x->id == std::get<Note>(b).id;
  if (auto* x = std::get_if<ProfilePointer>(&a)) return *x == std::get<ProfilePointer>(b);
  if (auto* x = std::get_if<EventPointer>(&a)) return *x == std::get<EventPointer>(b);
  return std::get<AddressPointer>(a) == std::get<AddressPointer>(b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto decoded = fedai::nip19::decode(input);
  if (!decoded) {
    if (decoded.error().message.empty()) __builtin_trap();
    return 0;
  }
  auto encoded = fedai::nip19::encode(*decoded);
  // Decoding keeps only what encoding can write back, except TLV values over 255 bytes, which
  // can't occur in a decoded TLV, and strings over the length limit, which can't either.
  if (!encoded) __builtin_trap();
  auto again = fedai::nip19::decode(*encoded);
  if (!again || !same(*decoded, *again)) __builtin_trap();
  return 0;
}
