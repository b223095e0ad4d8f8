#include "tests/support/ws_test_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <cctype>
#include <stdexcept>

#include "core/nostr/message.h"

namespace fedai::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct WsTestClient::Impl {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  std::deque<std::string> outq;  // io thread only
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;

  mutable std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::string> inbox;
  bool closed = false;
  std::size_t bytes = 0;
  bool reading = false;

  void mark_closed() {
    {
      std::lock_guard lock(mutex);
      closed = true;
    }
    cv.notify_all();
  }

  void do_read() {
    ws.async_read(buffer, [this](beast::error_code ec, std::size_t n) {
      if (ec) {
        mark_closed();
        return;
      }
      {
        std::lock_guard lock(mutex);
        inbox.push_back(beast::buffers_to_string(buffer.data()));
        bytes += n;
      }
      buffer.consume(buffer.size());
      cv.notify_all();
      do_read();
    });
  }

  void do_write() {
    ws.async_write(net::buffer(outq.front()), [this](beast::error_code ec, std::size_t) {
      if (ec) {
        mark_closed();
        return;
      }
      outq.pop_front();
      if (!outq.empty()) do_write();
    });
  }
};

WsTestClient::WsTestClient(const std::string& host, int port, Options options)
    : impl_(std::make_unique<Impl>()) {
  tcp::resolver resolver(impl_->ioc);
  auto endpoints = resolver.resolve(host, std::to_string(port));
  tcp::socket& socket = beast::get_lowest_layer(impl_->ws).socket();
  const tcp::endpoint endpoint = *endpoints.begin();
  socket.open(endpoint.protocol());
  if (options.receive_buffer > 0)
    socket.set_option(net::socket_base::receive_buffer_size(options.receive_buffer));
  socket.connect(endpoint);
  impl_->ws.read_message_max(std::size_t{64} << 20);
  impl_->ws.handshake(host + ":" + std::to_string(port), "/");
  impl_->ws.text(true);
  impl_->work.emplace(impl_->ioc.get_executor());
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
  if (options.read) start_reading();
}

WsTestClient::~WsTestClient() {
  impl_->work.reset();
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void WsTestClient::start_reading() {
  net::post(impl_->ioc, [impl = impl_.get()] {
    if (impl->reading) return;
    impl->reading = true;
    impl->do_read();
  });
}

void WsTestClient::send(std::string text) {
  net::post(impl_->ioc, [impl = impl_.get(), text = std::move(text)]() mutable {
    impl->outq.push_back(std::move(text));
    if (impl->outq.size() == 1) impl->do_write();
  });
}

std::optional<Json> WsTestClient::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  if (!impl_->cv.wait_for(lock, timeout, [&] { return !impl_->inbox.empty() || impl_->closed; }))
    return std::nullopt;
  if (impl_->inbox.empty()) return std::nullopt;
  std::string text = std::move(impl_->inbox.front());
  impl_->inbox.pop_front();
  lock.unlock();
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) return Json(text);
  return j;
}

std::optional<Json> WsTestClient::next_matching(const std::function<bool(const Json&)>& pred,
                                                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto m = next(left);
    if (!m) return std::nullopt;
    if (pred(*m)) return m;
  }
}

bool WsTestClient::wait_closed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  // A closed connection may still have messages in the inbox; they don't matter here.
  return impl_->cv.wait_for(lock, timeout, [&] {
    impl_->inbox.clear();
    return impl_->closed;
  });
}

std::size_t WsTestClient::bytes_received() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->bytes;
}

std::string WsTestClient::challenge(std::chrono::milliseconds timeout) {
  auto m = next_matching(
      [](const Json& j) { return j.is_array() && j.size() == 2 && j[0] == "AUTH"; }, timeout);
  if (!m) throw std::runtime_error("no AUTH challenge from the relay");
  return (*m)[1].get<std::string>();
}

namespace {
WsTestClient::Ok wait_ok(WsTestClient& c, const EventId& id, std::chrono::milliseconds timeout) {
  std::string hex = id.hex();
  auto m = c.next_matching(
      [&](const Json& j) { return j.is_array() && j.size() >= 3 && j[0] == "OK" && j[1] == hex; },
      timeout);
  if (!m) throw std::runtime_error("no OK for " + hex);
  return {(*m)[2].get<bool>(), m->size() > 3 ? (*m)[3].get<std::string>() : std::string()};
}
}  // namespace

WsTestClient::Ok WsTestClient::publish(const Event& event, std::chrono::milliseconds timeout) {
  send(event_message(event));
  return wait_ok(*this, event.id, timeout);
}

WsTestClient::Ok WsTestClient::auth(const Event& event, std::chrono::milliseconds timeout) {
  send(auth_message(event));
  return wait_ok(*this, event.id, timeout);
}

WsTestClient::Stored WsTestClient::req(const std::string& sub, const Json& filters,
                                       std::chrono::milliseconds timeout) {
  Json msg = Json::array({"REQ", sub});
  if (filters.is_array()) {
    for (const auto& f : filters) msg.push_back(f);
  } else {
    msg.push_back(filters);
  }
  send(msg);
  Stored out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto m = left.count() > 0 ? next(left) : std::nullopt;
    if (!m) throw std::runtime_error("no EOSE for " + sub);
    if (!m->is_array() || m->size() < 2 || (*m)[1] != sub) continue;
    if ((*m)[0] == "EOSE") {
      out.eose = true;
      return out;
    }
    if ((*m)[0] == "CLOSED") {
      out.closed = m->size() > 2 ? (*m)[2].get<std::string>() : std::string();
      return out;
    }
    if ((*m)[0] == "EVENT" && m->size() == 3) {
      auto e = parse_verified_event((*m)[2].dump());
      if (!e) throw std::runtime_error("relay sent a bad event: " + e.error().to_string());
      out.events.push_back(std::move(*e));
    }
  }
}

std::optional<Event> WsTestClient::next_event(const std::string& sub,
                                              std::chrono::milliseconds timeout) {
  auto m = next_matching(
      [&](const Json& j) {
        return j.is_array() && j.size() == 3 && j[0] == "EVENT" && j[1] == sub;
      },
      timeout);
  if (!m) return std::nullopt;
  auto e = parse_verified_event((*m)[2].dump());
  if (!e) throw std::runtime_error("relay sent a bad event: " + e.error().to_string());
  return std::move(*e);
}

HttpResponse http_request(const std::string& host, int port, const std::string& method,
                          const std::string& target,
                          const std::map<std::string, std::string>& headers) {
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  stream.connect(resolver.resolve(host, std::to_string(port)));
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  for (const auto& [k, v] : headers) req.set(k, v);
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.body = res.body();
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return out;
}

}  // namespace fedai::test
