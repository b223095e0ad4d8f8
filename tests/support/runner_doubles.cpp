#include "tests/support/runner_doubles.h"

#include <nlohmann/json.hpp>

#include <chrono>

namespace fedai::test {

using nlohmann::json;

namespace {

constexpr std::chrono::milliseconds kStallLimit{20'000};

bool is_stream(const TestRequest& r) {
  auto body = json::parse(r.body, nullptr, false);
  return body.is_object() && body.value("stream", false);
}

void not_found(TestExchange& ex) {
  ex.json(404, R"({"error":{"message":"no such route"}})");
}

// SSE `data:` events, one per piece, through `event_for`; then `tail` events.
template <class EventFor>
void stream_sse(TestExchange& ex, const RunnerScript& s, EventFor event_for,
                const std::vector<std::string>& tail, const std::string& error_event) {
  ex.start_chunked(200, "text/event-stream");
  ex.chunk(": keep-alive comment\n\n");
  for (std::size_t i = 0; i < s.pieces.size(); ++i) {
    ex.chunk("data: " + event_for(s.pieces[i]) + "\n\n");
    if (i == 0 && s.stall_after_first) {
      ex.wait_client_gone(kStallLimit);
      return;
    }
    if (i == 0 && s.fail_mid_stream) {
      ex.chunk("data: " + error_event + "\n\n");
      ex.end_chunked();
      return;
    }
  }
  for (const auto& t : tail) ex.chunk("data: " + t + "\r\n\r\n");
  ex.end_chunked();
}

}  // namespace

std::string joined(const RunnerScript& script) {
  std::string out;
  for (const auto& p : script.pieces) out += p;
  return out;
}

TestHandler openai_double(RunnerScript s) {
  return [s](TestExchange& ex) {
    const auto& r = ex.request();
    if (r.target == "/health") {
      if (s.legacy) return not_found(ex);
      return ex.json(200, R"({"status":"ok"})");
    }
    if (r.target == "/v1/models") {
      json data = json::array();
      for (const auto& m : s.models) data.push_back(json{{"id", m}, {"object", "model"}});
      return ex.json(200, json{{"object", "list"}, {"data", data}}.dump());
    }
    if (r.target != "/v1/chat/completions" || r.method != "POST") return not_found(ex);
    if (s.error_status) {
      return ex.json(
          s.error_status,
          json{{"error", {{"message", s.error_message}, {"type", "server_error"}}}}.dump());
    }
    json usage = {{"prompt_tokens", s.prompt_tokens},
                  {"completion_tokens", s.completion_tokens},
                  {"total_tokens", s.prompt_tokens + s.completion_tokens}};
    if (!is_stream(r)) {
      json out = {{"id", "chatcmpl-1"},
                  {"object", "chat.completion"},
                  {"choices",
                   {{{"index", 0},
                     {"message", {{"role", "assistant"}, {"content", joined(s)}}},
                     {"finish_reason", s.finish}}}}};
      if (s.usage) out["usage"] = usage;
      return ex.json(200, out.dump());
    }
    auto chunk = [](json choices) {
      return json{{"id", "chatcmpl-1"}, {"object", "chat.completion.chunk"}, {"choices", choices}};
    };
    std::vector<std::string> tail = {
        chunk(json::array({{{"index", 0}, {"delta", json::object()}, {"finish_reason", s.finish}}}))
            .dump()};
    if (s.usage) {
      json last = chunk(json::array());
      last["usage"] = usage;
      tail.push_back(last.dump());
    }
    tail.push_back("[DONE]");
    stream_sse(
        ex, s,
        [&](const std::string& piece) {
          return chunk(json::array({{{"index", 0},
                                     {"delta", {{"content", piece}}},
                                     {"finish_reason", nullptr}}}))
              .dump();
        },
        tail, R"({"error":{"message":"the GPU fell over"}})");
  };
}

TestHandler llamacpp_double(RunnerScript s) {
  return [s](TestExchange& ex) {
    const auto& r = ex.request();
    if (r.target == "/health") return ex.json(200, R"({"status":"ok"})");
    if (r.target == "/v1/models") {
      if (s.legacy) return not_found(ex);
      json data = json::array();
      for (const auto& m : s.models) data.push_back(json{{"id", m}});
      return ex.json(200, json{{"object", "list"}, {"data", data}}.dump());
    }
    if (r.target == "/props") {
      return ex.json(200, json{{"model_path", "/models/" + s.models.at(0)}}.dump());
    }
    if (r.target != "/completion" || r.method != "POST") return not_found(ex);
    if (s.error_status) {
      return ex.json(
          s.error_status,
          json{{"error", {{"code", s.error_status}, {"message", s.error_message}}}}.dump());
    }
    json final_fields = {{"stop", true},
                         {"stop_type", s.finish == "length" ? "limit" : "eos"},
                         {"stopped_limit", s.finish == "length"}};
    if (s.usage) {
      final_fields["tokens_evaluated"] = s.prompt_tokens;
      final_fields["tokens_predicted"] = s.completion_tokens;
    }
    if (!is_stream(r)) {
      json out = final_fields;
      out["content"] = joined(s);
      return ex.json(200, out.dump());
    }
    json last = final_fields;
    last["content"] = "";
    stream_sse(
        ex, s,
        [&](const std::string& piece) {
          return json{{"content", piece}, {"stop", false}}.dump();
        },
        {last.dump()}, R"({"error":{"code":500,"message":"slot crashed"}})");
  };
}

TestHandler ollama_double(RunnerScript s) {
  return [s](TestExchange& ex) {
    const auto& r = ex.request();
    if (r.target == "/api/version") return ex.json(200, R"({"version":"0.5.7"})");
    if (r.target == "/api/tags") {
      json models = json::array();
      for (const auto& m : s.models) models.push_back(json{{"name", m}, {"model", m}});
      return ex.json(200, json{{"models", models}}.dump());
    }
    if (r.target != "/api/chat" || r.method != "POST") return not_found(ex);
    if (s.error_status) return ex.json(s.error_status, json{{"error", s.error_message}}.dump());
    json final_fields = {{"done", true}, {"done_reason", s.finish}};
    // Ollama leaves prompt_eval_count out when the prompt came from its cache; eval_count stays.
    if (s.usage) final_fields["prompt_eval_count"] = s.prompt_tokens;
    final_fields["eval_count"] = s.completion_tokens;
    if (!is_stream(r)) {
      json out = final_fields;
      out["message"] = {{"role", "assistant"}, {"content", joined(s)}};
      return ex.json(200, out.dump());
    }
    ex.start_chunked(200, "application/x-ndjson");
    for (std::size_t i = 0; i < s.pieces.size(); ++i) {
      json line = {{"message", {{"role", "assistant"}, {"content", s.pieces[i]}}}, {"done", false}};
      std::string text = line.dump() + "\n";
      // Split a line across two chunks: the adapter must join them.
      ex.chunk(text.substr(0, text.size() / 2));
      ex.chunk(text.substr(text.size() / 2));
      if (i == 0 && s.stall_after_first) {
        ex.wait_client_gone(kStallLimit);
        return;
      }
      if (i == 0 && s.fail_mid_stream) {
        ex.chunk(R"({"error":"runner process exited"})"
                 "\n");
        ex.end_chunked();
        return;
      }
    }
    json last = final_fields;
    last["message"] = {{"role", "assistant"}, {"content", ""}};
    ex.chunk(last.dump() + "\n");
    ex.end_chunked();
  };
}

}  // namespace fedai::test
