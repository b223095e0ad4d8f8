#include "relay/pool/host_resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

namespace fedai::relay {
namespace {

Result<std::string> lookup(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* list = nullptr;
  auto service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0)
    return make_error(ErrorCode::error, "cannot resolve " + host + ": " + gai_strerror(rc));
  std::string out;
  // Prefer IPv4: loopback-only and IPv4-only networks are common where IPv6 routes are not.
  for (int pass = 0; pass < 2 && out.empty(); ++pass) {
    for (auto* a = list; a != nullptr; a = a->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {};
      if (pass == 0 && a->ai_family == AF_INET) {
        auto* sin = reinterpret_cast<sockaddr_in*>(a->ai_addr);
        if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) != nullptr) out = buf;
      } else if (pass == 1 && a->ai_family == AF_INET6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(a->ai_addr);
        if (inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf) != nullptr) out = buf;
      }
      if (!out.empty()) break;
    }
  }
  freeaddrinfo(list);
  if (out.empty()) return make_error(ErrorCode::error, "no address for " + host);
  return out;
}

}  // namespace

HostResolver::~HostResolver() {
  stop();
}

bool HostResolver::is_numeric(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

void HostResolver::resolve(std::string host, std::uint16_t port, Callback callback) {
  if (is_numeric(host)) {
    callback(std::move(host));
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    queue_.push_back({std::move(host), port, std::move(callback)});
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_one();
}

void HostResolver::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HostResolver::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job.callback(lookup(job.host, job.port));
  }
}

}  // namespace fedai::relay
