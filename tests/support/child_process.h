// Tests start relays, model servers and fedai itself with the same ChildProcess the devnet
// uses (runners/child_process.h).
#pragma once

#include "runners/child_process.h"

namespace fedai::test {
using runners::ChildProcess;
}  // namespace fedai::test
