// iam/regime.h — the regime contract: who is this caller, and may they do this?
//
// A gateway (or any application) depends on Regime alone; everything regime-specific
// (roles, groups, claims, storage) stays behind it. See docs/contract.md.
//
// THREAD SAFETY: every Regime implementation must be safe to call from many threads at
// once; the ones shipped with the library are. Identity, Resource, Decision and
// AuthorisationCheck are plain values.
// OWNERSHIP: a regime owns its storage, key set and caches; applications hold it by
// std::shared_ptr and may share it between threads.
// ERRORS: authenticate returns either an Identity or an Error that is exactly
// auth_failure() (whatever the real reason), or internal_error when the regime could not
// decide (storage down); authorise never fails: an error inside the regime is a deny.
// Implementations should not throw (the shipped ones are noexcept), but the contract's
// methods are not declared noexcept so that an application's regime that does throw is
// caught by its callers and fails closed rather than terminating the process: the gateway
// kit turns an exception into 401 / 403 / 500 and the JSON dispatcher into internal-error.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iam/administration.h"
#include "iam/clock.h"
#include "iam/export.h"
#include "iam/invalidation.h"
#include "iam/resource.h"
#include "iam/status.h"

namespace iam {

// How a credential came: logs and metrics only, never a policy input.
enum class CredentialSource { api_key, jwt, anonymous };
IAM_EXPORT std::string_view credential_source_name(CredentialSource source) noexcept;  // "api-key", "jwt", "anonymous"

// What authenticate returns. Callers treat `handle` as opaque and quote it back to
// authorise; roles, groups and claims never appear here.
struct Identity {
  std::string handle;        // for the roles regime, the user id
  std::string workspace;     // the credential's workspace (TrustGraph's default_workspace); a default only, never policy
  std::string principal_id;  // stable id for audit logs
  CredentialSource source = CredentialSource::anonymous;
  std::optional<TimePoint> expires;  // a JWT's exp or an API key's expiry: caches must not keep the identity past it
};

// Capability sentinels of the registry (no role grants them: authorise of either is a deny).
namespace capability {
inline constexpr std::string_view public_access = "PUBLIC";         // no credential needed
inline constexpr std::string_view authenticated = "AUTHENTICATED";  // any valid credential
// Not an operation's capability but a question the gateway asks of authorise for an
// AUTHENTICATED operation at workspace or flow level (a passthrough): may this caller act
// in the resource's workspace at all? A regime allows it iff the caller's scope covers
// that workspace (roles regime: some role of the caller reaches it), so "any valid
// credential" never reaches another workspace's flows.
inline constexpr std::string_view in_scope = "IN-SCOPE";
}  // namespace capability

// The decision half of a regime. A decision-only regime implements name, authenticate and
// authorise; the other methods have defaults that fit it (no anonymous access, one
// authorise per check, nothing to invalidate). Management is the optional
// Administration (iam/administration.h), reached through administration().
class IAM_EXPORT Regime {
 public:
  virtual ~Regime() = default;

  // The regime's name ("roles", "noauth", ...).
  virtual std::string_view name() const noexcept = 0;

  // Who is this caller? `credential` is an API key or a JWT (never logged).
  virtual Result<Identity> authenticate(std::string_view credential) = 0;
  // A request with no credential at all. The default, like the roles regime, refuses.
  virtual Result<Identity> authenticate_anonymous() { return auth_failure(); }

  // Is this credential of a kind this regime issues or trusts? Cheap, verifies nothing: a
  // chain (iam/chain.h) sends a credential to the first member that recognises it. The
  // default recognises everything.
  virtual bool recognises(std::string_view /*credential*/) const { return true; }
  // Did this regime issue this identity? A chain sends authorise, authorise_many and the
  // management operations to the first member that answers yes. The default says yes.
  virtual bool issued(const Identity& /*identity*/) const { return true; }

  // May `identity` use `capability` on `resource`? Errors inside are a deny.
  virtual Decision authorise(const Identity& identity, std::string_view capability,
                             const Resource& resource, const Parameters& parameters) = 0;
  // The same for many checks at once; the answers are in request order. The default asks
  // authorise once per check; a regime overrides it when a batch can share work.
  virtual std::vector<Decision> authorise_many(const Identity& identity,
                                               std::span<const AuthorisationCheck> checks) {
    std::vector<Decision> decisions;
    decisions.reserve(checks.size());
    for (const AuthorisationCheck& check : checks)
      decisions.push_back(authorise(identity, check.capability, check.resource, check.parameters));
    return decisions;
  }

  // Registers a listener told about every change made through this regime that could
  // make cached identities or decisions stale. Listeners must be fast and must not throw
  // (an exception is swallowed). Add listeners before sharing the regime between threads.
  // The default keeps none: a regime without administration changes nothing through
  // itself, so it has nothing to tell.
  virtual void add_invalidation_listener(InvalidationListener /*listener*/) {}

  // The management operations, or nullptr for a decision-only regime (the default). The
  // pointer is owned by the regime and valid for its lifetime.
  virtual Administration* administration() noexcept { return nullptr; }
};

}  // namespace iam
