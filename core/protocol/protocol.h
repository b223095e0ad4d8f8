// The fedai protocol's typed payloads (nips/F-01..F-06): include this to build and parse every
// fedai kind. See docs/protocol.md.
#pragma once

#include "core/protocol/announce.h"
#include "core/protocol/auction.h"
#include "core/protocol/data_plane.h"
#include "core/protocol/kinds.h"
#include "core/protocol/payment.h"
#include "core/protocol/price.h"
#include "core/protocol/units.h"
