#include "core/nostr/nip44.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <secp256k1.h>
#include <secp256k1_ecdh.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "core/nostr/sha256.h"
#include "core/util/base64.h"

namespace fedai::nip44 {
namespace {

constexpr std::size_t kNonceSize = 32;
constexpr std::size_t kMacSize = 32;
constexpr std::size_t kShortPrefix = 2;
constexpr std::size_t kExtendedPrefix = 6;
constexpr char kSalt[] = "nip44-v2";

static_assert(kMaxPayloadSize == 5726623156u);
static_assert(kMaxDecodedSize == 4294967367u);
static_assert(kMinPayloadSize == (kMinDecodedSize + 2) / 3 * 4);
static_assert(detail::kBase64EncodeChunk % 3 == 0 && detail::kBase64DecodeChunk % 4 == 0 &&
              detail::kChaChaChunk % 64 == 0);

// Wipes a buffer of secrets when it goes out of scope, on every path out.
class Wipe {
 public:
  Wipe(void* p, std::size_t n) : p_(p), n_(n) {}
  ~Wipe() { OPENSSL_cleanse(p_, n_); }
  Wipe(const Wipe&) = delete;
  Wipe& operator=(const Wipe&) = delete;

 private:
  void* p_;
  std::size_t n_;
};

[[noreturn]] void openssl_failure(const char* what) {
  throw std::runtime_error(std::string("OpenSSL: ") + what + " failed");
}

const EVP_CIPHER* chacha20_cipher() {
  static EVP_CIPHER* cipher = [] {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr);
    if (c == nullptr) throw std::runtime_error("OpenSSL: ChaCha20 unavailable");
    return c;
  }();
  return cipher;
}

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// HKDF-SHA256 (RFC 5869) on HmacSha256, which allocates nothing (OpenSSL's EVP_KDF allocates
// several times a derivation, and an agent derives NIP-44 message keys a few times a job).
// Extract: PRK = HMAC(salt, IKM).
void hkdf_extract(std::span<const std::uint8_t> salt, std::span<const std::uint8_t> ikm,
                  std::span<std::uint8_t, 32> prk) {
  auto digest = hmac_sha256(salt, ikm);
  std::memcpy(prk.data(), digest.data(), digest.size);
  OPENSSL_cleanse(digest.data(), digest.size);
}

// Expand: T(i) = HMAC(PRK, T(i-1) || info || i), the output their concatenation (at most 255
// blocks).
void hkdf_expand(std::span<const std::uint8_t> prk, std::span<const std::uint8_t> info,
                 std::span<std::uint8_t> out) {
  Sha256Digest t;
  std::size_t done = 0;
  for (std::uint8_t i = 1; done < out.size(); ++i) {
    HmacSha256 mac(prk);
    if (i > 1) mac.update(t.bytes);
    mac.update(info);
    mac.update({&i, 1});
    t = mac.finish();
    std::size_t n = std::min(out.size() - done, t.size);
    std::memcpy(out.data() + done, t.data(), n);
    done += n;
  }
  OPENSSL_cleanse(t.data(), t.size);
}

// Copies the unhashed x coordinate: NIP-44 feeds it to HKDF-extract itself.
int copy_x(unsigned char* output, const unsigned char* x32, const unsigned char* /*y32*/,
           void* /*data*/) {
  std::memcpy(output, x32, 32);
  return 1;
}

std::uint32_t read_be(const std::uint8_t* p, std::size_t n) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

Error bad_padding() {
  return invalid("NIP-44 padding is malformed");
}

}  // namespace

MessageKeys::~MessageKeys() {
  OPENSSL_cleanse(chacha_key.data(), chacha_key.size());
  OPENSSL_cleanse(chacha_nonce.data(), chacha_nonce.size());
  OPENSSL_cleanse(hmac_key.data(), hmac_key.size());
}

Result<ConversationKey> conversation_key(const SecretKey& our_secret,
                                         const PublicKey& their_public) {
  const auto* ctx = secp_context();
  // The x-only key names the point with even y; as a compressed point that is prefix 0x02.
  std::array<std::uint8_t, 33> compressed{};
  compressed[0] = 0x02;
  std::memcpy(compressed.data() + 1, their_public.data(), 32);
  secp256k1_pubkey point;
  if (secp256k1_ec_pubkey_parse(ctx, &point, compressed.data(), compressed.size()) != 1)
    return invalid("NIP-44 public key is not a point on secp256k1");

  std::array<std::uint8_t, 32> shared_x{};
  Wipe wipe_shared(shared_x.data(), shared_x.size());
  if (secp256k1_ecdh(ctx, shared_x.data(), &point, our_secret.reveal().data(), copy_x, nullptr) !=
      1)
    return invalid("NIP-44 secret key is not a valid secp256k1 scalar");

  ConversationKey key;
  hkdf_extract({reinterpret_cast<const std::uint8_t*>(kSalt), sizeof kSalt - 1}, shared_x,
               std::span<std::uint8_t, 32>(key.data(), ConversationKey::size));
  return key;
}

MessageKeys message_keys(const ConversationKey& key, const Bytes32& nonce) {
  std::array<std::uint8_t, 76> okm{};
  Wipe wipe_okm(okm.data(), okm.size());
  hkdf_expand(key.span(), nonce.span(), okm);
  MessageKeys keys;
  std::memcpy(keys.chacha_key.data(), okm.data(), 32);
  std::memcpy(keys.chacha_nonce.data(), okm.data() + 32, 12);
  std::memcpy(keys.hmac_key.data(), okm.data() + 44, 32);
  return keys;
}

std::size_t calc_padded_len(std::size_t unpadded) {
  if (unpadded > kMaxPlaintextSize) return 0;
  if (unpadded <= 32) return 32;
  // 1 << (floor(log2(unpadded - 1)) + 1): the power of two above unpadded - 1.
  const std::size_t next_power = std::size_t{1} << std::bit_width(unpadded - 1);
  const std::size_t chunk = next_power <= 256 ? 32 : next_power / 8;
  return chunk * ((unpadded - 1) / chunk + 1);
}

namespace detail {

std::string base64_encode(std::span<const std::uint8_t> bytes, std::size_t chunk) {
  if (chunk == 0 || chunk % 3 != 0) throw std::invalid_argument("base64 chunk: multiple of 3");
  if (bytes.size() <= chunk) return base64::encode(bytes);
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t at = 0; at < bytes.size(); at += chunk)
    out += base64::encode(bytes.subspan(at, std::min(chunk, bytes.size() - at)));
  return out;
}

Result<std::vector<std::uint8_t>> base64_decode(std::string_view text, std::size_t chunk) {
  if (chunk == 0 || chunk % 4 != 0) throw std::invalid_argument("base64 chunk: multiple of 4");
  if (text.size() <= chunk) return base64::decode(text);
  if (text.size() % 4 != 0) return invalid("base64 length is not a multiple of 4");
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t at = 0; at < text.size(); at += chunk) {
    std::string_view part = text.substr(at, chunk);
    // Padding may only end the whole text; a chunk boundary must not hide it.
    if (at + part.size() < text.size() && part.back() == '=')
      return invalid("base64 has '=' before the end");
    auto decoded = base64::decode(part);
    if (!decoded) return decoded.error();
    out.insert(out.end(), decoded->begin(), decoded->end());
  }
  return out;
}

void chacha20_xor(const MessageKeys& keys, std::span<std::uint8_t> data, std::size_t chunk) {
  if (chunk == 0 || chunk % 64 != 0 || chunk > (std::size_t{1} << 30))
    throw std::invalid_argument("chacha20 chunk: multiple of 64, at most 1 GiB");
  // OpenSSL's ChaCha20 IV: a 32-bit little-endian block counter (0), then the 96-bit nonce.
  std::array<std::uint8_t, 16> iv{};
  Wipe wipe_iv(iv.data(), iv.size());
  std::memcpy(iv.data() + 4, keys.chacha_nonce.data(), keys.chacha_nonce.size());
  // A context per thread with the cipher set once: initialised again without naming the cipher,
  // it only takes the new key and IV (naming it would allocate the cipher's state anew). The
  // last message's key stays in it until the next message's replaces it.
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx = [] {
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> c(EVP_CIPHER_CTX_new());
    if (!c || EVP_EncryptInit_ex2(c.get(), chacha20_cipher(), nullptr, nullptr, nullptr) != 1)
      openssl_failure("ChaCha20 setup");
    return c;
  }();
  if (EVP_EncryptInit_ex2(ctx.get(), nullptr, keys.chacha_key.data(), iv.data(), nullptr) != 1)
    openssl_failure("ChaCha20 init");
  for (std::size_t at = 0; at < data.size(); at += chunk) {
    const std::size_t n = std::min(chunk, data.size() - at);
    int out_len = 0;
    if (EVP_EncryptUpdate(ctx.get(), data.data() + at, &out_len, data.data() + at,
                          static_cast<int>(n)) != 1 ||
        static_cast<std::size_t>(out_len) != n)
      openssl_failure("ChaCha20");
  }
}

}  // namespace detail

Result<std::string> encrypt(std::string_view plaintext, const ConversationKey& key) {
  auto random = random_bytes32();
  Bytes32 nonce = Bytes32::from_span(random);
  return encrypt(plaintext, key, nonce);
}

Result<std::string> encrypt(std::string_view plaintext, const ConversationKey& key,
                            const Bytes32& nonce) {
  const std::size_t len = plaintext.size();
  if (len < kMinPlaintextSize) return invalid("NIP-44 plaintext is empty");
  if (len > kMaxPlaintextSize)
    return invalid("NIP-44 plaintext is longer than " + std::to_string(kMaxPlaintextSize) +
                   " bytes");
  const MessageKeys keys = message_keys(key, nonce);

  // version || nonce || ChaCha20(prefix || plaintext || zeros) || HMAC(nonce || ciphertext)
  const std::size_t prefix = len >= kExtendedPrefixThreshold ? kExtendedPrefix : kShortPrefix;
  const std::size_t ct_len = prefix + calc_padded_len(len);
  std::vector<std::uint8_t> raw(1 + kNonceSize + ct_len + kMacSize, 0);
  raw[0] = kVersion;
  std::memcpy(raw.data() + 1, nonce.data(), kNonceSize);
  std::uint8_t* padded = raw.data() + 1 + kNonceSize;
  const auto len32 = static_cast<std::uint32_t>(len);
  if (prefix == kShortPrefix) {
    padded[0] = static_cast<std::uint8_t>(len32 >> 8);
    padded[1] = static_cast<std::uint8_t>(len32);
  } else {  // [0x00, 0x00][u32 big-endian]
    for (int i = 0; i < 4; ++i) padded[2 + i] = static_cast<std::uint8_t>(len32 >> (24 - 8 * i));
  }
  std::memcpy(padded + prefix, plaintext.data(), len);
  std::span<std::uint8_t> ciphertext(padded, ct_len);
  detail::chacha20_xor(keys, ciphertext);
  auto mac = hmac_sha256(keys.hmac_key, {raw.data() + 1, kNonceSize + ct_len});
  std::memcpy(raw.data() + 1 + kNonceSize + ct_len, mac.data(), kMacSize);
  return detail::base64_encode(raw);
}

Result<std::string> decrypt(std::string_view payload, const ConversationKey& key) {
  if (payload.empty()) return invalid("NIP-44 payload is empty");
  if (payload[0] == '#')
    return invalid("NIP-44 payload uses an unsupported encoding ('#': a future version)");
  if (payload.size() < kMinPayloadSize || payload.size() > kMaxPayloadSize)
    return invalid("NIP-44 payload length " + std::to_string(payload.size()) + " is outside " +
                   std::to_string(kMinPayloadSize) + ".." + std::to_string(kMaxPayloadSize));
  auto decoded = detail::base64_decode(payload);
  if (!decoded) return invalid("NIP-44 payload is not base64: " + decoded.error().message);
  std::vector<std::uint8_t>& data = *decoded;
  const std::size_t dlen = data.size();
  if (dlen < kMinDecodedSize || dlen > kMaxDecodedSize)
    return invalid("NIP-44 decoded payload length " + std::to_string(dlen) + " is outside " +
                   std::to_string(kMinDecodedSize) + ".." + std::to_string(kMaxDecodedSize));
  if (data[0] != kVersion) return invalid("unknown NIP-44 version " + std::to_string(data[0]));

  Bytes32 nonce = Bytes32::from_span(std::span<const std::uint8_t, 32>(data.data() + 1, 32));
  const std::size_t ct_len = dlen - 1 - kNonceSize - kMacSize;  // >= 34 by the bound above
  std::uint8_t* ct = data.data() + 1 + kNonceSize;
  const std::uint8_t* mac = ct + ct_len;

  const MessageKeys keys = message_keys(key, nonce);
  auto expected = hmac_sha256(keys.hmac_key, {data.data() + 1, kNonceSize + ct_len});
  if (CRYPTO_memcmp(expected.data(), mac, kMacSize) != 0) return invalid("NIP-44 MAC mismatch");

  std::span<std::uint8_t> padded(ct, ct_len);
  detail::chacha20_xor(keys, padded);
  Wipe wipe_padded(padded.data(), padded.size());

  // [u16 len] or [0x00 0x00][u32 len] (len >= 65536), the plaintext, then zeros up to
  // calc_padded_len(len). ct_len >= 34, so both prefixes are inside the buffer.
  std::size_t prefix = kShortPrefix;
  std::size_t len = read_be(padded.data(), 2);
  if (len == 0) {
    prefix = kExtendedPrefix;
    len = read_be(padded.data() + 2, 4);
    // A length the 2-byte prefix could carry has only that encoding.
    if (len < kExtendedPrefixThreshold) return bad_padding();
  }
  if (len > ct_len - prefix || ct_len != prefix + calc_padded_len(len)) return bad_padding();
  return std::string(reinterpret_cast<const char*>(padded.data() + prefix), len);
}

}  // namespace fedai::nip44
