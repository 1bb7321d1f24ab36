// iam/roles.h — the roles regime: users with roles reader / writer / admin scoped to
// workspaces, API keys, passwords and Ed25519 JWTs (docs/contract.md, docs/protocol.md).
//
// THREAD SAFETY: RolesRegime is safe to share between threads; every method may be called
// concurrently. RoleTable, RolesConfig and the result structs are plain values.
// RolesRegime is an interface: create() returns the library's implementation (its internals
// live in regimes/roles/, not here).
// OWNERSHIP: the regime holds its repository, clock, random source and audit sink by
// std::shared_ptr; results are owned by the caller. Secrets in results are SecretString.
// ERRORS: each method documents its error codes in protocol.md's terms; storage failures
// answer internal_error; no method throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "iam/audit.h"
#include "iam/clock.h"
#include "iam/export.h"
#include "iam/jwt.h"
#include "iam/log.h"
#include "iam/random.h"
#include "iam/regime.h"
#include "iam/repository.h"
#include "iam/role_table.h"
#include "iam/throttle.h"

namespace iam {

// How a fresh deployment gets its first administrator (protocol.md "Bootstrap modes").
enum class BootstrapMode { token, bootstrap };
IAM_EXPORT std::optional<BootstrapMode> parse_bootstrap_mode(std::string_view text);  // "token" | "bootstrap"

// A key rotation interval: a positive whole number and one unit, s, m, h or d ("30d",
// "12h", "90m"); nullopt for anything else (no sign, space, fraction or other unit), and
// for a value past ten years.
IAM_EXPORT std::optional<std::chrono::seconds> parse_key_rotation_interval(std::string_view text);

struct PasswordRules {
  std::size_t min_characters = 8;  // UTF-8 code points
  std::size_t max_bytes = 1024;
  bool forbid_username = true;
};

inline constexpr std::uint32_t minimum_password_iterations = 600'000;

struct RolesConfig {
  std::shared_ptr<Repository> repository;  // required
  // Required, from here or IAM_BOOTSTRAP_MODE when read_environment; no default.
  std::optional<BootstrapMode> bootstrap_mode;
  // token mode only: becomes the admin's API key. From IAM_BOOTSTRAP_TOKEN when unset.
  std::optional<SecretString> bootstrap_token;
  bool read_environment = true;
  JwtConfig jwt;
  RoleTable roles = default_role_table();
  PasswordRules password_rules;
  std::uint32_t password_iterations = minimum_password_iterations;  // may be raised, never lowered
  std::chrono::seconds decision_ttl{60};
  std::chrono::seconds last_used_interval{60};  // resolve-api-key coalesces last_used writes
  // Password-guess throttling per account (iam/throttle.h), keyed on username_key() as the
  // lookup is: after 5 consecutive failed logins or change-passwords, both are refused
  // (auth-failed, as any failure) for 1 s, doubling per further failure up to 5 min. A
  // success resets it. `enabled = false` turns it off.
  ThrottleConfig login_throttle;
  std::shared_ptr<Clock> clock;          // default: system clock
  std::shared_ptr<RandomSource> random;  // default: libsodium
  std::shared_ptr<AuditSink> audit;      // default: discard
  Logger logger;                         // default: stderr
};

// The caller of a management operation: a user id set by a gateway, or nullopt for a
// trusted internal caller (iamctl stdio, the application itself) that skips the
// in-process re-checks of contract.md.
using Actor = std::optional<std::string>;

struct BootstrapResult {
  std::string admin_user_id;
  SecretString admin_api_key;
};
struct LoginResult {
  SecretString jwt;
  TimePoint expires{};
};
struct ResolvedKey {
  std::string user_id;
  std::string workspace;
  std::vector<std::string> roles;
};
struct CreatedApiKey {
  SecretString plaintext;  // shown once, never stored
  ApiKeyRecord record;
};

class IAM_EXPORT RolesRegime : public Regime, public Administration {
 public:
  // ---- Regime ----
  // authenticate, authorise and authorise_many follow contract.md's policy;
  // capability::in_scope is allowed iff some role of the user (any capability) reaches the
  // target workspace, and denied without one; the workspace "*" (every_workspace) is
  // reached only by a role whose scope is every workspace.
  std::string_view name() const noexcept override { return "roles"; }
  Administration* administration() noexcept override { return this; }

  // ---- Administration: the operations below, by their wire names ----
  Result<OperationResponse> execute(const OperationRequest& request) noexcept override;

  // ---- operations (protocol.md "Operations"), one method each ----
  // change_password, reset_password and disabling a user (disable_user, update_user with
  // enabled:false, or its home workspace) end every JWT issued to the user before, for
  // good (enable_user does not revive them); a login afterwards gets a working one.
  virtual Result<BootstrapResult> bootstrap() = 0;
  virtual bool bootstrap_available() = 0;
  virtual Result<LoginResult> login(std::string_view username, std::string_view password,
                                    std::optional<std::string_view> workspace) = 0;
  virtual Result<UserRecord> whoami(std::string_view user_id) = 0;
  virtual Result<ResolvedKey> resolve_api_key(std::string_view api_key) = 0;
  virtual Result<std::string> signing_key_public() = 0;
  virtual std::string jwks() = 0;
  // Attempts the per-account login throttle refused since the regime was made (for metrics).
  virtual std::uint64_t login_throttle_refusals() const noexcept { return 0; }
  // The staged rotation (protocol.md "Signing key rotation"): the published next key
  // signs from now, the current one retires into its grace period, and a fresh next key
  // is published.
  virtual Status rotate_signing_key(const Actor& actor) = 0;
  // Every stored signing key with its state and times (an extension of TrustGraph's
  // protocol); a retired key's grace_ends is retired + the grace period the key set uses.
  // Needs iam:admin over every workspace when an actor is named.
  virtual Result<std::vector<SigningKeyRecord>> list_signing_keys(const Actor& actor) = 0;
  // Scheduled rotation, for a caller that runs it periodically (iam-gateway
  // --key-rotation-interval): rotates as rotate_signing_key does when the current key has
  // signed for `interval` or longer, and answers whether this call rotated. The store
  // arbitrates, so of several processes sharing it exactly one rotates per interval; the
  // others learn of it as of any rotation (and reload when their attempt lost). Audited
  // as rotate-signing-key without an actor when it rotates. invalid_argument for an
  // interval that is not positive.
  virtual Result<bool> rotate_signing_key_if_due(std::chrono::seconds interval) = 0;
  virtual Status change_password(const Actor& actor, std::string_view user_id, std::string_view password,
                                 std::string_view new_password) = 0;
  virtual Result<SecretString> reset_password(const Actor& actor, std::string_view user_id,
                                              std::optional<std::string_view> workspace) = 0;
  virtual Result<UserRecord> create_user(const Actor& actor, std::string_view workspace, const UserInput& user) = 0;
  virtual Result<std::vector<UserRecord>> list_users(const Actor& actor,
                                                     std::optional<std::string_view> workspace) = 0;
  virtual Result<UserRecord> get_user(const Actor& actor, std::string_view user_id,
                                      std::optional<std::string_view> workspace) = 0;
  virtual Result<UserRecord> update_user(const Actor& actor, std::string_view user_id, const UserInput& user,
                                         std::optional<std::string_view> workspace) = 0;
  virtual Status disable_user(const Actor& actor, std::string_view user_id,
                              std::optional<std::string_view> workspace) = 0;
  virtual Status enable_user(const Actor& actor, std::string_view user_id,
                             std::optional<std::string_view> workspace) = 0;
  virtual Status delete_user(const Actor& actor, std::string_view user_id,
                             std::optional<std::string_view> workspace) = 0;
  virtual Result<WorkspaceRecord> create_workspace(const Actor& actor, const WorkspaceInput& workspace) = 0;
  virtual Result<std::vector<WorkspaceRecord>> list_workspaces() = 0;
  virtual Result<std::vector<WorkspaceRecord>> list_my_workspaces(std::string_view user_id) = 0;
  virtual Result<WorkspaceRecord> get_workspace(std::string_view id) = 0;
  virtual Result<WorkspaceRecord> update_workspace(const Actor& actor, const WorkspaceInput& workspace) = 0;
  virtual Status disable_workspace(const Actor& actor, std::string_view id) = 0;
  virtual Result<CreatedApiKey> create_api_key(const Actor& actor, const KeyInput& key,
                                               std::optional<std::string_view> workspace) = 0;
  virtual Result<std::vector<ApiKeyRecord>> list_api_keys(const Actor& actor, std::string_view user_id,
                                                          std::optional<std::string_view> workspace) = 0;
  virtual Status revoke_api_key(const Actor& actor, std::string_view key_id,
                                std::optional<std::string_view> workspace) = 0;

  virtual const KeySet& key_set() const noexcept = 0;
  virtual const RoleTable& role_table() const noexcept = 0;

 protected:
  RolesRegime() = default;  // implemented inside the library only
};

// Validates the configuration (invalid_argument with a clear message: no repository,
// no or bad bootstrap mode, a token in bootstrap mode, no token in token mode, too few
// PBKDF2 iterations, bad JWT settings), loads the key set and, in token mode, seeds an
// empty store.
IAM_EXPORT Result<std::shared_ptr<RolesRegime>> make_roles_regime(RolesConfig config);

}  // namespace iam
