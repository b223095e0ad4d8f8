// The adapters behind make_runner (internal to fedai_runners).
#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>

#include "runners/http_runner.h"
#include "runners/runner.h"

namespace fedai::runners::detail {

// OpenAI-compatible /v1/chat/completions and /v1/models (llama.cpp's server, vLLM, Ollama's
// OpenAI API, the tiny model shim).
std::unique_ptr<Runner> make_openai_runner(ClientStrand strand, Endpoint endpoint);
// llama.cpp's native /completion, with simple_chat_prompt.
std::unique_ptr<Runner> make_llamacpp_runner(ClientStrand strand, Endpoint endpoint);
// Ollama's /api/chat (NDJSON streaming) and /api/tags.
std::unique_ptr<Runner> make_ollama_runner(ClientStrand strand, Endpoint endpoint);

}  // namespace fedai::runners::detail
