#include "runners/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace fedai::runners {

ChildProcess::ChildProcess(std::vector<std::string> argv) {
  // A child that died must not take the test down when it is written to.
  signal(SIGPIPE, SIG_IGN);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t parent = getpid();
  // fork + exec rather than posix_spawn, to ask for SIGKILL when this process dies: a test that
  // crashes or is killed by a timeout must not leave relays running (and holding ports and
  // ctest's output pipe). Only async-signal-safe calls between fork and exec.
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    dup2(in[0], 0);
    dup2(out[1], 1);
    execve(args[0], args.data(), environ);
    _exit(127);
  }
  int err = errno;
  close(in[0]);
  close(out[1]);
  if (pid_ < 0) {
    close(in[1]);
    close(out[0]);
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(err));
  }
  stdin_fd_ = in[1];
  reader_ = std::thread([this, fd = out[0]] { read_stdout(fd); });
}

ChildProcess::~ChildProcess() {
  kill(SIGKILL);
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (reader_.joinable()) reader_.join();
}

void ChildProcess::read_stdout(int fd) {
  std::string pending;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::lock_guard lock(mutex_);
      lines_.push_back(pending.substr(start, nl - start));
    }
    pending.erase(0, start);
    cv_.notify_all();
  }
  close(fd);
  std::lock_guard lock(mutex_);
  eof_ = true;
  cv_.notify_all();
}

std::optional<std::string> ChildProcess::wait_for_line(std::string_view prefix,
                                                       std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::optional<std::string> found;
  std::size_t scanned = 0;
  cv_.wait_for(lock, timeout, [&] {
    for (; scanned < lines_.size(); ++scanned)
      if (lines_[scanned].rfind(prefix, 0) == 0) {
        found = lines_[scanned];
        return true;
      }
    return eof_;
  });
  return found;
}

std::vector<std::string> ChildProcess::lines(std::string_view prefix) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& l : lines_)
    if (l.rfind(prefix, 0) == 0) out.push_back(l);
  return out;
}

void ChildProcess::write_line(std::string_view line) {
  std::string text(line);
  text += '\n';
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(stdin_fd_, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("cannot write to the child's stdin");
    off += static_cast<std::size_t>(n);
  }
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return eof_; })) return std::nullopt;
  }
  if (!reaped_) {
    while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  return status_;
}

int ChildProcess::kill(int signal) {
  if (reaped_ || pid_ <= 0) return status_;
  ::kill(pid_, signal);
  while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return status_;
}

std::optional<std::string> find_program(std::string_view name) {
  if (name.find('/') != std::string_view::npos) return std::string(name);
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    std::string candidate = std::string(dir.empty() ? "." : dir) + "/" + std::string(name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

}  // namespace fedai::runners
