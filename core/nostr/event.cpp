#include "core/nostr/event.h"

#include <stdexcept>

#include "core/nostr/sha256.h"
#include "core/util/swar.h"

namespace fedai {
namespace {

// Bytes that need escaping: C0 controls, '"' and '\\'. Everything else (DEL and UTF-8
// included) is copied verbatim, which is what NIP-01 and JSON.stringify do.
constexpr bool needs_escape(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\';
}

std::size_t estimate_size(const Tags& tags, std::string_view content) {
  std::size_t n = content.size() + 180;
  for (const auto& tag : tags) {
    n += 3;
    for (const auto& v : tag) n += v.size() + 3;
  }
  return n;
}

void append_tags(std::string& out, const Tags& tags) {
  out += '[';
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (i) out += ',';
    out += '[';
    for (std::size_t j = 0; j < tags[i].size(); ++j) {
      if (j) out += ',';
      append_json_string(out, tags[i][j]);
    }
    out += ']';
  }
  out += ']';
}

}  // namespace

namespace {

// The first byte at or after `i` that needs escaping, or s.size().
std::size_t next_to_escape(std::string_view s, std::size_t i) {
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t v = swar::load(s.data() + i);
    if (auto f = swar::below(v, 0x20) | swar::equal(v, '"') | swar::equal(v, '\\'))
      return i + swar::first(f);
  }
  while (i < s.size() && !needs_escape(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the pending verbatim run
  for (std::size_t i = next_to_escape(s, 0); i < s.size(); i = next_to_escape(s, i + 1)) {
    auto c = static_cast<unsigned char>(s[i]);
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.append(esc, sizeof esc);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

const Tag* Event::find_tag(std::string_view name) const {
  for (const auto& t : tags)
    if (t.size() >= 2 && t[0] == name) return &t;
  return nullptr;
}

std::optional<std::string_view> Event::tag_value(std::string_view name) const {
  const Tag* t = find_tag(name);
  if (t == nullptr) return std::nullopt;
  return std::string_view((*t)[1]);
}

std::string_view Event::d_tag() const {
  return tag_value("d").value_or(std::string_view{});
}

std::string canonical_serialization(const PublicKey& pubkey, UnixSeconds created_at, Kind kind,
                                    const Tags& tags, std::string_view content) {
  std::string out;
  out.reserve(estimate_size(tags, content));
  out += "[0,\"";
  out += pubkey.hex();
  out += "\",";
  append_json_integer(out, static_cast<std::uint64_t>(created_at));
  out += ',';
  append_json_integer(out, kind);
  out += ',';
  append_tags(out, tags);
  out += ',';
  append_json_string(out, content);
  out += ']';
  return out;
}

EventId compute_event_id(const PublicKey& pubkey, UnixSeconds created_at, Kind kind,
                         const Tags& tags, std::string_view content) {
  auto digest = sha256(canonical_serialization(pubkey, created_at, kind, tags, content));
  return EventId{digest.bytes};
}

EventId compute_event_id(const Event& e) {
  return compute_event_id(e.pubkey, e.created_at, e.kind, e.tags, e.content);
}

Event sign_event(EventTemplate tmpl, const Keypair& keys) {
  if (tmpl.created_at < 0 || tmpl.created_at > kMaxCreatedAt)
    throw std::invalid_argument("created_at out of range");
  Event e;
  e.pubkey = keys.public_key();
  e.created_at = tmpl.created_at;
  e.kind = tmpl.kind;
  e.tags = std::move(tmpl.tags);
  e.content = std::move(tmpl.content);
  e.id = compute_event_id(e);
  e.sig = keys.sign(e.id.span());
  return e;
}

void append_json(std::string& out, const Event& e) {
  out += "{\"id\":\"";
  out += e.id.hex();
  out += "\",\"pubkey\":\"";
  out += e.pubkey.hex();
  out += "\",\"created_at\":";
  append_json_integer(out, static_cast<std::uint64_t>(e.created_at));
  out += ",\"kind\":";
  append_json_integer(out, e.kind);
  out += ",\"tags\":";
  append_tags(out, e.tags);
  out += ",\"content\":";
  append_json_string(out, e.content);
  out += ",\"sig\":\"";
  out += e.sig.hex();
  out += "\"}";
}

std::string to_json(const Event& e) {
  std::string out;
  out.reserve(estimate_size(e.tags, e.content) + 200);
  append_json(out, e);
  return out;
}

Status verify_event(const Event& e) {
  if (compute_event_id(e) != e.id) return invalid("event id does not match its content");
  if (!verify_signature(e.pubkey, e.id.span(), e.sig)) return invalid("bad signature");
  return {};
}

Result<Event> parse_verified_event(std::string_view json, const EventLimits& limits) {
  auto parsed = parse_event(json, limits);
  if (!parsed) return parsed;
  if (auto st = verify_event(*parsed); !st) return st.error();
  return parsed;
}

}  // namespace fedai
