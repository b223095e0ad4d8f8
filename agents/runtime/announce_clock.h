// created_at for an agent's replaceable and addressable announcements (CAPS, PRICE, STATUS).
//
// Relays keep one event per coordinate and, on equal created_at, the lowest id (NIP-01), so two
// announcements in the same second would make the second one lose at random. Each coordinate's
// created_at therefore strictly increases: max(now, previous + 1). A burst of changes runs a few
// seconds ahead of the wall clock at most, and falls back in step once the burst is over.
#pragma once

#include <map>
#include <string>

#include "core/util/time.h"

namespace fedai::agents {

class AnnounceClock {
 public:
  // The created_at to use for the next announcement at `coordinate` (e.g. "status:node").
  UnixSeconds next(const std::string& coordinate, UnixSeconds now) {
    UnixSeconds& last = last_[coordinate];
    last = now > last ? now : last + 1;
    return last;
  }

 private:
  std::map<std::string, UnixSeconds> last_;
};

}  // namespace fedai::agents
