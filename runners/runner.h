// The Runner interface: how a node talks to the model server that does the inference.
//
// Adapters (runners/*_runner.cpp) speak an OpenAI-compatible /v1/chat/completions (llama.cpp's
// server, vLLM, Ollama's OpenAI API), llama.cpp's native /completion, and Ollama's /api/chat.
// All calls are asynchronous on the caller's io_context; callbacks run there. Prompts and outputs
// pass through memory only: nothing here logs them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.h"

namespace fedai::runners {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// OpenAI's sampling parameters, as nips/F-04's job body carries them from the client to the node
// and each model server adapter passes them on in its server's terms. Unset: the server's default.
struct Sampling {
  std::optional<double> temperature;  // 0..2
  std::vector<std::string> stop;      // up to 4 strings the output ends before
  std::optional<double> top_p;        // 0..1
  std::optional<std::int64_t> seed;
  std::optional<double> presence_penalty;   // -2..2
  std::optional<double> frequency_penalty;  // -2..2
  bool json_object = false;                 // response_format {"type": "json_object"}
};

struct InferenceRequest {
  std::string model;
  std::vector<ChatMessage> messages;
  std::uint32_t max_tokens = 256;
  Sampling sampling;
  std::chrono::milliseconds timeout{120'000};
};

struct Usage {
  std::uint32_t prompt_tokens = 0;
  std::uint32_t completion_tokens = 0;
  bool estimated = false;  // the server reported none: counted by a documented estimate
};

struct InferenceResult {
  std::string text;
  std::string finish_reason = "stop";  // "stop" or "length"
  Usage usage;
};

using InferenceHandler = std::function<void(Result<InferenceResult>)>;

struct StreamCallbacks {
  // Each piece of text as the model produces it; return false to cancel (on_done then gets
  // an `error: cancelled` Result).
  std::function<bool(std::string_view delta)> on_delta;
  // Once, with the whole text and usage, or the failure.
  InferenceHandler on_done;
};

class Runner {
 public:
  virtual ~Runner() = default;
  virtual std::string_view kind() const = 0;  // "openai", "llamacpp", "ollama"
  virtual void models(std::function<void(Result<std::vector<std::string>>)> handler) = 0;
  virtual void infer(InferenceRequest request, InferenceHandler handler) = 0;
  virtual void stream(InferenceRequest request, StreamCallbacks callbacks) = 0;
  virtual void health(std::function<void(Status)> handler) = 0;
};

struct RunnerOptions {
  std::string kind = "openai";         // openai | llamacpp | ollama
  std::string base_url;                // e.g. http://127.0.0.1:8080
  std::optional<std::string> api_key;  // sent as a bearer token (OpenAI-compatible servers)
  std::chrono::milliseconds connect_timeout{5'000};
};

// An adapter for `options.kind`; an `invalid:` error for an unknown kind or a malformed URL. Its
// HTTP work runs on `strand` (an agent's own), or on a strand of its own on `io`.
Result<std::unique_ptr<Runner>> make_runner(boost::asio::io_context& io,
                                            const RunnerOptions& options);
Result<std::unique_ptr<Runner>> make_runner(
    boost::asio::strand<boost::asio::io_context::executor_type> strand,
    const RunnerOptions& options);

}  // namespace fedai::runners
