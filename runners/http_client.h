// An asynchronous HTTP/1.1 client on Boost.Beast, for talking to model servers (runners) and,
// from the router, to nodes' data planes.
//
// Requests run on the caller's io_context; handlers run there too. Connections are kept alive
// and reused per (host, port) up to a small limit, because a router dispatching thousands of
// jobs a second to the same nodes must not pay a TCP handshake each time. Every request has a
// deadline covering connect, write and read; a streamed response (Server-Sent Events) hands its
// body over as it arrives and can be cancelled from the data handler.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/util/result.h"

namespace fedai::runners {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "POST";
  std::string url;  // http://host:port/path?query (https is not needed on loopback; see docs)
  Headers headers;
  std::string body;
  std::chrono::milliseconds timeout{30'000};          // the whole exchange
  std::size_t max_response_bytes = 16 * 1024 * 1024;  // the body (buffered or streamed)
  // A shorter deadline for establishing a new connection (resolve and connect); by default the
  // whole `timeout`.
  std::optional<std::chrono::milliseconds> connect_timeout;
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
  // Case-insensitive header lookup.
  std::optional<std::string_view> header(std::string_view name) const;
};

// Errors are `error:` Results whose message says what failed: "connect to 127.0.0.1:8080
// refused", "timed out after 30000 ms", "response larger than 16777216 bytes", "cancelled".
using ResponseHandler = std::function<void(Result<HttpResponse>)>;

struct StreamHandlers {
  // Status and headers, before any body.
  std::function<void(int status, const Headers& headers)> on_headers;
  // Body bytes as they arrive; return false to cancel the request (on_done then reports
  // "cancelled").
  std::function<bool(std::string_view chunk)> on_data;
  // Exactly once: the body ended (ok) or the exchange failed.
  std::function<void(Status)> on_done;
};

// At namespace scope (as HttpClient::Options) because GCC refuses a nested struct's default
// member initializers in a default argument of the enclosing class.
struct HttpClientOptions {
  std::size_t max_idle_per_host = 16;              // idle kept-alive connections per host:port
  std::chrono::milliseconds idle_timeout{30'000};  // closed after this long unused
  // A connection idle longer than this is checked before reuse (a non-blocking peek for the
  // server's close: a system call); one idle less is reused as is, and if the server did close
  // it the request is retried once on a new connection.
  std::chrono::milliseconds check_idle_after{1'000};
};

// The strand an HttpClient's work runs on. An agent passes its own: on a one-thread io_context
// a request started from the agent's strand then starts inline, and its completions need no hop
// between strands (each hop is another pass of the loop, with its own look at the sockets).
using ClientStrand = boost::asio::strand<boost::asio::io_context::executor_type>;

class HttpClient {
 public:
  using Options = HttpClientOptions;
  explicit HttpClient(boost::asio::io_context& io, Options options = {});
  explicit HttpClient(ClientStrand strand, Options options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One request, the whole response buffered. `handler` runs exactly once on the io_context.
  void request(HttpRequest request, ResponseHandler handler);
  // One request, the response body streamed to `handlers`.
  void stream(HttpRequest request, StreamHandlers handlers);
  // Cancels every request in flight (their handlers report "cancelled") and closes idle
  // connections.
  void shutdown();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Server-Sent Events, parsed incrementally (WHATWG "event stream" rules: `event:`, `data:` lines
// joined with '\n', blank line dispatches, `:` comments ignored, CRLF or LF).
class SseParser {
 public:
  struct Event {
    std::string event;  // "" means the default "message"
    std::string data;
  };
  // Feeds bytes; calls `on_event` for every complete event. Returns false (and stops) when a
  // single event grows beyond the limit.
  bool feed(std::string_view bytes, const std::function<void(const Event&)>& on_event);
  explicit SseParser(std::size_t max_event_bytes = 1 << 20) : max_event_bytes_(max_event_bytes) {}

 private:
  bool line(std::string_view text, const std::function<void(const Event&)>& on_event);

  std::size_t max_event_bytes_;
  std::string line_;
  Event pending_;
  bool have_data_ = false;
  bool after_cr_ = false;  // the last byte fed was CR: a following LF ends no new line
  bool started_ = false;   // past a leading byte-order mark
  bool failed_ = false;
};

}  // namespace fedai::runners
