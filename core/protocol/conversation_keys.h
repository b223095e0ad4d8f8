// NIP-44 conversation keys between this agent's key and its peers, computed once per peer.
//
// The key is an ECDH plus an HKDF-extract: about 45 us on these machines, as much as verifying a
// signature. An agent seals and opens several payloads per job with the same peer (the BID or the
// AWARD, the body, the result, every streamed delta), and a router talks to the same few nodes all
// day, so it keeps the keys. They are secret: the cache wipes them when it drops them.
//
// The sealed kinds' builders and parsers (auction.h, data_plane.h) take a cache; their Keypair
// forms derive the key on each call.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/nostr/keys.h"
#include "core/nostr/nip44.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace fedai::protocol {

class ConversationKeyCache {
 public:
  static constexpr std::size_t kDefaultCapacity = 4096;

  explicit ConversationKeyCache(const Keypair& self, std::size_t capacity = kDefaultCapacity);
  ~ConversationKeyCache();
  ConversationKeyCache(const ConversationKeyCache&) = delete;
  ConversationKeyCache& operator=(const ConversationKeyCache&) = delete;

  const Keypair& self() const { return self_; }

  // The key between self() and `peer`; `invalid:` when `peer` is not a point on the curve (not
  // cached). Thread-safe. When full, an arbitrary entry makes room.
  Result<nip44::ConversationKey> get(const PublicKey& peer);

  // NIP-44 v2 between self() and `peer`.
  Result<std::string> seal_to(std::string_view plaintext, const PublicKey& peer);
  Result<std::string> open_from(std::string_view payload, const PublicKey& peer);

  std::size_t size() const;
  std::size_t misses() const;  // keys computed (for tests and metrics)

 private:
  Keypair self_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<PublicKey, nip44::ConversationKey, FixedBytesHash> keys_;
  std::size_t misses_ = 0;
};

}  // namespace fedai::protocol
