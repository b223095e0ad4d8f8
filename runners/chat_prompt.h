// The plain chat template fedai uses where a server takes a raw prompt (llama.cpp's native
// /completion) and in the tiny model shim (runners/tiny/server.mjs), which has no template of
// its own:
//
//   system: You are terse.
//   user: Hello
//   assistant:
//
// One `ROLE: CONTENT` line per message, then `assistant:` for the model to continue. Generation
// stops at kChatPromptStops, where the model would start writing the next turn. A server that
// knows its model's real template (llama.cpp's server, vLLM, Ollama) applies it on
// /v1/chat/completions or /api/chat: prefer those adapters for real models.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "runners/runner.h"

namespace fedai::runners {

inline constexpr std::array<std::string_view, 2> kChatPromptStops = {"\nuser:", "\nsystem:"};

std::string simple_chat_prompt(const std::vector<ChatMessage>& messages);

}  // namespace fedai::runners
