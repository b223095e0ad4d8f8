#include "agents/runtime/agent_loop.h"

#include <chrono>

namespace fedai::agents {

UnixMillis wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

AgentLoop::AgentLoop() : strand_(boost::asio::make_strand(io_.get_executor())) {}

AgentLoop::~AgentLoop() {
  stop();
}

void AgentLoop::start() {
  if (thread_.joinable()) return;
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] { io_.run(); });
}

void AgentLoop::stop() {
  if (!thread_.joinable()) return;
  work_.reset();
  io_.stop();
  if (!in_thread())
    thread_.join();
  else
    thread_.detach();
}

}  // namespace fedai::agents
