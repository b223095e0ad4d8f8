// The price formulas of F-02 (posted price, BID price) and F-04 (METERING), in integer arithmetic
// with an exact ceiling, so that a node and a router always compute the same millisatoshi.
#pragma once

#include "core/protocol/units.h"
#include "core/util/result.h"

namespace fedai::protocol {

// F-02: max(min, ceil(surge * (in_tokens * in_per_1k + out_tokens * out_per_1k) / 1000)).
// Surge is fixed point (thousandths), so the ceiling is exact: no float is involved. Fails
// (`invalid:`) only when the price would exceed 2^53-1 msat, which the wire can't carry.
Result<Msat> price_for_job(Msat in_per_1k, Msat out_per_1k, Msat min_msat, Surge surge,
                           Tokens in_tokens, Tokens out_tokens);

// A PRICE's rate with its surge, as posted-price METERING charges it (F-04): ceil(rate * surge),
// a whole msat per 1000 tokens. Saturates at 2^53-1.
Msat surged_rate(Msat rate, Surge surge);

// F-04: the METERING price_msat a node charges for tokens it actually ran:
// max(min, ceil((tokens_in * in_per_1k + tokens_out * out_per_1k) / 1000)) at the BID's rates
// (which already include the surge in force when it bid), and never more than the awarded price.
Result<Msat> metering_price(Msat in_per_1k, Msat out_per_1k, Msat min_msat, Tokens tokens_in,
                            Tokens tokens_out, Msat awarded_price);

}  // namespace fedai::protocol
