// iam/gateway.h — the gateway kit: credential handling, cached authentication and
// authorisation, and the enforcement path of gateway.md, independent of any HTTP library
// and of any particular regime (it talks to iam::Regime only).
//
// A server turns each HTTP request into an iam::Request (route, body text, credential)
// and calls Enforcer::enforce. The Outcome is either "forward this rewritten body as this
// identity" or a refusal with the exact HTTP status and body to send. When the forwarded
// operation is an IAM one, answer_for_response / answer_for_dispatcher_json turn the IAM
// answer into the status and masked body a caller may see (gateway.md "What callers see").
//
// THREAD SAFETY: an Enforcer is safe to share between threads; every method may be called
// concurrently. Its caches are sharded (one mutex per shard, no global lock on the hit
// path). The free functions are pure. Request, Outcome and HttpAnswer are plain values.
// OWNERSHIP: the Enforcer shares ownership of its regime, registry and clock, and owns its
// caches. It registers an invalidation listener with the regime that holds the caches
// weakly, so a regime may outlive the enforcer safely.
// ERRORS: make_enforcer fails with invalid_argument for a bad configuration (no regime,
// negative TTL, zero cache size) and internal_error if the regime refuses the listener.
// Nothing else fails or throws: every problem is an Outcome refusal, and every regime
// error or callback exception is a refusal too (fail closed).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "iam/clock.h"
#include "iam/credential_shape.h"
#include "iam/export.h"
#include "iam/log.h"
#include "iam/operation_registry.h"
#include "iam/operations.h"
#include "iam/regime.h"
#include "iam/status.h"

namespace iam {

// ---------------------------------------------------------------- credentials

// CredentialShape and credential_shape(): iam/credential_shape.h.

// The credential of an `Authorization` header value: the token of `Bearer <token>` (scheme
// matched without regard to case, surrounding spaces trimmed). nullopt means "no
// credential": no header, an empty Bearer, or another scheme such as Basic.
IAM_EXPORT std::optional<std::string> credential_from_authorization(std::optional<std::string_view> header_value);

// The `token` parameter of a URL query string (with or without the leading '?'),
// percent-decoded. For the streaming import/export endpoints only. nullopt when absent or
// empty.
IAM_EXPORT std::optional<std::string> credential_from_query(std::string_view query);

// ---------------------------------------------------------------- answers

// A status and the exact body to send.
struct HttpAnswer {
  int status = 200;
  std::string body;
  friend bool operator==(const HttpAnswer&, const HttpAnswer&) = default;
};

// The masked bodies, byte for byte (gateway.md "What callers see").
namespace masked {
inline constexpr std::string_view auth_failure = R"({"error":"auth failure"})";
inline constexpr std::string_view access_denied = R"({"error":"access denied"})";
inline constexpr std::string_view internal_error = R"({"error":"internal error"})";
inline constexpr std::string_view unknown_operation = R"({"error":"unknown operation"})";
inline constexpr std::string_view unknown_kind = R"({"error":"unknown kind"})";
inline constexpr std::string_view workspace_not_found = R"({"error":"workspace not found"})";
inline constexpr std::string_view invalid_json = R"({"error":"invalid json"})";
inline constexpr std::string_view not_an_object = R"({"error":"request must be a JSON object"})";
}  // namespace masked

// The answer for an error of the taxonomy: auth-failed 401 and operation-not-permitted 403
// with the masked bodies; invalid-argument and weak-password 400 with the error's message
// (messages about the caller's own input, which never repeat a value); not-found 404,
// duplicate 409, disabled 403 and not-supported 501 with a fixed message per type;
// internal-error 500 {"error":"internal error"}. Typed bodies are
// {"error":{"type":…,"message":…}}.
IAM_EXPORT HttpAnswer answer_for_error(const Error& error);

// The answer for an IAM operation's result: 200 and the response object, or the error's
// answer. For `login` every failure other than internal-error is 401 (gateway.md: "any
// failure 401").
IAM_EXPORT HttpAnswer answer_for_response(std::string_view operation, const Result<OperationResponse>& response);

// The same for the JSON text JsonDispatcher::handle returned: an {"error":{type,…}} object
// is mapped as above; anything else is 200 with the text unchanged.
IAM_EXPORT HttpAnswer answer_for_dispatcher_json(std::string_view operation, std::string_view response_json);

// ---------------------------------------------------------------- enforcement

namespace gateway {
struct EnforcerState;  // internal (src/gateway/enforcer.cpp)
}  // namespace gateway

// How a request arrived, which decides its registry key.
enum class Route {
  iam,           // POST /api/v1/iam: key = body.operation (a bare IAM operation)
  named,         // a fixed operation (e.g. /api/v1/auth/login): key = Request::name; body.operation is set to it
  service,       // POST /api/v1/{kind}: key = "<kind>:<body.operation>"
  flow_service,  // /api/v1/flow/{flow}/service/{kind}: key = "flow-service:<kind>"
  flow_import,   // /api/v1/flow/{flow}/import/{kind}: key = "flow-import:<kind>"
  flow_export,   // /api/v1/flow/{flow}/export/{kind}: key = "flow-export:<kind>"
};

struct Request {
  Route route = Route::iam;
  std::string name;        // named: the operation; service / flow_*: the URL's {kind}
  std::string flow;        // flow_*: the flow from the URL path or WebSocket envelope
  std::string workspace;   // a workspace carried by the address (envelope, ?workspace=); non-empty wins over
                           // body.workspace for workspace- and flow-level operations, ignored for system-level ones
  std::string body;        // the request's JSON object text; empty counts as {}
  std::optional<std::string> credential;  // nullopt: none presented (authenticate-anonymous)
};

// Why a request was refused (for logs, metrics and other transports' own frame shapes).
enum class Refusal {
  none,                 // forwarded
  bad_request,          // invalid JSON, not an object, invalid-argument (400)
  unknown_operation,    // 400 {"error":"unknown operation"}
  unknown_kind,         // 404 {"error":"unknown kind"}
  auth_failure,         // 401 {"error":"auth failure"}
  access_denied,        // 403 {"error":"access denied"}
  workspace_not_found,  // 404 {"error":"workspace not found"}
  internal_error,       // 500 / 503 {"error":"internal error"}
};

struct Outcome {
  Refusal refusal = Refusal::none;
  int status = 200;
  // Forwarded: the rewritten request (authorised workspace written in, `actor` set to the
  // identity's handle). Refused: the exact response body.
  std::string body;
  std::string operation;             // the registry key the request resolved to
  std::optional<Identity> identity;  // who is calling; absent for PUBLIC operations
  std::string workspace;             // the authorised workspace, if the operation has one
  std::string flow;                  // the flow, for flow-level operations
  std::string reason;                // a refusal's precise reason, for the server log only

  bool forward() const noexcept { return refusal == Refusal::none; }
};

// May the data plane use a workspace: does it exist AND is it enabled? true / false, or an
// error (a refusal with 500). A disabled workspace answers false: it is missing (404) to
// workspace- and flow-level operations, while the system-level IAM operations that manage
// it (update-workspace to enable it again, ...) never ask.
using WorkspaceExists = std::function<Result<bool>(std::string_view workspace)>;
// Asks the regime's get-workspace (as a trusted internal caller): found and enabled true;
// found but disabled (or no record), not-found or invalid-argument false; anything else an
// error. A regime without administration (decision-only) answers not_supported: give such
// a regime's gateway its own workspace_exists.
IAM_EXPORT WorkspaceExists workspace_exists_from_regime(std::shared_ptr<Regime> regime);

struct GatewayConfig {
  std::shared_ptr<Regime> regime;                     // required
  std::shared_ptr<const OperationRegistry> registry;  // default: OperationRegistry::with_defaults()
  std::shared_ptr<Clock> clock;                       // default: the system clock
  // Ceilings: an identity is cached at most authentication_ttl (and never past its
  // `expires`); a decision at most min(Decision::ttl, decision_ttl). Zero disables caching.
  std::chrono::seconds authentication_ttl{60};
  std::chrono::seconds decision_ttl{60};
  // Bounds (entries); the least recently used entry of a shard goes first.
  std::size_t authentication_cache_entries = 10'000;
  std::size_t decision_cache_entries = 100'000;
  std::size_t workspace_cache_entries = 1'000;  // positive answers of workspace_exists
  std::size_t cache_shards = 16;                // 1..256
  // Asked after authorisation for workspace- and flow-level operations. Default: the
  // regime's get-workspace (workspace_exists_from_regime). It may be called from many
  // threads at once; an exception from it is a refusal (500).
  WorkspaceExists workspace_exists;
  Logger logger = stderr_logger();  // refusal reasons (never a credential)
  // Request bodies (and WebSocket frames) longer than max_body_bytes, or nesting objects
  // and arrays deeper than max_json_depth, are 400 invalid json, refused while parsing
  // (a frame may be one level deeper: its envelope). Both must be at least 1.
  std::size_t max_body_bytes = 16u << 20;
  std::size_t max_json_depth = 64;
};

// Counters an Enforcer keeps from its start (relaxed atomics on the request path), for
// metrics (iam/metrics.h register_enforcer_metrics).
struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;     // expired entries included
  std::uint64_t evictions = 0;  // dropped to make room (not invalidations, not expiry)
  std::size_t entries = 0;
};
enum class AuthenticationOutcome { success, failure, error };  // error: the regime could not decide (503)
struct EnforcerStats {
  // [source][outcome]: the source is CredentialSource's value (api_key, jwt, anonymous: the
  // identity's, else the credential's shape), or 3 for a malformed credential; the outcome
  // AuthenticationOutcome's value. Cached answers count too.
  std::array<std::array<std::uint64_t, 3>, 4> authentications{};
  std::uint64_t authorisations_allowed = 0;  // decisions (cached ones too); a regime error is a deny
  std::uint64_t authorisations_denied = 0;
  CacheStats identities;
  CacheStats decisions;
};

class Enforcer;
// Validates `config` and builds the enforcer (invalid_argument for a bad configuration).
IAM_EXPORT Result<std::shared_ptr<Enforcer>> make_enforcer(GatewayConfig config);

class IAM_EXPORT Enforcer {
 public:
  ~Enforcer();
  Enforcer(const Enforcer&) = delete;
  Enforcer& operator=(const Enforcer&) = delete;

  // gateway.md "Then, per request", in order: route and kind (404), body (400), operation
  // (400, before authentication); PUBLIC skips authentication (any credential is ignored);
  // otherwise authenticate (401; 503 when the regime could not decide); AUTHENTICATED
  // skips authorise at system level, anything else is authorised (403; AUTHENTICATED at
  // workspace or flow level against the caller's scope, an `all_workspaces` operation
  // against iam::every_workspace); the workspace (`workspace`, else `default_workspace`,
  // else the identity's; 400 if both are named and differ) must exist and be enabled (404,
  // after authorisation); the authorised workspace (in `workspace`, and in
  // `default_workspace` when the body has one) and `actor` are written into the forwarded
  // body.
  Outcome enforce(const Request& request) const noexcept;
  // The same for a caller already authenticated (a WebSocket session): the request's
  // credential is ignored and `identity` is used as is.
  Outcome enforce_as(const Identity& identity, const Request& request) const noexcept;

  // Cached authentication: nullopt asks authenticate_anonymous (never cached); a malformed
  // credential fails without consulting the regime; otherwise the cache, keyed by the
  // credential's SHA-256, then the regime. Errors: auth_failure(), or internal_error when
  // the regime could not decide.
  Result<Identity> authenticate(std::optional<std::string_view> credential) const noexcept;
  // Cached authorisation (allows and denies alike); a regime error is a deny.
  Decision authorise(const Identity& identity, std::string_view capability, const Resource& resource,
                     const Parameters& parameters) const noexcept;

  // Entries currently cached (for tests and metrics).
  std::size_t cached_identities() const noexcept;
  std::size_t cached_decisions() const noexcept;
  // The counters above and the caches' hits, misses, evictions and sizes (the sizes lock
  // each shard in turn: for scrapes, not per request).
  EnforcerStats stats() const noexcept;
  // Drops every cached identity, decision and workspace answer.
  void clear_caches() noexcept;

  const OperationRegistry& registry() const noexcept;
  const std::shared_ptr<Regime>& regime() const noexcept;
  const std::shared_ptr<Clock>& clock() const noexcept;
  std::size_t max_body_bytes() const noexcept;
  std::size_t max_json_depth() const noexcept;

 private:
  friend Result<std::shared_ptr<Enforcer>> make_enforcer(GatewayConfig config);
  explicit Enforcer(std::unique_ptr<gateway::EnforcerState> state);
  std::unique_ptr<gateway::EnforcerState> state_;
};

}  // namespace iam
