// The router's chat request parsing on arbitrary bytes: never crashes; accepts only what is JSON
// (nlohmann, an independent parser, agrees but for huge numbers); what it accepts becomes a job
// body that is JSON, names the model and carries at least one message; what it refuses it says why.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "agents/router/openai.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto r = fedai::agents::openai::parse_chat_request(input, 256, 4096);
  if (!r) {
    if (r.error().message.empty()) __builtin_trap();
    return 0;
  }
  // nlohmann refuses numbers beyond a double's range, which RFC 8259 allows (an unknown field
  // may hold one): the one way the two may disagree.
  try {
    (void)nlohmann::json::parse(input);
  } catch (const nlohmann::json::exception& e) {
    if (std::string_view(e.what()).find("number overflow") == std::string_view::npos)
      __builtin_trap();
  }
  auto body = nlohmann::json::parse(r->job_body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) __builtin_trap();
  if (body.value("model", "") != r->model || r->model.empty()) __builtin_trap();
  if (!body["messages"].is_array() || body["messages"].empty()) __builtin_trap();
  if (r->max_tokens == 0 || r->max_tokens > 4096) __builtin_trap();
  return 0;
}
