// A WebSocket client for tests that talk to a relay over real sockets (Boost.Beast).
//
// Messages are read on the client's own thread into an inbox; tests wait on the inbox with a
// timeout (never sleep). A client made with `read = false` doesn't read at all until
// start_reading(): a slow reader, with a small receive buffer so the server feels it soon.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/nostr/event.h"

namespace fedai::test {

using namespace std::chrono_literals;
using Json = nlohmann::json;

class WsTestClient {
 public:
  struct Options {
    bool read = true;
    int receive_buffer = 0;  // SO_RCVBUF before connecting; 0: the system's default
  };

  // Connects and completes the WebSocket handshake; throws on failure.
  WsTestClient(const std::string& host, int port, Options options);
  WsTestClient(const std::string& host, int port) : WsTestClient(host, port, Options{}) {}
  ~WsTestClient();
  WsTestClient(const WsTestClient&) = delete;
  WsTestClient& operator=(const WsTestClient&) = delete;

  // Queues a text message; sends happen in order on the client's thread.
  void send(std::string text);
  void send(const Json& message) { send(message.dump()); }

  // The next message (as JSON), or nullopt after `timeout` or once the connection is closed
  // and the inbox is empty.
  std::optional<Json> next(std::chrono::milliseconds timeout = 5s);
  // Skips messages until one satisfies `pred`; nullopt on timeout or close.
  std::optional<Json> next_matching(const std::function<bool(const Json&)>& pred,
                                    std::chrono::milliseconds timeout = 5s);
  // True once the connection is closed (by either side), waiting up to `timeout` for it.
  bool wait_closed(std::chrono::milliseconds timeout);
  // Bytes received so far.
  std::size_t bytes_received() const;

  // Starts reading (for a client made with read = false).
  void start_reading();

  // ---- Nostr helpers ----
  // The ["AUTH", challenge] the relay sends on connect.
  std::string challenge(std::chrono::milliseconds timeout = 5s);
  struct Ok {
    bool accepted = false;
    std::string message;
  };
  // Sends EVENT and waits for its OK (other messages are skipped); throws on timeout.
  Ok publish(const Event& event, std::chrono::milliseconds timeout = 5s);
  Ok auth(const Event& event, std::chrono::milliseconds timeout = 5s);
  struct Stored {
    std::vector<Event> events;
    bool eose = false;
    std::optional<std::string> closed;  // the CLOSED reason, if the relay refused
  };
  // Sends REQ and collects events until EOSE or CLOSED for `sub`.
  Stored req(const std::string& sub, const Json& filters, std::chrono::milliseconds timeout = 5s);
  // The next EVENT for `sub`, parsed; nullopt on timeout.
  std::optional<Event> next_event(const std::string& sub, std::chrono::milliseconds timeout = 5s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};
// One HTTP/1.1 request; throws on connection failure.
HttpResponse http_request(const std::string& host, int port, const std::string& method,
                          const std::string& target,
                          const std::map<std::string, std::string>& headers = {});

}  // namespace fedai::test
