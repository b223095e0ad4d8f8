#include "runners/chat_prompt.h"

namespace fedai::runners {

std::string simple_chat_prompt(const std::vector<ChatMessage>& messages) {
  std::size_t size = 16;
  for (const auto& m : messages) size += m.role.size() + m.content.size() + 3;
  std::string out;
  out.reserve(size);
  for (const auto& m : messages) {
    out += m.role;
    out += ": ";
    out += m.content;
    out += '\n';
  }
  out += "assistant:";
  return out;
}

}  // namespace fedai::runners
