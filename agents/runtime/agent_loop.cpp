#include "agents/runtime/agent_loop.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

#include <algorithm>
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
  if (!idle_) {
    thread_ = std::thread([this] { io_.run(); });
    return;
  }
  thread_ = std::thread([this] { run_with_idle_work(); });
}

namespace {

// The time this thread wanted a core: running, or runnable and waiting for one
// (/proc/thread-self/schedstat). Counting the wait too keeps a busy thread on a crowded machine
// from looking idle. Falls back to the thread's CPU time where schedstat is missing.
class WantedTime {
 public:
  WantedTime() : fd_(::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)) {}
  ~WantedTime() {
    if (fd_ >= 0) ::close(fd_);
  }
  WantedTime(const WantedTime&) = delete;
  WantedTime& operator=(const WantedTime&) = delete;

  std::chrono::nanoseconds now() const {
    if (fd_ >= 0) {
      char text[96];
      ssize_t n = ::pread(fd_, text, sizeof text - 1, 0);
      unsigned long long run = 0, wait = 0;
      if (n > 0) {
        text[n] = '\0';
        if (std::sscanf(text, "%llu %llu", &run, &wait) == 2)
          return std::chrono::nanoseconds(run + wait);
      }
    }
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  }

 private:
  int fd_;
};

}  // namespace

// Two modes. Spare: handlers first (poll), and when none is ready one unit of idle work, until
// the work runs out. Busy: plain run for a window, as without idle work (no extra system calls).
// At each window's end the time the thread wanted a core, less the idle work's, says which mode
// comes next.
void AgentLoop::run_with_idle_work() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kWindow = std::chrono::milliseconds(50);
  bool spare = true;  // at start: fill up
  auto window_start = Clock::now();
  WantedTime wanted;
  auto window_wanted = wanted.now();
  Clock::duration idle_work{};
  auto end_window = [&] {
    auto now = Clock::now();
    auto wanted_now = wanted.now();
    auto elapsed = now - window_start;
    double busy = std::chrono::duration<double>(wanted_now - window_wanted - idle_work).count() /
                  std::max(1e-9, std::chrono::duration<double>(elapsed).count());
    spare = busy < idle_max_busy_;
    window_start = now;
    window_wanted = wanted_now;
    idle_work = {};
  };
  while (!io_.stopped()) {
    if (!spare) {
      io_.run_for(kWindow);
      end_window();
      continue;
    }
    auto started = Clock::now();
    if (started - window_start >= kWindow) {
      end_window();
      continue;
    }
    if (io_.poll() > 0) continue;
    if (io_.stopped()) break;
    bool did = idle_();
    idle_work += Clock::now() - started;  // the empty poll and the unit of work
    if (!did) {
      // Nothing to do: run plainly until the window ends, then look again.
      io_.run_until(window_start + kWindow);
      end_window();
      continue;
    }
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
