#include "agents/router/openai.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

#include "core/nostr/event.h"
#include "core/protocol/auction.h"
#include "core/util/json_reader.h"
#include "runners/usage_estimate.h"

namespace fedai::agents::openai {
namespace {

using nlohmann::json;

// The answers are written directly rather than built as nlohmann values: an answer built that
// way cost the router about 90 allocations a job. Their text is valid UTF-8 (a verified
// JOB_RESULT's, read by a validating parser), written with NIP-01's escaping as JSON allows.

// {"id":...,"object":...,"created":...,"model":... (the object left open)
void append_head(std::string& out, std::string_view id, std::string_view object,
                 std::int64_t created, std::string_view model) {
  out += "{\"id\":";
  append_json_string(out, id);
  out += ",\"object\":";
  append_json_string(out, object);
  out += ",\"created\":";
  append_json_integer(out, created);
  out += ",\"model\":";
  append_json_string(out, model);
}

void append_usage(std::string& out, Usage u) {
  out += "{\"prompt_tokens\":";
  append_json_integer(out, u.prompt_tokens);
  out += ",\"completion_tokens\":";
  append_json_integer(out, u.completion_tokens);
  out += ",\"total_tokens\":";
  append_json_integer(out, std::int64_t{u.prompt_tokens} + u.completion_tokens);
  out += '}';
}

void append_fedai(std::string& out, const FedaiInfo& info) {
  out += "{\"job_id\":";
  append_json_string(out, info.job_id);
  out += ",\"node\":";
  append_json_string(out, info.node);
  out += ",\"price_msat\":";
  append_json_integer(out, info.price_msat);
  out += ",\"attempts\":";
  append_json_integer(out, info.attempts);
  out += info.posted ? ",\"bought\":\"posted_price\"}" : ",\"bought\":\"auction\"}";
}

}  // namespace

namespace {

// The request is read with JsonReader (validating RFC 8259 in one pass, then each field from its
// raw text) rather than as an nlohmann value: that took the router about 60 allocations a job.
constexpr int kMaxDepth = 64;

enum class Kind { string, number, object, array, boolean, null };

Kind kind_of(std::string_view raw) {
  switch (raw.front()) {
    case '"':
      return Kind::string;
    case '{':
      return Kind::object;
    case '[':
      return Kind::array;
    case 't':
    case 'f':
      return Kind::boolean;
    case 'n':
      return Kind::null;
    default:
      return Kind::number;
  }
}

// The raw text of the next value (valid: the whole body was checked first).
std::string_view raw_value(JsonReader& r, std::string_view text) {
  r.peek();
  std::size_t start = r.offset();
  r.skip_value(kMaxDepth);
  return text.substr(start, r.offset() - start);
}

// Visits each member of the object `raw` as (name, raw value), in order (a repeated name is
// visited again: the last one wins, as in nlohmann).
template <class Visit>
void members(std::string_view raw, Visit&& visit) {
  JsonReader r(raw);
  r.expect('{');
  if (r.consume('}')) return;
  std::string name;
  do {
    name.clear();
    r.read_string(name);
    r.expect(':');
    visit(std::string_view(name), raw_value(r, raw));
  } while (r.consume(','));
}

template <class Visit>
void elements(std::string_view raw, Visit&& visit) {
  JsonReader r(raw);
  r.expect('[');
  if (r.consume(']')) return;
  std::size_t i = 0;
  do {
    if (!visit(i++, raw_value(r, raw))) return;
  } while (r.consume(','));
}

std::string string_of(std::string_view raw) {
  std::string out;
  JsonReader r(raw);
  r.read_string(out);
  return out;
}

// A non-negative integer within 64 bits (nlohmann's "unsigned"); nullopt for any other value.
std::optional<std::uint64_t> unsigned_of(std::string_view raw) {
  if (kind_of(raw) != Kind::number) return std::nullopt;
  JsonReader r(raw);
  JsonReader::Number n;
  if (!r.read_number(n) || !n.integral || n.negative || n.overflow) return std::nullopt;
  return n.magnitude;
}

std::optional<double> double_of(std::string_view raw) {
  if (kind_of(raw) != Kind::number) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
  if (ec != std::errc{} || end != raw.data() + raw.size()) return std::nullopt;
  return v;
}

// True for an empty array (open '[') or object (open '{'), spaces allowed inside.
bool is_empty(std::string_view raw, char open) {
  JsonReader r(raw);
  return r.consume(open) && r.consume(open == '[' ? ']' : '}');
}

}  // namespace

Result<ChatRequest> parse_chat_request(std::string_view body, std::uint32_t default_max_tokens,
                                       std::uint32_t max_tokens_cap) {
  {
    JsonReader check(body);
    if (!check.skip_value(kMaxDepth) || !check.at_end()) return invalid("the body is not JSON");
  }
  if (JsonReader top(body); top.peek() != '{') return invalid("the body must be a JSON object");

  std::optional<std::string_view> model, messages, stream, temperature, n, fedai;
  std::optional<std::string_view> max_tokens_fields[2];  // max_tokens, max_completion_tokens
  std::optional<std::string_view> stop, top_p, seed, penalties[2], response_format, stream_options;
  // What fedai can't carry honestly (tool calls, log probabilities, token biases): refused by name
  // unless absent or off, never dropped.
  struct Unsupported {
    std::string_view name;
    bool (*off)(std::string_view raw);  // true when the value asks for nothing
    std::string_view why;
    std::optional<std::string_view> raw = std::nullopt;
  };
  Unsupported unsupported[] = {
      {"tools", [](std::string_view raw) { return is_empty(raw, '['); },
       "fedai's nodes answer with text only"},
      {"functions", [](std::string_view raw) { return is_empty(raw, '['); },
       "fedai's nodes answer with text only"},
      {"tool_choice", [](std::string_view raw) { return raw == "\"none\""; },
       "fedai's nodes answer with text only"},
      {"function_call", [](std::string_view raw) { return raw == "\"none\""; },
       "fedai's nodes answer with text only"},
      {"logprobs", [](std::string_view raw) { return raw == "false"; },
       "fedai's answers carry no log probabilities"},
      {"top_logprobs", [](std::string_view raw) { return raw == "0"; },
       "fedai's answers carry no log probabilities"},
      {"logit_bias", [](std::string_view raw) { return is_empty(raw, '{'); },
       "fedai's nodes take no token biases"},
  };
  members(body, [&](std::string_view name, std::string_view raw) {
    for (auto& u : unsupported)
      if (name == u.name) u.raw = raw;
    if (name == "model")
      model = raw;
    else if (name == "messages")
      messages = raw;
    else if (name == "max_tokens")
      max_tokens_fields[0] = raw;
    else if (name == "max_completion_tokens")
      max_tokens_fields[1] = raw;
    else if (name == "stream")
      stream = raw;
    else if (name == "temperature")
      temperature = raw;
    else if (name == "n")
      n = raw;
    else if (name == "fedai")
      fedai = raw;
    else if (name == "stop")
      stop = raw;
    else if (name == "top_p")
      top_p = raw;
    else if (name == "seed")
      seed = raw;
    else if (name == "presence_penalty")
      penalties[0] = raw;
    else if (name == "frequency_penalty")
      penalties[1] = raw;
    else if (name == "response_format")
      response_format = raw;
    else if (name == "stream_options")
      stream_options = raw;
  });

  ChatRequest out;
  if (!model || kind_of(*model) != Kind::string || (out.model = string_of(*model)).empty())
    return invalid("model must be a non-empty string");
  if (!protocol::is_model_id(out.model))
    return invalid("model '" + out.model.substr(0, 64) + "' is not a valid model id");

  bool empty = true;
  if (messages && kind_of(*messages) == Kind::array) {
    JsonReader r(*messages);
    r.expect('[');
    empty = r.peek() == ']';
  }
  if (empty) return invalid("messages must be a non-empty array");
  std::vector<runners::ChatMessage> clean;
  std::optional<std::string> refused;
  std::size_t chars = 0;
  elements(*messages, [&](std::size_t i, std::string_view m) {
    auto where = [i] { return "messages[" + std::to_string(i) + "]"; };  // for a refusal only
    if (kind_of(m) != Kind::object) return refused = where() + " must be an object", false;
    std::optional<std::string_view> role, content;
    members(m, [&](std::string_view name, std::string_view raw) {
      if (name == "role") role = raw;
      if (name == "content") content = raw;
    });
    if (!role || kind_of(*role) != Kind::string)
      return refused = where() + ".role must be a string", false;
    std::string r = string_of(*role);
    if (r != "system" && r != "user" && r != "assistant" && r != "developer")
      return refused = where() + ".role must be system, user, assistant or developer", false;
    std::string text;
    if (content && kind_of(*content) == Kind::string) {
      text = string_of(*content);
    } else if (content && kind_of(*content) == Kind::array) {
      // Content parts: the text ones, joined (fedai carries text only).
      bool parts_ok = true;
      elements(*content, [&](std::size_t, std::string_view part) {
        std::optional<std::string_view> type, part_text;
        if (kind_of(part) == Kind::object)
          members(part, [&](std::string_view name, std::string_view raw) {
            if (name == "type") type = raw;
            if (name == "text") part_text = raw;
          });
        parts_ok = type && kind_of(*type) == Kind::string && string_of(*type) == "text" &&
                   part_text && kind_of(*part_text) == Kind::string;
        if (parts_ok) text += string_of(*part_text);
        return parts_ok;
      });
      if (!parts_ok)
        return refused = where() + ".content parts must be {\"type\":\"text\",\"text\":...}", false;
    } else {
      return refused = where() + ".content must be a string or an array of text parts", false;
    }
    chars += text.size();
    clean.push_back({r == "developer" ? "system" : std::move(r), std::move(text)});
    return true;
  });
  if (refused) return invalid(*refused);

  // max_completion_tokens is OpenAI's newer name for max_tokens: both are limits, so when both
  // are given the smaller one holds.
  std::optional<std::uint64_t> max_tokens;
  const char* max_tokens_name = "max_tokens";
  for (int i = 0; i < 2; ++i) {
    const auto& raw = max_tokens_fields[i];
    if (!raw || kind_of(*raw) == Kind::null) continue;
    const char* name = i == 0 ? "max_tokens" : "max_completion_tokens";
    auto v = unsigned_of(*raw);
    if (!v || *v == 0) return invalid(std::string(name) + " must be a positive integer");
    if (!max_tokens || *v < *max_tokens) {
      max_tokens = *v;
      max_tokens_name = name;
    }
  }
  if (max_tokens.value_or(default_max_tokens) > max_tokens_cap)
    return invalid(std::string(max_tokens_name) + " must be at most " +
                   std::to_string(max_tokens_cap));
  out.max_tokens = static_cast<std::uint32_t>(max_tokens.value_or(default_max_tokens));

  if (stream && kind_of(*stream) != Kind::null) {
    if (kind_of(*stream) != Kind::boolean) return invalid("stream must be true or false");
    out.stream = *stream == "true";
  }
  std::optional<std::string_view> temperature_text;
  if (temperature && kind_of(*temperature) != Kind::null) {
    auto t = double_of(*temperature);
    if (!t || *t < 0 || *t > 2) return invalid("temperature must be a number between 0 and 2");
    temperature_text = *temperature;
  }
  if (n && kind_of(*n) != Kind::null && unsigned_of(*n) != std::optional<std::uint64_t>{1})
    return invalid("n must be 1 (fedai returns one choice)");
  for (const auto& u : unsupported)
    if (u.raw && kind_of(*u.raw) != Kind::null && !u.off(*u.raw))
      return invalid(std::string(u.name) + " is not supported: " + std::string(u.why));

  // The sampling parameters the node passes to its model server (nips/F-04's job body).
  std::vector<std::string> stops;
  if (stop && kind_of(*stop) != Kind::null) {
    constexpr const char* kStop = "stop must be a string or an array of up to 4 non-empty strings";
    if (kind_of(*stop) == Kind::string) {
      stops.push_back(string_of(*stop));
    } else if (kind_of(*stop) == Kind::array) {
      bool ok = true;
      elements(*stop, [&](std::size_t i, std::string_view raw) {
        ok = i < 4 && kind_of(raw) == Kind::string;
        if (ok) stops.push_back(string_of(raw));
        return ok;
      });
      if (!ok) return invalid(kStop);
    } else {
      return invalid(kStop);
    }
    for (const auto& s : stops)
      if (s.empty()) return invalid(kStop);
  }
  std::optional<std::string_view> top_p_text, penalty_text[2];
  if (top_p && kind_of(*top_p) != Kind::null) {
    auto v = double_of(*top_p);
    if (!v || *v < 0 || *v > 1) return invalid("top_p must be a number between 0 and 1");
    top_p_text = *top_p;
  }
  for (int i = 0; i < 2; ++i) {
    if (!penalties[i] || kind_of(*penalties[i]) == Kind::null) continue;
    auto v = double_of(*penalties[i]);
    if (!v || *v < -2 || *v > 2)
      return invalid(std::string(i == 0 ? "presence_penalty" : "frequency_penalty") +
                     " must be a number between -2 and 2");
    penalty_text[i] = *penalties[i];
  }
  std::optional<std::int64_t> seed_value;
  if (seed && kind_of(*seed) != Kind::null) {
    JsonReader r(*seed);
    JsonReader::Number v;
    if (kind_of(*seed) != Kind::number || !r.read_number(v) || !v.integral || v.overflow ||
        v.magnitude > (v.negative ? std::uint64_t{1} << 63 : std::uint64_t{INT64_MAX}))
      return invalid("seed must be an integer");
    seed_value = v.negative ? static_cast<std::int64_t>(0 - v.magnitude)
                            : static_cast<std::int64_t>(v.magnitude);
  }
  bool json_object = false;
  if (response_format && kind_of(*response_format) != Kind::null) {
    std::optional<std::string_view> type;
    if (kind_of(*response_format) == Kind::object)
      members(*response_format, [&](std::string_view name, std::string_view raw) {
        if (name == "type") type = raw;
      });
    std::string t = type && kind_of(*type) == Kind::string ? string_of(*type) : "";
    if (t == "json_schema")
      return invalid(
          "response_format json_schema is not supported: fedai's nodes take text or json_object");
    if (t != "text" && t != "json_object")
      return invalid("response_format.type must be text or json_object");
    json_object = t == "json_object";
  }
  if (stream_options && kind_of(*stream_options) != Kind::null) {
    if (kind_of(*stream_options) != Kind::object)
      return invalid("stream_options must be an object");
    if (!out.stream) return invalid("stream_options is only allowed when stream is true");
    std::optional<std::string_view> include_usage;
    members(*stream_options, [&](std::string_view name, std::string_view raw) {
      if (name == "include_usage") include_usage = raw;
    });
    if (include_usage && kind_of(*include_usage) != Kind::null) {
      if (kind_of(*include_usage) != Kind::boolean)
        return invalid("stream_options.include_usage must be true or false");
      out.include_usage = *include_usage == "true";
    }
  }

  if (fedai && kind_of(*fedai) != Kind::null) {
    if (kind_of(*fedai) != Kind::object) return invalid("fedai must be an object");
    std::optional<std::string_view> mode, privacy, max_price, bid_window;
    members(*fedai, [&](std::string_view name, std::string_view raw) {
      if (name == "mode") mode = raw;
      if (name == "privacy") privacy = raw;
      if (name == "max_price_msat") max_price = raw;
      if (name == "bid_window_ms") bid_window = raw;
    });
    if (mode) {
      std::string m = kind_of(*mode) == Kind::string ? string_of(*mode) : "";
      if (m == "auction")
        out.mode = router::JobMode::auction;
      else if (m == "posted")
        out.mode = router::JobMode::posted;
      else if (m == "posted_then_auction")
        out.mode = router::JobMode::posted_then_auction;
      else
        return invalid("fedai.mode must be auction, posted or posted_then_auction");
    }
    if (privacy) {
      auto level = kind_of(*privacy) == Kind::string
                       ? protocol::parse_privacy_level(string_of(*privacy))
                       : std::nullopt;
      if (!level) return invalid("fedai.privacy must be PL0, PL1, PL2 or PL3");
      out.privacy = *level;
    }
    if (max_price) {
      auto v = unsigned_of(*max_price);
      if (!v || *v == 0 || *v > protocol::kMaxJsonInteger)
        return invalid("fedai.max_price_msat must be a positive integer");
      out.max_price = protocol::Msat{*v};
    }
    if (bid_window) {
      auto v = unsigned_of(*bid_window);
      if (!v || *v < protocol::kMinBidWindow.value() || *v > protocol::kMaxBidWindow.value())
        return invalid("fedai.bid_window_ms must be between " +
                       std::to_string(protocol::kMinBidWindow.value()) + " and " +
                       std::to_string(protocol::kMaxBidWindow.value()));
      out.bid_window = protocol::Millis{*v};
    }
  }
  out.input_tokens_estimate = runners::estimate_prompt_tokens(clean);

  // The node's job body (nips/F-04): the messages, max_tokens, stream, and the sampling
  // parameters given.
  std::string& job = out.job_body;
  job.reserve(96 + out.model.size() + chars + clean.size() * 32);
  job += "{\"model\":";
  append_json_string(job, out.model);
  job += ",\"messages\":[";
  for (std::size_t i = 0; i < clean.size(); ++i) {
    job += i == 0 ? "{\"role\":" : ",{\"role\":";
    append_json_string(job, clean[i].role);
    job += ",\"content\":";
    append_json_string(job, clean[i].content);
    job += '}';
  }
  job += "],\"max_tokens\":";
  job += std::to_string(out.max_tokens);
  job += out.stream ? ",\"stream\":true" : ",\"stream\":false";
  // Numbers as the client wrote them (JSON numbers within their ranges, checked above).
  auto number = [&job](const char* name, std::optional<std::string_view> text) {
    if (!text) return;
    job += ",\"";
    job += name;
    job += "\":";
    job += *text;
  };
  number("temperature", temperature_text);
  number("top_p", top_p_text);
  number("presence_penalty", penalty_text[0]);
  number("frequency_penalty", penalty_text[1]);
  if (seed_value) {
    job += ",\"seed\":";
    append_json_integer(job, *seed_value);
  }
  if (!stops.empty()) {
    job += ",\"stop\":[";
    for (std::size_t i = 0; i < stops.size(); ++i) {
      if (i) job += ',';
      append_json_string(job, stops[i]);
    }
    job += ']';
  }
  if (json_object) job += ",\"response_format\":{\"type\":\"json_object\"}";
  job += '}';
  return out;
}

std::string completion_json(std::string_view id, std::int64_t created, std::string_view model,
                            std::string_view text, std::string_view finish_reason, Usage usage,
                            const FedaiInfo& info) {
  std::string out;
  out.reserve(320 + text.size() + model.size());
  append_head(out, id, "chat.completion", created, model);
  out += ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":";
  append_json_string(out, text);
  out += "},\"finish_reason\":";
  append_json_string(out, finish_reason);
  out += "}],\"usage\":";
  append_usage(out, usage);
  out += ",\"fedai\":";
  append_fedai(out, info);
  out += '}';
  return out;
}

std::string chunk_json(std::string_view id, std::int64_t created, std::string_view model,
                       std::string_view delta, std::optional<std::string_view> finish_reason,
                       std::optional<Usage> usage, std::optional<FedaiInfo> info) {
  std::string out;
  out.reserve(200 + delta.size() + model.size() + (info ? 160 : 0));
  append_head(out, id, "chat.completion.chunk", created, model);
  out += ",\"choices\":[{\"index\":0,\"delta\":{";
  if (!delta.empty()) {
    out += "\"content\":";
    append_json_string(out, delta);
  }
  out += "},\"finish_reason\":";
  if (finish_reason)
    append_json_string(out, *finish_reason);
  else
    out += "null";
  out += "}]";
  if (usage) {
    out += ",\"usage\":";
    append_usage(out, *usage);
  }
  if (info) {
    out += ",\"fedai\":";
    append_fedai(out, *info);
  }
  out += '}';
  return out;
}

std::string usage_chunk_json(std::string_view id, std::int64_t created, std::string_view model,
                             Usage usage) {
  std::string out;
  out.reserve(160 + model.size());
  append_head(out, id, "chat.completion.chunk", created, model);
  out += ",\"choices\":[],\"usage\":";
  append_usage(out, usage);
  out += '}';
  return out;
}

std::string error_json(std::string_view message, std::string_view code) {
  std::string type = message.starts_with("invalid") ? "invalid_request_error"
                     : message.starts_with("auth") || message.starts_with("blocked")
                         ? "authentication_error"
                     : message.starts_with("rate-limited") ? "rate_limit_error"
                                                           : "server_error";
  return json{{"error", {{"message", message}, {"type", type}, {"code", code}}}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

std::string models_json(const std::map<std::string, ModelMarket>& models) {
  json data = json::array();
  for (const auto& [id, m] : models) {
    json pricing = nullptr;
    if (m.priced > 0)
      pricing = {{"nodes", m.priced},
                 {"in_per_1k_msat", {{"min", m.in_min.value()}, {"max", m.in_max.value()}}},
                 {"out_per_1k_msat", {{"min", m.out_min.value()}, {"max", m.out_max.value()}}}};
    data.push_back({{"id", id},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", "fedai"},
                    {"fedai_nodes", m.nodes},
                    {"fedai_pricing", pricing}});
  }
  return json{{"object", "list"}, {"data", data}}.dump();
}

int http_status_for(protocol::ProtocolError error) {
  using E = protocol::ProtocolError;
  switch (error) {
    case E::no_bids:
      return 503;
    case E::over_cap:
      return 402;
    case E::privacy_unsupported:
      return 422;
    case E::timeout:
      return 504;
    case E::bad_result:
      return 502;
    case E::cancelled:
      return 503;
    default:
      return protocol::http_status(error).value_or(502);
  }
}

}  // namespace fedai::agents::openai
