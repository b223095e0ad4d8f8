// BOLT 11 decoding on arbitrary text: never crashes; what it refuses it says why; what it accepts
// has a payment hash, a payee on the curve (recovered or verified), exactly one of description
// and description hash, and decodes again in upper case to the same fields.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/lightning/bolt11.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto inv = fedai::bolt11::decode(input);
  if (!inv) {
    if (!inv.error().message.starts_with("bolt11: ")) __builtin_trap();
    return 0;
  }
  if (inv->payee[0] != 0x02 && inv->payee[0] != 0x03) __builtin_trap();
  if (inv->description.has_value() == inv->description_hash.has_value()) __builtin_trap();
  std::string upper(input);
  for (char& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  auto again = fedai::bolt11::decode(upper);
  if (!again || again->payee != inv->payee || again->payment_hash != inv->payment_hash ||
      again->amount != inv->amount)
    __builtin_trap();
  return 0;
}
