// The thread model of an agent: one io_context run by one thread, and the agent's logic on one
// strand, so the logic needs no locks. Other threads (the relay pool's, the store's writer)
// reach it only by posting.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <deque>
#include <functional>
#include <optional>
#include <thread>

#include "core/machine/state.h"

namespace fedai::agents {

using machine::UnixMillis;

// Wall-clock milliseconds since the epoch: the time records carry.
UnixMillis wall_clock_ms();

class AgentLoop {
 public:
  AgentLoop();
  ~AgentLoop();
  AgentLoop(const AgentLoop&) = delete;
  AgentLoop& operator=(const AgentLoop&) = delete;

  boost::asio::io_context& io() { return io_; }
  boost::asio::strand<boost::asio::io_context::executor_type>& strand() { return strand_; }

  // Runs `fn` on the agent's strand. Thread-safe.
  void post(std::function<void()> fn) { boost::asio::post(strand_, std::move(fn)); }
  // An executor for libraries that take a std::function poster (the relay pool).
  std::function<void(std::function<void()>)> poster() {
    return [this](std::function<void()> fn) { post(std::move(fn)); };
  }

  // Starts the thread. Stop() lets queued work finish, then joins.
  void start();
  void stop();
  bool in_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

  // New work (a request that starts a job) waits until no handler is ready: the work already in
  // flight (answers, commits, timers) goes first, then one admitted item, then whatever that made
  // ready, and so on in arrival order. Call admit() on the loop's thread, after use_admission()
  // (before start()); without it, admit() runs the work at once.
  void use_admission() { admission_ = true; }
  void admit(std::function<void()> work);

 private:
  boost::asio::io_context io_{1};
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  void run_with_admission();

  std::thread thread_;
  bool admission_ = false;
  std::deque<std::function<void()>> admissions_;
};

}  // namespace fedai::agents
