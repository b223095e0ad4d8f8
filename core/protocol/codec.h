// Shared machinery of the payload codecs (announce.cpp, auction.cpp, data_plane.cpp,
// payment.cpp): writing content objects, reading them field by field with reasons that name the
// kind and the field, checking tags, sealing. Not part of the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/nostr/event.h"
#include "core/nostr/keys.h"
#include "core/nostr/sha256.h"
#include "core/protocol/conversation_keys.h"
#include "core/protocol/kinds.h"
#include "core/protocol/units.h"
#include "core/util/json_reader.h"
#include "core/util/result.h"

namespace fedai::protocol::detail {

// ---- Writing ------------------------------------------------------------------------------------

// Writes {"v":1,...} with fields in the order of the nips' tables. Strings are escaped as
// NIP-01 does, and U+007F as \u007f: the content then never carries a raw DEL (F-01), and every
// JSON reader still decodes the same text.
class ContentWriter {
 public:
  ContentWriter();
  void integer(std::string_view name, std::uint64_t value);
  void string(std::string_view name, std::string_view value);
  void boolean(std::string_view name, bool value);
  void strings(std::string_view name, const std::vector<std::string>& values);
  // A JSON token written as is (a number already in its wire form).
  void raw(std::string_view name, std::string_view token);
  std::string finish() &&;

 private:
  void key(std::string_view name);
  std::string out_;
};

// The DEL refusal of F-01 for a template about to be signed.
Status check_no_del(const EventTemplate& t);

// ---- Reading ------------------------------------------------------------------------------------

struct JsonValue {
  enum class Type { null, boolean, number, string, array, object };
  Type type = Type::null;
  bool boolean = false;
  JsonReader::Number number;
  std::string number_text;  // the token as written
  std::string string;
  bool all_strings = false;  // an array whose elements are all strings
  std::vector<std::string> strings;
};

// A parsed content object: its top-level fields in order. Nested values of unknown fields are
// skipped (validated, not kept). A field named twice is refused: JSON readers disagree on which
// one counts.
class ContentObject {
 public:
  static Result<ContentObject> parse(std::string_view kind, std::string_view json);
  const JsonValue* find(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, JsonValue>> fields_;
};

// Reads typed fields from a ContentObject. The first failure is kept and later reads return
// defaults, so a parser reads every field in table order and checks error() once at the end:
// the reason names the first bad field ("BID price_msat must be an integer").
class FieldReader {
 public:
  FieldReader(std::string_view kind, ContentObject object);

  // "v" must be the integer 1: anything else is `unsupported fedai version N`.
  void version();

  std::uint64_t integer(std::string_view name, std::uint64_t max = kMaxJsonInteger);
  std::optional<std::uint64_t> optional_integer(std::string_view name,
                                                std::uint64_t max = kMaxJsonInteger);
  Msat msat(std::string_view name) { return Msat{integer(name)}; }
  std::optional<Msat> optional_msat(std::string_view name);
  Millis millis(std::string_view name) { return Millis{integer(name)}; }
  UnixSeconds seconds(std::string_view name);
  Tokens tokens(std::string_view name);
  std::string string(std::string_view name);
  std::optional<std::string> optional_string(std::string_view name);
  bool boolean(std::string_view name);
  std::vector<std::string> strings(std::string_view name);
  // A JSON number token, for surge.
  std::string number_token(std::string_view name);

  JobId job_id(std::string_view name);
  CapacityToken capacity_token(std::string_view name);
  std::optional<CapacityToken> optional_capacity_token(std::string_view name);
  Sha256Digest hash(std::string_view name);
  Bytes32 hex32(std::string_view name);
  PrivacyLevel privacy(std::string_view name);
  ProtocolError error_code(std::string_view name);
  std::optional<ProtocolError> optional_error_code(std::string_view name);

  // Generic enum: parse is one of kinds.h's parse functions; `one_of` lists the accepted forms
  // for the reason ("\"ok\", \"partial\" or \"failed\"").
  template <class E, class Parse>
  E enumerated(std::string_view name, Parse parse, std::string_view one_of) {
    std::string s = string(name);
    if (!ok()) return E{};
    auto v = parse(s);
    if (!v) {
      fail(std::string(name) + " must be " + std::string(one_of));
      return E{};
    }
    return *v;
  }

  bool ok() const { return !error_; }
  const std::optional<Error>& error() const { return error_; }
  // Records "<KIND> <what>" as the reason, unless one is recorded already.
  void fail(std::string what);

 private:
  const JsonValue* required(std::string_view name);
  const JsonValue* present(std::string_view name);  // nullptr when absent (or already failed)
  std::optional<std::uint64_t> integer_value(std::string_view name, const JsonValue& v,
                                             std::uint64_t max);
  template <std::size_t N, class Tag>
  FixedBytes<N, Tag> hex_value(std::string_view name, std::string_view what);

  std::string_view kind_;
  ContentObject object_;
  std::optional<Error> error_;
};

// Checks the event's kind, parses `json` (its content, or the plaintext of a sealed content) as
// a content object, and reads "v". Parsers then read fields in table order.
Result<FieldReader> open_content(const Event& e, Kind kind, std::string_view json);

// ---- Validating -------------------------------------------------------------------------------

// Semantic checks shared by builders and parsers, with the same reasons both ways. Keeps the
// first failure.
class Checker {
 public:
  explicit Checker(std::string_view kind) : kind_(kind) {}

  // `what` completes "<KIND> ...": fail("bid_window_ms must be between 50 and 10000").
  void require(bool condition, std::string_view what);
  void amount(std::string_view name, Msat v);
  void duration(std::string_view name, Millis v);
  void time(std::string_view name, UnixSeconds v);
  void model_id(std::string_view name, std::string_view v);
  void job_type(std::string_view name, std::string_view v);
  void instance_id(std::string_view name, std::string_view v);
  void url(std::string_view name, std::string_view v);
  void no_pl3(std::string_view name, PrivacyLevel p);

  Status status() const;

 private:
  // Fails with F-01's DEL reason when v has U+007F (checked before the field's own syntax, so
  // that a builder's refusal says why).
  bool del_free(std::string_view name, std::string_view v);
  std::string_view kind_;
  std::optional<Error> error_;
};

// ---- Tags ---------------------------------------------------------------------------------------

// Reads and checks the tags of one event, naming the kind in reasons. Keeps the first failure.
class TagReader {
 public:
  TagReader(std::string_view kind, const Event& event) : kind_(kind), event_(event) {}

  // The value of the only tag named `name`; nullopt (and a failure when required) when absent;
  // a failure when there are several or it has no value.
  std::optional<std::string> single(std::string_view name, bool required = true);
  // Every value of the tags named `name` (first values), in order.
  std::vector<std::string> all(std::string_view name);
  // The only `p` tag, as a public key.
  std::optional<PublicKey> pubkey(std::string_view name, bool required = true);
  // The only `e` tag with `marker` in the 4th position.
  std::optional<EventId> event_ref(std::string_view marker, bool required = true);
  // The NIP-40 expiration (required when `required`).
  std::optional<UnixSeconds> expiration(bool required = true);

  // Fails unless the tag `name` has exactly `expected` as its value.
  void expect_equal(std::string_view name, std::string_view expected,
                    std::string_view content_field);

  void fail(std::string what);
  bool ok() const { return !error_; }
  const std::optional<Error>& error() const { return error_; }

 private:
  std::string_view kind_;
  const Event& event_;
  std::optional<Error> error_;
};

// ["e", <id>, "", <marker>]
Tag e_tag(const EventId& id, std::string_view marker);
Tag p_tag(const PublicKey& pubkey);

// ---- Kind and sealing -------------------------------------------------------------------------

// `invalid: expected kind 26091 (BID), got 1`.
Status expect_kind(const Event& e, Kind kind);

// NIP-44 v2 from keys.self() to `to`.
Result<std::string> seal(std::string_view plaintext, ConversationKeyCache& keys,
                         const PublicKey& to);

// Opens a sealed content as one of the two parties: keys.self() is either the addressee
// (`addressee`, from the p tag) or the author. Anyone else gets `<KIND> is not addressed to us`.
Result<std::string> unseal(const Event& e, const PublicKey& addressee, ConversationKeyCache& keys);

// Signs `t` after the DEL check.
Result<Event> sign_checked(EventTemplate t, const Keypair& signer);

}  // namespace fedai::protocol::detail
