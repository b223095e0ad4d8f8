// Name resolution off the service thread. libwebsockets 4.1 as built by Debian resolves
// synchronously (no LWS_WITH_SYS_ASYNC_DNS), so a slow DNS server would stall every relay; the
// pool resolves here first and hands lws an address.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/util/result.h"

namespace fedai::relay {

class HostResolver {
 public:
  // The callback gets a numeric address (IPv4 or IPv6) or why not; it runs on the resolver
  // thread.
  using Callback = std::function<void(Result<std::string> address)>;

  HostResolver() = default;
  ~HostResolver();
  HostResolver(const HostResolver&) = delete;
  HostResolver& operator=(const HostResolver&) = delete;

  // Numeric hosts need no lookup; the callback then runs at once, on the caller's thread.
  void resolve(std::string host, std::uint16_t port, Callback callback);
  void stop();

  static bool is_numeric(const std::string& host);

 private:
  void run();
  struct Job {
    std::string host;
    std::uint16_t port;
    Callback callback;
  };
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread thread_;  // started on first use
};

}  // namespace fedai::relay
