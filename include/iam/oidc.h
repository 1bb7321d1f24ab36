// iam/oidc.h — the OIDC regime: trusts existing identity providers (Keycloak, Entra ID,
// Okta, Auth0, Dex, ...) through their published keys (docs/oidc.md).
//
// Users live in the provider. The regime verifies the provider's JWTs locally against the
// keys its JWKS publishes (fetched with libcurl at start, refreshed in the background, an
// unknown kid refetched at most once per jwks_min_refresh), maps the provider's roles or
// groups onto the role table (iam/role_table.h) and decides with the same policy as the
// roles regime, so a mapped "writer" has exactly a writer's capabilities and scope.
//
// Identities: handle "oidc:" + 43 base64url characters of SHA-256(issuer, NUL, sub): stable
// for (issuer, sub), never a roles-regime user id (those are UUIDs). workspace: the
// workspace claim, else the issuer's default_workspace. principal_id: "issuer#sub".
// Administration: whoami and list-my-workspaces; every other operation not_supported.
//
// THREAD SAFETY: the regime is safe to call from many threads at once. Config structs are
// plain values. OWNERSHIP: applications hold the regime by std::shared_ptr; it owns its key
// fetcher thread, stopped when the regime is destroyed. ERRORS: every authentication
// failure is auth_failure(), the real reason in the iam.authenticate audit event; a
// provider that never answered means its tokens fail; nothing throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iam/administration.h"
#include "iam/audit.h"
#include "iam/clock.h"
#include "iam/export.h"
#include "iam/log.h"
#include "iam/regime.h"
#include "iam/role_table.h"
#include "iam/status.h"

namespace iam {

// One trusted provider (the JSON object of an "issuers" entry, same names).
struct OidcIssuer {
  std::string issuer;                   // exact match of `iss`
  std::optional<std::string> jwks_uri;  // else {issuer}/.well-known/openid-configuration's
  std::vector<std::string> audiences;   // a token's `aud` must name one; at least one
  std::vector<std::string> algorithms;  // from RS256 RS384 RS512 PS256 ES256 ES384 EdDSA; at least one
  std::string username_claim = "preferred_username";
  std::string roles_claim;                       // dotted path to a string array, e.g. "realm_access.roles"
  std::map<std::string, std::string> role_map;  // provider value -> role of the role table
  std::optional<std::string> workspace_claim;   // a string claim naming the home workspace
  std::string default_workspace = "default";
};

struct IAM_EXPORT OidcConfig {
  std::vector<OidcIssuer> issuers;  // at least one; issuer values distinct
  std::chrono::seconds leeway{30};             // "leeway_seconds": for exp, nbf, iat
  std::chrono::seconds jwks_min_refresh{30};   // "jwks_min_refresh_seconds"

  // invalid_argument naming the first bad field ("issuers[1].algorithms: HS256 is not allowed").
  Status validate(const RoleTable& roles = default_role_table()) const;
};

// The --oidc-config file: {"issuers":[{...}], "leeway_seconds":30, "jwks_min_refresh_seconds":30}.
// Bounded strict JSON; an unknown key anywhere is an error naming it, as is a wrong type;
// the result is validated (role_map values against `roles`).
IAM_EXPORT Result<OidcConfig> parse_oidc_config(std::string_view json_text,
                                                const RoleTable& roles = default_role_table());

struct OidcOptions {
  RoleTable roles = default_role_table();
  std::shared_ptr<const Clock> clock;  // default: system clock
  std::shared_ptr<AuditSink> audit;    // default: discard
  Logger logger;                       // default: stderr
};

class IAM_EXPORT OidcRegime : public Regime, public Administration {
 public:
  // Is this credential a JWT whose (unverified) `iss` is one of the configured issuers?
  // Cheap; for chaining. Verification happens in authenticate.
  virtual bool trusts_issuer_of(std::string_view credential) const = 0;

  // HTTP requests made for the issuers' keys (discovery included) since start, by outcome:
  // for metrics.
  struct JwksFetches {
    std::uint64_t succeeded = 0;
    std::uint64_t failed = 0;
  };
  virtual JwksFetches jwks_fetches() const = 0;
};

// Fetches every issuer's keys before returning (a provider that does not answer is logged,
// not an error: its tokens fail until it does). invalid_argument for a config that does
// not validate.
IAM_EXPORT Result<std::shared_ptr<OidcRegime>> make_oidc_regime(OidcConfig config, OidcOptions options = {});

}  // namespace iam
