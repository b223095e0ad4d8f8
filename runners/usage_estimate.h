// The token count fedai uses when a model server reports none.
//
// Metering needs a number even from a server that does not count (some OpenAI-compatible
// proxies, an Ollama answer served from its prompt cache without prompt_eval_count). The rule is
// the common rule of thumb for BPE tokenizers on English text, about four bytes a token:
//   tokens(text)       = ceil(bytes(text) / 4)
//   prompt tokens      = sum over messages of (tokens(content) + 4)   (4 for the role and framing)
//   completion tokens  = tokens(output text)
// Only the missing side is estimated; Usage::estimated is set whenever either side was.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "runners/runner.h"

namespace fedai::runners {

std::uint32_t estimate_tokens(std::string_view text);
std::uint32_t estimate_prompt_tokens(const std::vector<ChatMessage>& messages);

// Fills whichever of prompt and completion the server did not report.
Usage complete_usage(std::optional<std::uint32_t> prompt_tokens,
                     std::optional<std::uint32_t> completion_tokens,
                     const std::vector<ChatMessage>& messages, std::string_view completion);

}  // namespace fedai::runners
