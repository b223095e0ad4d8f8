#include "relay/pool/relay_information.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace fedai::relay {
namespace {

void read_string(const nlohmann::json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it != j.end() && it->is_string()) out = it->get<std::string>();
}

void read_uint(const nlohmann::json& j, const char* key, std::optional<std::uint64_t>& out) {
  auto it = j.find(key);
  if (it != j.end() && it->is_number_unsigned())
    out = it->get<std::uint64_t>();
  else if (it != j.end() && it->is_number_integer() && it->get<std::int64_t>() >= 0)
    out = static_cast<std::uint64_t>(it->get<std::int64_t>());
}

void read_bool(const nlohmann::json& j, const char* key, std::optional<bool>& out) {
  auto it = j.find(key);
  if (it != j.end() && it->is_boolean()) out = it->get<bool>();
}

}  // namespace

bool RelayInformation::supports(int nip) const {
  return std::find(supported_nips.begin(), supported_nips.end(), nip) != supported_nips.end();
}

Result<RelayInformation> parse_relay_information(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return invalid("relay information document is not a JSON object");
  RelayInformation info;
  info.json = std::string(json);
  read_string(j, "name", info.name);
  read_string(j, "description", info.description);
  read_string(j, "pubkey", info.pubkey);
  read_string(j, "contact", info.contact);
  read_string(j, "software", info.software);
  read_string(j, "version", info.version);
  if (auto it = j.find("supported_nips"); it != j.end() && it->is_array()) {
    for (const auto& v : *it)
      if (v.is_number_integer()) info.supported_nips.push_back(v.get<int>());
  }
  if (auto it = j.find("limitation"); it != j.end() && it->is_object()) {
    const auto& l = *it;
    auto& out = info.limitation;
    read_uint(l, "max_message_length", out.max_message_length);
    read_uint(l, "max_subscriptions", out.max_subscriptions);
    read_uint(l, "max_filters", out.max_filters);
    read_uint(l, "max_limit", out.max_limit);
    read_uint(l, "max_subid_length", out.max_subid_length);
    read_uint(l, "max_event_tags", out.max_event_tags);
    read_uint(l, "max_content_length", out.max_content_length);
    read_uint(l, "min_pow_difficulty", out.min_pow_difficulty);
    read_bool(l, "auth_required", out.auth_required);
    read_bool(l, "payment_required", out.payment_required);
    read_bool(l, "restricted_writes", out.restricted_writes);
  }
  return info;
}

}  // namespace fedai::relay
