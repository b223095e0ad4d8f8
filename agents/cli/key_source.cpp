#include <cstdlib>
#include <fstream>
#include <sstream>

#include "agents/cli/cli.h"
#include "core/nostr/key_text.h"
#include "core/util/ascii.h"

namespace fedai::cli {
namespace {

SecretKey parse_or_throw(const std::string& text, const std::string& where) {
  auto key = parse_secret_key(trim(text));
  if (!key) throw CommandError(where + " is not a secret key: " + key.error().message);
  return *key;
}

}  // namespace

void add_key_options(CLI::App& cmd, KeySource& source) {
  cmd.add_option("--key", source.key,
                 "Secret key, nsec or 64 hex digits (visible to other local users in ps: "
                 "prefer --key-file or FEDAI_KEY)");
  cmd.add_option("--key-file", source.key_file,
                 "File holding the secret key (nsec or hex) on its first line")
      ->check(CLI::ExistingFile);
  cmd.footer("The key may also come from the FEDAI_KEY environment variable.");
}

SecretKey resolve_secret_key(const KeySource& source) {
  if (!source.key.empty()) return parse_or_throw(source.key, "--key");
  if (!source.key_file.empty()) {
    std::ifstream in(source.key_file);
    std::string line;
    if (!in || !std::getline(in, line))
      throw CommandError("cannot read a key from " + source.key_file);
    return parse_or_throw(line, source.key_file);
  }
  if (const char* env = std::getenv("FEDAI_KEY"); env != nullptr && *env != '\0')
    return parse_or_throw(env, "FEDAI_KEY");
  throw CommandError("no secret key: give --key, --key-file or set FEDAI_KEY", 2);
}

}  // namespace fedai::cli
