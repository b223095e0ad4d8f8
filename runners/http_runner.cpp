#include "runners/http_runner.h"

#include <cstring>

#include "runners/usage_estimate.h"

namespace fedai::runners::detail {

using nlohmann::json;

HttpRunner::HttpRunner(ClientStrand strand, Endpoint endpoint)
    : endpoint_(std::move(endpoint)), client_(std::make_shared<HttpClient>(std::move(strand))) {}

HttpRequest HttpRunner::get(std::string_view path, std::chrono::milliseconds timeout) const {
  HttpRequest r;
  r.method = "GET";
  r.url = endpoint_.base;
  r.url += path;
  r.timeout = timeout;
  r.connect_timeout = endpoint_.connect_timeout;
  r.headers.emplace_back("Accept", "application/json");
  if (endpoint_.api_key) r.headers.emplace_back("Authorization", "Bearer " + *endpoint_.api_key);
  return r;
}

HttpRequest HttpRunner::post_json(std::string_view path, const json& body,
                                  std::chrono::milliseconds timeout) const {
  return post_body(path, body.dump(-1, ' ', false, json::error_handler_t::replace), timeout);
}

HttpRequest HttpRunner::post_body(std::string_view path, std::string body,
                                  std::chrono::milliseconds timeout) const {
  HttpRequest r = get(path, timeout);
  r.method = "POST";
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

void HttpRunner::infer_json(std::string_view path, const json& body, InferenceRequest request,
                            InferenceHandler handler, ParseCompletion parse) {
  infer_body(path, body.dump(-1, ' ', false, json::error_handler_t::replace), std::move(request),
             std::move(handler), std::move(parse));
}

void HttpRunner::infer_body(std::string_view path, std::string body, InferenceRequest request,
                            InferenceHandler handler, ParseCompletion parse) {
  client().request(post_body(path, std::move(body), request.timeout),
                   [handler = std::move(handler), messages = std::move(request.messages),
                    parse](Result<HttpResponse> r) {
                     if (!r) return handler(r.error());
                     if (r->status < 200 || r->status > 299)
                       return handler(status_error(r->status, r->body));
                     handler(parse(r->body, messages));
                   });
}

void HttpRunner::stream_sse(std::string_view path, const json& body, InferenceRequest request,
                            StreamCallbacks callbacks, OnSseEvent on_event) {
  HttpRequest http = post_json(path, body, request.timeout);
  http.headers.emplace_back("Accept", "text/event-stream");
  auto job = std::make_shared<StreamJob>();
  job->callbacks = std::move(callbacks);
  job->messages = std::move(request.messages);
  auto parser = std::make_shared<SseParser>();
  client().stream(std::move(http),
                  stream_handlers(job, [parser, on_event](StreamJob& j, std::string_view bytes) {
                    bool keep_going = true;
                    bool fits = parser->feed(bytes, [&](const SseParser::Event& e) {
                      if (keep_going) keep_going = on_event(j, e);
                    });
                    if (!fits) j.failure = unreadable("a stream event is too large");
                    return fits && keep_going;
                  }));
}

namespace {

// At most `limit` bytes, control characters replaced: the message may end up in a log line or
// an event, and it came from another process.
std::string sanitize(std::string_view text, std::size_t limit = 200) {
  std::string out;
  out.reserve(std::min(text.size(), limit) + 3);
  for (char c : text.substr(0, limit)) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  if (text.size() > limit) out += "...";
  return out;
}

}  // namespace

std::optional<std::string> json_error_message(const json& body) {
  if (!body.is_object()) return std::nullopt;
  if (auto it = body.find("error"); it != body.end()) {
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object()) {
      if (const auto* m = json_string(*it, "message")) return *m;
    }
    return std::string("unspecified error");
  }
  if (const auto* m = json_string(body, "message")) return *m;
  return std::nullopt;
}

Error status_error(int status, std::string_view body) {
  std::string message = "runner answered HTTP " + std::to_string(status);
  auto parsed = json::parse(body, nullptr, false);
  if (auto m = json_error_message(parsed)) {
    message += ": ";
    message += sanitize(*m);
  }
  ErrorCode code = ErrorCode::error;
  if (status == 400 || status == 413 || status == 422) code = ErrorCode::invalid;
  if (status == 429 || status == 503) code = ErrorCode::rate_limited;
  return make_error(code, std::move(message));
}

Error unreadable(std::string_view why) {
  return make_error(ErrorCode::error, "runner sent an unreadable answer: " + std::string(why));
}

std::optional<std::uint32_t> json_count(const json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (it->is_number_unsigned()) {
    auto v = it->get<std::uint64_t>();
    if (v <= 0xffffffffull) return static_cast<std::uint32_t>(v);
  } else if (it->is_number_integer()) {
    auto v = it->get<std::int64_t>();
    if (v >= 0 && v <= 0xffffffffll) return static_cast<std::uint32_t>(v);
  }
  return std::nullopt;
}

const std::string* json_string(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

std::string map_finish_reason(std::string_view reason) {
  return reason == "length" ? "length" : "stop";
}

bool StreamJob::deliver(std::string_view delta) {
  if (delta.empty()) return true;
  text.append(delta);
  if (callbacks.on_delta && !callbacks.on_delta(delta)) {
    cancelled = true;
    return false;
  }
  return true;
}

void StreamJob::done(const Status& transport) {
  if (!callbacks.on_done) return;
  auto report = std::move(callbacks.on_done);
  callbacks.on_done = nullptr;
  if (cancelled) return report(make_error(ErrorCode::error, "cancelled"));
  if (failure) return report(*failure);
  if (status != 0 && (status < 200 || status > 299))
    return report(status_error(status, error_body));
  if (!transport) return report(transport.error());
  if (at_end) {
    at_end(*this);
    if (failure) return report(*failure);
  }
  if (!finished) return report(make_error(ErrorCode::error, "runner stream ended early"));
  InferenceResult result;
  result.usage = complete_usage(prompt_tokens, completion_tokens, messages, text);
  result.text = std::move(text);
  result.finish_reason = std::move(finish_reason);
  report(std::move(result));
}

StreamHandlers stream_handlers(std::shared_ptr<StreamJob> job,
                               std::function<bool(StreamJob&, std::string_view)> consume) {
  StreamHandlers h;
  h.on_headers = [job](int status, const Headers&) { job->status = status; };
  h.on_data = [job, consume = std::move(consume)](std::string_view bytes) {
    if (job->status < 200 || job->status > 299) {
      if (job->error_body.size() < kMaxErrorBody)
        job->error_body.append(bytes.substr(0, kMaxErrorBody - job->error_body.size()));
      return true;
    }
    return consume(*job, bytes);
  };
  h.on_done = [job](Status status) { job->done(status); };
  return h;
}

bool LineSplitter::feed(std::string_view bytes,
                        const std::function<bool(std::string_view)>& on_line) {
  while (!bytes.empty()) {
    const void* nl = std::memchr(bytes.data(), '\n', bytes.size());
    if (!nl) {
      if (partial_.size() + bytes.size() > max_line_) return false;
      partial_.append(bytes);
      return true;
    }
    auto n = static_cast<std::size_t>(static_cast<const char*>(nl) - bytes.data());
    std::string_view piece = bytes.substr(0, n);
    bytes.remove_prefix(n + 1);
    std::string_view line = piece;
    if (!partial_.empty()) {
      if (partial_.size() + piece.size() > max_line_) return false;
      partial_.append(piece);
      line = partial_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool ok = on_line(line);
    partial_.clear();
    if (!ok) return false;
  }
  return true;
}

bool LineSplitter::finish(const std::function<bool(std::string_view)>& on_line) {
  if (partial_.empty()) return true;
  std::string last = std::move(partial_);
  partial_.clear();
  std::string_view line = last;
  if (line.back() == '\r') line.remove_suffix(1);
  return on_line(line);
}

}  // namespace fedai::runners::detail
