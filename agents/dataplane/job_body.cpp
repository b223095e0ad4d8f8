#include "agents/dataplane/job_body.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>

#include "core/nostr/sha256.h"
#include "core/util/ascii.h"
#include "core/util/json_reader.h"

namespace fedai::agents::dataplane {

using protocol::PrivacyLevel;

namespace {

constexpr int kMaxDepth = 32;

Error body_error(std::string_view what) {
  return invalid("job body " + std::string(what));
}

// Reads the JSON object of a job body field by field.
class ChatReader {
 public:
  explicit ChatReader(std::string_view json) : json_(json), r_(json) {}

  Result<JobInput> read() {
    JobInput out;
    if (r_.peek() != '{') return body_error("must be a JSON object");
    r_.expect('{');
    bool seen_messages = false;
    if (!r_.consume('}')) {
      do {
        std::string key;
        if (!r_.read_string(key) || !r_.expect(':')) return syntax();
        if (key == "model") {
          if (null()) continue;
          std::string model;
          if (r_.peek() != '"') return body_error("model must be a string");
          if (!r_.read_string(model)) return syntax();
          out.model = std::move(model);
        } else if (key == "messages") {
          if (seen_messages) return body_error("has two messages fields");
          seen_messages = true;
          if (auto st = messages(out.messages); !st) return st.error();
        } else if (key == "max_tokens" || key == "max_completion_tokens") {
          if (null()) continue;
          JsonReader::Number n;
          if (r_.peek() == '"' || !r_.read_number(n))
            return body_error("max_tokens must be an integer");
          if (!n.integral || n.negative || n.overflow || n.magnitude < 1 ||
              n.magnitude > UINT32_MAX)
            return body_error("max_tokens must be an integer from 1 to 4294967295");
          // max_tokens wins over the newer name when both are given.
          if (key == "max_tokens" || !out.max_tokens)
            out.max_tokens = static_cast<protocol::Tokens>(n.magnitude);
        } else if (key == "temperature") {
          if (null()) continue;
          auto t = number();
          if (!t || *t < 0 || *t > 100) return body_error("temperature must be a number");
          out.sampling.temperature = *t;
        } else if (key == "stream") {
          if (null()) continue;
          if (!r_.read_bool(out.stream)) return body_error("stream must be true or false");
        } else if (key == "stop") {
          if (null()) continue;
          if (auto st = stop(out.sampling.stop); !st) return st.error();
        } else if (key == "top_p") {
          if (null()) continue;
          auto v = number();
          if (!v || *v < 0 || *v > 1) return body_error("top_p must be a number from 0 to 1");
          out.sampling.top_p = *v;
        } else if (key == "presence_penalty" || key == "frequency_penalty") {
          if (null()) continue;
          auto v = number();
          if (!v || *v < -2 || *v > 2) return body_error(key + " must be a number from -2 to 2");
          (key == "presence_penalty" ? out.sampling.presence_penalty
                                     : out.sampling.frequency_penalty) = *v;
        } else if (key == "seed") {
          if (null()) continue;
          JsonReader::Number n;
          if (r_.peek() == '"' || !r_.read_number(n) || !n.integral || n.overflow ||
              n.magnitude > (n.negative ? std::uint64_t{1} << 63 : INT64_MAX))
            return body_error("seed must be a 64-bit integer");
          out.sampling.seed = n.negative ? static_cast<std::int64_t>(0 - n.magnitude)
                                         : static_cast<std::int64_t>(n.magnitude);
        } else if (key == "response_format") {
          if (null()) continue;
          if (auto st = response_format(out.sampling.json_object); !st) return st.error();
        } else {
          if (!r_.skip_value(kMaxDepth)) return syntax();
        }
      } while (r_.consume(','));
      if (!r_.expect('}')) return syntax();
    }
    if (!r_.at_end()) return body_error("has data after the JSON object");
    if (!seen_messages || out.messages.empty())
      return body_error("must have a non-empty messages array");
    return out;
  }

 private:
  Error syntax() const {
    return body_error("is not valid JSON (" + (r_.failed() ? r_.error() : std::string("syntax")) +
                      ")");
  }

  bool null() {
    if (r_.peek() != 'n') return false;
    return r_.skip_value(1);
  }

  std::optional<double> number() {
    r_.peek();
    std::size_t start = r_.offset();
    JsonReader::Number n;
    if (!r_.read_number(n)) return std::nullopt;
    std::string_view token = json_.substr(start, r_.offset() - start);
    double v = 0;
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
    if (ec != std::errc{} || end != token.data() + token.size() || !std::isfinite(v))
      return std::nullopt;
    return v;
  }

  // A string or an array of up to 4 strings.
  Status stop(std::vector<std::string>& out) {
    out.clear();
    if (r_.peek() == '"') {
      out.emplace_back();
      return r_.read_string(out.back()) ? Status{} : Status{syntax()};
    }
    if (r_.peek() != '[') return body_error("stop must be a string or an array of strings");
    r_.expect('[');
    if (r_.consume(']')) return {};
    do {
      if (r_.peek() != '"') return body_error("stop must be a string or an array of strings");
      if (out.size() == 4) return body_error("stop must have at most 4 strings");
      out.emplace_back();
      if (!r_.read_string(out.back())) return syntax();
    } while (r_.consume(','));
    return r_.expect(']') ? Status{} : Status{syntax()};
  }

  // {"type": "text"} or {"type": "json_object"}; any other type is one no runner here honours.
  Status response_format(bool& json_object) {
    if (r_.peek() != '{') return body_error("response_format must be an object");
    r_.expect('{');
    std::optional<std::string> type;
    if (!r_.consume('}')) {
      do {
        std::string key;
        if (!r_.read_string(key) || !r_.expect(':')) return syntax();
        if (key == "type" && r_.peek() == '"') {
          type.emplace();
          if (!r_.read_string(*type)) return syntax();
        } else if (!r_.skip_value(kMaxDepth)) {
          return syntax();
        }
      } while (r_.consume(','));
      if (!r_.expect('}')) return syntax();
    }
    if (type != "text" && type != "json_object")
      return body_error("response_format type must be text or json_object");
    json_object = type == "json_object";
    return {};
  }

  Status messages(std::vector<runners::ChatMessage>& out) {
    if (r_.peek() != '[') return body_error("messages must be an array");
    r_.expect('[');
    if (r_.consume(']')) return {};
    do {
      runners::ChatMessage m;
      bool role = false, content = false;
      if (r_.peek() != '{') return body_error("messages must be objects with role and content");
      r_.expect('{');
      if (!r_.consume('}')) {
        do {
          std::string key;
          if (!r_.read_string(key) || !r_.expect(':')) return syntax();
          if (key == "role") {
            if (r_.peek() != '"') return body_error("message role must be a string");
            if (!r_.read_string(m.role)) return syntax();
            role = true;
          } else if (key == "content") {
            if (auto st = message_content(m.content); !st) return st.error();
            content = true;
          } else if (!r_.skip_value(kMaxDepth)) {
            return syntax();
          }
        } while (r_.consume(','));
        if (!r_.expect('}')) return syntax();
      }
      if (!role || !content) return body_error("messages must be objects with role and content");
      out.push_back(std::move(m));
    } while (r_.consume(','));
    if (!r_.expect(']')) return syntax();
    return {};
  }

  // A string, null (an assistant turn with tool calls), or an array of parts of which the
  // {"type": "text", "text": ...} ones are joined.
  Status message_content(std::string& out) {
    char c = r_.peek();
    if (c == '"') return r_.read_string(out) ? Status{} : Status{syntax()};
    if (c == 'n') return null() ? Status{} : Status{syntax()};
    if (c != '[') return body_error("message content must be a string or an array of parts");
    r_.expect('[');
    if (r_.consume(']')) return {};
    do {
      if (r_.peek() != '{') return body_error("message content parts must be objects");
      r_.expect('{');
      std::string type, text;
      if (!r_.consume('}')) {
        do {
          std::string key;
          if (!r_.read_string(key) || !r_.expect(':')) return syntax();
          if ((key == "type" || key == "text") && r_.peek() == '"') {
            if (!r_.read_string(key == "type" ? type : text)) return syntax();
          } else if (!r_.skip_value(kMaxDepth)) {
            return syntax();
          }
        } while (r_.consume(','));
        if (!r_.expect('}')) return syntax();
      }
      if (type == "text") out += text;
    } while (r_.consume(','));
    if (!r_.expect(']')) return syntax();
    return {};
  }

  std::string_view json_;
  JsonReader r_;
};

}  // namespace

bool content_type_matches(std::string_view content_type, PrivacyLevel privacy) {
  std::string_view want =
      protocol::is_sealed(privacy) ? protocol::kContentTypeSealed : protocol::kContentTypeJson;
  std::string_view media = content_type.substr(0, content_type.find(';'));
  std::size_t i = 0;
  for (char c : media) {
    if (c == ' ' || c == '\t') continue;
    if (i >= want.size() || ascii_lower(c) != want[i]) return false;
    ++i;
  }
  return i == want.size();
}

Result<std::string> open_job_body(std::string_view body, const protocol::JobSubmit& submit,
                                  const PublicKey& router, protocol::ConversationKeyCache& keys) {
  std::string plain;
  if (protocol::is_sealed(submit.privacy)) {
    auto opened = keys.open_from(body, router);
    if (!opened) return invalid("job body does not decrypt (" + opened.error().message + ")");
    plain = std::move(*opened);
  } else {
    plain = std::string(body);
  }
  if (sha256(plain) != submit.input_hash) return invalid("job body does not match input_hash");
  return plain;
}

Result<JobInput> parse_job_input(std::string_view json) {
  return ChatReader(json).read();
}

}  // namespace fedai::agents::dataplane
