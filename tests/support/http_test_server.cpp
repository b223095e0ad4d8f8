#include "tests/support/http_test_server.h"
#include "core/util/ascii.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <stdexcept>

namespace fedai::test {

namespace {

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

std::optional<std::string> TestRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

void TestExchange::reply(int status, std::string_view content_type, std::string_view body,
                         const std::vector<std::pair<std::string, std::string>>& extra) {
  answered_ = true;
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  head += "Content-Type: " + std::string(content_type) + "\r\n";
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [k, v] : extra) head += k + ": " + v + "\r\n";
  if (close_ && announce_close_) head += "Connection: close\r\n";
  head += "\r\n";
  send_all(fd_, head) && send_all(fd_, body);
}

void TestExchange::start_chunked(int status, std::string_view content_type) {
  answered_ = true;
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  head += "Content-Type: " + std::string(content_type) + "\r\n";
  head += "Transfer-Encoding: chunked\r\n";
  if (close_ && announce_close_) head += "Connection: close\r\n";
  head += "\r\n";
  send_all(fd_, head);
}

bool TestExchange::chunk(std::string_view data) {
  if (data.empty()) return true;  // an empty chunk would end the body
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return send_all(fd_, size) && send_all(fd_, data) && send_all(fd_, "\r\n");
}

void TestExchange::end_chunked() {
  send_all(fd_, "0\r\n\r\n");
}

bool TestExchange::write_raw(std::string_view bytes) {
  answered_ = true;
  return send_all(fd_, bytes);
}

bool TestExchange::wait_client_gone(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (!server_.wait_readable(fd_, left)) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close_ = true;
      server_.note_client_close();
      return true;
    }
  }
}

bool TestExchange::wait_release(std::chrono::milliseconds timeout) {
  std::unique_lock lock(server_.mutex_);
  bool released = server_.cv_.wait_for(
      lock, timeout, [&] { return server_.releases_ > 0 || server_.stopping_.load(); });
  if (released && server_.releases_ > 0) {
    --server_.releases_;
    return true;
  }
  return false;
}

HttpTestServer::HttpTestServer(TestHandler handler) : handler_(std::move(handler)) {
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(wake_, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket failed");
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 512) != 0)
    throw std::runtime_error("bind/listen failed");
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

HttpTestServer::~HttpTestServer() {
  stopping_ = true;
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
  char byte = 1;
  [[maybe_unused]] auto n = ::write(wake_[1], &byte, 1);
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

std::string HttpTestServer::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

std::size_t HttpTestServer::client_closes() const {
  std::lock_guard lock(mutex_);
  return client_closes_;
}

bool HttpTestServer::wait_client_closes(std::size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return client_closes_ >= n; });
}

std::size_t HttpTestServer::ended_connections() const {
  std::lock_guard lock(mutex_);
  return ended_;
}

bool HttpTestServer::wait_ended_connections(std::size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return ended_ >= n; });
}

std::vector<TestRequest> HttpTestServer::seen() const {
  std::lock_guard lock(mutex_);
  return seen_;
}

void HttpTestServer::release() {
  {
    std::lock_guard lock(mutex_);
    ++releases_;
  }
  cv_.notify_all();
}

void HttpTestServer::drop_connections() {
  std::lock_guard lock(mutex_);
  for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
}

void HttpTestServer::note_client_close() {
  {
    std::lock_guard lock(mutex_);
    ++client_closes_;
  }
  cv_.notify_all();
}

bool HttpTestServer::wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
  for (;;) {
    int rc = ::poll(fds, 2, static_cast<int>(timeout.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    if (fds[1].revents) return false;  // the server is stopping
    return true;
  }
}

void HttpTestServer::accept_loop() {
  std::size_t number = 0;
  while (!stopping_) {
    if (!wait_readable(listen_fd_, std::chrono::milliseconds(60'000))) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++connections_;
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      break;
    }
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd, n = ++number] { serve(fd, n); });
  }
}

bool HttpTestServer::read_request(int fd, std::string& buffer, TestRequest& out) {
  auto fill = [&]() -> int {
    if (!wait_readable(fd, std::chrono::milliseconds(60'000))) return -1;
    char buf[16384];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    buffer.append(buf, static_cast<std::size_t>(n));
    return 1;
  };
  std::size_t end;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    int rc = fill();
    if (rc == 0 && buffer.empty()) note_client_close();
    if (rc <= 0) return false;
  }
  std::string_view head(buffer.data(), end);
  auto line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  auto sp1 = request_line.find(' ');
  auto sp2 = request_line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return false;
  out.method = request_line.substr(0, sp1);
  out.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::size_t length = 0;
  std::string_view rest =
      line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
  while (!rest.empty()) {
    auto e = rest.find("\r\n");
    std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    out.headers.emplace_back(std::string(trim_ows(line.substr(0, colon))),
                             std::string(trim_ows(line.substr(colon + 1))));
    if (iequals(out.headers.back().first, "content-length"))
      length = std::stoul(out.headers.back().second);
  }
  buffer.erase(0, end + 4);
  while (buffer.size() < length) {
    if (fill() <= 0) return false;
  }
  out.body = buffer.substr(0, length);
  buffer.erase(0, length);
  return true;
}

void HttpTestServer::serve(int fd, std::size_t number) {
  std::string buffer;
  while (!stopping_) {
    TestRequest request;
    if (!read_request(fd, buffer, request)) break;
    request.connection = number;
    ++requests_;
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(request);
    }
    TestExchange exchange(*this, fd, std::move(request));
    handler_(exchange);
    if (exchange.close_ || !exchange.answered_) break;
  }
  {
    std::lock_guard lock(mutex_);
    open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
    ::close(fd);
    ++ended_;
  }
  cv_.notify_all();
}

}  // namespace fedai::test
