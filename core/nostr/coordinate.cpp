#include "core/nostr/coordinate.h"

#include <functional>

namespace fedai {

std::string Coordinate::to_string() const {
  std::string out = std::to_string(kind);
  out += ':';
  out += pubkey.hex();
  out += ':';
  out += d;
  return out;
}

Result<Coordinate> Coordinate::parse(std::string_view text) {
  auto first = text.find(':');
  auto second = first == std::string_view::npos ? first : text.find(':', first + 1);
  if (second == std::string_view::npos) return invalid("coordinate must be <kind>:<pubkey>:<d>");

  std::string_view kind_text = text.substr(0, first);
  bool canonical =
      !kind_text.empty() && kind_text.size() <= 5 && (kind_text.size() == 1 || kind_text[0] != '0');
  unsigned kind = 0;
  for (char c : kind_text) {
    if (c < '0' || c > '9') canonical = false;
    kind = kind * 10 + static_cast<unsigned>(c - '0');
  }
  if (!canonical || kind > 65535)
    return invalid("coordinate kind must be an integer between 0 and 65535");

  Coordinate out;
  out.kind = static_cast<Kind>(kind);
  if (!is_replaceable(out.kind) && !is_addressable(out.kind))
    return invalid("coordinate kind " + std::to_string(kind) +
                   " is neither replaceable nor addressable");
  auto pk = PublicKey::from_hex(text.substr(first + 1, second - first - 1));
  if (!pk) return invalid("coordinate pubkey must be 64 lowercase hex characters");
  out.pubkey = *pk;
  out.d = std::string(text.substr(second + 1));
  if (is_replaceable(out.kind) && !out.d.empty())
    return invalid("coordinate of replaceable kind " + std::to_string(kind) +
                   " must have an empty d");
  return out;
}

std::size_t CoordinateHash::operator()(const Coordinate& c) const {
  std::size_t h = FixedBytesHash{}(c.pubkey);
  h ^= std::hash<std::string>{}(c.d) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h ^ (static_cast<std::size_t>(c.kind) * 0x100000001b3ull);
}

std::optional<Coordinate> coordinate_of(const Event& event) {
  if (is_replaceable(event.kind)) return Coordinate{event.kind, event.pubkey, ""};
  if (is_addressable(event.kind))
    return Coordinate{event.kind, event.pubkey, std::string(event.d_tag())};
  return std::nullopt;
}

}  // namespace fedai
