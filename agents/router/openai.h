// OpenAI's chat-completions wire format, as the router speaks it to clients: request parsing
// with precise refusals, answers, stream chunks, errors, the model list.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/protocol/kinds.h"
#include "core/protocol/units.h"
#include "core/router/records.h"
#include "core/util/result.h"

namespace fedai::agents::openai {

struct ChatRequest {
  std::string model;
  std::uint32_t max_tokens = 256;
  bool stream = false;
  std::uint32_t input_tokens_estimate = 0;  // ~4 bytes a token, plus 4 per message
  // stream_options.include_usage as the client gave it (with stream: true only). The router's
  // streamed answer carries usage in its last chunk either way.
  std::optional<bool> include_usage;
  // The body the node receives (nips/F-04): messages, max_tokens, stream, and those of
  // temperature, top_p, seed, presence_penalty, frequency_penalty, stop and response_format
  // (json_object) the client gave. tools, logprobs, n > 1 and the like are refused by name.
  std::string job_body;
  // fedai's extension object {"fedai": {...}}: how to buy this job.
  std::optional<router::JobMode> mode;
  std::optional<protocol::PrivacyLevel> privacy;
  std::optional<protocol::Msat> max_price;
  std::optional<protocol::Millis> bid_window;
};

// `invalid:` reasons name the field ("messages[1].content must be a string").
Result<ChatRequest> parse_chat_request(std::string_view body, std::uint32_t default_max_tokens,
                                       std::uint32_t max_tokens_cap);

struct Usage {
  std::uint32_t prompt_tokens = 0;
  std::uint32_t completion_tokens = 0;
};

// What the answer says about how it was bought (an extension field OpenAI clients ignore).
struct FedaiInfo {
  std::string job_id;
  std::string node;
  std::uint64_t price_msat = 0;
  std::uint32_t attempts = 0;
  bool posted = false;
};

std::string completion_json(std::string_view id, std::int64_t created, std::string_view model,
                            std::string_view text, std::string_view finish_reason, Usage usage,
                            const FedaiInfo& info);
// One `chat.completion.chunk`: a content delta, or (finish_reason set) the last chunk, which also
// carries usage and the fedai info when given.
std::string chunk_json(std::string_view id, std::int64_t created, std::string_view model,
                       std::string_view delta, std::optional<std::string_view> finish_reason,
                       std::optional<Usage> usage = std::nullopt,
                       std::optional<FedaiInfo> info = std::nullopt);
// The usage-only chunk OpenAI sends last when a client asks for stream_options.include_usage:
// "choices" empty, "usage" set.
std::string usage_chunk_json(std::string_view id, std::int64_t created, std::string_view model,
                             Usage usage);
// {"error": {"message", "type", "code"}}.
std::string error_json(std::string_view message, std::string_view code);
// What the market offers of a model, for /v1/models: the nodes announcing it and the range of
// their posted rates (surge included), in fields of fedai's own beside OpenAI's.
struct ModelMarket {
  std::size_t nodes = 0;                            // nodes whose CAPS offer it
  std::size_t priced = 0;                           // PRICE announcements for it
  protocol::Msat in_min, in_max, out_min, out_max;  // per 1000 tokens, surge included
};
// {"object":"list","data":[{"id","object":"model","created","owned_by","fedai_nodes",
// "fedai_pricing":{"nodes","in_per_1k_msat":{"min","max"},"out_per_1k_msat":{...}}}]}; the
// pricing is null for a model nobody has priced yet.
std::string models_json(const std::map<std::string, ModelMarket>& models);
// The HTTP status for a failed job.
int http_status_for(protocol::ProtocolError error);

}  // namespace fedai::agents::openai
