// fedai nip19 encode | decode: NIP-19 bech32 entities (npub, nsec, note) and TLV pointers
// (nprofile, nevent, naddr), for people and for scripts.
//
// decode prints one JSON object per input; encode --jsonl reads the same objects back, so
// `fedai nip19 decode X | fedai nip19 encode --jsonl` prints X again (in fedai's TLV order).
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "agents/cli/cli.h"
#include "core/nostr/nip19.h"
#include "core/util/ascii.h"

namespace fedai::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::int64_t kMaxPointerKind = 0xFFFFFFFF;  // NIP-19 stores kinds as 32-bit integers

// A public key as people paste it: 64 hex digits (either case) or an npub.
Result<PublicKey> parse_pubkey_text(std::string_view text, std::string_view what) {
  text = trim(text);
  if (istarts_with(text, "npub1")) {
    auto pk = nip19::decode_npub(text);
    if (!pk) return invalid(std::string(what) + ": " + pk.error().message);
    return *pk;
  }
  if (auto pk = PublicKey::from_hex(text, /*allow_upper=*/true)) return *pk;
  return invalid(std::string(what) + " must be 64 hex digits or an npub");
}

// An event id: 64 hex digits (either case) or a note.
Result<EventId> parse_id_text(std::string_view text, std::string_view what) {
  text = trim(text);
  if (istarts_with(text, "note1")) {
    auto id = nip19::decode_note(text);
    if (!id) return invalid(std::string(what) + ": " + id.error().message);
    return *id;
  }
  if (auto id = EventId::from_hex(text, /*allow_upper=*/true)) return *id;
  return invalid(std::string(what) + " must be 64 hex digits or a note");
}

Result<SecretKey> parse_secret_hex(std::string_view text) {
  if (auto sk = SecretKey::from_hex(trim(text))) return *sk;
  return invalid("nsec needs 64 hex digits of a valid secp256k1 secret key");
}

// ---- decode ----------------------------------------------------------------------------------

Json to_json(const nip19::Entity& entity) {
  struct Visitor {
    Json operator()(const nip19::Npub& v) const {
      return Json{{"type", "npub"}, {"hex", v.pubkey.hex()}};
    }
    Json operator()(const nip19::Nsec& v) const {
      return Json{{"type", "nsec"}, {"hex", v.secret.reveal_hex()}};
    }
    Json operator()(const nip19::Note& v) const {
      return Json{{"type", "note"}, {"hex", v.id.hex()}};
    }
    Json operator()(const nip19::ProfilePointer& v) const {
      return Json{{"type", "nprofile"}, {"pubkey", v.pubkey.hex()}, {"relays", v.relays}};
    }
    Json operator()(const nip19::EventPointer& v) const {
      Json j{{"type", "nevent"}, {"id", v.id.hex()}, {"relays", v.relays}};
      if (v.author) j["author"] = v.author->hex();
      if (v.kind) j["kind"] = *v.kind;
      return j;
    }
    Json operator()(const nip19::AddressPointer& v) const {
      return Json{{"type", "naddr"},
                  {"identifier", v.identifier},
                  {"pubkey", v.pubkey.hex()},
                  {"kind", v.kind},
                  {"relays", v.relays}};
    }
  };
  return std::visit(Visitor{}, entity);
}

// One JSON line. Relay hints and identifiers are raw bytes in the TLV: invalid UTF-8 becomes
// U+FFFD, as nostr-tools' TextDecoder does.
std::string dump_line(const Json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace) + "\n";
}

// Decodes one string (a NIP-21 `nostr:` prefix is allowed) to its JSON line.
bool decode_one(std::string_view text, std::string& out) {
  text = trim(text);
  if (istarts_with(text, "nostr:")) text.remove_prefix(6);
  auto entity = nip19::decode(text);
  if (!entity) {
    out = dump_line(Json{{"error", entity.error().to_string()}});
    return false;
  }
  out = dump_line(to_json(*entity));
  return true;
}

int decode_all(const std::vector<std::string>& args) {
  std::size_t total = 0, failed = 0;
  std::string out;
  auto one = [&](std::string_view text) {
    ++total;
    if (!decode_one(text, out)) ++failed;
    std::cout << out;
  };
  if (!args.empty()) {
    for (const auto& a : args) one(a);
  } else {
    std::string line;
    while (std::getline(std::cin, line))
      if (!trim(line).empty()) one(line);
  }
  std::cout.flush();
  if (failed == 0) return 0;
  std::cerr << "fedai: " << failed << " of " << total << " inputs did not decode\n";
  return 1;
}

// ---- encode ----------------------------------------------------------------------------------

void print_or_throw(const Result<std::string>& r) {
  if (!r) throw CommandError("cannot encode: " + r.error().to_string());
  std::cout << *r << "\n";
}

template <class T>
T value_or_throw(Result<T> r) {
  if (!r) throw CommandError(r.error().to_string());
  return std::move(*r);
}

// The JSON object form (what decode prints) to an entity. Unknown fields are refused, so a
// typo such as "relay" for "relays" can't silently drop data.
Result<nip19::Entity> entity_from_json(std::string_view line) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid("malformed JSON");
  if (!j.is_object()) return invalid("expected a JSON object");
  auto type_it = j.find("type");
  if (type_it == j.end() || !type_it->is_string())
    return invalid("missing \"type\" (npub, nsec, note, nprofile, nevent or naddr)");
  const std::string type = type_it->get<std::string>();

  std::vector<std::string_view> allowed;
  if (type == "npub" || type == "nsec" || type == "note")
    allowed = {"type", "hex"};
  else if (type == "nprofile")
    allowed = {"type", "pubkey", "relays"};
  else if (type == "nevent")
    allowed = {"type", "id", "relays", "author", "kind"};
  else if (type == "naddr")
    allowed = {"type", "identifier", "pubkey", "kind", "relays"};
  else
    return invalid("unknown type \"" + type + "\"");
  for (const auto& [key, value] : j.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return invalid("unknown field \"" + key + "\" for " + type);

  auto string_field = [&](const char* name, bool required) -> Result<std::optional<std::string>> {
    auto it = j.find(name);
    if (it == j.end() || (!required && it->is_null())) {
      if (required) return invalid(type + " needs \"" + name + "\"");
      return std::optional<std::string>{};
    }
    if (!it->is_string()) return invalid(std::string("\"") + name + "\" must be a string");
    return std::optional<std::string>{it->get<std::string>()};
  };
  auto kind_field = [&](bool required) -> Result<std::optional<std::uint32_t>> {
    auto it = j.find("kind");
    if (it == j.end() || (!required && it->is_null())) {
      if (required) return invalid(type + " needs \"kind\"");
      return std::optional<std::uint32_t>{};
    }
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > kMaxPointerKind)
      return invalid("\"kind\" must be an integer between 0 and 4294967295");
    return std::optional<std::uint32_t>{static_cast<std::uint32_t>(it->get<std::uint64_t>())};
  };
  auto relays_field = [&]() -> Result<std::vector<std::string>> {
    std::vector<std::string> relays;
    auto it = j.find("relays");
    if (it == j.end() || it->is_null()) return relays;
    if (!it->is_array()) return invalid("\"relays\" must be an array of strings");
    for (const auto& r : *it) {
      if (!r.is_string()) return invalid("\"relays\" must be an array of strings");
      relays.push_back(r.get<std::string>());
    }
    return relays;
  };

  if (type == "npub" || type == "nsec" || type == "note") {
    auto hex = string_field("hex", true);
    if (!hex) return hex.error();
    if (type == "nsec") {
      auto sk = parse_secret_hex(**hex);
      if (!sk) return sk.error();
      return nip19::Entity{nip19::Nsec{*sk}};
    }
    if (type == "npub") {
      auto pk = PublicKey::from_hex(**hex, /*allow_upper=*/true);
      if (!pk) return invalid("npub \"hex\" must be 64 hex digits");
      return nip19::Entity{nip19::Npub{*pk}};
    }
    auto id = EventId::from_hex(**hex, /*allow_upper=*/true);
    if (!id) return invalid("note \"hex\" must be 64 hex digits");
    return nip19::Entity{nip19::Note{*id}};
  }

  auto relays = relays_field();
  if (!relays) return relays.error();
  if (type == "nprofile") {
    auto pk_text = string_field("pubkey", true);
    if (!pk_text) return pk_text.error();
    auto pk = parse_pubkey_text(**pk_text, "\"pubkey\"");
    if (!pk) return pk.error();
    return nip19::Entity{nip19::ProfilePointer{*pk, std::move(*relays)}};
  }
  if (type == "nevent") {
    auto id_text = string_field("id", true);
    if (!id_text) return id_text.error();
    auto id = parse_id_text(**id_text, "\"id\"");
    if (!id) return id.error();
    nip19::EventPointer p{*id, std::move(*relays), std::nullopt, std::nullopt};
    auto author_text = string_field("author", false);
    if (!author_text) return author_text.error();
    if (*author_text) {
      auto author = parse_pubkey_text(**author_text, "\"author\"");
      if (!author) return author.error();
      p.author = *author;
    }
    auto kind = kind_field(false);
    if (!kind) return kind.error();
    p.kind = *kind;
    return nip19::Entity{std::move(p)};
  }
  // naddr
  auto identifier = string_field("identifier", true);
  if (!identifier) return identifier.error();
  auto pk_text = string_field("pubkey", true);
  if (!pk_text) return pk_text.error();
  auto pk = parse_pubkey_text(**pk_text, "\"pubkey\"");
  if (!pk) return pk.error();
  auto kind = kind_field(true);
  if (!kind) return kind.error();
  return nip19::Entity{
      nip19::AddressPointer{std::move(**identifier), *pk, **kind, std::move(*relays)}};
}

int encode_lines() {
  std::size_t total = 0, failed = 0;
  std::string line, out;
  while (std::getline(std::cin, line)) {
    if (trim(line).empty()) continue;
    ++total;
    auto entity = entity_from_json(line);
    Result<std::string> text =
        entity ? nip19::encode(*entity) : Result<std::string>(entity.error());
    if (text) {
      out = *text;
    } else {
      out = text.error().to_string();
      ++failed;
    }
    out += '\n';
    std::cout << out;
  }
  std::cout.flush();
  if (failed == 0) return 0;
  std::cerr << "fedai: " << failed << " of " << total << " lines did not encode\n";
  return 1;
}

constexpr const char* kRelayHelp =
    "Relay hint (a ws:// or wss:// URL, at most 255 bytes); repeat for several";

void add_encode_commands(CLI::App& nip19, Action& action) {
  auto* encode = nip19.add_subcommand(
      "encode",
      "Encode hex keys, ids and pointers as NIP-19 bech32 strings.\n"
      "Give one type (npub, nsec, note, nprofile, nevent, naddr) with its arguments, or --jsonl\n"
      "to encode many: each stdin line is a JSON object in the form 'fedai nip19 decode' prints,\n"
      "e.g. {\"type\":\"nevent\",\"id\":HEX,\"relays\":[URL...],\"author\":HEX,\"kind\":N}, and "
      "each\n"
      "output line is its bech32 string, or 'invalid: REASON' for a bad line (exit status 1).\n"
      "Public keys may be given as hex or npub, event ids as hex or note.");
  encode->require_subcommand(0, 1);
  auto jsonl = std::make_shared<bool>(false);
  encode->add_flag("--jsonl", *jsonl, "Read JSON objects from stdin, one per line (see above)");
  encode->callback([&action, encode, jsonl] {
    bool typed = !encode->get_subcommands().empty();
    if (*jsonl && typed)
      throw CLI::ValidationError("--jsonl", "give either a type or --jsonl, not both");
    if (!*jsonl && !typed)
      throw CLI::ValidationError(
          "choose a type (npub, nsec, note, nprofile, nevent, naddr) or give --jsonl");
    if (*jsonl) action = [] { return encode_lines(); };
  });

  // npub and note: one positional hex argument.
  auto bare = [&](const char* name, const char* help, const char* arg_help, bool is_note) {
    auto* cmd = encode->add_subcommand(name, help);
    auto hex = std::make_shared<std::string>();
    cmd->add_option("HEX", *hex, arg_help)->required();
    cmd->callback([&action, hex, is_note] {
      action = [hex, is_note] {
        if (is_note) {
          auto id = EventId::from_hex(trim(*hex), /*allow_upper=*/true);
          if (!id) throw CommandError("HEX must be 64 hex digits (an event id)", 2);
          std::cout << nip19::encode_note(*id) << "\n";
        } else {
          auto pk = PublicKey::from_hex(trim(*hex), /*allow_upper=*/true);
          if (!pk) throw CommandError("HEX must be 64 hex digits (a public key)", 2);
          std::cout << nip19::encode_npub(*pk) << "\n";
        }
        return 0;
      };
    });
  };
  bare("npub", "Encode a public key (64 hex digits) as npub", "Public key, 64 hex digits", false);
  bare("note", "Encode an event id (64 hex digits) as note", "Event id, 64 hex digits", true);

  auto* nsec = encode->add_subcommand(
      "nsec",
      "Encode a secret key (64 hex digits) as nsec. Without HEX the key comes from --key,\n"
      "--key-file or FEDAI_KEY, which keeps it out of the process list.");
  auto nsec_hex = std::make_shared<std::string>();
  auto source = std::make_shared<KeySource>();
  nsec->add_option("HEX", *nsec_hex, "Secret key, 64 hex digits (visible to other users in ps)");
  add_key_options(*nsec, *source);
  nsec->callback([&action, nsec_hex, source] {
    action = [nsec_hex, source] {
      SecretKey sk = nsec_hex->empty() ? resolve_secret_key(*source)
                                       : value_or_throw(parse_secret_hex(*nsec_hex));
      std::cout << nip19::encode_nsec(sk) << "\n";
      return 0;
    };
  });

  auto* nprofile =
      encode->add_subcommand("nprofile", "Encode a profile pointer: a public key and relay hints");
  auto np_pubkey = std::make_shared<std::string>();
  auto np_relays = std::make_shared<std::vector<std::string>>();
  nprofile->add_option("--pubkey", *np_pubkey, "Public key, hex or npub")->required();
  nprofile->add_option("--relay", *np_relays, kRelayHelp)->allow_extra_args(false);
  nprofile->callback([&action, np_pubkey, np_relays] {
    action = [np_pubkey, np_relays] {
      auto pk = value_or_throw(parse_pubkey_text(*np_pubkey, "--pubkey"));
      print_or_throw(nip19::encode_nprofile({pk, *np_relays}));
      return 0;
    };
  });

  auto* nevent = encode->add_subcommand(
      "nevent",
      "Encode an event pointer: an event id, relay hints, and optionally its author and kind");
  auto ne_id = std::make_shared<std::string>();
  auto ne_author = std::make_shared<std::string>();
  auto ne_relays = std::make_shared<std::vector<std::string>>();
  auto ne_kind = std::make_shared<std::int64_t>(0);
  nevent->add_option("--id", *ne_id, "Event id, hex or note")->required();
  nevent->add_option("--relay", *ne_relays, kRelayHelp)->allow_extra_args(false);
  nevent->add_option("--author", *ne_author, "The event's author, hex or npub");
  auto* ne_kind_opt = nevent->add_option("--kind", *ne_kind, "The event's kind")
                          ->check(CLI::Range(std::int64_t{0}, kMaxPointerKind));
  nevent->callback([&action, ne_id, ne_author, ne_relays, ne_kind, ne_kind_opt] {
    bool has_kind = ne_kind_opt->count() > 0;
    action = [ne_id, ne_author, ne_relays, ne_kind, has_kind] {
      nip19::EventPointer p{value_or_throw(parse_id_text(*ne_id, "--id")), *ne_relays, std::nullopt,
                            std::nullopt};
      if (!ne_author->empty()) p.author = value_or_throw(parse_pubkey_text(*ne_author, "--author"));
      if (has_kind) p.kind = static_cast<std::uint32_t>(*ne_kind);
      print_or_throw(nip19::encode_nevent(p));
      return 0;
    };
  });

  auto* naddr = encode->add_subcommand(
      "naddr",
      "Encode an address pointer to an addressable event: its d tag (--identifier, may be\n"
      "empty), author and kind, with relay hints");
  auto na_identifier = std::make_shared<std::string>();
  auto na_pubkey = std::make_shared<std::string>();
  auto na_relays = std::make_shared<std::vector<std::string>>();
  auto na_kind = std::make_shared<std::int64_t>(0);
  naddr
      ->add_option("--identifier,-d", *na_identifier, "The event's d tag; -d \"\" for an empty one")
      ->required();
  naddr->add_option("--pubkey", *na_pubkey, "The event's author, hex or npub")->required();
  naddr->add_option("--kind", *na_kind, "The event's kind")
      ->required()
      ->check(CLI::Range(std::int64_t{0}, kMaxPointerKind));
  naddr->add_option("--relay", *na_relays, kRelayHelp)->allow_extra_args(false);
  naddr->callback([&action, na_identifier, na_pubkey, na_relays, na_kind] {
    action = [na_identifier, na_pubkey, na_relays, na_kind] {
      nip19::AddressPointer p{*na_identifier,
                              value_or_throw(parse_pubkey_text(*na_pubkey, "--pubkey")),
                              static_cast<std::uint32_t>(*na_kind), *na_relays};
      print_or_throw(nip19::encode_naddr(p));
      return 0;
    };
  });
}

}  // namespace

void add_nip19_commands(CLI::App& app, Action& action) {
  auto* nip19 = app.add_subcommand(
      "nip19", "Encode and decode NIP-19 strings (npub, nsec, note, nprofile, nevent, naddr)");
  nip19->require_subcommand(1);

  add_encode_commands(*nip19, action);

  auto* decode = nip19->add_subcommand(
      "decode",
      "Decode NIP-19 strings. Prints one JSON object per string, one per line:\n"
      "  {\"type\":\"npub\",\"hex\":HEX}   (also nsec, note)\n"
      "  {\"type\":\"nprofile\",\"pubkey\":HEX,\"relays\":[URL...]}\n"
      "  {\"type\":\"nevent\",\"id\":HEX,\"relays\":[URL...],\"author\":HEX,\"kind\":N}\n"
      "      (author and kind only when present)\n"
      "  {\"type\":\"naddr\",\"identifier\":D,\"pubkey\":HEX,\"kind\":N,\"relays\":[URL...]}\n"
      "A string that does not decode prints {\"error\":\"invalid: REASON\"} (a bad checksum, an\n"
      "unknown prefix, a wrong length...) and the exit status is 1. Without STRING, reads one\n"
      "string per stdin line (blank lines are skipped). A NIP-21 'nostr:' prefix is accepted.\n"
      "Careful: decoding an nsec prints the secret key in hex.");
  auto strings = std::make_shared<std::vector<std::string>>();
  decode->add_option("STRING", *strings, "NIP-19 strings to decode; if none, read stdin");
  decode->callback([&action, strings] { action = [strings] { return decode_all(*strings); }; });
}

}  // namespace fedai::cli
