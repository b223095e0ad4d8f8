// fedai nip44 encrypt | decrypt
#include <openssl/crypto.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "agents/cli/cli.h"
#include "core/nostr/key_text.h"
#include "core/nostr/nip44.h"
#include "core/util/ascii.h"

namespace fedai::cli {
namespace {

struct Nip44Options {
  KeySource source;
  std::string peer;  // --to or --from
  bool jsonl = false;
};

// The conversation key, wiped when the command is done with it.
class ConversationKeyHolder {
 public:
  explicit ConversationKeyHolder(const nip44::ConversationKey& key) : key_(key) {}
  ~ConversationKeyHolder() { OPENSSL_cleanse(key_.data(), key_.size); }
  ConversationKeyHolder(const ConversationKeyHolder&) = delete;
  ConversationKeyHolder& operator=(const ConversationKeyHolder&) = delete;
  const nip44::ConversationKey& get() const { return key_; }

 private:
  nip44::ConversationKey key_;
};

std::unique_ptr<ConversationKeyHolder> conversation_with(const Nip44Options& opts,
                                                         const char* flag) {
  auto peer = parse_public_key(trim(opts.peer));
  if (!peer)
    throw CommandError(std::string(flag) + " is not a public key: " + peer.error().message);
  SecretKey secret = resolve_secret_key(opts.source);
  auto key = nip44::conversation_key(secret, *peer);
  if (!key) throw CommandError(key.error().to_string());
  return std::make_unique<ConversationKeyHolder>(*key);
}

// All of stdin, byte for byte.
std::string read_all_stdin() {
  std::string data;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) data.append(buf, n);
  if (std::ferror(stdin)) throw CommandError("cannot read stdin");
  return data;
}

std::string as_json_string(const std::string& bytes) {
  return nlohmann::json(bytes).dump(-1, ' ', /*ensure_ascii=*/false,
                                    nlohmann::json::error_handler_t::replace);
}

int encrypt_all(const nip44::ConversationKey& key) {
  std::string plaintext = read_all_stdin();
  auto payload = nip44::encrypt(plaintext, key);
  OPENSSL_cleanse(plaintext.data(), plaintext.size());
  if (!payload) throw CommandError(payload.error().to_string());
  std::cout << *payload << '\n';
  std::cout.flush();
  return 0;
}

int encrypt_lines(const nip44::ConversationKey& key) {
  std::string line;
  int failures = 0;
  for (std::size_t n = 1; std::getline(std::cin, line); ++n) {
    if (trim(line).empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    Result<std::string> payload = j.is_string()
                                      ? nip44::encrypt(j.get_ref<const std::string&>(), key)
                                      : Result<std::string>(invalid("line is not a JSON string"));
    if (payload) {
      std::cout << *payload << '\n';
    } else {
      std::cout << "null\n";
      std::cerr << "line " << n << ": " << payload.error().to_string() << "\n";
      ++failures;
    }
  }
  std::cout.flush();
  return failures == 0 ? 0 : 1;
}

int decrypt_all(const nip44::ConversationKey& key) {
  std::string input = read_all_stdin();
  auto plaintext = nip44::decrypt(trim(input), key);
  if (!plaintext) throw CommandError(plaintext.error().to_string());
  std::cout.write(plaintext->data(), static_cast<std::streamsize>(plaintext->size()));
  std::cout.flush();
  OPENSSL_cleanse(plaintext->data(), plaintext->size());
  return 0;
}

int decrypt_lines(const nip44::ConversationKey& key) {
  std::string line;
  int failures = 0;
  for (std::size_t n = 1; std::getline(std::cin, line); ++n) {
    std::string_view payload = trim(line);
    if (payload.empty()) continue;
    auto plaintext = nip44::decrypt(payload, key);
    if (plaintext) {
      std::cout << as_json_string(*plaintext) << '\n';
      OPENSSL_cleanse(plaintext->data(), plaintext->size());
    } else {
      std::cout << "null\n";
      std::cerr << "line " << n << ": " << plaintext.error().to_string() << "\n";
      ++failures;
    }
  }
  std::cout.flush();
  return failures == 0 ? 0 : 1;
}

}  // namespace

void add_nip44_commands(CLI::App& app, Action& action) {
  auto* nip44_cmd = app.add_subcommand(
      "nip44",
      "Encrypt and decrypt NIP-44 v2 payloads between your key and a peer's public key.\n"
      "Follows NIP-44 as amended in 2026 (nips PR #1907): plaintexts from 1 byte up to\n"
      "4294967295 bytes; those of 65536 bytes or more use the 6-byte length prefix, which\n"
      "implementations older than that change cannot read.");
  nip44_cmd->require_subcommand(1);

  auto* enc = nip44_cmd->add_subcommand(
      "encrypt",
      "Encrypt stdin to --to. Without --jsonl, all of stdin is one plaintext, taken byte for\n"
      "byte (a trailing newline is part of it; use printf or echo -n to leave it out); prints\n"
      "the base64 payload and a newline. An empty plaintext is refused (NIP-44 minimum is 1\n"
      "byte).\n"
      "With --jsonl, each stdin line is a JSON string holding one plaintext (its UTF-8 bytes\n"
      "are encrypted); prints one payload per line. Blank lines are skipped. A line that fails\n"
      "prints `null` so output lines stay aligned with input lines, its reason goes to stderr\n"
      "as `line N: REASON`, and the exit status is 1.\n"
      "A fresh random nonce is used for every payload.");
  auto enc_opts = std::make_shared<Nip44Options>();
  add_key_options(*enc, enc_opts->source);
  enc->add_option("--to", enc_opts->peer, "Recipient's public key: npub1... or 64 hex digits")
      ->required();
  enc->add_flag("--jsonl", enc_opts->jsonl, "One JSON-string plaintext per stdin line");
  enc->callback([&action, enc_opts] {
    action = [enc_opts] {
      auto key = conversation_with(*enc_opts, "--to");
      return enc_opts->jsonl ? encrypt_lines(key->get()) : encrypt_all(key->get());
    };
  });

  auto* dec = nip44_cmd->add_subcommand(
      "decrypt",
      "Decrypt NIP-44 v2 payloads from --from read on stdin. Without --jsonl, stdin is one\n"
      "payload (surrounding whitespace is ignored); prints the plaintext bytes exactly, with\n"
      "no newline added. On failure prints `fedai: REASON` (e.g. `invalid: NIP-44 MAC\n"
      "mismatch`) on stderr and exits 1.\n"
      "With --jsonl, each stdin line is one payload; prints each plaintext as a JSON string\n"
      "on its own line. Bytes that are not valid UTF-8 cannot appear in a JSON string: each\n"
      "invalid sequence is replaced by U+FFFD, so use the plain mode for binary plaintexts.\n"
      "Blank lines are skipped. A line that fails prints `null` on stdout and\n"
      "`line N: REASON` on stderr, and the exit status is 1.");
  auto dec_opts = std::make_shared<Nip44Options>();
  add_key_options(*dec, dec_opts->source);
  dec->add_option("--from", dec_opts->peer, "Sender's public key: npub1... or 64 hex digits")
      ->required();
  dec->add_flag("--jsonl", dec_opts->jsonl, "One payload per stdin line; JSON strings out");
  dec->callback([&action, dec_opts] {
    action = [dec_opts] {
      auto key = conversation_with(*dec_opts, "--from");
      return dec_opts->jsonl ? decrypt_lines(key->get()) : decrypt_all(key->get());
    };
  });
}

}  // namespace fedai::cli
