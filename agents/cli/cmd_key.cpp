// fedai key new | show
#include <sys/stat.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>

#include "agents/cli/cli.h"
#include "core/nostr/key_text.h"
#include "core/nostr/nip19.h"

namespace fedai::cli {
namespace {

void print_public(const PublicKey& pk) {
  std::cout << "npub: " << nip19::encode_npub(pk) << "\n"
            << "hex:  " << pk.hex() << "\n";
}

// Writes the nsec to a new file only its owner can read; refuses to overwrite.
void write_key_file(const std::string& path, const SecretKey& secret) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw CommandError("cannot create " + path + ": " + std::strerror(errno));
  std::string line = nip19::encode_nsec(secret) + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = (::fsync(fd) == 0) && ok;
  ::close(fd);
  if (!ok) throw CommandError("cannot write " + path);
}

}  // namespace

void add_key_commands(CLI::App& app, Action& action) {
  auto* key = app.add_subcommand("key", "Create and inspect Nostr keys");
  key->require_subcommand(1);

  auto* make = key->add_subcommand(
      "new", "Create a new secret key; prints it (nsec) and its public key (npub and hex)");
  auto out_file = std::make_shared<std::string>();
  make->add_option("--out", *out_file,
                   "Write the nsec to this new file (mode 0600) instead of printing it");
  make->callback([&action, out_file] {
    action = [out_file] {
      Keypair keys = Keypair::generate();
      if (out_file->empty()) {
        std::cout << "nsec: " << nip19::encode_nsec(keys.secret_key()) << "\n";
      } else {
        write_key_file(*out_file, keys.secret_key());
        std::cout << "wrote: " << *out_file << "\n";
      }
      print_public(keys.public_key());
      return 0;
    };
  });

  auto* show = key->add_subcommand(
      "show", "Print the public key (npub and hex) of a secret key, or convert an npub to hex");
  auto text = std::make_shared<std::string>();
  auto source = std::make_shared<KeySource>();
  show->add_option("KEY", *text,
                   "nsec, 64 hex digits (a secret key) or npub; if omitted, --key, --key-file or "
                   "FEDAI_KEY");
  add_key_options(*show, *source);
  show->callback([&action, text, source] {
    action = [text, source] {
      if (text->starts_with("npub1") || text->starts_with("NPUB1")) {
        auto pk = parse_public_key(*text);
        if (!pk) throw CommandError("not a public key: " + pk.error().message);
        print_public(*pk);
        return 0;
      }
      KeySource s = *source;
      if (!text->empty()) s.key = *text;
      print_public(Keypair(resolve_secret_key(s)).public_key());
      return 0;
    };
  });
}

}  // namespace fedai::cli
