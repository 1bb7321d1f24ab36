// iam/credential_shape.h — what a bearer credential looks like, told apart without touching
// storage (gateway.md "Authenticating a request"). The gateway kit refuses a malformed
// credential before any lookup, and the roles regime routes credentials by the same rule.
//
// THREAD SAFETY: a pure function. ERRORS: none.
#pragma once

#include <string_view>

#include "iam/export.h"

namespace iam {

// "tg_" then 17 to 253 characters without space or control characters is an API key (the
// generated ones have 35 in all; an operator's bootstrap token may differ), three non-empty
// base64url segments joined by two dots a JWT, anything else malformed (refused without a
// storage lookup).
enum class CredentialShape { api_key, jwt, malformed };
IAM_EXPORT CredentialShape credential_shape(std::string_view credential) noexcept;

}  // namespace iam
