// A child process (a model server the devnet starts; relays and servers tests start): its stdout
// read line by line on a thread, so a test can wait (with a deadline, never a sleep) for the line
// that says the child is ready; its stdin open for commands; killed and reaped when the object
// dies. stderr is inherited, so the child's complaints show up in ctest's output.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace fedai::runners {

class ChildProcess {
 public:
  // argv[0] is the program (a path: no PATH search). Throws std::runtime_error when it can't
  // be started.
  explicit ChildProcess(std::vector<std::string> argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The first stdout line (from the start) beginning with `prefix`, waiting up to `timeout`;
  // nullopt on timeout or when the child closed stdout first.
  std::optional<std::string> wait_for_line(std::string_view prefix,
                                           std::chrono::milliseconds timeout);
  // Every stdout line so far beginning with `prefix`.
  std::vector<std::string> lines(std::string_view prefix) const;
  // Writes `line` and a newline to the child's stdin.
  void write_line(std::string_view line);
  // Waits for the child to close its stdout (normally: to exit) and reaps it; returns its wait
  // status, or nullopt after `timeout` (the child is then left running).
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // Sends `signal` and reaps the child; returns its wait status. Idempotent.
  int kill(int signal);
  pid_t pid() const { return pid_; }

 private:
  void read_stdout(int fd);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
  std::thread reader_;
};

// The first executable named `name` on $PATH (or `name` itself when it contains a '/');
// nullopt when there is none.
std::optional<std::string> find_program(std::string_view name);

}  // namespace fedai::runners
