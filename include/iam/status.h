// iam/status.h — the one error type of the library and the Result<T> every public call returns.
//
// THREAD SAFETY: Error and Result are plain values; a const object may be read from many
// threads, a mutable one belongs to one thread at a time.
// OWNERSHIP: values own their contents; nothing here refers to outside storage.
//
// No exception crosses the public API: every fallible call returns Result<T> (or Status),
// holding either the value or an Error whose code is the taxonomy of protocol.md.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace iam {

// The error taxonomy of the wire protocol (protocol.md "Error taxonomy").
enum class ErrorCode {
  invalid_argument,
  not_found,
  duplicate,
  auth_failed,
  weak_password,
  disabled,
  operation_not_permitted,
  not_supported,
  internal_error,
};

// The wire name of a code: "invalid-argument", "not-found", ...
std::string_view error_type_name(ErrorCode code) noexcept;
// The code for a wire name; nullopt for a name outside the taxonomy.
std::optional<ErrorCode> error_code_from_name(std::string_view name) noexcept;

// An error: the code callers branch on, and a message for operators. The message of an
// auth_failed or operation_not_permitted error is never shown to a remote caller.
struct Error {
  ErrorCode code = ErrorCode::internal_error;
  std::string message;

  friend bool operator==(const Error&, const Error&) = default;
};

// The single opaque authentication failure (contract.md "AuthFailure"): whatever the real
// reason, callers see this exact error. The reason goes to the audit sink only.
Error auth_failure();

// Either a T or an Error. Accessing the wrong alternative is a programming error and
// aborts (it never throws across the API).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
  Result(ErrorCode code, std::string message)
      : state_(std::in_place_index<1>, Error{code, std::move(message)}) {}

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> state_;
};

// Success without a value, or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT
  Result(ErrorCode code, std::string message) : error_(Error{code, std::move(message)}) {}

  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace iam
