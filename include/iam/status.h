// iam/status.h — the one error type of the library and the Result<T> every public call returns.
//
// THREAD SAFETY: Error and Result are plain values; a const object may be read from many
// threads, a mutable one belongs to one thread at a time.
// OWNERSHIP: values own their contents; nothing here refers to outside storage.
//
// No exception crosses the public API: every fallible call returns Result<T> (or Status),
// holding either the value or an Error whose code is the taxonomy of protocol.md.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "iam/export.h"

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
IAM_EXPORT std::string_view error_type_name(ErrorCode code) noexcept;
// The code for a wire name; nullopt for a name outside the taxonomy.
IAM_EXPORT std::optional<ErrorCode> error_code_from_name(std::string_view name) noexcept;

// An error: the code callers branch on, and a message for operators. The message of an
// auth_failed or operation_not_permitted error is never shown to a remote caller.
struct Error {
  ErrorCode code = ErrorCode::internal_error;
  std::string message;

  friend bool operator==(const Error&, const Error&) = default;
};

// The single opaque authentication failure (contract.md "AuthFailure"): whatever the real
// reason, callers see this exact error. The reason goes to the audit sink only.
IAM_EXPORT Error auth_failure();

namespace detail {
// Wrong-alternative access on a Result is a programming error: stop at once rather than
// throw across the API or read an empty optional.
[[noreturn]] inline void result_misuse() noexcept { std::abort(); }
}  // namespace detail

// Either a T or an Error. Accessing the wrong alternative (value() of an error, error()
// of a value) is a programming error and aborts the process: it never throws and never
// reads an empty optional.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
  Result(ErrorCode code, std::string message)
      : state_(std::in_place_index<1>, Error{code, std::move(message)}) {}

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return *checked_value(); }
  const T& value() const& { return *checked_value(); }
  T&& value() && { return std::move(*checked_value()); }
  const Error& error() const& { return *checked_error(); }
  Error&& error() && { return std::move(*checked_error()); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  T* checked_value() noexcept {
    if (T* v = std::get_if<0>(&state_)) return v;
    detail::result_misuse();
  }
  const T* checked_value() const noexcept {
    if (const T* v = std::get_if<0>(&state_)) return v;
    detail::result_misuse();
  }
  Error* checked_error() noexcept {
    if (Error* e = std::get_if<1>(&state_)) return e;
    detail::result_misuse();
  }
  const Error* checked_error() const noexcept {
    if (const Error* e = std::get_if<1>(&state_)) return e;
    detail::result_misuse();
  }

  std::variant<T, Error> state_;
};

// Success without a value, or an Error. error() of a success aborts.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT
  Result(ErrorCode code, std::string message) : error_(Error{code, std::move(message)}) {}

  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const& {
    if (!error_) detail::result_misuse();
    return *error_;
  }
  Error&& error() && {
    if (!error_) detail::result_misuse();
    return std::move(*error_);
  }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace iam

// Error propagation, in the manner of abseil's status macros. Inside a function returning
// a Result or Status:
//   IAM_RETURN_IF_ERROR(repo.apply(change));           // returns the Error if it failed
//   IAM_ASSIGN_OR_RETURN(auto user, repo.find_user(id));  // declares `user`, or returns the Error
// `expr` is evaluated once. The returned value is the Error itself, so a function whose
// Result type differs from the expression's still compiles.
#define IAM_STATUS_CONCAT_INNER_(a, b) a##b
#define IAM_STATUS_CONCAT_(a, b) IAM_STATUS_CONCAT_INNER_(a, b)

#define IAM_RETURN_IF_ERROR(expr)                                   \
  do {                                                              \
    auto&& iam_status_result_ = (expr);                             \
    if (!iam_status_result_.ok()) return std::move(iam_status_result_).error(); \
  } while (false)

#define IAM_ASSIGN_OR_RETURN(lhs, expr) \
  IAM_ASSIGN_OR_RETURN_IMPL_(IAM_STATUS_CONCAT_(iam_status_or_, __LINE__), lhs, expr)
#define IAM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)  \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).error();     \
  lhs = std::move(tmp).value()
