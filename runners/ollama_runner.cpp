// Ollama's native API: POST /api/chat (`options.num_predict` from max_tokens,
// `options.temperature`, `top_p`, `seed`, `presence_penalty`, `frequency_penalty`, `stop`; JSON
// mode as `format: "json"`), streamed as NDJSON (one JSON object a line, the last with
// `done: true`). Usage from `prompt_eval_count` / `eval_count`: Ollama leaves out
// prompt_eval_count when the whole prompt came from its cache, and then the prompt side is
// estimated. Models from /api/tags, health from /api/version.
#include <string>
#include <utility>
#include <vector>

#include "runners/adapters.h"
#include "runners/usage_estimate.h"

namespace fedai::runners::detail {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxLine = 1 << 20;

json request_body(const InferenceRequest& request, bool stream) {
  json messages = json::array();
  for (const auto& m : request.messages)
    messages.push_back(json{{"role", m.role}, {"content", m.content}});
  json options = json{{"num_predict", request.max_tokens}};
  if (request.sampling.temperature) options["temperature"] = *request.sampling.temperature;
  if (request.sampling.top_p) options["top_p"] = *request.sampling.top_p;
  if (request.sampling.seed) options["seed"] = *request.sampling.seed;
  if (request.sampling.presence_penalty)
    options["presence_penalty"] = *request.sampling.presence_penalty;
  if (request.sampling.frequency_penalty)
    options["frequency_penalty"] = *request.sampling.frequency_penalty;
  if (!request.sampling.stop.empty()) options["stop"] = request.sampling.stop;
  json body = json{{"model", request.model},
                   {"messages", std::move(messages)},
                   {"stream", stream},
                   {"options", std::move(options)}};
  if (request.sampling.json_object) body["format"] = "json";
  return body;
}

void read_final(const json& doc, std::optional<std::uint32_t>& prompt,
                std::optional<std::uint32_t>& completion, std::string& finish_reason) {
  prompt = json_count(doc, "prompt_eval_count");
  completion = json_count(doc, "eval_count");
  if (const auto* reason = json_string(doc, "done_reason"))
    finish_reason = map_finish_reason(*reason);
}

const std::string* message_content(const json& doc) {
  auto message = doc.find("message");
  if (message == doc.end()) return nullptr;
  return json_string(*message, "content");
}

Result<InferenceResult> parse_chat(const std::string& body,
                                   const std::vector<ChatMessage>& messages) {
  auto doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) return unreadable("not a JSON object");
  if (doc.contains("error"))
    return make_error(ErrorCode::error,
                      "runner failed: " + json_error_message(doc).value_or("unspecified error"));
  const auto* content = message_content(doc);
  if (!content) return unreadable("no message content");
  InferenceResult result;
  result.text = *content;
  std::optional<std::uint32_t> prompt, completion;
  read_final(doc, prompt, completion, result.finish_reason);
  result.usage = complete_usage(prompt, completion, messages, result.text);
  return result;
}

bool on_line(StreamJob& job, std::string_view line) {
  if (line.empty()) return true;
  if (job.finished) return true;  // nothing should follow the final line; ignore it
  auto doc = json::parse(line, nullptr, false);
  if (!doc.is_object()) {
    job.failure = unreadable("a stream line is not a JSON object");
    return false;
  }
  if (doc.contains("error")) {
    job.failure =
        make_error(ErrorCode::error, "runner failed mid-stream: " +
                                         json_error_message(doc).value_or("unspecified error"));
    return false;
  }
  if (const auto* content = message_content(doc)) {
    if (!job.deliver(*content)) return false;
  }
  if (auto done = doc.find("done"); done != doc.end() && done->is_boolean() && done->get<bool>()) {
    read_final(doc, job.prompt_tokens, job.completion_tokens, job.finish_reason);
    job.finished = true;
  }
  return true;
}

class OllamaRunner final : public HttpRunner {
 public:
  using HttpRunner::HttpRunner;

  std::string_view kind() const override { return "ollama"; }

  void models(std::function<void(Result<std::vector<std::string>>)> handler) override {
    client().request(get("/api/tags", kMetaTimeout),
                     [handler = std::move(handler)](Result<HttpResponse> r) {
                       if (!r) return handler(r.error());
                       if (r->status != 200) return handler(status_error(r->status, r->body));
                       auto doc = json::parse(r->body, nullptr, false);
                       auto list = doc.is_object() ? doc.find("models") : doc.end();
                       if (!doc.is_object() || list == doc.end() || !list->is_array())
                         return handler(unreadable("no models array in /api/tags"));
                       std::vector<std::string> names;
                       for (const auto& m : *list) {
                         const auto* name = json_string(m, "name");
                         if (!name) name = json_string(m, "model");
                         if (name) names.push_back(*name);
                       }
                       handler(std::move(names));
                     });
  }

  void infer(InferenceRequest request, InferenceHandler handler) override {
    auto http = post_json("/api/chat", request_body(request, false), request.timeout);
    client().request(std::move(http),
                     [handler = std::move(handler),
                      messages = std::move(request.messages)](Result<HttpResponse> r) {
                       if (!r) return handler(r.error());
                       if (r->status < 200 || r->status > 299)
                         return handler(status_error(r->status, r->body));
                       handler(parse_chat(r->body, messages));
                     });
  }

  void stream(InferenceRequest request, StreamCallbacks callbacks) override {
    auto http = post_json("/api/chat", request_body(request, true), request.timeout);
    auto job = std::make_shared<StreamJob>();
    job->callbacks = std::move(callbacks);
    job->messages = std::move(request.messages);
    auto lines = std::make_shared<LineSplitter>(kMaxLine);
    job->at_end = [lines](StreamJob& j) {
      lines->finish([&](std::string_view line) { return on_line(j, line); });
    };
    client().stream(std::move(http),
                    stream_handlers(job, [lines](StreamJob& j, std::string_view bytes) {
                      bool keep_going = true;
                      bool fits = lines->feed(bytes, [&](std::string_view line) {
                        keep_going = on_line(j, line);
                        return keep_going;
                      });
                      if (!fits && keep_going) j.failure = unreadable("a stream line is too long");
                      return fits;
                    }));
  }

  void health(std::function<void(Status)> handler) override {
    client().request(get("/api/version", kMetaTimeout),
                     [handler = std::move(handler)](Result<HttpResponse> r) {
                       if (!r) return handler(r.error());
                       if (r->status == 200) return handler(Status{});
                       handler(status_error(r->status, r->body));
                     });
  }
};

}  // namespace

std::unique_ptr<Runner> make_ollama_runner(ClientStrand strand, Endpoint endpoint) {
  return std::make_unique<OllamaRunner>(std::move(strand), std::move(endpoint));
}

}  // namespace fedai::runners::detail
