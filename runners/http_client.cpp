#include "runners/http_client.h"

#include <sys/socket.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/optional/optional.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <unordered_map>

#include "core/util/ascii.h"
#include "core/util/swar.h"
#include "runners/url.h"

namespace fedai::runners {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using Strand = net::strand<net::io_context::executor_type>;

namespace {

constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kStreamChunk = 16 * 1024;

// RFC 9110 token characters (methods and header names).
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool is_header_value(std::string_view s) {
  std::size_t i = 0;
  // Eight bytes at a time while none is a control character (a tab, which is allowed, sends
  // its eight to the byte loop).
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t v = swar::load(s.data() + i);
    if (swar::below(v, 0x20) | swar::equal(v, 0x7f)) break;
  }
  for (; i < s.size(); ++i) {
    auto u = static_cast<unsigned char>(s[i]);
    if ((u < 0x20 && s[i] != '\t') || u == 0x7f) return false;
  }
  return true;
}

Error fail_error(std::string message) {
  return make_error(ErrorCode::error, std::move(message));
}

// The connection-level failures a stale keep-alive connection produces.
bool is_stale_connection_error(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted;
}

// A string body that refuses a declared Content-Length over its limit when the body starts.
// Beast 1.74's parser notices that case in finish_header but, reading eagerly, goes on parsing
// and loses the error; body_limit() still covers chunked and read-to-EOF bodies.
struct LimitedStringBody {
  struct value_type {
    std::string text;
    std::uint64_t limit = 0;
  };
  static std::uint64_t size(const value_type& v) { return v.text.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      ec = {};
      if (!length) return;
      if (*length > body_.limit) {
        ec = http::error::body_limit;
        return;
      }
      body_.text.reserve(static_cast<std::size_t>(*length));
    }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      std::size_t n = net::buffer_size(buffers);
      if (body_.text.size() + n > body_.limit) {
        ec = http::error::body_limit;
        return 0;
      }
      ec = {};
      for (auto b : beast::buffers_range_ref(buffers))
        body_.text.append(static_cast<const char*>(b.data()), b.size());
      return n;
    }
    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

template <class Fields>
Headers to_headers(const Fields& fields) {
  Headers out;
  out.reserve(8);
  for (const auto& f : fields)
    out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

}  // namespace

std::optional<std::string_view> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

// One kept-alive (or new) connection to host:port.
struct Connection {
  // Beast reads as much as the buffer has room for, and a new flat_buffer has room for 512
  // bytes: a 2 KB answer (a JOB_RESULT with its METERING) took five reads, each a trip through
  // the reactor. With room for a typical answer it takes one.
  static constexpr std::size_t kReadRoom = 16 * 1024;
  explicit Connection(const Strand& strand) : stream(strand) { buffer.reserve(kReadRoom); }
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::string key;
  Clock::time_point idle_since;
};

class Exchange;

struct HttpClient::Impl : std::enable_shared_from_this<HttpClient::Impl> {
  Impl(Strand s, Options opts) : strand(std::move(s)), options(opts), sweep(strand) {}

  Strand strand;
  Options options;
  // Bumped by shutdown(): a request issued before it but not yet started is cancelled too.
  std::atomic<std::uint64_t> generation{0};

  // Everything below is touched on the strand only.
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  std::size_t idle_count = 0;
  net::steady_timer sweep;
  bool sweep_armed = false;
  std::vector<Exchange*> active;  // requests in flight; each knows its index

  std::unique_ptr<Connection> take_idle(const std::string& key);
  void put_idle(std::unique_ptr<Connection> conn);
  void arm_sweep(Clock::time_point at);
  void on_sweep();
  void shutdown_now();
  void add(Exchange* e);
  void remove(Exchange* e);
};

// One request from start to its single completion.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<HttpClient::Impl> client, HttpRequest request, HttpUrl url,
           std::uint64_t generation)
      : client_(std::move(client)),
        req_(std::move(request)),
        url_(std::move(url)),
        generation_(generation) {}

  void set_handler(ResponseHandler h) { on_response_ = std::move(h); }
  void set_handlers(StreamHandlers h) {
    streaming_ = true;
    handlers_ = std::move(h);
  }

  std::size_t index = 0;  // in client_->active

  void start() {
    if (client_->generation.load() != generation_) return fail(fail_error("cancelled"));
    client_->add(this);
    started_ = Clock::now();
    deadline_ = started_ + req_.timeout;
    key_ = url_.authority();
    build_head();
    conn_ = client_->take_idle(key_);
    if (conn_) {
      reused_ = true;
      return write();
    }
    connect();
  }

  // Closes the socket; the pending operation completes with an error that reports "cancelled".
  // When nothing is pending (a user callback is running) the caller checks cancelled_ after it.
  void cancel() {
    if (finished_) return;
    cancelled_ = true;
    beast::error_code ignored;
    if (resolver_) resolver_->cancel();
    if (resolve_timer_) resolve_timer_->cancel();
    if (conn_) conn_->stream.socket().close(ignored);
  }

 private:
  void build_head() {
    head_.reserve(128 + req_.headers.size() * 48);
    head_ += req_.method;
    head_ += ' ';
    head_ += url_.target;
    head_ += " HTTP/1.1\r\nHost: ";
    if (url_.ipv6) head_ += '[';
    head_ += url_.host;
    if (url_.ipv6) head_ += ']';
    if (url_.port != 80) {
      head_ += ':';
      head_ += std::to_string(url_.port);
    }
    head_ += "\r\n";
    for (const auto& [k, v] : req_.headers) {
      head_ += k;
      head_ += ": ";
      head_ += v;
      head_ += "\r\n";
    }
    bool body_expected = !req_.body.empty() || req_.method == "POST" || req_.method == "PUT" ||
                         req_.method == "PATCH";
    if (body_expected) {
      head_ += "Content-Length: ";
      head_ += std::to_string(req_.body.size());
      head_ += "\r\n";
    }
    head_ += "\r\n";
  }

  std::chrono::milliseconds connect_budget() const {
    return req_.connect_timeout ? std::min(*req_.connect_timeout, req_.timeout) : req_.timeout;
  }

  void connect() {
    phase_ = Phase::connect;
    conn_ = std::make_unique<Connection>(client_->strand);
    conn_->key = key_;
    connect_deadline_ = std::min(deadline_, Clock::now() + connect_budget());
    beast::error_code ec;
    auto address = net::ip::make_address(url_.host, ec);
    if (!ec) {
      conn_->stream.expires_at(connect_deadline_);
      conn_->stream.async_connect(
          tcp::endpoint(address, url_.port),
          [self = shared_from_this()](beast::error_code e) { self->on_connected(e); });
      return;
    }
    // A host name: resolve it, bounded by the connect deadline (getaddrinfo itself can't be
    // interrupted; its late answer is ignored).
    phase_ = Phase::resolve;
    resolver_.emplace(client_->strand);
    resolve_timer_.emplace(client_->strand);
    resolve_timer_->expires_at(connect_deadline_);
    resolve_timer_->async_wait([self = shared_from_this()](beast::error_code e) {
      if (e || self->phase_ != Phase::resolve || self->finished_) return;
      self->resolve_timed_out_ = true;
      self->resolver_->cancel();
    });
    resolver_->async_resolve(
        url_.host, std::to_string(url_.port),
        [self = shared_from_this()](beast::error_code e, tcp::resolver::results_type results) {
          self->on_resolved(e, std::move(results));
        });
  }

  void on_resolved(beast::error_code ec, tcp::resolver::results_type results) {
    if (finished_) return;
    resolve_timer_->cancel();
    if (cancelled_) return fail(fail_error("cancelled"));
    if (resolve_timed_out_) return fail(connect_timeout_error());
    if (ec) return fail(fail_error("resolve " + url_.host + ": " + ec.message()));
    phase_ = Phase::connect;
    conn_->stream.expires_at(connect_deadline_);
    conn_->stream.async_connect(
        results, [self = shared_from_this()](beast::error_code e, const tcp::endpoint&) {
          self->on_connected(e);
        });
  }

  Error connect_timeout_error() const {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(connect_deadline_ - started_);
    return fail_error("connect to " + key_ + " timed out after " + std::to_string(ms.count()) +
                      " ms");
  }

  void on_connected(beast::error_code ec) {
    if (cancelled_) return fail(fail_error("cancelled"));
    if (ec == beast::error::timeout) return fail(connect_timeout_error());
    if (ec == net::error::connection_refused)
      return fail(fail_error("connect to " + key_ + " refused"));
    if (ec) return fail(fail_error("connect to " + key_ + ": " + ec.message()));
    beast::error_code ignored;
    conn_->stream.socket().set_option(tcp::no_delay(true), ignored);
    write();
  }

  void write() {
    phase_ = Phase::write;
    conn_->stream.expires_at(deadline_);
    std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(req_.body)};
    net::async_write(
        conn_->stream, buffers,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_written(ec); });
  }

  void on_written(beast::error_code ec) {
    if (ec) return on_io_error(ec, false);
    read();
  }

  void read() {
    phase_ = Phase::read;
    if (!streaming_) {
      sparser_.emplace();
      sparser_->header_limit(kHeaderLimit);
      sparser_->body_limit(req_.max_response_bytes);
      sparser_->get().body().limit = req_.max_response_bytes;
      if (req_.method == "HEAD") sparser_->skip(true);
      http::async_read(
          conn_->stream, conn_->buffer, *sparser_,
          [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
      return;
    }
    bparser_.emplace();
    bparser_->header_limit(kHeaderLimit);
    bparser_->body_limit(req_.max_response_bytes);
    if (req_.method == "HEAD") bparser_->skip(true);
    http::async_read_header(
        conn_->stream, conn_->buffer, *bparser_,
        [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_header(e); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return on_io_error(ec, sparser_->got_some());
    auto& msg = sparser_->get();
    HttpResponse response;
    response.status = static_cast<int>(msg.result_int());
    response.headers = to_headers(msg);
    response.body = std::move(msg.body().text);
    bool keep = msg.keep_alive();
    complete(keep);
    on_response_(std::move(response));
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_io_error(ec, bparser_->got_some());
    auto& msg = bparser_->get();
    // As LimitedStringBody does for buffered responses (see there).
    if (auto length = bparser_->content_length(); length && *length > req_.max_response_bytes)
      return on_io_error(http::error::body_limit, true);
    if (handlers_.on_headers) {
      handlers_.on_headers(static_cast<int>(msg.result_int()), to_headers(msg));
      if (cancelled_) return fail(fail_error("cancelled"));
    }
    chunk_ = std::make_unique<char[]>(kStreamChunk);
    read_body();
  }

  void read_body() {
    if (bparser_->is_done()) {
      bool keep = bparser_->get().keep_alive();
      complete(keep);
      if (handlers_.on_done) handlers_.on_done(Status{});
      return;
    }
    auto& body = bparser_->get().body();
    body.data = chunk_.get();
    body.size = kStreamChunk;
    http::async_read_some(
        conn_->stream, conn_->buffer, *bparser_,
        [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_body(e); });
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return on_io_error(ec, true);
    std::size_t got = kStreamChunk - bparser_->get().body().size;
    if (got > 0 && handlers_.on_data) {
      bool more = handlers_.on_data(std::string_view(chunk_.get(), got));
      if (!more || cancelled_) {
        cancelled_ = true;
        return fail(fail_error("cancelled"));
      }
    }
    read_body();
  }

  void on_io_error(beast::error_code ec, bool got_response_bytes) {
    if (cancelled_) return fail(fail_error("cancelled"));
    // The server may close a kept-alive connection just as we reuse it: retry once on a new
    // connection when nothing of the response came back (the request was not processed).
    if (reused_ && !retried_ && !got_response_bytes && is_stale_connection_error(ec) &&
        Clock::now() < deadline_) {
      retried_ = true;
      reused_ = false;
      drop_connection();
      return connect();
    }
    if (ec == beast::error::timeout) {
      return fail(fail_error("timed out after " + std::to_string(req_.timeout.count()) +
                             " ms waiting for " + key_));
    }
    if (ec == http::error::body_limit) {
      return fail(
          fail_error("response larger than " + std::to_string(req_.max_response_bytes) + " bytes"));
    }
    if (ec == http::error::header_limit) {
      return fail(
          fail_error("response headers larger than " + std::to_string(kHeaderLimit) + " bytes"));
    }
    if (is_stale_connection_error(ec) || ec == http::error::partial_message) {
      return fail(fail_error("connection to " + key_ + " closed before the response " +
                             (got_response_bytes ? "was complete" : "began")));
    }
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category()) {
      return fail(fail_error("bad response from " + key_ + ": " + ec.message()));
    }
    std::string what = phase_ == Phase::write ? "writing to " : "reading from ";
    fail(fail_error(what + key_ + ": " + ec.message()));
  }

  void drop_connection() {
    if (!conn_) return;
    beast::error_code ignored;
    conn_->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    conn_->stream.close();
    conn_.reset();
  }

  // The response arrived whole: the connection goes back to the pool if it can carry another.
  void complete(bool keep_alive) {
    finished_ = true;
    client_->remove(this);
    bool reusable =
        keep_alive && conn_->buffer.size() == 0 && client_->generation.load() == generation_;
    if (reusable) {
      conn_->stream.expires_never();
      client_->put_idle(std::move(conn_));
    } else {
      drop_connection();
    }
  }

  void fail(Error error) {
    if (finished_) return;
    finished_ = true;
    client_->remove(this);
    drop_connection();
    if (resolve_timer_) resolve_timer_->cancel();
    if (streaming_) {
      if (handlers_.on_done) handlers_.on_done(Status{std::move(error)});
    } else {
      on_response_(Result<HttpResponse>(std::move(error)));
    }
  }

  enum class Phase { resolve, connect, write, read };

  std::shared_ptr<HttpClient::Impl> client_;
  HttpRequest req_;
  HttpUrl url_;
  std::uint64_t generation_;
  bool streaming_ = false;
  ResponseHandler on_response_;
  StreamHandlers handlers_;

  std::string key_;
  std::string head_;
  Clock::time_point started_;
  Clock::time_point deadline_;
  Clock::time_point connect_deadline_;
  std::unique_ptr<Connection> conn_;
  std::optional<tcp::resolver> resolver_;
  std::optional<net::steady_timer> resolve_timer_;
  std::optional<http::response_parser<LimitedStringBody>> sparser_;
  std::optional<http::response_parser<http::buffer_body>> bparser_;
  std::unique_ptr<char[]> chunk_;
  Phase phase_ = Phase::connect;
  bool reused_ = false;
  bool retried_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  bool resolve_timed_out_ = false;
};

std::unique_ptr<Connection> HttpClient::Impl::take_idle(const std::string& key) {
  auto it = idle.find(key);
  if (it == idle.end()) return nullptr;
  auto& list = it->second;
  while (!list.empty()) {
    auto conn = std::move(list.back());
    list.pop_back();
    --idle_count;
    // A peer that closed an idle connection left an EOF (or stray bytes) to read: peek without
    // blocking; only "nothing to read yet" means the connection is still good. Not for one idle
    // only briefly (a busy client reuses its connections within microseconds, and the peek was
    // a system call a request): servers don't close that soon, and a request that meets a closed
    // connection anyway is retried once on a new one (see on_io_error).
    if (Clock::now() - conn->idle_since < options.check_idle_after) return conn;
    char byte;
    auto n = ::recv(conn->stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return conn;
    beast::error_code ignored;
    conn->stream.socket().close(ignored);
  }
  return nullptr;
}

void HttpClient::Impl::put_idle(std::unique_ptr<Connection> conn) {
  auto& list = idle[conn->key];
  if (list.size() >= options.max_idle_per_host) {
    beast::error_code ignored;
    conn->stream.socket().close(ignored);
    return;
  }
  conn->idle_since = Clock::now();
  list.push_back(std::move(conn));
  ++idle_count;
  if (!sweep_armed) arm_sweep(Clock::now() + options.idle_timeout);
}

void HttpClient::Impl::arm_sweep(Clock::time_point at) {
  sweep_armed = true;
  sweep.expires_at(at);
  sweep.async_wait([self = shared_from_this()](beast::error_code ec) {
    self->sweep_armed = false;
    if (!ec) self->on_sweep();
  });
}

// Closes connections idle for longer than idle_timeout; re-arms for the oldest survivor.
void HttpClient::Impl::on_sweep() {
  auto now = Clock::now();
  auto next = Clock::time_point::max();
  for (auto it = idle.begin(); it != idle.end();) {
    auto& list = it->second;
    std::erase_if(list, [&](std::unique_ptr<Connection>& c) {
      if (c->idle_since + options.idle_timeout <= now) {
        beast::error_code ignored;
        c->stream.socket().close(ignored);
        --idle_count;
        return true;
      }
      next = std::min(next, c->idle_since + options.idle_timeout);
      return false;
    });
    it = list.empty() ? idle.erase(it) : std::next(it);
  }
  if (idle_count > 0) arm_sweep(next);
}

void HttpClient::Impl::shutdown_now() {
  std::vector<std::shared_ptr<Exchange>> running;
  running.reserve(active.size());
  for (auto* e : active) running.push_back(e->shared_from_this());
  for (auto& e : running) e->cancel();
  for (auto& [key, list] : idle) {
    for (auto& c : list) {
      beast::error_code ignored;
      c->stream.socket().close(ignored);
    }
  }
  idle.clear();
  idle_count = 0;
  sweep.cancel();
}

void HttpClient::Impl::add(Exchange* e) {
  e->index = active.size();
  active.push_back(e);
}

void HttpClient::Impl::remove(Exchange* e) {
  if (e->index >= active.size() || active[e->index] != e) return;
  active[e->index] = active.back();
  active[e->index]->index = e->index;
  active.pop_back();
}

HttpClient::HttpClient(net::io_context& io, Options options)
    : HttpClient(net::make_strand(io), options) {}

HttpClient::HttpClient(ClientStrand strand, Options options)
    : impl_(std::make_shared<Impl>(std::move(strand), options)) {}

HttpClient::~HttpClient() {
  shutdown();
}

namespace {

// Checks what the URL parser does not: the method and the caller's headers. The client frames
// the body itself, so Content-Length and Transfer-Encoding are refused.
Status check_request(const HttpRequest& r) {
  if (!is_token(r.method)) return invalid("bad HTTP method");
  if (r.timeout.count() <= 0) return invalid("timeout must be positive");
  if (r.connect_timeout && r.connect_timeout->count() <= 0)
    return invalid("connect timeout must be positive");
  for (const auto& [k, v] : r.headers) {
    if (!is_token(k)) return invalid("bad header name");
    if (!is_header_value(v)) return invalid("bad value for header " + k);
    if (iequals(k, "content-length") || iequals(k, "transfer-encoding") || iequals(k, "host"))
      return invalid("header " + k + " is set by the client");
  }
  return {};
}

}  // namespace

void HttpClient::request(HttpRequest request, ResponseHandler handler) {
  auto url = parse_http_url(request.url);
  Status checked = url ? check_request(request) : Status{url.error()};
  if (!checked) {
    net::post(impl_->strand, [handler = std::move(handler), error = checked.error()]() mutable {
      handler(Result<HttpResponse>(std::move(error)));
    });
    return;
  }
  auto exchange = std::make_shared<Exchange>(impl_, std::move(request), std::move(*url),
                                             impl_->generation.load());
  exchange->set_handler(std::move(handler));
  net::dispatch(impl_->strand, [exchange = std::move(exchange)] { exchange->start(); });
}

void HttpClient::stream(HttpRequest request, StreamHandlers handlers) {
  auto url = parse_http_url(request.url);
  Status checked = url ? check_request(request) : Status{url.error()};
  if (!checked) {
    net::post(impl_->strand, [handlers = std::move(handlers), error = checked.error()]() mutable {
      if (handlers.on_done) handlers.on_done(Status{std::move(error)});
    });
    return;
  }
  auto exchange = std::make_shared<Exchange>(impl_, std::move(request), std::move(*url),
                                             impl_->generation.load());
  exchange->set_handlers(std::move(handlers));
  net::dispatch(impl_->strand, [exchange = std::move(exchange)] { exchange->start(); });
}

void HttpClient::shutdown() {
  impl_->generation.fetch_add(1);
  net::dispatch(impl_->strand, [impl = impl_] { impl->shutdown_now(); });
}

}  // namespace fedai::runners
