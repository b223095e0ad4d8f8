// What the HTTP adapters share: the client and endpoint, request builders, the mapping of a
// server's error answers to fedai Errors, and the bookkeeping of one streamed inference.
// Internal to fedai_runners (the public surface is runner.h and make_runner).
//
// Callbacks given to the HttpClient never capture the runner itself: a runner destroyed with
// requests in flight cancels them, and their completions still run afterwards.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "runners/http_client.h"
#include "runners/runner.h"

namespace fedai::runners::detail {

// Deadline for models() and health(): small answers that should come back at once.
inline constexpr std::chrono::milliseconds kMetaTimeout{10'000};
// How much of an error answer is kept to find the server's message in.
inline constexpr std::size_t kMaxErrorBody = 64 * 1024;

struct Endpoint {
  std::string base;  // "http://host:port" plus an optional path prefix, no trailing '/'
  std::optional<std::string> api_key;
  std::chrono::milliseconds connect_timeout{5'000};
};

struct StreamJob;

class HttpRunner : public Runner {
 public:
  HttpRunner(ClientStrand strand, Endpoint endpoint);

 protected:
  HttpRequest get(std::string_view path, std::chrono::milliseconds timeout) const;
  HttpRequest post_json(std::string_view path, const nlohmann::json& body,
                        std::chrono::milliseconds timeout) const;
  HttpRequest post_body(std::string_view path, std::string body,
                        std::chrono::milliseconds timeout) const;
  HttpClient& client() { return *client_; }

  // A whole answer: POSTs `body` to `path`; a 2xx body goes to `parse` (with the messages, for
  // the usage estimate), anything else becomes status_error.
  using ParseCompletion = Result<InferenceResult> (*)(const std::string& body,
                                                      const std::vector<ChatMessage>& messages);
  void infer_json(std::string_view path, const nlohmann::json& body, InferenceRequest request,
                  InferenceHandler handler, ParseCompletion parse);
  // As infer_json, with the JSON body already written.
  void infer_body(std::string_view path, std::string body, InferenceRequest request,
                  InferenceHandler handler, ParseCompletion parse);
  // A streamed answer as Server-Sent Events: POSTs `body` to `path` and hands each event to
  // `on_event` (false stops the stream).
  using OnSseEvent = bool (*)(StreamJob& job, const SseParser::Event& event);
  void stream_sse(std::string_view path, const nlohmann::json& body, InferenceRequest request,
                  StreamCallbacks callbacks, OnSseEvent on_event);
  // For a callback that issues a follow-up request: the client may be gone by then.
  std::weak_ptr<HttpClient> weak_client() const { return client_; }

 private:
  Endpoint endpoint_;
  std::shared_ptr<HttpClient> client_;
};

// A non-2xx answer as an Error: 400/413/422 are `invalid:` (the request was at fault), 429 and
// 503 `rate-limited:` (try later), anything else `error:`. The message carries the status and,
// when the body has one, the server's own short message ({"error":{"message":...}},
// {"error":"..."} or {"message":...}).
Error status_error(int status, std::string_view body);
// "error: runner sent an unreadable answer: WHY".
Error unreadable(std::string_view why);

// A non-negative integer member, if present.
std::optional<std::uint32_t> json_count(const nlohmann::json& object, const char* key);
// A string member, if present.
const std::string* json_string(const nlohmann::json& object, const char* key);
// The server's message in an error object, if any.
std::optional<std::string> json_error_message(const nlohmann::json& body);

// One streamed inference: collects the text, usage and finish reason as the adapter's parser
// finds them, passes deltas on, and reports once.
struct StreamJob {
  StreamCallbacks callbacks;
  std::vector<ChatMessage> messages;  // for the usage estimate
  std::string text;
  std::string finish_reason = "stop";
  std::optional<std::uint32_t> prompt_tokens;
  std::optional<std::uint32_t> completion_tokens;
  int status = 0;
  std::string error_body;
  std::optional<Error> failure;  // reported by the server inside the stream, or unreadable
  bool cancelled = false;
  bool finished = false;  // the server's end of answer was seen
  // Runs when a 2xx body ended cleanly, before the result is judged (flushes a last line).
  std::function<void(StreamJob&)> at_end;

  // Appends `delta` and hands it to the caller; false when the caller cancels.
  bool deliver(std::string_view delta);
  void done(const Status& transport);
};

// StreamHandlers for `job`: headers and error bodies handled here, 2xx body bytes go to
// `consume` (false stops the stream).
StreamHandlers stream_handlers(std::shared_ptr<StreamJob> job,
                               std::function<bool(StreamJob&, std::string_view)> consume);

// Lines of NDJSON (or any newline-delimited text) from arbitrary chunks.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line) : max_line_(max_line) {}
  // Calls `on_line` for every complete line (without its LF or CRLF); false when a line grows
  // beyond the limit or `on_line` returns false.
  bool feed(std::string_view bytes, const std::function<bool(std::string_view)>& on_line);
  // The body ended: a last line without its newline still counts.
  bool finish(const std::function<bool(std::string_view)>& on_line);

 private:
  std::size_t max_line_;
  std::string partial_;
};

std::string map_finish_reason(std::string_view reason);

}  // namespace fedai::runners::detail
