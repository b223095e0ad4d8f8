#include "core/protocol/conversation_keys.h"

#include <openssl/crypto.h>

namespace fedai::protocol {
namespace {

void wipe(nip44::ConversationKey& key) {
  OPENSSL_cleanse(key.bytes.data(), key.bytes.size());
}

}  // namespace

ConversationKeyCache::ConversationKeyCache(const Keypair& self, std::size_t capacity)
    : self_(self), capacity_(capacity == 0 ? 1 : capacity) {}

ConversationKeyCache::~ConversationKeyCache() {
  for (auto& [peer, key] : keys_) wipe(key);
}

Result<nip44::ConversationKey> ConversationKeyCache::get(const PublicKey& peer) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = keys_.find(peer); it != keys_.end()) return it->second;
  }
  // Computed outside the lock: two threads may both compute a new peer's key once.
  auto key = nip44::conversation_key(self_.secret_key(), peer);
  if (!key) return key.error();
  std::lock_guard lock(mutex_);
  ++misses_;
  if (keys_.size() >= capacity_ && !keys_.contains(peer)) {
    auto victim = keys_.begin();
    wipe(victim->second);
    keys_.erase(victim);
  }
  keys_.insert_or_assign(peer, *key);
  return key;
}

Result<std::string> ConversationKeyCache::seal_to(std::string_view plaintext,
                                                  const PublicKey& peer) {
  auto key = get(peer);
  if (!key) return key.error();
  return nip44::encrypt(plaintext, *key);
}

Result<std::string> ConversationKeyCache::open_from(std::string_view payload,
                                                    const PublicKey& peer) {
  auto key = get(peer);
  if (!key) return key.error();
  return nip44::decrypt(payload, *key);
}

std::size_t ConversationKeyCache::size() const {
  std::lock_guard lock(mutex_);
  return keys_.size();
}

std::size_t ConversationKeyCache::misses() const {
  std::lock_guard lock(mutex_);
  return misses_;
}

}  // namespace fedai::protocol
