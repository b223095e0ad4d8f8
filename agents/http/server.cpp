// The agents' HTTP/1.1 server (agents/http/server.h) on Boost.Beast's parser and Asio sockets.
//
// Shape (Beast's "advanced server"): a listener accepts each connection onto its own strand and
// hands it to a Session, which lives through shared_from_this while an operation is pending.
// What differs, for speed and for what the data plane needs:
// - The session drives Beast's request_parser by hand over one read loop (`async_read_some` into
//   a flat_buffer, then parser.put), so exactly one read is ever outstanding, whatever the phase:
//   while a handler works, that read doubles as client-gone detection (EOF or a reset), and it
//   keeps pipelined bytes for the next request.
// - Responses are serialized by hand into one header string and written with the body in one
//   gather write (no copy of the body). Streams (SSE, chunked) go through a bounded write queue
//   with one write in flight: bytes queued while a write is in flight are coalesced into the
//   next write; a client that lets more than kMaxStreamBacklog pile up is dropped.
// - Deadlines are one atomic per session, checked by a server-wide sweeper every `tick` (an
//   eighth of the shortest timeout, 5..500 ms). Moving a deadline is an atomic store instead of
//   a timer cancel and re-arm on every read and write.
#include "agents/http/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>

#include "agents/http/sse.h"
#include "core/nostr/event.h"
#include "core/util/ascii.h"

namespace fedai::agents::http {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Strand = net::strand<net::io_context::executor_type>;
using Socket = net::basic_stream_socket<tcp, Strand>;
using Clock = std::chrono::steady_clock;

namespace {

// A streaming client that lets this much pile up unsent is too slow: it is dropped.
constexpr std::size_t kMaxStreamBacklog = 4 << 20;
// How long a closing connection is drained (so the peer reads our last answer, not a reset).
constexpr std::chrono::milliseconds kMaxDrain{2'000};
constexpr std::int64_t kNoDeadline = std::numeric_limits<std::int64_t>::max();
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::size_t kScratchBytes = 4096;

bool has_crlf(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

void append_hex(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, 16);
  out.append(buf, end);
}

std::string_view view(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

std::int64_t steady_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Headers a handler may not set: the server frames the message itself.
bool is_framing_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection");
}

struct RouteEntry {
  std::string method;
  Handler handler;
};
using Routes = std::vector<RouteEntry>;

class RouteTable {
 public:
  void add(std::string method, std::string path, Handler handler) {
    if (!path.empty() && path.back() == '*') {
      path.pop_back();
      auto it = std::find_if(prefixes_.begin(), prefixes_.end(),
                             [&](const auto& p) { return p.first == path; });
      if (it == prefixes_.end()) {
        prefixes_.emplace_back(std::move(path), Routes{});
        it = prefixes_.end() - 1;
      }
      it->second.push_back({std::move(method), std::move(handler)});
      // Longest prefix first.
      std::stable_sort(prefixes_.begin(), prefixes_.end(), [](const auto& a, const auto& b) {
        return a.first.size() > b.first.size();
      });
      return;
    }
    exact_[std::move(path)].push_back({std::move(method), std::move(handler)});
  }

  // The handlers for this path (any method), or nullptr.
  const Routes* find(std::string_view path) const {
    if (auto it = exact_.find(path); it != exact_.end()) return &it->second;
    for (const auto& [prefix, routes] : prefixes_)
      if (path.starts_with(prefix)) return &routes;
    return nullptr;
  }

 private:
  std::map<std::string, Routes, std::less<>> exact_;
  std::vector<std::pair<std::string, Routes>> prefixes_;
};

class Session;

}  // namespace

// ---- The server's shared state ------------------------------------------------------------------

struct Server::Impl : std::enable_shared_from_this<Impl> {
  Impl(net::io_context& context, ServerOptions opts)
      : io(context),
        options(std::move(opts)),
        accept_strand(net::make_strand(context)),
        acceptor(accept_strand),
        sweep_timer(accept_strand),
        retry_timer(accept_strand) {
    auto shortest = std::min(options.read_timeout, options.idle_timeout);
    tick = std::clamp<std::chrono::milliseconds>(shortest / 8, std::chrono::milliseconds{5},
                                                 std::chrono::milliseconds{500});
    std::string body = error_body("error: too many connections", "ERR_BUSY");
    busy_answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n";
    busy_answer += "Content-Length: ";
    append_json_integer(busy_answer, body.size());
    busy_answer += "\r\nConnection: close\r\n\r\n";
    busy_answer += body;
  }

  void do_accept();
  void on_accept(const boost::system::error_code& ec, Socket socket);
  void reject(Socket& socket);
  void sweep();
  void expire_deadlines();
  void register_session(Session* s, std::weak_ptr<Session> w) {
    std::lock_guard lock(mutex);
    sessions.emplace(s, std::move(w));
  }
  void unregister_session(Session* s) {
    std::lock_guard lock(mutex);
    sessions.erase(s);
  }
  std::size_t session_count() {
    std::lock_guard lock(mutex);
    return sessions.size();
  }

  net::io_context& io;
  ServerOptions options;
  RouteTable routes;
  Strand accept_strand;
  tcp::acceptor acceptor;
  net::steady_timer sweep_timer;
  net::steady_timer retry_timer;
  std::chrono::milliseconds tick{100};
  std::string busy_answer;
  std::atomic<bool> running{false};
  std::atomic<bool> draining{false};  // drain(): new requests are answered 503 and closed
  bool bound = false;
  struct Counters {
    std::atomic<std::uint64_t> accepted{0}, refused{0}, requests{0}, requests_refused{0},
        timeouts{0}, gone{0};
  } counters;
  std::uint16_t port = 0;
  std::string url_host;

  std::mutex mutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
};

namespace {

// ---- Responder ----------------------------------------------------------------------------------

class SessionResponder;

// One connection. Every member is touched only on the strand, except deadline_ (atomic, read by
// the sweeper).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Server::Impl> server, Socket socket)
      : server_(std::move(server)), socket_(std::move(socket)), strand_(socket_.get_executor()) {}
  ~Session() { server_->unregister_session(this); }

  const Strand& strand() const { return strand_; }
  std::int64_t deadline() const { return deadline_.load(std::memory_order_relaxed); }

  void start();
  void on_deadline();
  void close_now();

  // From the responder, on the strand. `seq` names the request being answered.
  void send_reply(std::uint64_t seq, int status, std::string_view content_type, std::string body,
                  const Headers& extra);
  void send_stream_head(std::uint64_t seq, const Headers& extra);
  void send_stream_bytes(std::uint64_t seq, std::string bytes);
  void send_stream_end(std::uint64_t seq);
  void watch_gone(const std::shared_ptr<SessionResponder>& r, std::function<void()> callback);

 private:
  enum class Phase { idle, reading, handling, closing };

  void set_deadline(std::chrono::milliseconds after) {
    deadline_.store(steady_ns(Clock::now() + after), std::memory_order_relaxed);
  }
  void clear_deadline() { deadline_.store(kNoDeadline, std::memory_order_relaxed); }

  void new_parser();
  void maybe_read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  void parse();
  void maybe_continue();
  void refuse(const boost::system::error_code& ec);
  void on_request();
  void queue_write(std::string head, std::string body);
  void write_now(std::string head, std::string body);
  void on_write(const boost::system::error_code& ec);
  void finish_response();
  void graceful_close();
  void mark_gone();
  std::string head(int status, std::string_view content_type, std::optional<std::size_t> length,
                   const Headers& extra) const;

  std::shared_ptr<Server::Impl> server_;
  Socket socket_;
  Strand strand_;
  boost::beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::unique_ptr<char[]> scratch_;
  bool scratch_read_ = false;  // the read in flight targets scratch_, not buffer_
  std::string remote_;
  Phase phase_ = Phase::idle;
  bool closed_ = false;
  bool read_pending_ = false;
  bool write_pending_ = false;
  bool continue_sent_ = false;
  bool keep_alive_ = true;
  bool http10_ = false;
  bool final_queued_ = false;  // the last bytes of the answer are queued
  std::uint64_t seq_ = 0;      // the request being handled
  std::weak_ptr<SessionResponder> current_;
  std::string out_head_, out_body_;  // the write in flight
  std::string pending_;              // bytes waiting for it
  std::atomic<std::int64_t> deadline_{kNoDeadline};
};

class SessionResponder final : public Responder,
                               public std::enable_shared_from_this<SessionResponder> {
 public:
  SessionResponder(std::shared_ptr<Session> session, std::uint64_t seq, bool chunked)
      : session_(std::move(session)), seq_(seq), chunked_(chunked) {}

  ~SessionResponder() override {
    // A handler that dropped its responder without answering must not hang the connection.
    int state = state_.load();
    if (state == kNone) {
      net::dispatch(session_->strand(), [s = session_, seq = seq_] {
        s->send_reply(seq, 500, "application/json",
                      error_body("error: the handler did not answer", "ERR_INTERNAL"), {});
      });
    } else if (state == kStreaming) {
      net::dispatch(session_->strand(), [s = session_, seq = seq_] { s->send_stream_end(seq); });
    }
  }

  void reply(int status, std::string_view content_type, std::string body, Headers extra) override {
    int expected = kNone;
    if (!state_.compare_exchange_strong(expected, kReplied)) return;
    if (session_->strand().running_in_this_thread()) {
      session_->send_reply(seq_, status, content_type, std::move(body), extra);
      return;
    }
    net::post(session_->strand(), [s = session_, seq = seq_, status, ct = std::string(content_type),
                                   body = std::move(body), extra = std::move(extra)]() mutable {
      s->send_reply(seq, status, ct, std::move(body), extra);
    });
  }

  void start_stream(Headers extra) override {
    int expected = kNone;
    if (!state_.compare_exchange_strong(expected, kStreaming)) return;
    if (session_->strand().running_in_this_thread()) {
      session_->send_stream_head(seq_, extra);
      return;
    }
    net::post(session_->strand(), [s = session_, seq = seq_, extra = std::move(extra)] {
      s->send_stream_head(seq, extra);
    });
  }

  bool send_event(std::string_view event, std::string_view data) override {
    if (gone_.load(std::memory_order_acquire)) return false;
    if (state_.load() == kNone) start_stream({});
    if (state_.load() != kStreaming) return false;
    std::string bytes;
    std::size_t size = sse_event_size(event, data);
    if (chunked_) {
      bytes.reserve(size + 24);
      append_hex(bytes, size);
      bytes += "\r\n";
      append_sse_event(bytes, event, data);
      bytes += "\r\n";
    } else {
      append_sse_event(bytes, event, data);
    }
    if (session_->strand().running_in_this_thread()) {
      session_->send_stream_bytes(seq_, std::move(bytes));
    } else {
      net::post(session_->strand(), [s = session_, seq = seq_, b = std::move(bytes)]() mutable {
        s->send_stream_bytes(seq, std::move(b));
      });
    }
    return !gone_.load(std::memory_order_acquire);
  }

  void end_stream() override {
    int expected = kStreaming;
    if (!state_.compare_exchange_strong(expected, kEnded)) return;
    net::dispatch(session_->strand(), [s = session_, seq = seq_] { s->send_stream_end(seq); });
  }

  bool client_gone() const override { return gone_.load(std::memory_order_acquire); }

  void on_client_gone(std::function<void()> callback) override {
    net::dispatch(session_->strand(),
                  [s = session_, self = shared_from_this(), cb = std::move(callback)]() mutable {
                    s->watch_gone(self, std::move(cb));
                  });
  }

  // Session side, on the strand.
  std::atomic<bool> gone_{false};
  bool complete_ = false;  // the answer was written in full
  std::function<void()> gone_callback_;

 private:
  static constexpr int kNone = 0, kReplied = 1, kStreaming = 2, kEnded = 3;
  std::shared_ptr<Session> session_;
  std::uint64_t seq_;
  bool chunked_;
  std::atomic<int> state_{kNone};
};

// ---- Session ------------------------------------------------------------------------------------

void Session::start() {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) {
    auto addr = ep.address();
    remote_ = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
    remote_ += ':';
    append_json_integer(remote_, ep.port());
  }
  new_parser();
  // A connection is opened to send a request: the first one gets the read deadline from the
  // start; later ones wait for their first byte under the idle (keep-alive) deadline.
  phase_ = Phase::reading;
  set_deadline(server_->options.read_timeout);
  maybe_read();
}

void Session::new_parser() {
  parser_.emplace();
  parser_->eager(true);
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(server_->options.max_header_bytes, UINT32_MAX)));
  parser_->body_limit(server_->options.max_body_bytes);
  continue_sent_ = false;
}

void Session::maybe_read() {
  if (read_pending_ || closed_) return;
  // While a handler works, keep reading only to notice the client leaving, and don't buffer
  // more than a request header's worth of pipelined bytes.
  if (phase_ == Phase::handling && buffer_.size() >= server_->options.max_header_bytes) return;
  auto on_read = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
    self->on_read(ec, n);
  };
  read_pending_ = true;
  // A read started while a handler works may complete after the answer, when the next request
  // is already being parsed out of buffer_ (pipelined bytes): a parser consuming buffer_ can
  // move its free space under a read in flight. Such reads land in scratch_ and are appended.
  scratch_read_ = phase_ == Phase::handling;
  if (scratch_read_) {
    if (!scratch_) scratch_ = std::make_unique<char[]>(kScratchBytes);
    socket_.async_read_some(net::buffer(scratch_.get(), kScratchBytes), std::move(on_read));
    return;
  }
  std::size_t want = 4096;
  if (phase_ == Phase::reading && parser_->is_header_done()) want = 65536;
  if (phase_ == Phase::closing) buffer_.clear();
  socket_.async_read_some(buffer_.prepare(want), std::move(on_read));
}

void Session::on_read(const boost::system::error_code& ec, std::size_t n) {
  read_pending_ = false;
  if (closed_) return;
  if (ec) {
    close_now();  // EOF or reset: in the middle of an answer that is the client going away
    return;
  }
  if (scratch_read_) {
    auto space = buffer_.prepare(n);
    std::memcpy(space.data(), scratch_.get(), n);
  }
  buffer_.commit(n);
  switch (phase_) {
    case Phase::idle:
      phase_ = Phase::reading;
      set_deadline(server_->options.read_timeout);
      parse();
      return;
    case Phase::reading:
      parse();
      return;
    case Phase::handling:
    case Phase::closing:
      maybe_read();
      return;
  }
}

void Session::parse() {
  while (true) {
    if (buffer_.size() == 0) {
      maybe_continue();
      maybe_read();
      return;
    }
    boost::beast::error_code ec;
    std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == bhttp::error::need_more) {
      maybe_continue();
      maybe_read();
      return;
    }
    if (ec) {
      refuse(ec);
      return;
    }
    if (parser_->is_done()) {
      on_request();
      return;
    }
    if (used == 0) {
      maybe_continue();
      maybe_read();
      return;
    }
  }
}

// `Expect: 100-continue` (curl sends it for bodies over 1 KiB): say go ahead, or the client
// waits a second before sending the body.
void Session::maybe_continue() {
  if (continue_sent_ || !parser_->is_header_done() || parser_->is_done()) return;
  const auto& msg = parser_->get();
  auto it = msg.find(bhttp::field::expect);
  if (it == msg.end() || !iequals(view(it->value()), "100-continue")) return;
  continue_sent_ = true;
  queue_write(std::string(kContinue), {});
}

void Session::refuse(const boost::system::error_code& ec) {
  int status = 400;
  std::string body;
  if (ec == bhttp::error::body_limit) {
    status = 413;
    body = error_body("invalid: request body is larger than " +
                          std::to_string(server_->options.max_body_bytes) + " bytes",
                      "ERR_TOO_LARGE");
  } else if (ec == bhttp::error::header_limit) {
    status = 413;
    body = error_body("invalid: request header is larger than " +
                          std::to_string(server_->options.max_header_bytes) + " bytes",
                      "ERR_TOO_LARGE");
  } else {
    body = error_body("invalid: malformed HTTP request (" + ec.message() + ")", "ERR_INVALID");
  }
  server_->counters.requests_refused.fetch_add(1, std::memory_order_relaxed);
  keep_alive_ = false;
  http10_ = false;
  ++seq_;  // no responder answers this one
  phase_ = Phase::handling;
  final_queued_ = true;
  std::string h = head(status, "application/json", body.size(), {});
  queue_write(std::move(h), std::move(body));
}

void Session::on_request() {
  if (!server_->running.load(std::memory_order_acquire)) {
    close_now();
    return;
  }
  auto& msg = parser_->get();
  keep_alive_ = msg.keep_alive();
  http10_ = msg.version() < 11;
  if (server_->draining.load(std::memory_order_acquire)) {
    // A stop is under way: an explicit answer rather than a reset, and the connection closes.
    keep_alive_ = false;
    phase_ = Phase::handling;
    clear_deadline();
    server_->counters.requests_refused.fetch_add(1, std::memory_order_relaxed);
    ++seq_;
    auto responder = std::make_shared<SessionResponder>(shared_from_this(), seq_, !http10_);
    current_ = responder;
    responder->reply(503, "application/json",
                     error_body("error: shutting down, try again later", "ERR_BUSY"),
                     {{"Retry-After", "1"}});
    responder.reset();
    maybe_read();
    return;
  }

  Request request;
  request.method = std::string(view(msg.method_string()));
  request.target = std::string(view(msg.target()));
  request.path = request.target.substr(0, request.target.find('?'));
  request.headers.reserve(static_cast<std::size_t>(std::distance(msg.begin(), msg.end())));
  for (const auto& field : msg)
    request.headers.emplace_back(std::string(view(field.name_string())),
                                 std::string(view(field.value())));
  request.body = std::move(msg.body());
  request.remote = remote_;

  phase_ = Phase::handling;
  clear_deadline();
  server_->counters.requests.fetch_add(1, std::memory_order_relaxed);
  ++seq_;
  auto responder = std::make_shared<SessionResponder>(shared_from_this(), seq_, !http10_);
  current_ = responder;

  const Routes* routes = server_->routes.find(request.path);
  const Handler* handler = nullptr;
  if (routes) {
    for (const auto& r : *routes)
      if (r.method == request.method) handler = &r.handler;
  }
  if (!routes) {
    responder->reply(404, "application/json",
                     error_body("invalid: no such path: " + request.path, "ERR_INVALID"), {});
  } else if (!handler) {
    std::string allow;
    for (const auto& r : *routes) {
      if (!allow.empty()) allow += ", ";
      allow += r.method;
    }
    responder->reply(
        405, "application/json",
        error_body("invalid: method " + request.method + " is not allowed here", "ERR_INVALID"),
        {{"Allow", std::move(allow)}});
  } else {
    auto run = [handler, request = std::move(request), responder]() mutable {
      try {
        (*handler)(std::move(request), responder);
      } catch (const std::exception&) {
        // Nothing a request does may take the server down; the reason is not echoed (it may hold
        // request data).
        responder->reply(500, "application/json",
                         error_body("error: internal error", "ERR_INTERNAL"), {});
      }
    };
    if (server_->options.admit)
      server_->options.admit(std::move(run));
    else
      run();
  }
  responder.reset();
  maybe_read();  // notice the client going away while the handler works
}

std::string Session::head(int status, std::string_view content_type,
                          std::optional<std::size_t> length, const Headers& extra) const {
  std::string h;
  std::size_t extra_size = 0;
  for (const auto& [k, v] : extra) extra_size += k.size() + v.size() + 4;
  h.reserve(160 + content_type.size() + extra_size);
  h += "HTTP/1.1 ";
  append_json_integer(h, static_cast<std::uint64_t>(status));
  h += ' ';
  h += view(bhttp::obsolete_reason(bhttp::int_to_status(static_cast<unsigned>(status))));
  h += "\r\n";
  if (!content_type.empty() && !has_crlf(content_type)) {
    h += "Content-Type: ";
    h += content_type;
    h += "\r\n";
  }
  if (length) {
    h += "Content-Length: ";
    append_json_integer(h, *length);
    h += "\r\n";
  } else if (!http10_) {
    h += "Transfer-Encoding: chunked\r\n";
  }
  if (!keep_alive_)
    h += "Connection: close\r\n";
  else if (http10_)
    h += "Connection: keep-alive\r\n";
  for (const auto& [k, v] : extra) {
    if (k.empty() || has_crlf(k) || has_crlf(v) || is_framing_header(k)) continue;
    h += k;
    h += ": ";
    h += v;
    h += "\r\n";
  }
  h += "\r\n";
  return h;
}

void Session::send_reply(std::uint64_t seq, int status, std::string_view content_type,
                         std::string body, const Headers& extra) {
  if (closed_ || seq != seq_ || phase_ != Phase::handling || final_queued_) return;
  if (status < 100 || status > 999) status = 500;
  final_queued_ = true;
  std::string h = head(status, content_type, body.size(), extra);
  queue_write(std::move(h), std::move(body));
}

void Session::send_stream_head(std::uint64_t seq, const Headers& extra) {
  if (closed_ || seq != seq_ || phase_ != Phase::handling || final_queued_) return;
  // An HTTP/1.0 client can't read chunks: the stream ends when the connection does.
  if (http10_) keep_alive_ = false;
  Headers all;
  all.reserve(extra.size() + 1);
  all.emplace_back("Cache-Control", "no-cache");
  for (const auto& h : extra)
    if (!iequals(h.first, "cache-control")) all.push_back(h);
  queue_write(head(200, "text/event-stream", std::nullopt, all), {});
}

void Session::send_stream_bytes(std::uint64_t seq, std::string bytes) {
  if (closed_ || seq != seq_ || phase_ != Phase::handling || final_queued_) return;
  queue_write({}, std::move(bytes));
}

void Session::send_stream_end(std::uint64_t seq) {
  if (closed_ || seq != seq_ || phase_ != Phase::handling || final_queued_) return;
  final_queued_ = true;
  if (!http10_) {
    queue_write("0\r\n\r\n", {});
  } else if (!write_pending_ && pending_.empty()) {
    finish_response();
  }
}

void Session::watch_gone(const std::shared_ptr<SessionResponder>& r,
                         std::function<void()> callback) {
  if (r->complete_ || !callback) return;
  if (r->gone_.load(std::memory_order_acquire)) {
    net::post(strand_, std::move(callback));
    return;
  }
  r->gone_callback_ = std::move(callback);
}

void Session::queue_write(std::string head_bytes, std::string body) {
  if (closed_) return;
  if (!write_pending_) {
    write_now(std::move(head_bytes), std::move(body));
    return;
  }
  if (pending_.empty() && head_bytes.empty()) {
    pending_ = std::move(body);
  } else {
    pending_ += head_bytes;
    pending_ += body;
  }
  if (pending_.size() > kMaxStreamBacklog) close_now();  // a client that does not read
}

void Session::write_now(std::string head_bytes, std::string body) {
  out_head_ = std::move(head_bytes);
  out_body_ = std::move(body);
  write_pending_ = true;
  if (phase_ == Phase::handling) set_deadline(server_->options.read_timeout);
  std::array<net::const_buffer, 2> buffers{net::buffer(out_head_), net::buffer(out_body_)};
  net::async_write(socket_, buffers,
                   [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                     self->on_write(ec);
                   });
}

void Session::on_write(const boost::system::error_code& ec) {
  write_pending_ = false;
  if (closed_) return;
  if (ec) {
    close_now();
    return;
  }
  if (!pending_.empty()) {
    std::string next;
    next.swap(pending_);
    pending_.swap(out_body_);  // keep a buffer's capacity for the next backlog
    pending_.clear();
    write_now({}, std::move(next));
    return;
  }
  if (phase_ != Phase::handling) return;  // 100 Continue, while reading
  if (final_queued_)
    finish_response();
  else
    clear_deadline();  // a stream waiting for its next event
}

void Session::finish_response() {
  if (auto r = current_.lock()) {
    r->complete_ = true;
    r->gone_callback_ = nullptr;
  }
  current_.reset();
  final_queued_ = false;
  out_body_.clear();
  if (!keep_alive_ || !server_->running.load(std::memory_order_acquire) ||
      server_->draining.load(std::memory_order_acquire)) {
    graceful_close();
    return;
  }
  new_parser();
  if (buffer_.size() > 0) {  // a pipelined request is waiting
    phase_ = Phase::reading;
    set_deadline(server_->options.read_timeout);
    parse();
    return;
  }
  phase_ = Phase::idle;
  set_deadline(server_->options.idle_timeout);
  maybe_read();  // (a read may still be pending from the handling phase: it serves)
}

void Session::graceful_close() {
  phase_ = Phase::closing;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    close_now();
    return;
  }
  // Read until the peer closes too, so that unread request bytes don't turn our last answer
  // into a reset; bounded in time.
  set_deadline(std::min<std::chrono::milliseconds>(server_->options.read_timeout, kMaxDrain));
  maybe_read();
}

void Session::mark_gone() {
  auto r = current_.lock();
  if (!r || r->complete_) return;
  if (r->gone_.exchange(true, std::memory_order_acq_rel)) return;
  server_->counters.gone.fetch_add(1, std::memory_order_relaxed);
  if (auto cb = std::move(r->gone_callback_)) {
    r->gone_callback_ = nullptr;
    net::post(strand_, std::move(cb));
  }
}

void Session::close_now() {
  if (closed_) return;
  closed_ = true;
  if (phase_ == Phase::handling) mark_gone();
  phase_ = Phase::closing;
  clear_deadline();
  boost::system::error_code ec;
  socket_.close(ec);
  pending_.clear();
  server_->unregister_session(this);
}

void Session::on_deadline() {
  if (closed_) return;
  if (deadline() > steady_ns(Clock::now())) return;  // moved since the sweeper looked
  // A connection draining after its last answer is not a timeout anybody needs to hear of.
  if (phase_ != Phase::closing) server_->counters.timeouts.fetch_add(1, std::memory_order_relaxed);
  close_now();
}

}  // namespace

// ---- Listener and sweeper -----------------------------------------------------------------------

void Server::Impl::do_accept() {
  if (!running.load(std::memory_order_acquire)) return;
  Strand strand = options.strand ? *options.strand : net::make_strand(io);
  acceptor.async_accept(
      strand, [self = shared_from_this()](const boost::system::error_code& ec, Socket socket) {
        self->on_accept(ec, std::move(socket));
      });
}

void Server::Impl::on_accept(const boost::system::error_code& ec, Socket socket) {
  if (!running.load(std::memory_order_acquire) || ec == net::error::operation_aborted) return;
  if (ec) {
    // Out of file descriptors and the like: back off briefly instead of spinning.
    retry_timer.expires_after(std::chrono::milliseconds{50});
    retry_timer.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
      if (!e) self->do_accept();
    });
    return;
  }
  if (session_count() >= options.max_connections) {
    counters.refused.fetch_add(1, std::memory_order_relaxed);
    reject(socket);
  } else {
    counters.accepted.fetch_add(1, std::memory_order_relaxed);
    auto session = std::make_shared<Session>(shared_from_this(), std::move(socket));
    register_session(session.get(), session);
    net::dispatch(session->strand(), [session] { session->start(); });
  }
  do_accept();
}

// Over the connection cap: a best-effort 503 without blocking, then close.
void Server::Impl::reject(Socket& socket) {
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(net::buffer(busy_answer), ec);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

void Server::Impl::sweep() {
  sweep_timer.expires_after(tick);
  sweep_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || !self->running.load(std::memory_order_acquire)) return;
    self->expire_deadlines();
    self->sweep();
  });
}

void Server::Impl::expire_deadlines() {
  std::int64_t now = steady_ns(Clock::now());
  std::vector<std::shared_ptr<Session>> expired;
  {
    std::lock_guard lock(mutex);
    for (auto& [raw, weak] : sessions)
      if (raw->deadline() <= now)
        if (auto s = weak.lock()) expired.push_back(std::move(s));
  }
  for (auto& s : expired) net::post(s->strand(), [s] { s->on_deadline(); });
}

// ---- Server -------------------------------------------------------------------------------------

Server::Server(boost::asio::io_context& io, ServerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}

Server::~Server() {
  stop();
}

void Server::route(std::string method, std::string path, Handler handler) {
  impl_->routes.add(std::move(method), std::move(path), std::move(handler));
}

Status Server::bind() {
  if (impl_->bound) return {};
  const std::string& listen = impl_->options.listen;
  std::string host, port;
  if (!listen.empty() && listen.front() == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      return make_error(ErrorCode::invalid, "listen address must be host:port, not " + listen);
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos)
      return make_error(ErrorCode::invalid, "listen address must be host:port, not " + listen);
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (host.empty()) host = "0.0.0.0";

  boost::system::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto results = resolver.resolve(host, port, tcp::resolver::passive, ec);
  if (ec || results.empty())
    return make_error(ErrorCode::error,
                      "cannot resolve listen address " + listen + ": " + ec.message());
  tcp::endpoint endpoint = results.begin()->endpoint();
  auto& acceptor = impl_->acceptor;
  auto fail = [&](std::string_view what) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    return make_error(ErrorCode::error,
                      "cannot listen on " + listen + ": " + std::string(what) + ec.message());
  };
  if (acceptor.open(endpoint.protocol(), ec)) return fail("");
  if (acceptor.set_option(net::socket_base::reuse_address(true), ec)) return fail("");
  if (acceptor.bind(endpoint, ec)) return fail("");
  auto local = acceptor.local_endpoint(ec);
  if (ec) return fail("");
  impl_->port = local.port();
  auto addr = local.address();
  impl_->url_host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  impl_->bound = true;
  return {};
}

Status Server::listen() {
  if (auto st = bind(); !st) return st;
  if (impl_->running.load(std::memory_order_acquire)) return {};
  boost::system::error_code ec;
  if (impl_->acceptor.listen(net::socket_base::max_listen_connections, ec)) {
    impl_->acceptor.close(ec);
    return make_error(ErrorCode::error,
                      "cannot listen on " + impl_->options.listen + ": " + ec.message());
  }
  impl_->running.store(true, std::memory_order_release);
  net::post(impl_->accept_strand, [self = impl_] {
    self->do_accept();
    self->sweep();
  });
  return {};
}

Status Server::start() {
  return listen();
}

void Server::drain() {
  if (!impl_->running.load(std::memory_order_acquire)) return;
  if (impl_->draining.exchange(true)) return;
  net::post(impl_->accept_strand, [self = impl_] {
    boost::system::error_code ec;
    self->acceptor.close(ec);
  });
}

void Server::stop() {
  if (!impl_->running.exchange(false)) {
    if (impl_->bound) {  // bound, never listening: let the port go
      boost::system::error_code ec;
      impl_->acceptor.close(ec);
      impl_->bound = false;
    }
    return;
  }
  net::post(impl_->accept_strand, [self = impl_] {
    boost::system::error_code ec;
    self->acceptor.close(ec);
    self->sweep_timer.cancel();
    self->retry_timer.cancel();
  });
  std::vector<std::shared_ptr<Session>> all;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [raw, weak] : impl_->sessions)
      if (auto s = weak.lock()) all.push_back(std::move(s));
  }
  for (auto& s : all) net::post(s->strand(), [s] { s->close_now(); });
}

std::uint16_t Server::port() const {
  return impl_->port;
}

std::string Server::url() const {
  return "http://" + impl_->url_host + ":" + std::to_string(impl_->port);
}

ServerStats Server::stats() const {
  const auto& c = impl_->counters;
  ServerStats s;
  s.connections_open = impl_->session_count();
  s.connections_accepted = c.accepted.load(std::memory_order_relaxed);
  s.connections_refused = c.refused.load(std::memory_order_relaxed);
  s.requests = c.requests.load(std::memory_order_relaxed);
  s.requests_refused = c.requests_refused.load(std::memory_order_relaxed);
  s.timeouts = c.timeouts.load(std::memory_order_relaxed);
  s.clients_gone = c.gone.load(std::memory_order_relaxed);
  return s;
}

// ---- Helpers ------------------------------------------------------------------------------------

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

std::string error_body(std::string_view error_with_prefix, std::string_view code) {
  std::string out;
  out.reserve(24 + error_with_prefix.size() + code.size());
  out += "{\"error\":";
  append_json_string(out, error_with_prefix);
  out += ",\"code\":";
  append_json_string(out, code);
  out += '}';
  return out;
}

}  // namespace fedai::agents::http
