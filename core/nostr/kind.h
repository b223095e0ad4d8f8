// Event kinds and the storage classes NIP-01 assigns to them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fedai {

using Kind = std::uint16_t;  // NIP-01 kinds are integers 0..65535

enum class KindClass { regular, replaceable, ephemeral, addressable };

constexpr KindClass kind_class(Kind k) {
  if (k == 0 || k == 3 || (k >= 10000 && k < 20000)) return KindClass::replaceable;
  if (k >= 20000 && k < 30000) return KindClass::ephemeral;
  if (k >= 30000 && k < 40000) return KindClass::addressable;
  return KindClass::regular;
}

constexpr bool is_replaceable(Kind k) {
  return kind_class(k) == KindClass::replaceable;
}
constexpr bool is_ephemeral(Kind k) {
  return kind_class(k) == KindClass::ephemeral;
}
constexpr bool is_addressable(Kind k) {
  return kind_class(k) == KindClass::addressable;
}

std::string_view to_string(KindClass c);

}  // namespace fedai
