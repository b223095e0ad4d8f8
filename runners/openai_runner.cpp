// The OpenAI-compatible adapter: POST /v1/chat/completions (plain, or `stream: true` as
// Server-Sent Events with `stream_options.include_usage` so the last chunk carries usage),
// GET /v1/models, and GET /health (falling back to /v1/models where there is none).
#include <string>
#include <utility>
#include <vector>

#include "runners/adapters.h"
#include "runners/usage_estimate.h"

namespace fedai::runners::detail {

namespace {

using nlohmann::json;

json request_body(const InferenceRequest& request, bool stream) {
  json body = json::object();
  if (!request.model.empty()) body["model"] = request.model;
  json messages = json::array();
  for (const auto& m : request.messages)
    messages.push_back(json{{"role", m.role}, {"content", m.content}});
  body["messages"] = std::move(messages);
  body["max_tokens"] = request.max_tokens;
  if (request.temperature) body["temperature"] = *request.temperature;
  body["stream"] = stream;
  if (stream) body["stream_options"] = json{{"include_usage", true}};
  return body;
}

void read_usage(const json& chunk, std::optional<std::uint32_t>& prompt,
                std::optional<std::uint32_t>& completion) {
  auto it = chunk.find("usage");
  if (it == chunk.end() || !it->is_object()) return;
  if (auto p = json_count(*it, "prompt_tokens")) prompt = p;
  if (auto c = json_count(*it, "completion_tokens")) completion = c;
}

Result<InferenceResult> parse_completion(const std::string& body,
                                         const std::vector<ChatMessage>& messages) {
  auto doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) return unreadable("not a JSON object");
  auto choices = doc.find("choices");
  if (choices == doc.end() || !choices->is_array() || choices->empty() ||
      !(*choices)[0].is_object())
    return unreadable("no choices");
  const json& choice = (*choices)[0];
  auto message = choice.find("message");
  if (message == choice.end() || !message->is_object()) return unreadable("no message");
  InferenceResult result;
  if (const auto* content = json_string(*message, "content")) result.text = *content;
  if (const auto* reason = json_string(choice, "finish_reason"))
    result.finish_reason = map_finish_reason(*reason);
  std::optional<std::uint32_t> prompt, completion;
  read_usage(doc, prompt, completion);
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
