#include "core/lightning/bolt11.h"

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <algorithm>
#include <span>

#include "core/nostr/bech32.h"
#include "core/nostr/keys.h"

namespace fedai::bolt11 {
namespace {

__extension__ using u128 = unsigned __int128;

using Words = std::span<const std::uint8_t>;

constexpr std::size_t kTimestampWords = 7;    // 35 bits
constexpr std::size_t kSignatureWords = 104;  // 65 bytes = 520 bits

// Tagged field types: the bech32 character's value.
enum Tag : std::uint8_t {
  kPaymentHash = 1,       // p
  kRouteHint = 3,         // r
  kFeatures = 5,          // 9
  kExpiry = 6,            // x
  kFallback = 9,          // f
  kDescription = 13,      // d
  kPaymentSecret = 16,    // s
  kPayee = 19,            // n
  kDescriptionHash = 23,  // h
  kMinFinalCltv = 24,     // c
  kPaymentMetadata = 27,  // m
};

// Feature bits BOLT 9 defines for invoices: var_onion_optin, payment_secret, basic_mpp,
// option_payment_metadata. An even (required) bit outside these can't be honoured.
constexpr unsigned kKnownFeatures[] = {8, 9, 14, 15, 16, 17, 48, 49};

Error bad(std::string_view why) {
  std::string message = "bolt11: ";
  message += why;
  return invalid(std::move(message));
}

// 5-bit words, big-endian, as an integer (x, c, the timestamp): at most 12 words fit 60 bits.
std::optional<std::uint64_t> integer(Words words) {
  if (words.size() > 12) return std::nullopt;
  std::uint64_t v = 0;
  for (auto w : words) v = (v << 5) | w;
  return v;
}

// Words regrouped into bytes, the last byte zero-padded (the signing data, d, m, r, f): unlike
// bech32::from_words, any padding is accepted, since these fields' bit lengths are not bytes.
std::vector<std::uint8_t> pack(Words words) {
  std::vector<std::uint8_t> out;
  out.reserve(words.size() * 5 / 8 + 1);
  std::uint32_t acc = 0;
  int bits = 0;
  for (auto w : words) {
    acc = (acc << 5) | w;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (bits > 0) out.push_back(static_cast<std::uint8_t>(acc << (8 - bits)));
  return out;
}

// A fixed-size field (p, s, h: 52 words -> 32 bytes; n: 53 words -> 33 bytes).
template <std::size_t N>
std::array<std::uint8_t, N> fixed(Words words) {
  auto bytes = pack(words);
  std::array<std::uint8_t, N> out{};
  std::copy_n(bytes.begin(), N, out.begin());
  return out;
}

std::uint64_t be(std::span<const std::uint8_t> bytes) {
  std::uint64_t v = 0;
  for (auto b : bytes) v = (v << 8) | b;
  return v;
}

Result<std::vector<RouteHop>> route(Words words) {
  constexpr std::size_t kHop = 33 + 8 + 4 + 4 + 2;
  auto bytes = pack(words);
  // The padding may add a byte: only whole hops count, and what remains must be padding.
  std::size_t hops = bytes.size() / kHop;
  if (hops == 0 || words.size() * 5 < hops * kHop * 8 || words.size() * 5 >= (hops * kHop + 1) * 8)
    return bad("an r field is not a whole number of route hops");
  std::vector<RouteHop> out;
  for (std::size_t h = 0; h < hops; ++h) {
    std::span<const std::uint8_t> b(bytes.data() + h * kHop, kHop);
    RouteHop hop;
    std::copy_n(b.begin(), 33, hop.pubkey.begin());
    hop.short_channel_id = be(b.subspan(33, 8));
    hop.fee_base_msat = static_cast<std::uint32_t>(be(b.subspan(41, 4)));
    hop.fee_proportional_millionths = static_cast<std::uint32_t>(be(b.subspan(45, 4)));
    hop.cltv_expiry_delta = static_cast<std::uint16_t>(be(b.subspan(49, 2)));
    out.push_back(hop);
  }
  return out;
}

Status features(Words words, std::vector<unsigned>& out) {
  out.clear();
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::uint8_t w = words[words.size() - 1 - i];
    for (unsigned b = 0; b < 5; ++b) {
      if ((w >> b) & 1u) out.push_back(static_cast<unsigned>(i * 5 + b));
    }
  }
  for (unsigned bit : out) {
    bool known = std::find(std::begin(kKnownFeatures), std::end(kKnownFeatures), bit) !=
                 std::end(kKnownFeatures);
    if (bit % 2 == 0 && !known)
      return bad("requires feature bit " + std::to_string(bit) + ", which fedai does not know");
  }
  return {};
}

Status check_signature(Invoice& inv, std::string_view hrp, Words data, Words sig_words) {
  std::vector<std::uint8_t> signed_bytes(hrp.begin(), hrp.end());
  auto packed = pack(data);
  signed_bytes.insert(signed_bytes.end(), packed.begin(), packed.end());
  auto digest = sha256(std::span<const std::uint8_t>(signed_bytes));
  std::copy_n(digest.data(), 32, inv.signing_hash.begin());

  auto sig = pack(sig_words);  // 65 bytes exactly: 520 bits
  std::copy_n(sig.begin(), 64, inv.signature.begin());
  inv.recovery_id = sig[64];
  if (inv.recovery_id > 3) return bad("the signature's recovery id is not 0..3");

  const secp256k1_context* ctx = secp_context();
  if (inv.payee_in_invoice) {
    secp256k1_ecdsa_signature s;
    secp256k1_pubkey key;
    if (secp256k1_ecdsa_signature_parse_compact(ctx, &s, inv.signature.data()) != 1)
      return bad("the signature does not parse");
    // normalize() says whether s was high; BOLT 11 requires low-S when `n` is given.
    if (secp256k1_ecdsa_signature_normalize(ctx, nullptr, &s) == 1)
      return bad("the signature is high-S, which BOLT 11 refuses with an n field");
    if (secp256k1_ec_pubkey_parse(ctx, &key, inv.payee.data(), inv.payee.size()) != 1)
      return bad("the n field is not a public key");
    if (secp256k1_ecdsa_verify(ctx, &s, inv.signing_hash.data(), &key) != 1)
      return bad("the signature does not verify against the n field");
    return {};
  }
  secp256k1_ecdsa_recoverable_signature rs;
  secp256k1_pubkey key;
  if (secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rs, inv.signature.data(),
                                                          inv.recovery_id) != 1 ||
      secp256k1_ecdsa_recover(ctx, &key, &rs, inv.signing_hash.data()) != 1)
    return bad("no payee key can be recovered from the signature");
  std::size_t len = inv.payee.size();
  secp256k1_ec_pubkey_serialize(ctx, inv.payee.data(), &len, &key, SECP256K1_EC_COMPRESSED);
  return {};
}

}  // namespace

Result<std::optional<protocol::Msat>> amount_of_hrp(std::string_view hrp, std::string* network) {
  if (!hrp.starts_with("ln")) return bad("the prefix is not ln");
  std::string_view rest = hrp.substr(2);
  std::string_view net;
  for (std::string_view n : {"bcrt", "bc", "tbs", "tb"}) {
    if (rest.starts_with(n)) {
      net = n;
      break;
    }
  }
  if (net.empty()) return bad("unknown network in '" + std::string(hrp) + "'");
  if (network != nullptr) *network = std::string(net);
  rest.remove_prefix(net.size());
  if (rest.empty()) return std::optional<protocol::Msat>{};

  std::size_t i = 0;
  u128 amount = 0;
  while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') {
    amount = amount * 10 + static_cast<unsigned>(rest[i] - '0');
    if (amount > (u128{1} << 80)) return bad("the amount is too large");
    ++i;
  }
  if (i == 0) return bad("the amount has no digits");
  if (rest[0] == '0') return bad("the amount has a leading zero");
  // Millisatoshis per unit: one bitcoin is 10^11 msat; m, u, n, p scale it down.
  u128 msat = 0;
  if (i == rest.size()) {
    msat = amount * 100'000'000'000u;
  } else if (i + 1 == rest.size()) {
    switch (rest[i]) {
      case 'm':
        msat = amount * 100'000'000u;
        break;
      case 'u':
        msat = amount * 100'000u;
        break;
      case 'n':
        msat = amount * 100u;
        break;
      case 'p':
        if (amount % 10 != 0) return bad("a p amount must be a whole millisatoshi (end in 0)");
        msat = amount / 10;
        break;
      default:
        return bad(std::string("unknown amount multiplier '") + rest[i] + "'");
    }
  } else {
    return bad("the amount is not digits and one multiplier");
  }
  if (msat > protocol::kMaxJsonInteger) return bad("the amount is too large");
  return std::optional<protocol::Msat>{protocol::Msat{static_cast<std::uint64_t>(msat)}};
}

Result<Invoice> decode(std::string_view text) {
  auto decoded = bech32::decode(text, kMaxLength);
  if (!decoded) return bad(decoded.error().message);
  Invoice inv;
  auto amount = amount_of_hrp(decoded->hrp, &inv.network);
  if (!amount) return amount.error();
  inv.amount = *amount;

  Words words(decoded->words);
  if (words.size() < kTimestampWords + kSignatureWords)
    return bad("too short for a timestamp and a signature");
  Words data = words.first(words.size() - kSignatureWords);
  Words sig_words = words.last(kSignatureWords);
  inv.timestamp = *integer(data.first(kTimestampWords));

  bool have_hash = false, have_secret = false;
  Words fields = data.subspan(kTimestampWords);
  while (!fields.empty()) {
    if (fields.size() < 3) return bad("a tagged field is cut short");
    std::uint8_t type = fields[0];
    std::size_t len = std::size_t{fields[1]} * 32 + fields[2];
    if (fields.size() < 3 + len) return bad("a tagged field is longer than the invoice");
    Words v = fields.subspan(3, len);
    fields = fields.subspan(3 + len);
    switch (type) {
      case kPaymentHash:
        if (len != 52 || have_hash) break;  // wrong length: skipped
        inv.payment_hash = fixed<32>(v);
        have_hash = true;
        break;
      case kPaymentSecret:
        if (len != 52 || have_secret) break;
        inv.payment_secret = fixed<32>(v);
        have_secret = true;
        break;
      case kDescriptionHash:
        if (len != 52 || inv.description_hash) break;
        inv.description_hash = fixed<32>(v);
        break;
      case kPayee:
        if (len != 53 || inv.payee_in_invoice) break;
        inv.payee = fixed<33>(v);
        inv.payee_in_invoice = true;
        break;
      case kDescription: {
        if (inv.description) break;
        auto bytes = pack(v);
        if (len * 5 % 8 != 0) bytes.pop_back();  // the padding byte
        inv.description = std::string(bytes.begin(), bytes.end());
        break;
      }
      case kExpiry: {
        auto x = integer(v);
        if (!x) return bad("the x field is too large");
        inv.expiry_seconds = *x;
        break;
      }
      case kMinFinalCltv: {
        auto c = integer(v);
        if (!c) return bad("the c field is too large");
        inv.min_final_cltv_expiry_delta = *c;
        break;
      }
      case kFeatures:
        if (auto st = features(v, inv.feature_bits); !st) return st.error();
        break;
      case kPaymentMetadata: {
        auto bytes = pack(v);
        if (len * 5 % 8 != 0) bytes.pop_back();
        inv.payment_metadata = std::move(bytes);
        break;
      }
      case kFallback: {
        if (v.empty()) break;
        Fallback f;
        f.version = v[0];
        f.program = pack(v.subspan(1));
        if ((len - 1) * 5 % 8 != 0) f.program.pop_back();
        inv.fallbacks.push_back(std::move(f));
        break;
      }
      case kRouteHint: {
        auto hops = route(v);
        if (!hops) return hops.error();
        inv.route_hints.push_back(std::move(*hops));
        break;
      }
      default:
        break;  // unknown: skipped
    }
  }
  if (!have_hash) return bad("no payment hash (p field)");
  if (!have_secret) return bad("no payment secret (s field)");
  if (inv.description.has_value() == inv.description_hash.has_value())
    return bad(inv.description ? "both a description (d) and its hash (h)"
                               : "neither a description (d) nor its hash (h)");
  std::sort(inv.feature_bits.begin(), inv.feature_bits.end());
  if (auto st = check_signature(inv, decoded->hrp, data, sig_words); !st) return st.error();
  return inv;
}

namespace {

void put_integer(std::vector<std::uint8_t>& out, std::uint64_t v, std::size_t words) {
  for (std::size_t i = words; i-- > 0;)
    out.push_back(static_cast<std::uint8_t>((v >> (5 * i)) & 31));
}

std::size_t words_for(std::uint64_t v) {
  std::size_t n = 1;
  while (n < 13 && (v >> (5 * n)) != 0) ++n;
  return n;
}

void put_field(std::vector<std::uint8_t>& out, Tag tag, std::span<const std::uint8_t> words) {
  out.push_back(tag);
  out.push_back(static_cast<std::uint8_t>(words.size() / 32));
  out.push_back(static_cast<std::uint8_t>(words.size() % 32));
  out.insert(out.end(), words.begin(), words.end());
}

void put_bytes(std::vector<std::uint8_t>& out, Tag tag, std::span<const std::uint8_t> bytes) {
  auto words = bech32::to_words(bytes);
  put_field(out, tag, words);
}

std::string amount_text(protocol::Msat amount) {
  std::uint64_t msat = amount.value();
  struct Unit {
    std::uint64_t msat;
    const char* suffix;
  };
  for (Unit u :
       {Unit{100'000'000'000, ""}, Unit{100'000'000, "m"}, Unit{100'000, "u"}, Unit{100, "n"}}) {
    if (msat % u.msat == 0) return std::to_string(msat / u.msat) + u.suffix;
  }
  return std::to_string(msat * 10) + "p";
}

}  // namespace

Result<std::string> encode(Invoice& inv, const std::array<std::uint8_t, 32>& node_secret) {
  if (inv.network != "bc" && inv.network != "tb" && inv.network != "tbs" && inv.network != "bcrt")
    return bad("unknown network '" + inv.network + "'");
  if (inv.amount && inv.amount->value() == 0) return bad("an amount must be at least 1 msat");
  if (inv.description.has_value() == inv.description_hash.has_value())
    return bad("an invoice has a description or its hash, exactly one");
  if (inv.timestamp >> 35) return bad("the timestamp does not fit 35 bits");
  // A field's length is 10 bits: at most 1023 words, 639 bytes.
  constexpr std::size_t kMaxFieldBytes = 1023 * 5 / 8;
  if (inv.description && inv.description->size() > kMaxFieldBytes)
    return bad("a description is at most 639 bytes (use a description hash)");
  if (inv.payment_metadata && inv.payment_metadata->size() > kMaxFieldBytes)
    return bad("payment metadata is at most 639 bytes");
  if (!inv.feature_bits.empty() &&
      *std::max_element(inv.feature_bits.begin(), inv.feature_bits.end()) >= 1023 * 5)
    return bad("a feature bit is beyond what the 9 field holds");
  const secp256k1_context* ctx = secp_context();
  secp256k1_pubkey key;
  if (secp256k1_ec_pubkey_create(ctx, &key, node_secret.data()) != 1)
    return bad("the node key is not a secret key");
  std::size_t key_len = inv.payee.size();
  secp256k1_ec_pubkey_serialize(ctx, inv.payee.data(), &key_len, &key, SECP256K1_EC_COMPRESSED);

  std::string hrp = "ln" + inv.network + (inv.amount ? amount_text(*inv.amount) : "");
  std::vector<std::uint8_t> data;
  put_integer(data, inv.timestamp, kTimestampWords);
  put_bytes(data, kPaymentSecret, inv.payment_secret);
  put_bytes(data, kPaymentHash, inv.payment_hash);
  if (inv.description) {
    std::span<const std::uint8_t> text(
        reinterpret_cast<const std::uint8_t*>(inv.description->data()), inv.description->size());
    put_bytes(data, kDescription, text);
  } else {
    put_bytes(data, kDescriptionHash, *inv.description_hash);
  }
  if (inv.expiry_seconds != 3600) {
    std::vector<std::uint8_t> w;
    put_integer(w, inv.expiry_seconds, words_for(inv.expiry_seconds));
    put_field(data, kExpiry, w);
  }
  if (inv.min_final_cltv_expiry_delta) {
    std::vector<std::uint8_t> w;
    put_integer(w, *inv.min_final_cltv_expiry_delta, words_for(*inv.min_final_cltv_expiry_delta));
    put_field(data, kMinFinalCltv, w);
  }
  if (!inv.feature_bits.empty()) {
    unsigned top = *std::max_element(inv.feature_bits.begin(), inv.feature_bits.end());
    std::vector<std::uint8_t> w(top / 5 + 1, 0);
    for (unsigned bit : inv.feature_bits)
      w[w.size() - 1 - bit / 5] |= static_cast<std::uint8_t>(1u << (bit % 5));
    put_field(data, kFeatures, w);
  }
  if (inv.payment_metadata) put_bytes(data, kPaymentMetadata, *inv.payment_metadata);
  if (inv.payee_in_invoice) put_bytes(data, kPayee, inv.payee);

  std::vector<std::uint8_t> signed_bytes(hrp.begin(), hrp.end());
  auto packed = pack(data);
  signed_bytes.insert(signed_bytes.end(), packed.begin(), packed.end());
  auto digest = sha256(std::span<const std::uint8_t>(signed_bytes));
  std::copy_n(digest.data(), 32, inv.signing_hash.begin());
  secp256k1_ecdsa_recoverable_signature sig;
  if (secp256k1_ecdsa_sign_recoverable(ctx, &sig, inv.signing_hash.data(), node_secret.data(),
                                       nullptr, nullptr) != 1)
    return bad("signing failed");
  std::array<std::uint8_t, 65> raw{};
  secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, raw.data(), &inv.recovery_id, &sig);
  std::copy_n(raw.begin(), 64, inv.signature.begin());
  raw[64] = static_cast<std::uint8_t>(inv.recovery_id);
  auto sig_words = bech32::to_words(raw);
  data.insert(data.end(), sig_words.begin(), sig_words.end());
  std::string text = bech32::encode(hrp, data);
  if (text.size() > kMaxLength)
    return bad("the invoice would be longer than " + std::to_string(kMaxLength) + " characters");
  return text;
}

}  // namespace fedai::bolt11
