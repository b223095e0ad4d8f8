// NIP-44 version 2: encrypted payloads between two Nostr keys (secp256k1 ECDH, HKDF-SHA256,
// ChaCha20, HMAC-SHA256, base64), through libsecp256k1 and OpenSSL 3.
//
// This follows NIP-44 as amended on 2026-06-28 (nostr-protocol/nips PR #1907): a plaintext of
// 65536 bytes or more carries a 6-byte length prefix [0x00,0x00][u32 big-endian length]
// instead of the 2-byte u16 one, so the largest plaintext is 2^32-1 bytes. Implementations
// from before that change reject anything over 65535 bytes; payloads up to that size are
// byte-for-byte the same under both.
//
// Maximum plaintext (docs/decisions.md, "NIP-44"): the codec accepts the whole range the spec
// allows, 1..4294967295 bytes, so that fedai reads whatever a conforming peer sends. It
// allocates only in proportion to the payload it is handed (about 2x the payload at peak), so
// bounding memory is the transport's job: the relay and HTTP layers cap message sizes before a
// payload ever reaches decrypt().
//
// Every failure is an `invalid:` Error with a precise reason; nothing a peer sends can crash
// decrypt() or make it read out of bounds.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/nostr/keys.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace fedai::nip44 {

static_assert(sizeof(std::size_t) >= 8, "NIP-44 sizes up to 2^32+71 bytes need a 64-bit size_t");

// The long-term key between two parties: conversation_key(a, B) == conversation_key(b, A).
// It is secret: callers should keep it no longer than they need it.
using ConversationKey = FixedBytes<32, struct ConversationKeyTag>;

inline constexpr std::uint8_t kVersion = 2;
inline constexpr std::size_t kMinPlaintextSize = 1;
inline constexpr std::size_t kMaxPlaintextSize = 0xFFFFFFFFu;  // 2^32 - 1
// Plaintexts at least this long use the 6-byte prefix; shorter ones the 2-byte prefix.
inline constexpr std::size_t kExtendedPrefixThreshold = 65536;
// Decoded payload: version (1) + nonce (32) + ciphertext + MAC (32). The ciphertext is the
// length prefix plus calc_padded_len(plaintext): 2 + 32 at least, 6 + 2^32 at most.
inline constexpr std::size_t kMinDecodedSize = 1 + 32 + 2 + 32 + 32;            // 99
inline constexpr std::size_t kMaxDecodedSize = 1 + 32 + 6 + 0x100000000u + 32;  // 2^32+71
inline constexpr std::size_t kMinPayloadSize = 132;                             // base64 of 99
inline constexpr std::size_t kMaxPayloadSize = (kMaxDecodedSize + 2) / 3 * 4;   // 5726623156

// ECDH of `their_public` by `our_secret` (the unhashed 32-byte x coordinate of the shared point),
// then HKDF-extract(salt = "nip44-v2"). A public key that is not on the curve is `invalid:`.
Result<ConversationKey> conversation_key(const SecretKey& our_secret,
                                         const PublicKey& their_public);

// The per-message keys: HKDF-expand(PRK = conversation key, info = nonce, L = 76), sliced.
// Wiped when destroyed.
struct MessageKeys {
  std::array<std::uint8_t, 32> chacha_key{};
  std::array<std::uint8_t, 12> chacha_nonce{};
  std::array<std::uint8_t, 32> hmac_key{};
  ~MessageKeys();
};
MessageKeys message_keys(const ConversationKey& key, const Bytes32& nonce);

// The padded length of a plaintext of `unpadded` bytes (without the length prefix): 32 up to
// 32 bytes, then multiples of a chunk that grows with the power of two above the length.
// Defined for 0..kMaxPlaintextSize (0 gives 32); returns 0 above that.
std::size_t calc_padded_len(std::size_t unpadded);

// Encrypts with a fresh random 32-byte nonce. Fails only for an empty plaintext or one longer
// than kMaxPlaintextSize. The plaintext is any bytes; Nostr puts UTF-8 text in it.
Result<std::string> encrypt(std::string_view plaintext, const ConversationKey& key);
// With a caller-chosen nonce, for test vectors. Never reuse a nonce under one conversation key.
Result<std::string> encrypt(std::string_view plaintext, const ConversationKey& key,
                            const Bytes32& nonce);

// Checks, in order: the payload is not empty and does not start with '#' (a future,
// non-base64 version), its length, strict base64, the decoded length, the version byte (2),
// the MAC in constant time, and only then decrypts and checks the padding. The result is the
// plaintext bytes exactly, which need not be valid UTF-8.
Result<std::string> decrypt(std::string_view payload, const ConversationKey& key);

// Building blocks exposed for tests: OpenSSL takes `int` lengths, so data larger than 2 GiB is
// processed in chunks. The defaults are what encrypt() and decrypt() use.
namespace detail {
inline constexpr std::size_t kBase64EncodeChunk = std::size_t{3} << 28;  // bytes, multiple of 3
inline constexpr std::size_t kBase64DecodeChunk = std::size_t{4} << 28;  // chars, multiple of 4
inline constexpr std::size_t kChaChaChunk = std::size_t{1} << 30;        // multiple of 64

std::string base64_encode(std::span<const std::uint8_t> bytes,
                          std::size_t chunk = kBase64EncodeChunk);
Result<std::vector<std::uint8_t>> base64_decode(std::string_view text,
                                                std::size_t chunk = kBase64DecodeChunk);
// XORs `data` in place with the ChaCha20 (RFC 8439) key stream, block counter starting at 0.
void chacha20_xor(const MessageKeys& keys, std::span<std::uint8_t> data,
                  std::size_t chunk = kChaChaChunk);
}  // namespace detail

}  // namespace fedai::nip44
