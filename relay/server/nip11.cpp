#include "relay/server/nip11.h"

#include <nlohmann/json.hpp>

#ifndef FEDAI_VERSION
#define FEDAI_VERSION "0.0.0"
#endif

namespace fedai::relay::server {

std::string software_version() {
  return FEDAI_VERSION;
}

std::string nip11_document(const RelayOptions& o) {
  nlohmann::ordered_json doc;
  doc["name"] = o.name;
  doc["description"] = o.description;
  if (!o.operator_pubkey.empty()) doc["pubkey"] = o.operator_pubkey;
  if (!o.contact.empty()) doc["contact"] = o.contact;
  doc["supported_nips"] = kSupportedNips;
  doc["software"] = "fedai";
  doc["version"] = software_version();
  auto& lim = doc["limitation"];
  lim["max_message_length"] = o.max_message_bytes;
  lim["max_subscriptions"] = o.max_subscriptions;
  lim["max_filters"] = o.max_filters;
  lim["max_limit"] = o.max_limit;
  lim["default_limit"] = o.default_limit;
  lim["max_subid_length"] = o.max_subid_length;
  lim["max_event_tags"] = o.max_event_tags;
  lim["max_content_length"] = o.max_message_bytes;
  lim["min_pow_difficulty"] = 0;
  lim["auth_required"] = o.auth_required;
  lim["payment_required"] = false;
  lim["restricted_writes"] = o.auth_required || !o.allow_kinds.empty() || !o.allow_authors.empty();
  lim["created_at_upper_limit"] = o.max_future_seconds;
  if (o.messages_per_second > 0) lim["messages_per_second"] = o.messages_per_second;
  if (o.pubkey_events_per_second > 0) lim["pubkey_events_per_second"] = o.pubkey_events_per_second;
  return doc.dump();
}

}  // namespace fedai::relay::server
