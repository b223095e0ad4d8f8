#include "agents/router/openai.h"

#include <nlohmann/json.hpp>

#include <charconv>

#include "core/nostr/event.h"

namespace fedai::agents::openai {
namespace {

using nlohmann::json;

// The answers are written directly rather than built as nlohmann values: an answer built that
// way cost the router about 90 allocations a job. Their text is valid UTF-8 (a verified
// JOB_RESULT's, read by a validating parser), written with NIP-01's escaping as JSON allows.

void append_number(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// {"id":...,"object":...,"created":...,"model":... (the object left open)
void append_head(std::string& out, std::string_view id, std::string_view object,
                 std::int64_t created, std::string_view model) {
  out += "{\"id\":";
  append_json_string(out, id);
  out += ",\"object\":";
  append_json_string(out, object);
  out += ",\"created\":";
  append_number(out, created);
  out += ",\"model\":";
  append_json_string(out, model);
}

void append_usage(std::string& out, Usage u) {
  out += "{\"prompt_tokens\":";
  append_number(out, u.prompt_tokens);
  out += ",\"completion_tokens\":";
  append_number(out, u.completion_tokens);
  out += ",\"total_tokens\":";
  append_number(out, std::int64_t{u.prompt_tokens} + u.completion_tokens);
  out += '}';
}

void append_fedai(std::string& out, const FedaiInfo& info) {
  out += "{\"job_id\":";
  append_json_string(out, info.job_id);
  out += ",\"node\":";
  append_json_string(out, info.node);
  out += ",\"price_msat\":";
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, info.price_msat);
  out.append(buf, end);
  out += ",\"attempts\":";
  append_number(out, info.attempts);
  out += info.posted ? ",\"bought\":\"posted_price\"}" : ",\"bought\":\"auction\"}";
}

}  // namespace

Result<ChatRequest> parse_chat_request(std::string_view body, std::uint32_t default_max_tokens,
                                       std::uint32_t max_tokens_cap) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return invalid("the body is not JSON");
  if (!j.is_object()) return invalid("the body must be a JSON object");
  ChatRequest out;
  auto model = j.find("model");
  if (model == j.end() || !model->is_string() || model->get<std::string>().empty())
    return invalid("model must be a non-empty string");
  out.model = model->get<std::string>();
  if (!protocol::is_model_id(out.model))
    return invalid("model '" + out.model.substr(0, 64) + "' is not a valid model id");

  auto messages = j.find("messages");
  if (messages == j.end() || !messages->is_array() || messages->empty())
    return invalid("messages must be a non-empty array");
  json clean = json::array();
  std::size_t chars = 0;
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return invalid(where + " must be an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return invalid(where + ".role must be a string");
    std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "developer")
      return invalid(where + ".role must be system, user, assistant or developer");
    auto content = m.find("content");
    std::string text;
    if (content != m.end() && content->is_string()) {
      text = content->get<std::string>();
    } else if (content != m.end() && content->is_array()) {
      // Content parts: the text ones, joined (fedai carries text only).
      for (const auto& part : *content) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string())
          return invalid(where + ".content parts must be {\"type\":\"text\",\"text\":...}");
        text += part["text"].get<std::string>();
      }
    } else {
      return invalid(where + ".content must be a string or an array of text parts");
    }
    chars += text.size();
    clean.push_back({{"role", r == "developer" ? "system" : r}, {"content", std::move(text)}});
  }

  std::uint64_t max_tokens = default_max_tokens;
  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    auto it = j.find(field);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0)
      return invalid(std::string(field) + " must be a positive integer");
    max_tokens = it->get<std::uint64_t>();
  }
  if (max_tokens > max_tokens_cap)
    return invalid("max_tokens must be at most " + std::to_string(max_tokens_cap));
  out.max_tokens = static_cast<std::uint32_t>(max_tokens);

  if (auto s = j.find("stream"); s != j.end() && !s->is_null()) {
    if (!s->is_boolean()) return invalid("stream must be true or false");
    out.stream = s->get<bool>();
  }
  json job = {{"model", out.model},
              {"messages", std::move(clean)},
              {"max_tokens", out.max_tokens},
              {"stream", out.stream}};
  if (auto t = j.find("temperature"); t != j.end() && !t->is_null()) {
    if (!t->is_number() || t->get<double>() < 0 || t->get<double>() > 2)
      return invalid("temperature must be a number between 0 and 2");
    job["temperature"] = t->get<double>();
  }
  if (auto n = j.find("n");
      n != j.end() && !n->is_null() && (!n->is_number_unsigned() || n->get<std::uint64_t>() != 1))
    return invalid("n must be 1 (fedai returns one choice)");

  if (auto ext = j.find("fedai"); ext != j.end() && !ext->is_null()) {
    if (!ext->is_object()) return invalid("fedai must be an object");
    if (auto mode = ext->find("mode"); mode != ext->end()) {
      std::string m = mode->is_string() ? mode->get<std::string>() : "";
      if (m == "auction")
        out.mode = router::JobMode::auction;
      else if (m == "posted")
        out.mode = router::JobMode::posted;
      else if (m == "posted_then_auction")
        out.mode = router::JobMode::posted_then_auction;
      else
        return invalid("fedai.mode must be auction, posted or posted_then_auction");
    }
    if (auto p = ext->find("privacy"); p != ext->end()) {
      auto level =
          p->is_string() ? protocol::parse_privacy_level(p->get<std::string>()) : std::nullopt;
      if (!level) return invalid("fedai.privacy must be PL0, PL1, PL2 or PL3");
      out.privacy = *level;
    }
    if (auto price = ext->find("max_price_msat"); price != ext->end()) {
      if (!price->is_number_unsigned() || price->get<std::uint64_t>() == 0 ||
          price->get<std::uint64_t>() > protocol::kMaxJsonInteger)
        return invalid("fedai.max_price_msat must be a positive integer");
      out.max_price = protocol::Msat{price->get<std::uint64_t>()};
    }
    if (auto w = ext->find("bid_window_ms"); w != ext->end()) {
      if (!w->is_number_unsigned() || w->get<std::uint64_t>() < 50 ||
          w->get<std::uint64_t>() > 10'000)
        return invalid("fedai.bid_window_ms must be between 50 and 10000");
      out.bid_window = protocol::Millis{w->get<std::uint64_t>()};
    }
  }
  out.input_tokens_estimate = static_cast<std::uint32_t>(
      std::min<std::size_t>(chars / 4 + 4 * job["messages"].size(), UINT32_MAX));
  out.job_body = job.dump();
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

std::string error_json(std::string_view message, std::string_view code) {
  std::string type = message.starts_with("invalid") ? "invalid_request_error"
                     : message.starts_with("auth") || message.starts_with("blocked")
                         ? "authentication_error"
                     : message.starts_with("rate-limited") ? "rate_limit_error"
                                                           : "server_error";
  return json{{"error", {{"message", message}, {"type", type}, {"code", code}}}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

std::string models_json(const std::map<std::string, std::size_t>& models) {
  json data = json::array();
  for (const auto& [id, nodes] : models)
    data.push_back({{"id", id},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", "fedai"},
                    {"fedai_nodes", nodes}});
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
