#include "core/protocol/codec.h"

#include <algorithm>

#include "core/nostr/nip44.h"

namespace fedai::protocol::detail {
namespace {

const std::string kMaxIntegerText = std::to_string(kMaxJsonInteger);

// A field name as it may appear in a reason: at most 40 bytes, non-printable bytes as '?'.
std::string printable(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 40)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (name.size() > 40) out += "...";
  return out;
}

bool has_del(std::string_view s) {
  return s.find('\x7f') != std::string_view::npos;
}

std::optional<UnixSeconds> decimal_seconds(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  UnixSeconds v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v > kMaxCreatedAt) return std::nullopt;
  return v;
}

}  // namespace

// ---- ContentWriter ------------------------------------------------------------------------------

ContentWriter::ContentWriter() : out_("{\"v\":1") {}

void ContentWriter::key(std::string_view name) {
  out_ += ',';
  append_json_string(out_, name);
  out_ += ':';
}

void ContentWriter::integer(std::string_view name, std::uint64_t value) {
  key(name);
  out_ += std::to_string(value);
}

void ContentWriter::string(std::string_view name, std::string_view value) {
  key(name);
  append_json_string(out_, value);
}

void ContentWriter::boolean(std::string_view name, bool value) {
  key(name);
  out_ += value ? "true" : "false";
}

void ContentWriter::strings(std::string_view name, const std::vector<std::string>& values) {
  key(name);
  out_ += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out_ += ',';
    append_json_string(out_, values[i]);
  }
  out_ += ']';
}

void ContentWriter::raw(std::string_view name, std::string_view token) {
  key(name);
  out_ += token;
}

std::string ContentWriter::finish() && {
  out_ += '}';
  // A raw 0x7F can only be inside a JSON string here: escape it.
  if (!has_del(out_)) return std::move(out_);
  std::string escaped;
  escaped.reserve(out_.size() + 16);
  for (char c : out_) {
    if (c == '\x7f')
      escaped += "\\u007f";
    else
      escaped += c;
  }
  return escaped;
}

Status check_no_del(const EventTemplate& t) {
  bool found = has_del(t.content);
  for (const Tag& tag : t.tags)
    for (const std::string& v : tag) found = found || has_del(v);
  if (found) return invalid("DEL (U+007F) is not allowed in fedai events");
  return {};
}

// ---- ContentObject ------------------------------------------------------------------------------

Result<ContentObject> ContentObject::parse(std::string_view kind, std::string_view json) {
  auto not_object = [&](const std::string& why) {
    return invalid(std::string(kind) + " content is not a JSON object (" + why + ")");
  };
  // F-01: UTF-8 without a byte order mark (which JsonReader would skip).
  if (json.starts_with("\xEF\xBB\xBF")) return not_object("it starts with a byte order mark");
  JsonReader r(json);
  ContentObject out;
  if (!r.expect('{')) return not_object(r.error());
  if (!r.consume('}')) {
    do {
      std::string name;
      if (!r.read_string(name) || !r.expect(':')) return not_object(r.error());
      JsonValue v;
      char c = r.peek();
      bool read = true;
      if (c == '"') {
        v.type = JsonValue::Type::string;
        read = r.read_string(v.string);
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        v.type = JsonValue::Type::number;
        std::size_t start = r.offset();
        read = r.read_number(v.number);
        v.number_text = std::string(json.substr(start, r.offset() - start));
      } else if (c == 't' || c == 'f') {
        v.type = JsonValue::Type::boolean;
        read = r.read_bool(v.boolean);
      } else if (c == '[') {
        v.type = JsonValue::Type::array;
        v.all_strings = true;
        r.consume('[');
        if (!r.consume(']')) {
          do {
            if (r.peek() == '"') {
              std::string s;
              read = r.read_string(s);
              v.strings.push_back(std::move(s));
            } else {
              v.all_strings = false;
              read = r.skip_value();
            }
          } while (read && r.consume(','));
          read = read && r.expect(']');
        }
      } else {
        v.type = c == '{' ? JsonValue::Type::object : JsonValue::Type::null;
        read = r.skip_value();
      }
      if (!read) return not_object(r.error());
      if (out.find(name) != nullptr)
        return invalid(std::string(kind) + " content has the field " + printable(name) + " twice");
      out.fields_.emplace_back(std::move(name), std::move(v));
    } while (r.consume(','));
    if (!r.expect('}')) return not_object(r.error());
  }
  if (!r.at_end()) {
    r.fail("unexpected data after the object");
    return not_object(r.error());
  }
  return out;
}

const JsonValue* ContentObject::find(std::string_view name) const {
  for (const auto& [n, v] : fields_)
    if (n == name) return &v;
  return nullptr;
}

// ---- FieldReader --------------------------------------------------------------------------------

FieldReader::FieldReader(std::string_view kind, ContentObject object)
    : kind_(kind), object_(std::move(object)) {}

Result<FieldReader> open_content(const Event& e, Kind kind, std::string_view json) {
  if (auto st = expect_kind(e, kind); !st) return st.error();
  auto obj = ContentObject::parse(kind_name(kind), json);
  if (!obj) return obj.error();
  FieldReader r(kind_name(kind), std::move(*obj));
  r.version();
  return r;
}

void FieldReader::fail(std::string what) {
  if (!error_) error_ = invalid(std::string(kind_) + " " + what);
}

const JsonValue* FieldReader::present(std::string_view name) {
  if (error_) return nullptr;
  return object_.find(name);
}

const JsonValue* FieldReader::required(std::string_view name) {
  if (error_) return nullptr;
  const JsonValue* v = object_.find(name);
  if (v == nullptr) fail(std::string(name) + " is missing");
  return v;
}

void FieldReader::version() {
  const JsonValue* v = required("v");
  if (v == nullptr) return;
  if (v->type != JsonValue::Type::number || !v->number.integral || v->number.overflow) {
    fail("v must be an integer");
    return;
  }
  if (v->number.negative || v->number.magnitude != static_cast<std::uint64_t>(kVersion)) {
    if (!error_) error_ = invalid("unsupported fedai version " + v->number_text);
  }
}

std::optional<std::uint64_t> FieldReader::integer_value(std::string_view name, const JsonValue& v,
                                                        std::uint64_t max) {
  if (v.type != JsonValue::Type::number || !v.number.integral) {
    fail(std::string(name) + " must be an integer");
    return std::nullopt;
  }
  bool negative_zero = v.number.negative && v.number.magnitude == 0;
  if (v.number.overflow || (v.number.negative && !negative_zero) || v.number.magnitude > max) {
    fail(std::string(name) + " must be an integer between 0 and " + std::to_string(max));
    return std::nullopt;
  }
  return v.number.magnitude;
}

std::uint64_t FieldReader::integer(std::string_view name, std::uint64_t max) {
  const JsonValue* v = required(name);
  if (v == nullptr) return 0;
  return integer_value(name, *v, max).value_or(0);
}

std::optional<std::uint64_t> FieldReader::optional_integer(std::string_view name,
                                                           std::uint64_t max) {
  const JsonValue* v = present(name);
  if (v == nullptr) return std::nullopt;
  return integer_value(name, *v, max);
}

std::optional<Msat> FieldReader::optional_msat(std::string_view name) {
  auto v = optional_integer(name);
  if (!v) return std::nullopt;
  return Msat{*v};
}

UnixSeconds FieldReader::seconds(std::string_view name) {
  return static_cast<UnixSeconds>(integer(name, static_cast<std::uint64_t>(kMaxCreatedAt)));
}

Tokens FieldReader::tokens(std::string_view name) {
  return static_cast<Tokens>(integer(name, 0xFFFFFFFFu));
}

std::string FieldReader::string(std::string_view name) {
  const JsonValue* v = required(name);
  if (v == nullptr) return {};
  if (v->type != JsonValue::Type::string) {
    fail(std::string(name) + " must be a string");
    return {};
  }
  return v->string;
}

std::optional<std::string> FieldReader::optional_string(std::string_view name) {
  const JsonValue* v = present(name);
  if (v == nullptr) return std::nullopt;
  if (v->type != JsonValue::Type::string) {
    fail(std::string(name) + " must be a string");
    return std::nullopt;
  }
  return v->string;
}

bool FieldReader::boolean(std::string_view name) {
  const JsonValue* v = required(name);
  if (v == nullptr) return false;
  if (v->type != JsonValue::Type::boolean) {
    fail(std::string(name) + " must be true or false");
    return false;
  }
  return v->boolean;
}

std::vector<std::string> FieldReader::strings(std::string_view name) {
  const JsonValue* v = required(name);
  if (v == nullptr) return {};
  if (v->type != JsonValue::Type::array || !v->all_strings) {
    fail(std::string(name) + " must be an array of strings");
    return {};
  }
  return v->strings;
}

std::string FieldReader::number_token(std::string_view name) {
  const JsonValue* v = required(name);
  if (v == nullptr) return {};
  if (v->type != JsonValue::Type::number) {
    fail(std::string(name) + " must be a number");
    return {};
  }
  return v->number_text;
}

template <std::size_t N, class Tag>
FixedBytes<N, Tag> FieldReader::hex_value(std::string_view name, std::string_view what) {
  std::string s = string(name);
  if (error_) return {};
  auto v = FixedBytes<N, Tag>::from_hex(s);
  if (!v) {
    fail(std::string(name) + " must be " + std::string(what));
    return {};
  }
  return *v;
}

JobId FieldReader::job_id(std::string_view name) {
  return hex_value<16, JobIdTag>(name, "32 lowercase hex characters");
}

CapacityToken FieldReader::capacity_token(std::string_view name) {
  return hex_value<16, CapacityTokenTag>(name, "32 lowercase hex characters");
}

std::optional<CapacityToken> FieldReader::optional_capacity_token(std::string_view name) {
  if (present(name) == nullptr) return std::nullopt;
  CapacityToken t = capacity_token(name);
  if (error_) return std::nullopt;
  return t;
}

Sha256Digest FieldReader::hash(std::string_view name) {
  return hex_value<32, Sha256DigestTag>(name, "64 lowercase hex characters");
}

Bytes32 FieldReader::hex32(std::string_view name) {
  return hex_value<32, Bytes32Tag>(name, "64 lowercase hex characters");
}

PrivacyLevel FieldReader::privacy(std::string_view name) {
  return enumerated<PrivacyLevel>(name, parse_privacy_level,
                                  "\"PL0\", \"PL1\", \"PL2\" or \"PL3\"");
}

ProtocolError FieldReader::error_code(std::string_view name) {
  return enumerated<ProtocolError>(name, parse_protocol_error, "an F-06 error code");
}

std::optional<ProtocolError> FieldReader::optional_error_code(std::string_view name) {
  if (present(name) == nullptr) return std::nullopt;
  ProtocolError e = error_code(name);
  if (error_) return std::nullopt;
  return e;
}

// ---- Checker ------------------------------------------------------------------------------------

void Checker::require(bool condition, std::string_view what) {
  if (!condition && !error_) error_ = invalid(std::string(kind_) + " " + std::string(what));
}

void Checker::amount(std::string_view name, Msat v) {
  require(v.fits_json(), std::string(name) + " must be at most " + kMaxIntegerText);
}

void Checker::duration(std::string_view name, Millis v) {
  require(v.fits_json(), std::string(name) + " must be at most " + kMaxIntegerText);
}

void Checker::time(std::string_view name, UnixSeconds v) {
  require(v >= 0 && v <= kMaxCreatedAt,
          std::string(name) + " must be between 0 and " + kMaxIntegerText);
}

bool Checker::del_free(std::string_view name, std::string_view v) {
  if (!has_del(v)) return true;
  if (!error_)
    error_ = invalid("DEL (U+007F) is not allowed in fedai events (" + std::string(kind_) + " " +
                     std::string(name) + ")");
  return false;
}

void Checker::model_id(std::string_view name, std::string_view v) {
  if (!del_free(name, v)) return;
  require(is_model_id(v),
          std::string(name) + " must be a model id (1..128 characters from A-Z a-z 0-9 . _ : / -)");
}

void Checker::job_type(std::string_view name, std::string_view v) {
  if (!del_free(name, v)) return;
  require(is_job_type(v),
          std::string(name) + " must be a job type (1..32 characters from a-z 0-9 _ -)");
}

void Checker::instance_id(std::string_view name, std::string_view v) {
  if (!del_free(name, v)) return;
  require(is_instance_id(v),
          std::string(name) + " must be an instance id (1..32 characters from a-z 0-9 _ -)");
}

void Checker::url(std::string_view name, std::string_view v) {
  if (!del_free(name, v)) return;
  require(is_http_url(v), std::string(name) + " must be an http:// or https:// URL");
}

void Checker::no_pl3(std::string_view name, PrivacyLevel p) {
  require(p != PrivacyLevel::pl3,
          std::string(name) + " must be PL0, PL1 or PL2 (PL3 never leaves the router)");
}

Status Checker::status() const {
  if (error_) return *error_;
  return {};
}

// ---- TagReader ----------------------------------------------------------------------------------

void TagReader::fail(std::string what) {
  if (!error_) error_ = invalid(std::string(kind_) + " " + what);
}

std::optional<std::string> TagReader::single(std::string_view name, bool required) {
  if (error_) return std::nullopt;
  const Tag* found = nullptr;
  for (const Tag& t : event_.tags) {
    if (t.empty() || t[0] != name) continue;
    if (found != nullptr) {
      fail("has more than one " + std::string(name) + " tag");
      return std::nullopt;
    }
    found = &t;
  }
  if (found == nullptr) {
    if (required) fail("has no " + std::string(name) + " tag");
    return std::nullopt;
  }
  if (found->size() < 2) {
    fail(std::string(name) + " tag has no value");
    return std::nullopt;
  }
  return (*found)[1];
}

std::vector<std::string> TagReader::all(std::string_view name) {
  std::vector<std::string> out;
  if (error_) return out;
  for (const Tag& t : event_.tags) {
    if (t.empty() || t[0] != name) continue;
    if (t.size() < 2) {
      fail(std::string(name) + " tag has no value");
      return {};
    }
    out.push_back(t[1]);
  }
  return out;
}

std::optional<PublicKey> TagReader::pubkey(std::string_view name, bool required) {
  auto v = single(name, required);
  if (!v) return std::nullopt;
  auto key = PublicKey::from_hex(*v);
  if (!key) {
    fail(std::string(name) + " tag must be a 64-character lowercase hex public key");
    return std::nullopt;
  }
  return key;
}

std::optional<EventId> TagReader::event_ref(std::string_view marker, bool required) {
  if (error_) return std::nullopt;
  const Tag* found = nullptr;
  for (const Tag& t : event_.tags) {
    if (t.size() < 4 || t[0] != "e" || t[3] != marker) continue;
    if (found != nullptr) {
      fail("has more than one e tag marked " + std::string(marker));
      return std::nullopt;
    }
    found = &t;
  }
  if (found == nullptr) {
    if (required) fail("has no e tag marked " + std::string(marker));
    return std::nullopt;
  }
  auto id = EventId::from_hex((*found)[1]);
  if (!id) {
    fail("e tag marked " + std::string(marker) + " must be a 64-character lowercase hex event id");
    return std::nullopt;
  }
  return id;
}

std::optional<UnixSeconds> TagReader::expiration(bool required) {
  auto v = single("expiration", required);
  if (!v) return std::nullopt;
  auto at = decimal_seconds(*v);
  if (!at) {
    fail("expiration must be a unix timestamp in decimal digits, at most " + kMaxIntegerText);
    return std::nullopt;
  }
  return at;
}

void TagReader::expect_equal(std::string_view name, std::string_view expected,
                             std::string_view content_field) {
  auto v = single(name);
  if (v && *v != expected)
    fail(std::string(name) + " tag must equal " + std::string(content_field));
}

Tag e_tag(const EventId& id, std::string_view marker) {
  return {"e", id.hex(), "", std::string(marker)};
}

Tag p_tag(const PublicKey& pubkey) {
  return {"p", pubkey.hex()};
}

// ---- Kind and sealing ---------------------------------------------------------------------------

Status expect_kind(const Event& e, Kind kind) {
  if (e.kind == kind) return {};
  return invalid("expected kind " + std::to_string(kind) + " (" + std::string(kind_name(kind)) +
                 "), got " + std::to_string(e.kind));
}

Result<std::string> seal(std::string_view plaintext, ConversationKeyCache& keys,
                         const PublicKey& to) {
  return keys.seal_to(plaintext, to);
}

Result<std::string> unseal(const Event& e, const PublicKey& addressee, ConversationKeyCache& keys) {
  std::string_view kind = kind_name(e.kind);
  const PublicKey& us = keys.self().public_key();
  const PublicKey* other = nullptr;
  if (us == addressee)
    other = &e.pubkey;
  else if (us == e.pubkey)
    other = &addressee;
  else
    return invalid(std::string(kind) + " is not addressed to us");
  auto key = keys.get(*other);
  if (!key)
    return invalid(std::string(kind) + " content does not decrypt (" + key.error().message + ")");
  auto plain = nip44::decrypt(e.content, *key);
  if (!plain)
    return invalid(std::string(kind) + " content does not decrypt (" + plain.error().message + ")");
  return plain;
}

Result<Event> sign_checked(EventTemplate t, const Keypair& signer) {
  if (t.created_at < 0 || t.created_at > kMaxCreatedAt)
    return invalid(std::string(kind_name(t.kind)) + " created_at must be between 0 and " +
                   kMaxIntegerText);
  if (auto st = check_no_del(t); !st) return st.error();
  return sign_event(std::move(t), signer);
}

}  // namespace fedai::protocol::detail
