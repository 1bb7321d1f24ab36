// regimes/oidc/oidc_token.h — verifying an identity provider's JWT (internal header).
//
// A compact JWS is taken apart with bounds first (size, segments, strict JSON: no duplicate
// keys at any depth), its "alg" checked against the issuer's allow-list, its key found by
// "kid", the signature checked by PublicJwk::verify, then the claims: iss exactly, aud
// naming one of the audiences, exp required, nbf and iat, each with the leeway.
//
// THREAD SAFETY: pure functions. ERRORS: every failure is the one auth_failure() of
// iam/status.h; the real reason is written to `*reason` when a pointer is given (for the
// audit event, never for the caller).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iam/clock.h"
#include "iam/status.h"
#include "jwk.h"

namespace iam::oidc {

// A token longer than this is refused before any decoding.
inline constexpr std::size_t max_token_bytes = 16 * 1024;

struct TokenRules {
  std::string issuer;                  // `iss` must equal it exactly
  std::vector<std::string> audiences;  // `aud` (string or array) must name one of them
  std::vector<Algorithm> algorithms;   // the header's `alg` must be one of them
  std::chrono::seconds leeway{30};     // for exp, nbf and iat
};

// Finds the key for a token's kid (empty when the header has none). May block to refetch
// the issuer's keys; answers nullptr when there is no such key.
using KeyLookup = std::function<std::shared_ptr<const PublicJwk>(std::string_view kid)>;

struct VerifiedToken {
  std::string issuer;
  std::string subject;       // `sub`, required and non-empty
  TimePoint expires;         // `exp`
  nlohmann::json claims;     // the whole payload object, for claim lookups
};

// The `iss` of a token that has the shape of a compact JWS, without verifying anything: for
// choosing which issuer's rules apply. nullopt when it has no such shape or no string iss.
std::optional<std::string> peek_issuer(std::string_view token);

Result<VerifiedToken> verify_token(std::string_view token, const TokenRules& rules,
                                   const KeyLookup& keys, TimePoint now,
                                   std::string* reason = nullptr);

// The value at a dotted claim path ("realm_access.roles", "groups", "resource_access.app.roles")
// or nullptr. Each segment names a member of an object; no array indexing, no escaping.
const nlohmann::json* find_claim(const nlohmann::json& claims, std::string_view dotted_path) noexcept;
// The strings at a path: a string array (non-string elements are ignored), or a single
// string as a one-element list; empty for anything else or nothing there.
std::vector<std::string> claim_strings(const nlohmann::json& claims, std::string_view dotted_path);

}  // namespace iam::oidc
