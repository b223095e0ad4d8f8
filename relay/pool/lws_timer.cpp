#include "relay/pool/lws_timer.h"

#include <type_traits>

namespace fedai::relay {

LwsTimer::LwsTimer(lws_context* context, std::function<void()> fn)
    : context_(context), fn_(std::move(fn)) {
  static_assert(std::is_standard_layout_v<Node>);
  node_.owner = this;
}

void LwsTimer::schedule(std::chrono::microseconds delay) {
  pending_ = true;
  lws_sul_schedule(context_, 0, &node_.sul, &LwsTimer::fire,
                   static_cast<lws_usec_t>(std::max<std::int64_t>(delay.count(), 1)));
}

void LwsTimer::cancel() {
  if (!pending_) return;
  pending_ = false;
  lws_sul_cancel(&node_.sul);
}

void LwsTimer::fire(lws_sorted_usec_list_t* sul) {
  auto* self = reinterpret_cast<Node*>(sul)->owner;
  self->pending_ = false;
  // The callback may destroy the timer (and its owner): run a copy.
  auto fn = self->fn_;
  fn();
}

}  // namespace fedai::relay
