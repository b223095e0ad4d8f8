// llama.cpp's native server API: POST /completion with a prompt built by simple_chat_prompt
// (`n_predict` from max_tokens, the template's stop strings then the client's, `cache_prompt`,
// top_p, seed, the penalties, JSON mode as `json_schema: {"type": "object"}`), streamed as SSE
// with `stream: true`. Usage comes from `tokens_evaluated` / `tokens_predicted`, or from
// `timings.prompt_n` / `timings.predicted_n`. Models from /v1/models (llama.cpp's server
// answers it), else the file name in /props; health from /health (503 while loading).
#include <string>
#include <utility>
#include <vector>

#include "runners/adapters.h"
#include "runners/chat_prompt.h"
#include "runners/usage_estimate.h"

namespace fedai::runners::detail {

namespace {

using nlohmann::json;

json request_body(const InferenceRequest& request, bool stream) {
  json stop = json::array();
  for (auto s : kChatPromptStops) stop.push_back(std::string(s));
  for (const auto& s : request.sampling.stop)
    stop.push_back(s);  // the client's, after the template's
  json body = json{{"prompt", simple_chat_prompt(request.messages)},
                   {"n_predict", request.max_tokens},
                   {"stop", std::move(stop)},
                   {"cache_prompt", true},
                   {"stream", stream}};
  if (request.sampling.temperature) body["temperature"] = *request.sampling.temperature;
  if (request.sampling.top_p) body["top_p"] = *request.sampling.top_p;
  if (request.sampling.seed) body["seed"] = *request.sampling.seed;
  if (request.sampling.presence_penalty)
    body["presence_penalty"] = *request.sampling.presence_penalty;
  if (request.sampling.frequency_penalty)
    body["frequency_penalty"] = *request.sampling.frequency_penalty;
  // JSON mode: the server turns a JSON schema into a grammar; this one allows any object.
  if (request.sampling.json_object) body["json_schema"] = json{{"type", "object"}};
  return body;
}

// The counts and the stop reason of a final answer (plain, or the last stream event).
void read_final(const json& doc, std::optional<std::uint32_t>& prompt,
                std::optional<std::uint32_t>& completion, std::string& finish_reason) {
  prompt = json_count(doc, "tokens_evaluated");
  completion = json_count(doc, "tokens_predicted");
  if (auto timings = doc.find("timings"); timings != doc.end() && timings->is_object()) {
    if (!prompt) prompt = json_count(*timings, "prompt_n");
    if (!completion) completion = json_count(*timings, "predicted_n");
  }
  bool limit = false;
  if (const auto* type = json_string(doc, "stop_type")) limit = *type == "limit";
  if (auto it = doc.find("stopped_limit"); it != doc.end() && it->is_boolean())
    limit = limit || it->get<bool>();
  finish_reason = limit ? "length" : "stop";
}

Result<InferenceResult> parse_completion(const std::string& body,
                                         const std::vector<ChatMessage>& messages) {
  auto doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) return unreadable("not a JSON object");
  const auto* content = json_string(doc, "content");
  if (!content) return unreadable("no content");
  InferenceResult result;
  result.text = *content;
  std::optional<std::uint32_t> prompt, completion;
  read_final(doc, prompt, completion, result.finish_reason);
  result.usage = complete_usage(prompt, completion, messages, result.text);
  return result;
}

bool on_event(StreamJob& job, const SseParser::Event& event) {
  if (event.data == "[DONE]") {
    job.finished = true;
    return true;
  }
  auto doc = json::parse(event.data, nullptr, false);
  if (!doc.is_object()) {
    job.failure = unreadable("a stream event is not a JSON object");
    return false;
  }
  if (doc.contains("error")) {
    job.failure =
        make_error(ErrorCode::error, "runner failed mid-stream: " +
                                         json_error_message(doc).value_or("unspecified error"));
    return false;
  }
  if (const auto* content = json_string(doc, "content")) {
    if (!job.deliver(*content)) return false;
  }
  if (auto stop = doc.find("stop"); stop != doc.end() && stop->is_boolean() && stop->get<bool>()) {
    read_final(doc, job.prompt_tokens, job.completion_tokens, job.finish_reason);
    job.finished = true;
  }
  return true;
}

class LlamaCppRunner final : public HttpRunner {
 public:
  using HttpRunner::HttpRunner;

  std::string_view kind() const override { return "llamacpp"; }

  void models(std::function<void(Result<std::vector<std::string>>)> handler) override {
    auto props = get("/props", kMetaTimeout);
    client().request(
        get("/v1/models", kMetaTimeout),
        [weak = weak_client(), props = std::move(props),
         handler = std::move(handler)](Result<HttpResponse> r) mutable {
          if (!r) return handler(r.error());
          if (r->status == 200) {
            auto doc = json::parse(r->body, nullptr, false);
            auto data = doc.is_object() ? doc.find("data") : doc.end();
            if (!doc.is_object() || data == doc.end() || !data->is_array())
              return handler(unreadable("no data array in /v1/models"));
            std::vector<std::string> ids;
            for (const auto& m : *data) {
              if (const auto* id = json_string(m, "id")) ids.push_back(*id);
            }
            return handler(std::move(ids));
          }
          if (r->status != 404) return handler(status_error(r->status, r->body));
          // An older server without /v1/models: the model file's name from /props.
          auto http = weak.lock();
          if (!http) return handler(make_error(ErrorCode::error, "cancelled"));
          http->request(std::move(props), [handler = std::move(handler)](Result<HttpResponse> p) {
            if (!p) return handler(p.error());
            if (p->status != 200) return handler(status_error(p->status, p->body));
            auto doc = json::parse(p->body, nullptr, false);
            const auto* path = json_string(doc, "model_path");
            if (!path) return handler(unreadable("no model_path in /props"));
            auto slash = path->find_last_of('/');
            handler(std::vector<std::string>{slash == std::string::npos ? *path
                                                                        : path->substr(slash + 1)});
          });
        });
  }

  void infer(InferenceRequest request, InferenceHandler handler) override {
    auto body = request_body(request, false);
    infer_json("/completion", body, std::move(request), std::move(handler), parse_completion);
  }

  void stream(InferenceRequest request, StreamCallbacks callbacks) override {
    auto body = request_body(request, true);
    stream_sse("/completion", body, std::move(request), std::move(callbacks), on_event);
  }

  void health(std::function<void(Status)> handler) override {
    client().request(get("/health", kMetaTimeout),
                     [handler = std::move(handler)](Result<HttpResponse> r) {
                       if (!r) return handler(r.error());
                       if (r->status == 200) return handler(Status{});
                       handler(status_error(r->status, r->body));
                     });
  }
};

}  // namespace

std::unique_ptr<Runner> make_llamacpp_runner(ClientStrand strand, Endpoint endpoint) {
  return std::make_unique<LlamaCppRunner>(std::move(strand), std::move(endpoint));
}

}  // namespace fedai::runners::detail
