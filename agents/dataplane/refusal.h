// The data plane says no with the protocol's refusals (core/protocol/refusal.h): an F-06 code and
// its reason, the same value a reducer returns, answered with the code's HTTP status and body.
#pragma once

#include "core/protocol/refusal.h"

namespace fedai::agents::dataplane {

using protocol::Refusal;
using protocol::refuse;
using protocol::Refused;

}  // namespace fedai::agents::dataplane
