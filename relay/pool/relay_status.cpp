#include "relay/pool/relay_status.h"

namespace fedai::relay {

std::string_view to_string(RelayStatus status) {
  switch (status) {
    case RelayStatus::connecting:
      return "connecting";
    case RelayStatus::connected:
      return "connected";
    case RelayStatus::backing_off:
      return "backing_off";
    case RelayStatus::closed:
      return "closed";
  }
  return "closed";
}

}  // namespace fedai::relay
