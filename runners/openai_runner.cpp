// The OpenAI-compatible adapter: POST /v1/chat/completions (plain, or `stream: true` as
// Server-Sent Events with `stream_options.include_usage` so the last chunk carries usage),
// GET /v1/models, and GET /health (falling back to /v1/models where there is none).
#include <charconv>
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/nostr/event.h"
#include "core/util/json_reader.h"
#include "runners/adapters.h"
#include "runners/usage_estimate.h"

namespace fedai::runners::detail {

namespace {

using nlohmann::json;

// The request written directly (a job's hot path: nlohmann took about a tenth of the node's CPU
// a job between this and reading the answer). Strings that are not UTF-8 can't be written as
// they are: those requests go through nlohmann, which replaces the bad bytes.
std::optional<std::string> write_request(const InferenceRequest& request, bool stream) {
  std::size_t size = 96 + request.model.size();
  for (const auto& m : request.messages) {
    if (!is_valid_utf8(m.role) || !is_valid_utf8(m.content)) return std::nullopt;
    size += 32 + m.role.size() + m.content.size() + m.content.size() / 8;
  }
  if (!is_valid_utf8(request.model)) return std::nullopt;
  std::string out;
  out.reserve(size);
  out += '{';
  if (!request.model.empty()) {
    out += "\"model\":";
    append_json_string(out, request.model);
    out += ',';
  }
  out += "\"messages\":[";
  for (std::size_t i = 0; i < request.messages.size(); ++i) {
    if (i) out += ',';
    out += "{\"role\":";
    append_json_string(out, request.messages[i].role);
    out += ",\"content\":";
    append_json_string(out, request.messages[i].content);
    out += '}';
  }
  out += "],\"max_tokens\":";
  append_json_integer(out, request.max_tokens);
  auto number = [&out](const char* name, const std::optional<double>& v) {
    if (!v) return true;
    if (!std::isfinite(*v)) return false;
    char text[32];
    auto [end, ec] = std::to_chars(text, text + sizeof text, *v);
    if (ec != std::errc()) return false;
    out += ",\"";
    out += name;
    out += "\":";
    out.append(text, end);
    return true;
  };
  if (!number("temperature", request.sampling.temperature) ||
      !number("top_p", request.sampling.top_p) ||
      !number("presence_penalty", request.sampling.presence_penalty) ||
      !number("frequency_penalty", request.sampling.frequency_penalty))
    return std::nullopt;
  if (!request.sampling.stop.empty()) {
    out += ",\"stop\":[";
    for (std::size_t i = 0; i < request.sampling.stop.size(); ++i) {
      if (!is_valid_utf8(request.sampling.stop[i])) return std::nullopt;
      if (i) out += ',';
      append_json_string(out, request.sampling.stop[i]);
    }
    out += ']';
  }
  if (request.sampling.seed) {
    out += ",\"seed\":";
    append_json_integer(out, *request.sampling.seed);
  }
  if (request.sampling.json_object) out += ",\"response_format\":{\"type\":\"json_object\"}";
  out += stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
                : ",\"stream\":false}";
  return out;
}

json request_body(const InferenceRequest& request, bool stream) {
  json body = json::object();
  if (!request.model.empty()) body["model"] = request.model;
  json messages = json::array();
  for (const auto& m : request.messages)
    messages.push_back(json{{"role", m.role}, {"content", m.content}});
  body["messages"] = std::move(messages);
  body["max_tokens"] = request.max_tokens;
  if (request.sampling.temperature) body["temperature"] = *request.sampling.temperature;
  if (request.sampling.top_p) body["top_p"] = *request.sampling.top_p;
  if (request.sampling.presence_penalty)
    body["presence_penalty"] = *request.sampling.presence_penalty;
  if (request.sampling.frequency_penalty)
    body["frequency_penalty"] = *request.sampling.frequency_penalty;
  if (!request.sampling.stop.empty()) body["stop"] = request.sampling.stop;
  if (request.sampling.seed) body["seed"] = *request.sampling.seed;
  if (request.sampling.json_object) body["response_format"] = json{{"type", "json_object"}};
  body["stream"] = stream;
  if (stream) body["stream_options"] = json{{"include_usage", true}};
  return body;
}

void read_usage(const json& chunk, std::optional<std::uint32_t>& prompt,
                std::optional<std::uint32_t>& completion) {
  // Through the object itself: GCC's null-dereference check trips on json::find's iterator here.
  if (!chunk.is_object()) return;
  const auto& members = chunk.get_ref<const json::object_t&>();
  auto it = members.find("usage");
  if (it == members.end() || !it->second.is_object()) return;
  if (auto p = json_count(it->second, "prompt_tokens")) prompt = p;
  if (auto c = json_count(it->second, "completion_tokens")) completion = c;
}

// The members of the object at the cursor, one by one: `member` reads or skips each value.
bool read_members(JsonReader& r, const std::function<bool(std::string_view)>& member) {
  if (!r.expect('{')) return false;
  if (r.consume('}')) return true;
  std::string name;
  do {
    name.clear();
    if (!r.read_string(name) || !r.expect(':') || !member(name)) return false;
  } while (r.consume(','));
  return r.expect('}');
}

// A token count as json_count reads it: an integer from 0 to 2^32-1, anything else absent.
bool read_count(JsonReader& r, std::optional<std::uint32_t>& out) {
  char c = r.peek();
  if (c != '-' && (c < '0' || c > '9')) return r.skip_value();
  JsonReader::Number n;
  if (!r.read_number(n)) return false;
  if (n.integral && !n.overflow && (!n.negative || n.magnitude == 0) &&
      n.magnitude <= 0xffffffffull)
    out = static_cast<std::uint32_t>(n.magnitude);
  else
    out.reset();
  return true;
}

// A string member, or absent when the value is another type.
bool read_optional_string(JsonReader& r, std::optional<std::string>& out) {
  if (r.peek() != '"') {
    out.reset();
    return r.skip_value();
  }
  out.emplace();
  return r.read_string(*out);
}

// A whole chat completion, read with JsonReader: the same answers as nlohmann would give (the
// last of repeated members counts), without building a document.
Result<InferenceResult> parse_completion(const std::string& body,
                                         const std::vector<ChatMessage>& messages) {
  JsonReader r(body);
  if (r.peek() != '{') return unreadable("not a JSON object");
  bool choices_ok = false, message_ok = false;
  std::optional<std::string> text, reason;
  std::optional<std::uint32_t> prompt, completion;
  auto read_choice = [&] {
    return read_members(r, [&](std::string_view name) {
      if (name == "message") {
        message_ok = r.peek() == '{';
        text.reset();
        if (!message_ok) return r.skip_value();
        return read_members(r, [&](std::string_view field) {
          return field == "content" ? read_optional_string(r, text) : r.skip_value();
        });
      }
      if (name == "finish_reason") return read_optional_string(r, reason);
      return r.skip_value();
    });
  };
  bool ok = read_members(r, [&](std::string_view name) {
    if (name == "choices") {
      choices_ok = message_ok = false;
      text.reset();
      reason.reset();
      if (r.peek() != '[') return r.skip_value();
      r.expect('[');
      if (r.consume(']')) return true;
      if (r.peek() == '{') {
        choices_ok = true;
        if (!read_choice()) return false;
      } else if (!r.skip_value()) {
        return false;
      }
      while (r.consume(','))
        if (!r.skip_value()) return false;
      return r.expect(']');
    }
    if (name == "usage") {
      prompt.reset();
      completion.reset();
      if (r.peek() != '{') return r.skip_value();
      return read_members(r, [&](std::string_view field) {
        if (field == "prompt_tokens") return read_count(r, prompt);
        if (field == "completion_tokens") return read_count(r, completion);
        return r.skip_value();
      });
    }
    return r.skip_value();
  });
  if (!ok || !r.at_end()) return unreadable("not a JSON object");
  if (!choices_ok) return unreadable("no choices");
  if (!message_ok) return unreadable("no message");
  InferenceResult result;
  if (text) result.text = std::move(*text);
  if (reason) result.finish_reason = map_finish_reason(*reason);
  result.usage = complete_usage(prompt, completion, messages, result.text);
  return result;
}

// One SSE event of a streamed chat completion; false stops the stream.
bool on_event(StreamJob& job, const SseParser::Event& event) {
  if (event.data == "[DONE]") {
    job.finished = true;
    return true;
  }
  auto chunk = json::parse(event.data, nullptr, false);
  if (!chunk.is_object()) {
    job.failure = unreadable("a stream event is not a JSON object");
    return false;
  }
  if (chunk.contains("error")) {
    job.failure =
        make_error(ErrorCode::error, "runner failed mid-stream: " +
                                         json_error_message(chunk).value_or("unspecified error"));
    return false;
  }
  read_usage(chunk, job.prompt_tokens, job.completion_tokens);
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return true;
  const json& choice = (*choices)[0];
  if (!choice.is_object()) return true;
  if (auto delta = choice.find("delta"); delta != choice.end()) {
    if (const auto* content = json_string(*delta, "content")) {
      if (!job.deliver(*content)) return false;
    }
  }
  if (const auto* reason = json_string(choice, "finish_reason")) {
    job.finish_reason = map_finish_reason(*reason);
    // Some servers end the stream after the finish_reason chunk without a [DONE].
    job.finished = true;
  }
  return true;
}

class OpenAiRunner final : public HttpRunner {
 public:
  using HttpRunner::HttpRunner;

  std::string_view kind() const override { return "openai"; }

  void models(std::function<void(Result<std::vector<std::string>>)> handler) override {
    client().request(get("/v1/models", kMetaTimeout),
                     [handler = std::move(handler)](Result<HttpResponse> r) {
                       if (!r) return handler(r.error());
                       if (r->status != 200) return handler(status_error(r->status, r->body));
                       auto doc = json::parse(r->body, nullptr, false);
                       auto data = doc.is_object() ? doc.find("data") : doc.end();
                       if (!doc.is_object() || data == doc.end() || !data->is_array())
                         return handler(unreadable("no data array in /v1/models"));
                       std::vector<std::string> ids;
                       for (const auto& m : *data) {
                         if (const auto* id = json_string(m, "id")) ids.push_back(*id);
                       }
                       handler(std::move(ids));
                     });
  }

  void infer(InferenceRequest request, InferenceHandler handler) override {
    if (auto body = write_request(request, false))
      return infer_body("/v1/chat/completions", std::move(*body), std::move(request),
                        std::move(handler), parse_completion);
    auto body = request_body(request, false);
    infer_json("/v1/chat/completions", body, std::move(request), std::move(handler),
               parse_completion);
  }

  void stream(InferenceRequest request, StreamCallbacks callbacks) override {
    auto body = request_body(request, true);
    stream_sse("/v1/chat/completions", body, std::move(request), std::move(callbacks), on_event);
  }

  void health(std::function<void(Status)> handler) override {
    auto fallback = get("/v1/models", kMetaTimeout);
    client().request(get("/health", kMetaTimeout),
                     [weak = weak_client(), fallback = std::move(fallback),
                      handler = std::move(handler)](Result<HttpResponse> r) mutable {
                       if (!r) return handler(r.error());
                       if (r->status == 200) return handler(Status{});
                       if (r->status != 404) return handler(status_error(r->status, r->body));
                       // No /health (Ollama's OpenAI API, some proxies): a model list answers as
                       // well.
                       auto http = weak.lock();
                       if (!http) return handler(make_error(ErrorCode::error, "cancelled"));
                       http->request(std::move(fallback),
                                     [handler = std::move(handler)](Result<HttpResponse> m) {
                                       if (!m) return handler(m.error());
                                       if (m->status != 200)
                                         return handler(status_error(m->status, m->body));
                                       handler(Status{});
                                     });
                     });
  }
};

}  // namespace

std::unique_ptr<Runner> make_openai_runner(ClientStrand strand, Endpoint endpoint) {
  return std::make_unique<OpenAiRunner>(std::move(strand), std::move(endpoint));
}

}  // namespace fedai::runners::detail
