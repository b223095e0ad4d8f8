#include "core/util/time.h"

#include <chrono>

namespace fedai {

UnixSeconds unix_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace fedai
