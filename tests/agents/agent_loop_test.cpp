// AgentLoop's idle work (agents/runtime/agent_loop.h): done in the loop's spare moments, never
// while the thread is busy.
#include "agents/runtime/agent_loop.h"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>

#include <time.h>

namespace fedai::agents {
namespace {

using namespace std::chrono_literals;

std::chrono::nanoseconds thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// A timer every millisecond whose handler burns `cpu` of the thread's CPU time, for `ticks`
// ticks. Returns how many idle-work units ran after the first 100 ticks.
int idle_units_after_warmup(std::chrono::microseconds cpu, int ticks) {
  AgentLoop loop;
  std::atomic<int> units{0}, late_units{0};
  std::atomic<int> fired{0};
  loop.on_idle([&] {
    ++units;
    if (fired >= 100) ++late_units;
    return true;  // always more to do
  });
  std::promise<void> finished;
  auto timer = std::make_shared<boost::asio::steady_timer>(loop.strand());
  auto next = std::chrono::steady_clock::now();
  std::function<void()> arm = [&] {
    next += 1ms;  // a fixed period, whatever the handler took
    timer->expires_at(next);
    timer->async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      auto until = thread_cpu() + cpu;
      while (thread_cpu() < until) {
      }
      if (++fired == ticks) {
        finished.set_value();
        return;
      }
      arm();
    });
  };
  loop.post(arm);
  loop.start();
  finished.get_future().wait();
  loop.stop();
  return late_units.load();
}

TEST(AgentLoop, IdleWorkRunsInSpareMoments) {
  // 5% busy: the loop spends its gaps on idle work.
  EXPECT_GT(idle_units_after_warmup(50us, 300), 0);
}

TEST(AgentLoop, NoIdleWorkWhileTheThreadIsBusy) {
  // Busy most of each millisecond (or all of it, on a crowded machine): after the first window
  // the loop only runs its handlers.
  EXPECT_EQ(idle_units_after_warmup(900us, 300), 0);
}

TEST(AgentLoop, IdleWorkStopsWhenThereIsNone) {
  AgentLoop loop;
  std::atomic<int> calls{0};
  std::promise<void> out_of_work;
  loop.on_idle([&] {
    if (++calls == 10) out_of_work.set_value();
    return calls < 10;
  });
  loop.start();
  out_of_work.get_future().wait();
  // Handlers still run after the work ran out.
  std::promise<void> ran;
  loop.post([&] { ran.set_value(); });
  EXPECT_EQ(ran.get_future().wait_for(5s), std::future_status::ready);
  loop.stop();
}

}  // namespace
}  // namespace fedai::agents
