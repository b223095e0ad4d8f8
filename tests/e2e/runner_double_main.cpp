// fedai_e2e_runner_double: an OpenAI-compatible model server test double in a process of its
// own, for the end-to-end and fault tests (tests/e2e, tests/fault): it serves the model "tiny"
// (/v1/models, /health, /v1/chat/completions from tests/support/runner_doubles.cpp) and prints a
// line on stdout for every chat request it receives, so a test can wait for a job to reach the
// runner without sleeping.
//
//   fedai_e2e_runner_double [--stall] [--delay-ms N] [--log-jobs]
//
// Prints `runner: http://127.0.0.1:PORT` once it listens, then `chat: N` (N from 1) when the N-th
// chat request arrives. With --stall a chat request is never answered: the double holds it until
// the client (the node) hangs up or dies. With --delay-ms N each chat request takes N ms before
// it is answered (a job that takes time, so a kill can land in the middle of it). With
// --log-jobs the line is `chat: N max_tokens=M stream=S`: the fault tests give every client
// request its own max_tokens and count how many times each one reached a runner.
// It exits when its stdin closes.
#include <chrono>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/http_test_server.h"
#include "tests/support/runner_doubles.h"

namespace {

int usage() {
  std::cerr << "usage: fedai_e2e_runner_double [--stall] [--delay-ms N] [--log-jobs]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool stall = false;
  bool log_jobs = false;
  std::uint64_t delay_ms = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg(argv[i]);
    if (arg == "--stall") {
      stall = true;
    } else if (arg == "--log-jobs") {
      log_jobs = true;
    } else if (arg == "--delay-ms" && i + 1 < argc) {
      try {
        delay_ms = std::stoull(argv[++i]);
      } catch (const std::exception&) {
        return usage();
      }
    } else {
      return usage();
    }
  }
  fedai::test::RunnerScript script;
  script.models = {"tiny"};
  script.pieces = {"The", " double", " answers", "."};
  script.prompt_tokens = 9;
  script.completion_tokens = 4;
  auto inner = fedai::test::openai_double(script);
  std::mutex out_mutex;
  std::size_t chats = 0;
  fedai::test::HttpTestServer server([&](fedai::test::TestExchange& ex) {
    if (ex.request().target == "/v1/chat/completions") {
      {
        std::lock_guard lock(out_mutex);
        std::cout << "chat: " << ++chats;
        if (log_jobs) {
          auto body = nlohmann::json::parse(ex.request().body, nullptr, false);
          long long max_tokens = -1;
          bool stream = false;
          if (body.is_object()) {
            if (body.contains("max_tokens") && body["max_tokens"].is_number_integer())
              max_tokens = body["max_tokens"].get<long long>();
            stream = body.value("stream", false);
          }
          std::cout << " max_tokens=" << max_tokens << " stream=" << (stream ? 1 : 0);
        }
        std::cout << std::endl;
      }
      if (stall) {
        ex.wait_client_gone(std::chrono::minutes(5));
        return;
      }
      // Simulated work, not synchronisation: the job takes this long on the "model".
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    }
    inner(ex);
  });
  std::cout << "runner: " << server.url() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}
