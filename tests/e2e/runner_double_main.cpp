// fedai_e2e_runner_double: an OpenAI-compatible model server test double in a process of its
// own, for the end-to-end tests (tests/e2e): it serves the model "tiny" (/v1/models, /health,
// /v1/chat/completions from tests/support/runner_doubles.cpp) and prints a line on stdout for
// every chat request it receives, so a test can wait for a job to reach the runner without
// sleeping.
//
//   fedai_e2e_runner_double [--stall]
//
// Prints `runner: http://127.0.0.1:PORT` once it listens, then `chat: N` (N from 1) when the N-th
// chat request arrives. With --stall a chat request is never answered: the double holds it until
// the client (the node) hangs up or dies. It exits when its stdin closes.
#include <chrono>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>

#include "tests/support/http_test_server.h"
#include "tests/support/runner_doubles.h"

int main(int argc, char** argv) {
  bool stall = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--stall") {
      stall = true;
    } else {
      std::cerr << "usage: fedai_e2e_runner_double [--stall]\n";
      return 2;
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
        std::cout << "chat: " << ++chats << std::endl;
      }
      if (stall) {
        ex.wait_client_gone(std::chrono::minutes(5));
        return;
      }
    }
    inner(ex);
  });
  std::cout << "runner: " << server.url() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}
