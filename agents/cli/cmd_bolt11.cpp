// fedai bolt11 decode: BOLT 11 invoices as JSON, one line each, their signatures checked.
#include <iostream>
#include <nlohmann/json.hpp>

#include "agents/cli/cli.h"
#include "core/lightning/bolt11.h"
#include "core/util/ascii.h"
#include "core/util/hex.h"

namespace fedai::cli {
namespace {

template <std::size_t N>
std::string hex_of(const std::array<std::uint8_t, N>& a) {
  return hex::encode(std::span<const std::uint8_t>(a));
}

nlohmann::json to_json(const bolt11::Invoice& inv) {
  using nlohmann::json;
  json j = {{"network", inv.network},
            {"amount_msat", inv.amount ? json(inv.amount->value()) : json(nullptr)},
            {"timestamp", inv.timestamp},
            {"expires_at", inv.expires_at()},
            {"expiry_seconds", inv.expiry_seconds},
            {"payment_hash", hex_of(inv.payment_hash)},
            {"payment_secret", hex_of(inv.payment_secret)},
            {"payee", hex_of(inv.payee)},
            {"payee_in_invoice", inv.payee_in_invoice},
            {"feature_bits", inv.feature_bits},
            {"signing_hash", hex_of(inv.signing_hash)}};
  j["description"] = inv.description ? json(*inv.description) : json(nullptr);
  j["description_hash"] =
      inv.description_hash ? json(hex_of(*inv.description_hash)) : json(nullptr);
  j["min_final_cltv_expiry_delta"] =
      inv.min_final_cltv_expiry_delta ? json(*inv.min_final_cltv_expiry_delta) : json(nullptr);
  if (inv.payment_metadata)
    j["payment_metadata"] = hex::encode(std::span<const std::uint8_t>(*inv.payment_metadata));
  json fallbacks = json::array();
  for (const auto& f : inv.fallbacks)
    fallbacks.push_back({{"version", f.version},
                         {"program", hex::encode(std::span<const std::uint8_t>(f.program))}});
  j["fallbacks"] = std::move(fallbacks);
  json routes = json::array();
  for (const auto& route : inv.route_hints) {
    json hops = json::array();
    for (const auto& h : route)
      hops.push_back({{"pubkey", hex_of(h.pubkey)},
                      {"short_channel_id", h.short_channel_id},
                      {"fee_base_msat", h.fee_base_msat},
                      {"fee_proportional_millionths", h.fee_proportional_millionths},
                      {"cltv_expiry_delta", h.cltv_expiry_delta}});
    routes.push_back(std::move(hops));
  }
  j["route_hints"] = std::move(routes);
  return j;
}

}  // namespace

void add_bolt11_commands(CLI::App& app, Action& action) {
  auto* bolt11 = app.add_subcommand("bolt11", "Lightning invoices (BOLT 11)");
  bolt11->require_subcommand(1);
  auto* decode = bolt11->add_subcommand(
      "decode",
      "Decode invoices (arguments, or one per line on stdin; a lightning: prefix is dropped):\n"
      "one JSON object per line with the fields, the payee (recovered from the signature or\n"
      "named by n, and verified), expires_at; or {\"error\": REASON}. Exit 1 if any is invalid.");
  auto invoices = std::make_shared<std::vector<std::string>>();
  decode->add_option("INVOICE", *invoices, "Invoices (default: read stdin)");
  decode->callback([&action, invoices] {
    action = [invoices] {
      int status = 0;
      auto one = [&](std::string_view text) {
        text = trim(text);
        if (text.empty()) return;
        if (istarts_with(text, "lightning:")) text.remove_prefix(10);
        auto inv = bolt11::decode(text);
        if (inv) {
          std::cout << to_json(*inv).dump() << "\n";
        } else {
          std::cout << nlohmann::json{{"error", inv.error().message}}.dump() << "\n";
          status = 1;
        }
      };
      if (!invoices->empty()) {
        for (const auto& i : *invoices) one(i);
      } else {
        for (std::string line; std::getline(std::cin, line);) one(line);
      }
      return status;
    };
  });
}

}  // namespace fedai::cli
