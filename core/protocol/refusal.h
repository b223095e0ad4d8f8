// How fedai says no: an F-06 code with its reason, from the reducer that decided it to the HTTP
// status and body a client or a router reads (nips/F-06).
//
// The reason carries the code's NIP-01 prefix ("invalid: ...", "error: no free slot"), so the
// same value reads right in a log, in an OK message and in an HTTP body.
#pragma once

#include <string>
#include <utility>

#include "core/protocol/kinds.h"
#include "core/util/result.h"

namespace fedai::protocol {

struct Refusal {
  ProtocolError code = ProtocolError::internal;
  Error reason;  // reason.to_string() is "invalid: ..."

  // The HTTP status F-06 gives the code (500 for the codes that never travel over HTTP).
  int http_status() const { return protocol::http_status(code).value_or(500); }
  // The F-06 body: {"error":"invalid: ...","code":"ERR_INVALID"}.
  std::string body() const { return error_body_json(code, reason); }
  // "ERR_BUSY: error: no free slot", for logs.
  std::string to_string() const {
    return std::string(protocol::to_string(code)) + ": " + reason.to_string();
  }
  bool operator==(const Refusal&) const = default;
};

inline Refusal refuse(ProtocolError code, std::string message) {
  return {code, to_error(code, std::move(message))};
}

// A value, or the refusal that stopped it.
template <class T>
using Refused = Result<T, Refusal>;

}  // namespace fedai::protocol
