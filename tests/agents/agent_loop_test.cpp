// AgentLoop (agents/runtime/agent_loop.h): admission of new work after the work in flight.
#include "agents/runtime/agent_loop.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <string>
#include <vector>

namespace fedai::agents {
namespace {

using namespace std::chrono_literals;

class Order {
 public:
  void add(std::string what) {
    std::lock_guard lock(mutex_);
    seen_.push_back(std::move(what));
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> seen_;
};

// Runs `start` on the loop, waits for `done`, stops the loop.
void run_until(AgentLoop& loop, std::promise<void>& done, const std::function<void()>& start) {
  loop.start();
  loop.post(start);
  ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  loop.stop();
}

TEST(AgentLoop, WithoutAdmissionAdmittedWorkRunsAtOnce) {
  AgentLoop loop;
  Order order;
  std::promise<void> done;
  run_until(loop, done, [&] {
    loop.post([&] {
      order.add("posted");
      done.set_value();
    });
    loop.admit([&] { order.add("admitted"); });
    order.add("after admit");
  });
  EXPECT_EQ(order.seen(), (std::vector<std::string>{"admitted", "after admit", "posted"}));
}

// Work in flight (handlers ready, and the handlers they make ready) runs before admitted work;
// admitted items run one at a time, in arrival order, each followed by what it made ready.
TEST(AgentLoop, AdmittedWorkWaitsForTheWorkInFlight) {
  AgentLoop loop;
  loop.use_admission();
  Order order;
  std::promise<void> done;
  run_until(loop, done, [&] {
    loop.admit([&] {
      order.add("job 1");
      loop.post([&] { order.add("job 1 continues"); });
    });
    loop.admit([&] {
      order.add("job 2");
      done.set_value();
    });
    loop.post([&] {
      order.add("in flight");
      loop.post([&] { order.add("in flight continues"); });
    });
    order.add("handler");
  });
  EXPECT_EQ(order.seen(), (std::vector<std::string>{"handler", "in flight", "in flight continues",
                                                    "job 1", "job 1 continues", "job 2"}));
}

}  // namespace
}  // namespace fedai::agents
