#include "relay/pool/event_verifier.h"

namespace fedai::relay {
namespace {

void verify(VerifyJob& job) {
  job.state.store(verify_event(job.event) ? VerifyJob::valid : VerifyJob::invalid,
                  std::memory_order_release);
}

}  // namespace

EventVerifier::EventVerifier(unsigned threads, std::function<void()> on_done)
    : on_done_(std::move(on_done)) {
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

EventVerifier::~EventVerifier() {
  stop();
}

void EventVerifier::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void EventVerifier::submit(std::shared_ptr<VerifyJob> job) {
  if (threads_.empty()) {
    verify(*job);
    return;  // inline: the caller sees the result at once, no on_done needed
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
}

std::size_t EventVerifier::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void EventVerifier::run() {
  for (;;) {
    std::shared_ptr<VerifyJob> job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    verify(*job);
    job.reset();
    if (on_done_) on_done_();
  }
}

}  // namespace fedai::relay
