#include "iam/status.h"

#include <array>
#include <utility>

namespace iam {
namespace {
constexpr std::array<std::pair<ErrorCode, std::string_view>, 9> kNames{{
    {ErrorCode::invalid_argument, "invalid-argument"},
    {ErrorCode::not_found, "not-found"},
    {ErrorCode::duplicate, "duplicate"},
    {ErrorCode::auth_failed, "auth-failed"},
    {ErrorCode::weak_password, "weak-password"},
    {ErrorCode::disabled, "disabled"},
    {ErrorCode::operation_not_permitted, "operation-not-permitted"},
    {ErrorCode::not_supported, "not-supported"},
    {ErrorCode::internal_error, "internal-error"},
}};
}  // namespace

std::string_view error_type_name(ErrorCode code) noexcept {
  for (const auto& [c, name] : kNames)
    if (c == code) return name;
  return "internal-error";
}

std::optional<ErrorCode> error_code_from_name(std::string_view name) noexcept {
  for (const auto& [c, n] : kNames)
    if (n == name) return c;
  return std::nullopt;
}

Error auth_failure() { return Error{ErrorCode::auth_failed, "auth failure"}; }

}  // namespace iam
