#include "runners/usage_estimate.h"

#include <limits>

namespace fedai::runners {

namespace {
std::uint32_t clamp32(std::uint64_t n) {
  return n > std::numeric_limits<std::uint32_t>::max() ? std::numeric_limits<std::uint32_t>::max()
                                                       : static_cast<std::uint32_t>(n);
}
}  // namespace

std::uint32_t estimate_tokens(std::string_view text) {
  return clamp32((text.size() + 3) / 4);
}

std::uint32_t estimate_prompt_tokens(const std::vector<ChatMessage>& messages) {
  std::uint64_t total = 0;
  for (const auto& m : messages) total += estimate_tokens(m.content) + 4ull;
  return clamp32(total);
}

Usage complete_usage(std::optional<std::uint32_t> prompt_tokens,
                     std::optional<std::uint32_t> completion_tokens,
                     const std::vector<ChatMessage>& messages, std::string_view completion) {
  Usage usage;
  usage.estimated = !prompt_tokens || !completion_tokens;
  usage.prompt_tokens = prompt_tokens ? *prompt_tokens : estimate_prompt_tokens(messages);
  usage.completion_tokens = completion_tokens ? *completion_tokens : estimate_tokens(completion);
  return usage;
}

}  // namespace fedai::runners
