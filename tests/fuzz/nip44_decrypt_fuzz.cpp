// NIP-44 decryption of arbitrary bytes under a fixed conversation key: must never crash or read
// out of bounds, and every rejection carries an `invalid:` reason. Three uses of each input:
//   1. as a payload, decrypted as it is (what any relay or peer can send);
//   2. as a padded plaintext block sealed with a valid MAC, so the padding checks that only run
//      after the MAC passes are fuzzed too (what a peer holding the conversation key can send);
//   3. when short, as a plaintext: encrypt then decrypt must give it back exactly.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/nostr/nip44.h"
#include "core/nostr/sha256.h"
#include "core/util/base64.h"

namespace {

using fedai::nip44::ConversationKey;

const ConversationKey& fuzz_key() {
  static const auto key = *ConversationKey::from_hex(
      "c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d");
  return key;
}

void check_rejection(const fedai::Error& error) {
  if (error.code != fedai::ErrorCode::invalid || error.message.empty()) __builtin_trap();
}

// version 2 || nonce || ChaCha20(block) || HMAC(nonce || ciphertext): a payload whose MAC is
// right whatever the block holds.
std::string seal(std::string_view block, const fedai::Bytes32& nonce) {
  auto keys = fedai::nip44::message_keys(fuzz_key(), nonce);
  std::vector<std::uint8_t> raw{fedai::nip44::kVersion};
  raw.insert(raw.end(), nonce.bytes.begin(), nonce.bytes.end());
  raw.insert(raw.end(), block.begin(), block.end());
  fedai::nip44::detail::chacha20_xor(keys, {raw.data() + 33, block.size()});
  auto mac = fedai::hmac_sha256(keys.hmac_key, {raw.data() + 1, raw.size() - 1});
  raw.insert(raw.end(), mac.bytes.begin(), mac.bytes.end());
  return fedai::base64::encode(raw);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto& key = fuzz_key();
  fedai::Bytes32 nonce;  // taken from the input, so that runs are reproducible
  for (std::size_t i = 0; i < size && i < nonce.size; ++i) nonce.bytes[i] = data[i];

  // 1. The input as a payload.
  auto decrypted = fedai::nip44::decrypt(input, key);
  if (!decrypted)
    check_rejection(decrypted.error());
  else if (decrypted->empty())
    __builtin_trap();  // NIP-44 plaintexts are at least one byte

  // 2. The input as the padded block under a valid MAC (34 bytes: the smallest ciphertext).
  if (size >= 34) {
    auto opened = fedai::nip44::decrypt(seal(input, nonce), key);
    if (!opened) {
      check_rejection(opened.error());
      if (opened.error().message != "NIP-44 padding is malformed") __builtin_trap();
    } else {
      // Accepted: the plaintext sits right after a 2- or 6-byte prefix.
      std::size_t prefix = (data[0] == 0 && data[1] == 0) ? 6 : 2;
      if (opened->empty() || input.substr(prefix, opened->size()) != *opened ||
          size != prefix + fedai::nip44::calc_padded_len(opened->size()))
        __builtin_trap();
    }
  }

  // 3. The input as a plaintext.
  if (size >= 1 && size <= 4096) {
    auto payload = fedai::nip44::encrypt(input, key, nonce);
    if (!payload) __builtin_trap();
    auto back = fedai::nip44::decrypt(*payload, key);
    if (!back || *back != input) __builtin_trap();
  }
  return 0;
}
