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
  if (!admission_) {
    thread_ = std::thread([this] { io_.run(); });
    return;
  }
  thread_ = std::thread([this] { run_with_admission(); });
}

void AgentLoop::admit(std::function<void()> work) {
  if (!admission_) return work();
  admissions_.push_back(std::move(work));
}

// With nothing admitted waiting, this is run(): one handler at a time, waiting when none is
// ready. Otherwise poll() first runs every ready handler, new events included (it looks at the
// sockets once more before it returns), so when it returns nothing is ready: then one admitted
// item.
void AgentLoop::run_with_admission() {
  while (!io_.stopped()) {
    if (admissions_.empty()) {
      io_.run_one();
      continue;
    }
    io_.poll();
    if (io_.stopped() || admissions_.empty()) continue;
    auto work = std::move(admissions_.front());
    admissions_.pop_front();
    work();
  }
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
