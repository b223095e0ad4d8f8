// NIP-19: bech32-encoded entities (npub, nsec, note) and TLV pointers (nprofile, nevent, naddr).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/nostr/event.h"
#include "core/nostr/keys.h"
#include "core/util/result.h"

namespace fedai::nip19 {

// nostr-tools' limit; long enough for pointers with several relay hints.
inline constexpr std::size_t kMaxLength = 5000;

struct ProfilePointer {
  PublicKey pubkey;
  std::vector<std::string> relays;
  bool operator==(const ProfilePointer&) const = default;
};

struct EventPointer {
  EventId id;
  std::vector<std::string> relays;
  std::optional<PublicKey> author;
  std::optional<std::uint32_t> kind;
  bool operator==(const EventPointer&) const = default;
};

struct AddressPointer {
  std::string identifier;  // the d tag
  PublicKey pubkey;
  std::uint32_t kind = 0;
  std::vector<std::string> relays;
  bool operator==(const AddressPointer&) const = default;
};

struct Npub {
  PublicKey pubkey;
};
struct Nsec {
  SecretKey secret;
};
struct Note {
  EventId id;
};
using Entity = std::variant<Npub, Nsec, Note, ProfilePointer, EventPointer, AddressPointer>;

std::string encode_npub(const PublicKey& pubkey);
std::string encode_nsec(const SecretKey& secret);
std::string encode_note(const EventId& id);
// TLV forms fail when a value is longer than 255 bytes or the result exceeds kMaxLength.
Result<std::string> encode_nprofile(const ProfilePointer& p);
Result<std::string> encode_nevent(const EventPointer& p);
Result<std::string> encode_naddr(const AddressPointer& p);
Result<std::string> encode(const Entity& entity);

// Decodes any of the six forms; the error says what was wrong (checksum, prefix, length, TLV).
Result<Entity> decode(std::string_view text);
Result<PublicKey> decode_npub(std::string_view text);
Result<SecretKey> decode_nsec(std::string_view text);
Result<EventId> decode_note(std::string_view text);

// The prefix of an entity: "npub", "nsec", ...
std::string_view prefix_of(const Entity& entity);

}  // namespace fedai::nip19
