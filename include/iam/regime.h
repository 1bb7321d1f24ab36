// iam/regime.h — the regime contract: who is this caller, and may they do this?
//
// A gateway (or any application) depends on Regime alone; everything regime-specific
// (roles, groups, claims, storage) stays behind it. See spec/contract.md.
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

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iam/clock.h"
#include "iam/export.h"
#include "iam/operations.h"
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

// Component names of the resource vocabulary (contract.md "Resource").
namespace component {
inline constexpr std::string_view workspace = "workspace";
inline constexpr std::string_view flow = "flow";
inline constexpr std::string_view collection = "collection";
inline constexpr std::string_view document = "document";
}  // namespace component

// A workspace component (or parameter) of "*" means every workspace at once: a regime
// allows it only to a caller whose scope is every workspace. "*" is never a workspace id.
inline constexpr std::string_view every_workspace = "*";

using StringMap = std::map<std::string, std::string, std::less<>>;

// A partial mapping of component name to value. System level is {}, workspace level
// {workspace}, flow level {workspace, flow}. Regimes ignore components they do not know.
class IAM_EXPORT Resource {
 public:
  Resource() = default;
  static Resource system() { return {}; }
  static Resource workspace(std::string workspace);
  static Resource flow(std::string workspace, std::string flow);

  // The value of a component, or empty when absent.
  std::string_view get(std::string_view name) const;
  std::string_view workspace_id() const { return get(component::workspace); }
  void set(std::string name, std::string value);
  const StringMap& components() const noexcept { return components_; }

  friend bool operator==(const Resource&, const Resource&) = default;

 private:
  StringMap components_;
};

// Operation parameters the policy may read (e.g. {workspace} for create-user).
using Parameters = StringMap;

// allow or deny, and how long the caller may cache the answer.
struct Decision {
  bool allow = false;
  std::chrono::seconds ttl{0};

  static Decision allowed(std::chrono::seconds ttl) { return {true, ttl}; }
  static Decision denied(std::chrono::seconds ttl) { return {false, ttl}; }
  friend bool operator==(const Decision&, const Decision&) = default;
};

struct AuthorisationCheck {
  std::string capability;
  Resource resource;
  Parameters parameters;
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

// What a change made through a regime affects, so caches can drop it at once.
struct Invalidation {
  enum class Kind {
    user,          // id = user id: roles, enabled, deletion, password
    api_key,       // id = the key's SHA-256 hex (what caches are keyed by)
    workspace,     // id = workspace id
    signing_keys,  // id empty: the key set changed (rotation)
    everything,    // id empty: drop all cached state
  };
  Kind kind = Kind::everything;
  std::string id;
};
using InvalidationListener = std::function<void(const Invalidation&)>;

class IAM_EXPORT Regime {
 public:
  virtual ~Regime() = default;

  // The regime's name ("roles", "noauth", ...).
  virtual std::string_view name() const noexcept = 0;

  // Who is this caller? `credential` is an API key or a JWT (never logged).
  virtual Result<Identity> authenticate(std::string_view credential) = 0;
  // A request with no credential at all. The roles regime always refuses.
  virtual Result<Identity> authenticate_anonymous() = 0;

  // May `identity` use `capability` on `resource`? Errors inside are a deny.
  virtual Decision authorise(const Identity& identity, std::string_view capability,
                             const Resource& resource, const Parameters& parameters) = 0;
  // The same for many checks at once; the answers are in request order.
  virtual std::vector<Decision> authorise_many(const Identity& identity,
                                               std::span<const AuthorisationCheck> checks) = 0;

  // A management operation (protocol.md "Operations"). A regime that does not support an
  // operation answers not_supported.
  virtual Result<OperationResponse> execute(const OperationRequest& request) = 0;

  // Registers a listener told about every change made through this regime that could
  // make cached identities or decisions stale. Listeners must be fast and must not throw
  // (an exception is swallowed). Add listeners before sharing the regime between threads.
  virtual void add_invalidation_listener(InvalidationListener listener) = 0;
};

}  // namespace iam
