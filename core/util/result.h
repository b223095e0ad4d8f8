// Result<T, E>: a value or the error that stopped it. E is by default an Error with a NIP-01
// machine-readable prefix; the protocol's refusals use Result<T, protocol::Refusal>, which adds
// the F-06 code (core/protocol/refusal.h).
//
// Validation in fedai returns values instead of throwing: a peer can send anything, and the
// reason for a rejection travels back to it verbatim ("invalid: bad signature"). Exceptions are
// reserved for programming errors and are caught at message boundaries.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace fedai {

// The prefixes NIP-01 defines for OK and CLOSED messages (plus NIP-42's auth-required).
enum class ErrorCode {
  invalid,
  duplicate,
  blocked,
  rate_limited,
  restricted,
  pow,
  mute,
  auth_required,
  error,
};

constexpr std::string_view prefix_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid:
      return "invalid";
    case ErrorCode::duplicate:
      return "duplicate";
    case ErrorCode::blocked:
      return "blocked";
    case ErrorCode::rate_limited:
      return "rate-limited";
    case ErrorCode::restricted:
      return "restricted";
    case ErrorCode::pow:
      return "pow";
    case ErrorCode::mute:
      return "mute";
    case ErrorCode::auth_required:
      return "auth-required";
    case ErrorCode::error:
      return "error";
  }
  return "error";
}

struct Error {
  ErrorCode code = ErrorCode::error;
  std::string message;

  // "invalid: bad signature": the form NIP-01 uses in OK and CLOSED messages.
  std::string to_string() const {
    std::string out{prefix_of(code)};
    out += ": ";
    out += message;
    return out;
  }
  bool operator==(const Error&) const = default;
};

inline Error invalid(std::string message) {
  return {ErrorCode::invalid, std::move(message)};
}
inline Error make_error(ErrorCode code, std::string message) {
  return {code, std::move(message)};
}

template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(E error) : state_(std::in_place_index<1>, std::move(error)) {}

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
  const E& error() const {
    assert(!ok());
    return std::get<1>(state_);
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, E> state_;
};

// Result<void, E>: success, or why not.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(E error) : error_(std::move(error)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const E& error() const {
    assert(failed_);
    return error_;
  }

 private:
  E error_{};
  bool failed_ = false;
};

using Status = Result<void>;

}  // namespace fedai
