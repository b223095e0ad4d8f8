#include "agents/runtime/nonce_pool.h"

namespace fedai::agents {

NoncePool::NoncePool(const Keypair& signer, std::size_t capacity, MetricsRegistry& metrics,
                     const std::string& agent)
    : signer_(signer),
      capacity_(capacity),
      taken_(metrics.counter("fedai_signing_nonces_taken_total",
                             "Signatures made with a nonce prepared ahead of time",
                             {{"agent", agent}})),
      missed_(metrics.counter("fedai_signing_nonces_missed_total",
                              "Signatures that found no nonce ready and made their own",
                              {{"agent", agent}})),
      depth_(metrics.gauge("fedai_signing_nonces_ready", "Signing nonces prepared and unused",
                           {{"agent", agent}})) {
  signer_.use_nonces(nullptr);  // the pool's own copy signs nothing: no cycle through it
  ready_.reserve(capacity_);
}

std::optional<SigningNonce> NoncePool::take() {
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock() || ready_.empty()) {
    missed_.inc();
    return std::nullopt;
  }
  SigningNonce nonce = std::move(ready_.back());
  ready_.pop_back();
  depth_.set(static_cast<std::int64_t>(ready_.size()));
  lock.unlock();
  taken_.inc();
  return nonce;
}

bool NoncePool::refill_one() {
  {
    std::lock_guard lock(mutex_);
    if (ready_.size() >= capacity_) return false;
  }
  SigningNonce nonce = SigningNonce::generate(signer_);  // the 20 us, outside the lock
  std::lock_guard lock(mutex_);
  if (ready_.size() >= capacity_) return false;  // another thread filled it meanwhile
  ready_.push_back(std::move(nonce));
  depth_.set(static_cast<std::int64_t>(ready_.size()));
  return true;
}

std::size_t NoncePool::ready() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

}  // namespace fedai::agents
