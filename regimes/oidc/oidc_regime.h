// regimes/oidc/oidc_regime.h — the OIDC regime's factory with its key fetcher injected, and
// the handle it gives an identity (internal header; tests serve JWKS through a fake getter).
//
// THREAD SAFETY: as iam/oidc.h. ERRORS: as make_oidc_regime.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "iam/oidc.h"
#include "regimes/oidc/jwks_client.h"

namespace iam::oidc {

// How many identities authorise remembers at once (docs/decisions.md).
inline constexpr std::size_t default_max_sessions = 100'000;

// make_oidc_regime with `http` fetching every issuer's discovery document and JWKS, and at
// most `max_sessions` identities remembered for authorise.
Result<std::shared_ptr<OidcRegime>> make_oidc_regime_with(OidcConfig config, OidcOptions options,
                                                          std::shared_ptr<HttpGetter> http,
                                                          std::size_t max_sessions = default_max_sessions);

// "oidc:" + base64url (no padding) of SHA-256(issuer, NUL, subject): 48 characters.
std::string oidc_handle(std::string_view issuer, std::string_view subject);

}  // namespace iam::oidc
