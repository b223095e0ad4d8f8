// A blocking HTTP/1.1 client over a plain POSIX socket, for tests that need to see exactly what
// a server writes (framing, chunks, keep-alive, when it closes). Every read has a deadline
// (poll), so a test never hangs and never sleeps.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/ports.h"

namespace fedai::test {

using namespace std::chrono_literals;

struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // de-chunked
  bool chunked = false;
  // Case-insensitive; "" when absent.
  std::string header(std::string_view name) const;
};

class RawHttpClient {
 public:
  // Connects to 127.0.0.1:port; connected() says whether it worked.
  explicit RawHttpClient(std::uint16_t port);
  ~RawHttpClient();
  RawHttpClient(const RawHttpClient&) = delete;
  RawHttpClient& operator=(const RawHttpClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Whether the server closed (or reset) the connection: after a read that returned nullopt,
  // true means the connection ended early, false that the deadline passed.
  bool closed_by_peer() const { return eof_; }
  bool send(std::string_view bytes);
  // Reads one whole response (Content-Length, chunked, or until close); nullopt on timeout or a
  // connection closed before it was complete.
  std::optional<RawResponse> read_response(std::chrono::milliseconds timeout = 5s);
  // Reads the status line and headers only (for streams). Interim (1xx) responses are skipped
  // unless `interim` is set.
  std::optional<RawResponse> read_head(std::chrono::milliseconds timeout = 5s,
                                       bool interim = false);
  // The next chunk's payload of a chunked body ("" is the last chunk); nullopt on timeout/close.
  std::optional<std::string> read_chunk(std::chrono::milliseconds timeout = 5s);
  // True once the server closed the connection (EOF or reset) within `timeout`; data that
  // arrives meanwhile is discarded.
  bool wait_closed(std::chrono::milliseconds timeout);
  void close();
  // Shortcut: sends a request and reads its response.
  std::optional<RawResponse> request(std::string_view method, std::string_view target,
                                     std::string_view body = {},
                                     std::vector<std::pair<std::string, std::string>> headers = {},
                                     std::chrono::milliseconds timeout = 5s);

 private:
  // Ensures at least `n` buffered bytes; false on timeout or close.
  bool fill(std::size_t n, std::chrono::steady_clock::time_point deadline);
  // Reads until `delim` is buffered; returns its position.
  std::optional<std::size_t> find(std::string_view delim,
                                  std::chrono::steady_clock::time_point deadline);
  std::optional<std::string> take_line(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

}  // namespace fedai::test
