#include "core/nostr/kind.h"

namespace fedai {

std::string_view to_string(KindClass c) {
  switch (c) {
    case KindClass::regular:
      return "regular";
    case KindClass::replaceable:
      return "replaceable";
    case KindClass::ephemeral:
      return "ephemeral";
    case KindClass::addressable:
      return "addressable";
  }
  return "regular";
}

}  // namespace fedai
