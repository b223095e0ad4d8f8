#include "core/nostr/nip19.h"

#include <openssl/crypto.h>

#include "core/nostr/bech32.h"

namespace fedai::nip19 {
namespace {

enum TlvType : std::uint8_t { kSpecial = 0, kRelay = 1, kAuthor = 2, kKind = 3 };

std::string encode_bytes(std::string_view hrp, std::span<const std::uint8_t> bytes) {
  auto words = bech32::to_words(bytes);
  return bech32::encode(hrp, words);
}

Status add_tlv(std::vector<std::uint8_t>& out, std::uint8_t type,
               std::span<const std::uint8_t> value) {
  if (value.size() > 255) return invalid("TLV value longer than 255 bytes");
  out.push_back(type);
  out.push_back(static_cast<std::uint8_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
  return {};
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Status add_relays(std::vector<std::uint8_t>& out, const std::vector<std::string>& relays) {
  for (const auto& r : relays)
    if (auto st = add_tlv(out, kRelay, as_bytes(r)); !st) return st;
  return {};
}

std::array<std::uint8_t, 4> be32(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
          static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

Result<std::string> finish(std::string_view hrp, const std::vector<std::uint8_t>& tlv) {
  std::string out = encode_bytes(hrp, tlv);
  if (out.size() > kMaxLength) return invalid(std::string(hrp) + " would exceed 5000 characters");
  return out;
}

struct Tlv {
  std::uint8_t type;
  std::span<const std::uint8_t> value;
};

Result<std::vector<Tlv>> parse_tlv(std::span<const std::uint8_t> data) {
  std::vector<Tlv> out;
  std::size_t i = 0;
  while (i < data.size()) {
    if (data.size() - i < 2) return invalid("truncated TLV header");
    std::uint8_t type = data[i], len = data[i + 1];
    i += 2;
    if (data.size() - i < len) return invalid("TLV value runs past the end");
    out.push_back({type, data.subspan(i, len)});
    i += len;
  }
  return out;
}

template <class T>
Result<T> fixed32(std::span<const std::uint8_t> v, const char* what) {
  if (v.size() != 32) return invalid(std::string(what) + " must be 32 bytes");
  T out;
  std::copy(v.begin(), v.end(), out.bytes.begin());
  return out;
}

Result<std::vector<std::uint8_t>> payload(const bech32::Decoded& d) {
  return bech32::from_words(d.words);
}

Result<Entity> decode_bare(const std::string& hrp, std::span<const std::uint8_t> data) {
  if (data.size() != 32)
    return invalid(hrp + " payload must be 32 bytes, got " + std::to_string(data.size()));
  std::span<const std::uint8_t, 32> fixed(data.data(), 32);
  if (hrp == "npub") return Entity{Npub{PublicKey::from_span(fixed)}};
  if (hrp == "note") return Entity{Note{EventId::from_span(fixed)}};
  auto sk = SecretKey::from_bytes(fixed);
  if (!sk) return invalid("nsec is not a valid secp256k1 secret key");
  return Entity{Nsec{*sk}};
}

Result<Entity> decode_tlv(const std::string& hrp, std::span<const std::uint8_t> data) {
  auto tlvs = parse_tlv(data);
  if (!tlvs) return tlvs.error();
  std::optional<std::span<const std::uint8_t>> special, author, kind;
  std::vector<std::string> relays;
  // The first occurrence of a single-valued type counts; unknown types are ignored (NIP-19).
  for (const auto& t : *tlvs) {
    switch (t.type) {
      case kSpecial:
        if (!special) special = t.value;
        break;
      case kRelay:
        relays.emplace_back(t.value.begin(), t.value.end());
        break;
      case kAuthor:
        if (!author) author = t.value;
        break;
      case kKind:
        if (!kind) kind = t.value;
        break;
      default:
        break;
    }
  }
  auto read_kind = [&]() -> Result<std::uint32_t> {
    if (kind->size() != 4) return invalid("TLV kind must be 4 bytes");
    const auto& k = *kind;
    return (std::uint32_t{k[0]} << 24) | (std::uint32_t{k[1]} << 16) | (std::uint32_t{k[2]} << 8) |
           std::uint32_t{k[3]};
  };
  if (!special) return invalid(hrp + " is missing its TLV type 0 entry");
  if (hrp == "nprofile") {
    auto pk = fixed32<PublicKey>(*special, "nprofile pubkey");
    if (!pk) return pk.error();
    return Entity{ProfilePointer{*pk, std::move(relays)}};
  }
  if (hrp == "nevent") {
    auto id = fixed32<EventId>(*special, "nevent id");
    if (!id) return id.error();
    EventPointer p{*id, std::move(relays), std::nullopt, std::nullopt};
    if (author) {
      auto a = fixed32<PublicKey>(*author, "nevent author");
      if (!a) return a.error();
      p.author = *a;
    }
    if (kind) {
      auto k = read_kind();
      if (!k) return k.error();
      p.kind = *k;
    }
    return Entity{std::move(p)};
  }
  // naddr
  if (!author) return invalid("naddr is missing its author");
  if (!kind) return invalid("naddr is missing its kind");
  auto a = fixed32<PublicKey>(*author, "naddr author");
  if (!a) return a.error();
  auto k = read_kind();
  if (!k) return k.error();
  return Entity{
      AddressPointer{std::string(special->begin(), special->end()), *a, *k, std::move(relays)}};
}

}  // namespace

std::string encode_npub(const PublicKey& pubkey) {
  return encode_bytes("npub", pubkey.bytes);
}
std::string encode_note(const EventId& id) {
  return encode_bytes("note", id.bytes);
}
std::string encode_nsec(const SecretKey& secret) {
  auto words = bech32::to_words(secret.reveal());
  std::string out = bech32::encode("nsec", words);
  OPENSSL_cleanse(words.data(), words.size());
  return out;
}

Result<std::string> encode_nprofile(const ProfilePointer& p) {
  std::vector<std::uint8_t> tlv;
  (void)add_tlv(tlv, kSpecial, p.pubkey.bytes);
  if (auto st = add_relays(tlv, p.relays); !st) return st.error();
  return finish("nprofile", tlv);
}

Result<std::string> encode_nevent(const EventPointer& p) {
  std::vector<std::uint8_t> tlv;
  (void)add_tlv(tlv, kSpecial, p.id.bytes);
  if (auto st = add_relays(tlv, p.relays); !st) return st.error();
  if (p.author) (void)add_tlv(tlv, kAuthor, p.author->bytes);
  if (p.kind) (void)add_tlv(tlv, kKind, be32(*p.kind));
  return finish("nevent", tlv);
}

Result<std::string> encode_naddr(const AddressPointer& p) {
  std::vector<std::uint8_t> tlv;
  if (auto st = add_tlv(tlv, kSpecial, as_bytes(p.identifier)); !st) return st.error();
  if (auto st = add_relays(tlv, p.relays); !st) return st.error();
  (void)add_tlv(tlv, kAuthor, p.pubkey.bytes);
  (void)add_tlv(tlv, kKind, be32(p.kind));
  return finish("naddr", tlv);
}

Result<std::string> encode(const Entity& entity) {
  struct Visitor {
    Result<std::string> operator()(const Npub& v) const { return encode_npub(v.pubkey); }
    Result<std::string> operator()(const Nsec& v) const { return encode_nsec(v.secret); }
    Result<std::string> operator()(const Note& v) const { return encode_note(v.id); }
    Result<std::string> operator()(const ProfilePointer& v) const { return encode_nprofile(v); }
    Result<std::string> operator()(const EventPointer& v) const { return encode_nevent(v); }
    Result<std::string> operator()(const AddressPointer& v) const { return encode_naddr(v); }
  };
  return std::visit(Visitor{}, entity);
}

std::string_view prefix_of(const Entity& entity) {
  constexpr std::string_view names[] = {"npub", "nsec", "note", "nprofile", "nevent", "naddr"};
  return names[entity.index()];
}

Result<Entity> decode(std::string_view text) {
  auto decoded = bech32::decode(text, kMaxLength);
  if (!decoded) return decoded.error();
  auto data = payload(*decoded);
  if (!data) return data.error();
  const std::string& hrp = decoded->hrp;
  Result<Entity> out = invalid("unknown NIP-19 prefix '" + hrp + "'");
  if (hrp == "npub" || hrp == "nsec" || hrp == "note")
    out = decode_bare(hrp, *data);
  else if (hrp == "nprofile" || hrp == "nevent" || hrp == "naddr")
    out = decode_tlv(hrp, *data);
  OPENSSL_cleanse(data->data(), data->size());
  return out;
}

namespace {
template <class Want>
Result<Want> decode_as(std::string_view text, std::string_view prefix) {
  auto e = decode(text);
  if (!e) return e.error();
  if (auto* v = std::get_if<Want>(&*e)) return std::move(*v);
  return invalid("expected " + std::string(prefix) + ", got " + std::string(prefix_of(*e)));
}
}  // namespace

Result<PublicKey> decode_npub(std::string_view text) {
  auto r = decode_as<Npub>(text, "npub");
  if (!r) return r.error();
  return r->pubkey;
}
Result<SecretKey> decode_nsec(std::string_view text) {
  auto r = decode_as<Nsec>(text, "nsec");
  if (!r) return r.error();
  return r->secret;
}
Result<EventId> decode_note(std::string_view text) {
  auto r = decode_as<Note>(text, "note");
  if (!r) return r.error();
  return r->id;
}

}  // namespace fedai::nip19
