// How the data plane says no: an F-06 code with its reason, on both sides of the wire.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include "core/protocol/kinds.h"
#include "core/util/result.h"

namespace fedai::agents::dataplane {

struct Refusal {
  protocol::ProtocolError code = protocol::ProtocolError::invalid;
  Error reason;  // carries the code's NIP-01 prefix: reason.to_string() is "invalid: ..."

  // The HTTP status F-06 gives the code (500 for the codes that never travel over HTTP).
  int http_status() const { return protocol::http_status(code).value_or(500); }
  // The F-06 body: {"error":"invalid: ...","code":"ERR_INVALID"}.
  std::string body() const { return protocol::error_body_json(code, reason); }
};

inline Refusal refuse(protocol::ProtocolError code, std::string message) {
  return {code, protocol::to_error(code, std::move(message))};
}

// A value, or the Refusal that stopped it: Result<T> with an F-06 code.
template <class T>
class [[nodiscard]] Checked {
 public:
  Checked(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Checked(Refusal refusal) : state_(std::in_place_index<1>, std::move(refusal)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  const Refusal& refusal() const {
    assert(!ok());
    return std::get<1>(state_);
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Refusal> state_;
};

}  // namespace fedai::agents::dataplane
