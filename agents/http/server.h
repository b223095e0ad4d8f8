// A small asynchronous HTTP/1.1 server on Boost.Beast for the agents: the node's data plane, the
// router's OpenAI-compatible API, /health and /metrics.
//
// listener -> session, each session on its own strand, keep-alive, defensive defaults (body
// limit, header and body read deadlines, a cap on connections), one response per request, and
// Server-Sent Events for streamed answers. Handlers run on the io_context and must not block:
// they answer through the Responder, now or later.
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
#include <utility>
#include <vector>

#include "core/util/result.h"

namespace fedai::agents::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as sent
  std::string path;    // without the query
  Headers headers;
  std::string body;
  std::string remote;  // "ip:port" of the peer
  // Case-insensitive header lookup.
  std::optional<std::string_view> header(std::string_view name) const;
};

// How a handler answers. Exactly one of reply() or a stream (start_stream ... end_stream).
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void reply(int status, std::string_view content_type, std::string body,
                     Headers extra = {}) = 0;
  // Server-Sent Events: 200, text/event-stream, chunked.
  virtual void start_stream(Headers extra = {}) = 0;
  // One event (`event: name` when not empty, then `data:` lines). False once the client is gone.
  virtual bool send_event(std::string_view event, std::string_view data) = 0;
  virtual void end_stream() = 0;
  // True when the client closed the connection before the answer was complete.
  virtual bool client_gone() const = 0;
  // Called (once, on the io_context) if the client goes away before the answer is complete.
  virtual void on_client_gone(std::function<void()> callback) = 0;
};

using Handler = std::function<void(Request request, std::shared_ptr<Responder> responder)>;

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 << 10;
  std::chrono::milliseconds read_timeout{30'000};  // headers and body of one request
  std::chrono::milliseconds idle_timeout{60'000};  // keep-alive between requests
  std::size_t max_connections = 2048;
  // Every connection on this strand (an agent's own, on its one-thread io_context): an answer
  // the agent's work gives is then written at once, without a hop to the connection's strand
  // (each hop is another pass of the loop). Unset: a strand per connection, for a server run by
  // several threads.
  std::optional<boost::asio::strand<boost::asio::io_context::executor_type>> strand;
  // When set, a request's handler is handed to `admit` instead of running at once: the agent's
  // loop runs it when nothing else is ready (agents/runtime/agent_loop.h), so that work already
  // in flight goes first.
  std::function<void(std::function<void()>)> admit;
};

// Counters since start(), for /metrics. Read with relaxed atomics: each is exact, the set is not
// a snapshot.
struct ServerStats {
  std::uint64_t connections_open = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_refused = 0;  // over max_connections (503)
  std::uint64_t requests = 0;             // handed to a route (or answered 404/405)
  std::uint64_t requests_refused = 0;     // 400 malformed, 413 over a limit
  std::uint64_t timeouts = 0;             // connections closed by a read, idle or write deadline
  std::uint64_t clients_gone = 0;         // left before their answer was complete
};

class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes by method and exact path; a path ending in '*' matches the prefix before it.
  // Unrouted requests get 404 (unknown path) or 405 (known path, other method) as JSON.
  void route(std::string method, std::string path, Handler handler);
  // Binds and starts accepting; the error names the address and the reason.
  Status start();
  // Binds the address without listening: port() and url() are known, and connections are
  // refused until listen(). For a process that must know its URL before it can serve.
  Status bind();
  // Starts accepting (binds first if bind() was not called).
  Status listen();
  // Stops accepting; requests already being handled go on and are answered, every request that
  // arrives from now on is answered 503 (ERR_BUSY, Retry-After) and its connection closed.
  void drain();
  // Stops accepting and closes every connection.
  void stop();
  std::uint16_t port() const;
  std::string url() const;  // http://host:port
  ServerStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// A JSON error body in the shape of nips/F-06: {"error": "<prefix>: <reason>", "code": "ERR_..."}.
std::string error_body(std::string_view error_with_prefix, std::string_view code);

}  // namespace fedai::agents::http
