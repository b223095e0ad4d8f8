// A scripted HTTP/1.1 server for tests of HTTP clients: plain blocking sockets, a thread per
// connection, keep-alive, and a handler that decides each answer and may block (wait for the
// test to release it, wait for the client to hang up). It counts connections and requests so
// a test can observe keep-alive reuse, and it answers in any shape a test needs: whole,
// chunked piece by piece, without a length, or not at all.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/ports.h"

namespace fedai::test {

struct TestRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::size_t connection = 0;  // 1-based number of the connection it came on
  // Case-insensitive header lookup.
  std::optional<std::string> header(std::string_view name) const;
};

class HttpTestServer;

// One request being answered; the handler runs on the connection's thread.
class TestExchange {
 public:
  const TestRequest& request() const { return request_; }

  // A whole answer with Content-Length.
  void reply(int status, std::string_view content_type, std::string_view body,
             const std::vector<std::pair<std::string, std::string>>& extra = {});
  void json(int status, std::string_view body) { reply(status, "application/json", body); }
  // A chunked answer: start, any number of chunks (false once the client is gone), end.
  void start_chunked(int status, std::string_view content_type);
  bool chunk(std::string_view data);
  void end_chunked();
  // Raw bytes on the socket (for answers no well-behaved server sends).
  bool write_raw(std::string_view bytes);
  // After the answer, close the connection instead of keeping it alive (and say so in a
  // `Connection: close` header when `announce`; silently otherwise, as a server whose idle
  // timeout fires would).
  void close_after(bool announce = true) {
    close_ = true;
    announce_close_ = announce;
  }

  // Blocks until the client closes its end (true) or the server stops or `timeout` passes.
  bool wait_client_gone(std::chrono::milliseconds timeout);
  // Blocks until the test calls HttpTestServer::release() (true) or the server stops.
  bool wait_release(std::chrono::milliseconds timeout);

 private:
  friend class HttpTestServer;
  TestExchange(HttpTestServer& server, int fd, TestRequest request)
      : server_(server), fd_(fd), request_(std::move(request)) {}
  HttpTestServer& server_;
  int fd_;
  TestRequest request_;
  bool close_ = false;
  bool announce_close_ = false;
  bool answered_ = false;
};

using TestHandler = std::function<void(TestExchange&)>;

class HttpTestServer {
 public:
  explicit HttpTestServer(TestHandler handler);
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT" + path.
  std::string url(std::string_view path = "") const;

  std::size_t connections() const { return connections_.load(); }
  std::size_t requests() const { return requests_.load(); }
  // Connections the client closed (EOF seen while the server waited for a request or in
  // wait_client_gone).
  std::size_t client_closes() const;
  // Waits until client_closes() reaches `n`.
  bool wait_client_closes(std::size_t n, std::chrono::milliseconds timeout);
  // Connections that have ended (closed by either side), and a wait for their number.
  std::size_t ended_connections() const;
  bool wait_ended_connections(std::size_t n, std::chrono::milliseconds timeout);
  // Every request so far.
  std::vector<TestRequest> seen() const;

  // Wakes handlers blocked in wait_release (each release wakes one waiter, or the next).
  void release();
  // Closes every open connection from the server side (idle ones included).
  void drop_connections();

 private:
  friend class TestExchange;
  void accept_loop();
  void serve(int fd, std::size_t number);
  bool read_request(int fd, std::string& buffer, TestRequest& out);
  // poll() on fd and the wake pipe; true when fd is readable.
  bool wait_readable(int fd, std::chrono::milliseconds timeout);
  void note_client_close();

  TestHandler handler_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> requests_{0};

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t client_closes_ = 0;
  std::size_t ended_ = 0;
  std::size_t releases_ = 0;
  std::vector<TestRequest> seen_;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace fedai::test
