// Test doubles of the model servers fedai's runner adapters speak to, as HttpTestServer
// handlers: an OpenAI-compatible server (/v1/chat/completions with SSE, /v1/models, /health),
// llama.cpp's native server (/completion with SSE, /v1/models or /props, /health) and Ollama
// (/api/chat with NDJSON, /api/tags, /api/version). Each answers from a script: the pieces of
// text, the token counts (or none), the finish reason, an error status, a stream that stalls
// after its first piece until the client hangs up, or one that fails midway.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/http_test_server.h"

namespace fedai::test {

struct RunnerScript {
  std::vector<std::string> pieces = {"Hello", ",", " wor", "ld!"};
  bool usage = true;  // report token counts
  std::uint32_t prompt_tokens = 11;
  std::uint32_t completion_tokens = 4;
  std::string finish = "stop";  // "stop" or "length"
  int error_status = 0;         // answer inference with this status and an error body
  std::string error_message = "model is on fire";
  bool stall_after_first = false;  // stream one piece, then wait for the client to hang up
  bool fail_mid_stream = false;    // stream one piece, then an error in the stream
  std::vector<std::string> models = {"tiny-a", "tiny-b"};
  bool legacy = false;  // openai: no /health; llamacpp: no /v1/models, only /props
};

std::string joined(const RunnerScript& script);

TestHandler openai_double(RunnerScript script);
TestHandler llamacpp_double(RunnerScript script);
TestHandler ollama_double(RunnerScript script);

}  // namespace fedai::test
