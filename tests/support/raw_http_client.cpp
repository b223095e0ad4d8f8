#include "tests/support/raw_http_client.h"
#include "core/util/ascii.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fedai::test {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

std::string RawResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

RawHttpClient::RawHttpClient(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr = loopback(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawHttpClient::~RawHttpClient() {
  close();
}

void RawHttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawHttpClient::send(std::string_view bytes) {
  while (!bytes.empty() && fd_ >= 0) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return bytes.empty();
}

bool RawHttpClient::fill(std::size_t n, Clock::time_point deadline) {
  while (buf_.size() < n) {
    if (eof_ || fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;  // timeout
    char tmp[16384];
    ssize_t got = ::recv(fd_, tmp, sizeof tmp, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(got));
  }
  return true;
}

std::optional<std::size_t> RawHttpClient::find(std::string_view delim, Clock::time_point deadline) {
  while (true) {
    auto pos = buf_.find(delim);
    if (pos != std::string::npos) return pos;
    if (!fill(buf_.size() + 1, deadline)) return std::nullopt;
  }
}

std::optional<std::string> RawHttpClient::take_line(Clock::time_point deadline) {
  auto pos = find("\r\n", deadline);
  if (!pos) return std::nullopt;
  std::string line = buf_.substr(0, *pos);
  buf_.erase(0, *pos + 2);
  return line;
}

std::optional<RawResponse> RawHttpClient::read_head(std::chrono::milliseconds timeout,
                                                    bool interim) {
  auto deadline = Clock::now() + timeout;
  RawResponse r;
  // Skip interim 1xx responses.
  while (true) {
    auto end = find("\r\n\r\n", deadline);
    if (!end) return std::nullopt;
    std::string head = buf_.substr(0, *end);
    buf_.erase(0, *end + 4);
    auto line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.")) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    r.headers.clear();
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(pos, next - pos);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers.emplace_back(line.substr(0, colon), value);
      }
      pos = next + 2;
    }
    if (r.status >= 200 || interim) break;
  }
  r.chunked = iequals(r.header("Transfer-Encoding"), "chunked");
  return r;
}

std::optional<std::string> RawHttpClient::read_chunk(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  auto size_line = take_line(deadline);
  if (!size_line) return std::nullopt;
  std::size_t size = std::stoul(*size_line, nullptr, 16);
  if (!fill(size + 2, deadline)) return std::nullopt;
  std::string data = buf_.substr(0, size);
  buf_.erase(0, size + 2);
  return data;
}

std::optional<RawResponse> RawHttpClient::read_response(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  auto r = read_head(timeout);
  if (!r) return std::nullopt;
  if (r->chunked) {
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto chunk = read_chunk(left);
      if (!chunk) return std::nullopt;
      if (chunk->empty()) break;
      r->body += *chunk;
    }
    return r;
  }
  std::string length = r->header("Content-Length");
  if (!length.empty()) {
    std::size_t n = std::stoul(length);
    if (!fill(n, deadline)) return std::nullopt;
    r->body = buf_.substr(0, n);
    buf_.erase(0, n);
    return r;
  }
  while (fill(buf_.size() + 1, deadline)) {
  }
  if (!eof_) return std::nullopt;
  r->body = std::move(buf_);
  buf_.clear();
  return r;
}

bool RawHttpClient::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!eof_) {
    if (!fill(buf_.size() + 1, deadline) && !eof_) return false;
    buf_.clear();
  }
  return true;
}

std::optional<RawResponse> RawHttpClient::request(
    std::string_view method, std::string_view target, std::string_view body,
    std::vector<std::pair<std::string, std::string>> headers, std::chrono::milliseconds timeout) {
  std::string req;
  req += method;
  req += ' ';
  req += target;
  req += " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST")
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n";
  req += body;
  if (!send(req)) return std::nullopt;
  return read_response(timeout);
}

}  // namespace fedai::test
