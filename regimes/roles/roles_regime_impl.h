// regimes/roles/roles_regime_impl.h — the roles regime's implementation (internal header).
//
// One class, its methods defined by concern (docs/architecture.md "The roles regime"):
//   roles_regime.cpp     configuration, construction, invalidation
//   bootstrap.cpp        bootstrap modes, seeding an empty store, the bootstrap operation
//   authentication.cpp   API keys, JWTs, login and its throttle
//   authorisation.cpp    the decision of authorise / authorise_many, actor re-checks
//   users.cpp, workspaces.cpp, api_keys.cpp, signing_keys.cpp   the operations
//   audit.cpp            the audit events
// The policy itself (roles → capabilities and scope) is regimes/policy/role_policy.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/text.h"
#include "credentials/password.h"
#include "iam/roles.h"
#include "regimes/policy/role_policy.h"

namespace iam {

inline constexpr std::string_view kDefaultWorkspace = "default";
inline constexpr std::size_t kMaxCredentialBytes = 16 * 1024;
inline constexpr std::size_t kMaxUsernameBytes = 256;
inline constexpr std::size_t kMaxNameBytes = 256;   // a user's, a workspace's or an API key's display name
inline constexpr std::size_t kMaxEmailBytes = 320;  // RFC 3696's 64 + 1 + 255

// What a management operation needs of its actor (the operation table's gateway rules);
// re-checked in process.
inline constexpr std::string_view kUsersRead = "users:read";
inline constexpr std::string_view kUsersWrite = "users:write";
inline constexpr std::string_view kUsersAdmin = "users:admin";
inline constexpr std::string_view kKeysAdmin = "keys:admin";
inline constexpr std::string_view kWorkspacesAdmin = "workspaces:admin";
inline constexpr std::string_view kIamAdmin = "iam:admin";

inline Error denied() { return Error{ErrorCode::operation_not_permitted, "access denied"}; }
inline Error storage_error(const Error& e) { return Error{ErrorCode::internal_error, "storage: " + e.message}; }

// A lookup that tells "absent" (not_found naming `what`) from a store failure (internal).
template <class T>
Result<T> checked(Result<T> r, std::string_view what) {
  if (r.ok()) return r;
  if (r.error().code == ErrorCode::not_found) return Error{ErrorCode::not_found, std::string(what) + " not found"};
  return storage_error(r.error());
}

// Free text a caller asks to store: bounded, UTF-8, no control characters (a name shown
// by a terminal or written to a log must not carry escape sequences or line breaks).
inline Status check_text(std::string_view field, std::string_view value, std::size_t max_bytes) {
  if (value.size() > max_bytes || !text::is_plain(value))
    return Error{ErrorCode::invalid_argument,
                 std::string(field) + " is too long, not UTF-8, or has control characters"};
  return {};
}

// A Change of one mutation.
template <class M>
Change single_change(M mutation) {
  Change change;
  change.emplace_back(std::move(mutation));
  return change;
}

// The holder the policy sees for a stored user.
inline RoleHolder holder_of(const StoredUser& user) {
  return RoleHolder{user.record.id, user.record.roles, user.record.workspace};
}
// What authorise reads of a stored user (Repository::read_user_authorisation).
inline UserAuthorisationView authorisation_view(const StoredUser& user) {
  return UserAuthorisationView{user.record.id, user.record.workspace, user.record.roles, user.record.enabled};
}

// What a management operation touched: the audit event's target and, for a success, the
// id of what its invalidation names.
struct OperationTarget {
  std::string identity;      // a user id
  std::string workspace;     // the workspace touched
  std::string api_key_hash;  // a revoked key's hash (what caches are keyed by)

  std::string invalidation_id(Invalidation::Kind kind) const;
};

class RolesRegimeImpl;

// Lets the repository's change listener (which may outlive the regime) reach the regime
// only while it exists.
struct ExternalChangeRelay {
  Mutex mutex;
  RolesRegimeImpl* regime IAM_GUARDED_BY(mutex) = nullptr;
};

class RolesRegimeImpl final : public RolesRegime {
 public:
  // `config` is complete (defaults filled, validated); `start` does the rest.
  RolesRegimeImpl(RolesConfig config, BootstrapMode mode, std::uint32_t iterations);
  ~RolesRegimeImpl() override;
  RolesRegimeImpl(const RolesRegimeImpl&) = delete;
  RolesRegimeImpl& operator=(const RolesRegimeImpl&) = delete;

  // Seeds an empty store in token mode, loads the key set (adding the current or next key
  // a populated store lacks) and starts listening to other processes' changes.
  Status start();

  // ---- Regime ----
  Result<Identity> authenticate(std::string_view credential) noexcept override;
  Result<Identity> authenticate_anonymous() noexcept override;
  // A `tg_` API key, or a JWT whose (unverified) iss is this regime's issuer.
  bool recognises(std::string_view credential) const noexcept override;
  Decision authorise(const Identity& identity, std::string_view capability, const Resource& resource,
                     const Parameters& parameters) noexcept override;
  std::vector<Decision> authorise_many(const Identity& identity,
                                       std::span<const AuthorisationCheck> checks) noexcept override;
  void add_invalidation_listener(InvalidationListener listener) override;

  // ---- operations ----
  Result<BootstrapResult> bootstrap() override;
  bool bootstrap_available() override;
  Result<LoginResult> login(std::string_view username, std::string_view password,
                            std::optional<std::string_view> workspace) override;
  Result<UserRecord> whoami(std::string_view user_id) override;
  Result<ResolvedKey> resolve_api_key(std::string_view api_key) override;
  Result<std::string> signing_key_public() override;
  std::string jwks() override;
  std::uint64_t login_throttle_refusals() const noexcept override { return login_throttle_.refusals(); }
  Status rotate_signing_key(const Actor& actor) override;
  Result<std::vector<SigningKeyRecord>> list_signing_keys(const Actor& actor) override;
  Result<bool> rotate_signing_key_if_due(std::chrono::seconds interval) override;
  Status change_password(const Actor& actor, std::string_view user_id, std::string_view password,
                         std::string_view new_password) override;
  Result<SecretString> reset_password(const Actor& actor, std::string_view user_id,
                                      std::optional<std::string_view> workspace) override;
  Result<UserRecord> create_user(const Actor& actor, std::string_view workspace, const UserInput& user) override;
  Result<std::vector<UserRecord>> list_users(const Actor& actor, std::optional<std::string_view> workspace) override;
  Result<UserRecord> get_user(const Actor& actor, std::string_view user_id,
                              std::optional<std::string_view> workspace) override;
  Result<UserRecord> update_user(const Actor& actor, std::string_view user_id, const UserInput& user,
                                 std::optional<std::string_view> workspace) override;
  Status disable_user(const Actor& actor, std::string_view user_id, std::optional<std::string_view> workspace) override;
  Status enable_user(const Actor& actor, std::string_view user_id, std::optional<std::string_view> workspace) override;
  Status delete_user(const Actor& actor, std::string_view user_id, std::optional<std::string_view> workspace) override;
  Result<WorkspaceRecord> create_workspace(const Actor& actor, const WorkspaceInput& workspace) override;
  Result<std::vector<WorkspaceRecord>> list_workspaces() override;
  Result<std::vector<WorkspaceRecord>> list_my_workspaces(std::string_view user_id) override;
  Result<WorkspaceRecord> get_workspace(std::string_view id) override;
  Result<WorkspaceRecord> update_workspace(const Actor& actor, const WorkspaceInput& workspace) override;
  Status disable_workspace(const Actor& actor, std::string_view id) override;
  Result<CreatedApiKey> create_api_key(const Actor& actor, const KeyInput& key,
                                       std::optional<std::string_view> workspace) override;
  Result<std::vector<ApiKeyRecord>> list_api_keys(const Actor& actor, std::string_view user_id,
                                                  std::optional<std::string_view> workspace) override;
  Status revoke_api_key(const Actor& actor, std::string_view key_id, std::optional<std::string_view> workspace) override;

  const KeySet& key_set() const noexcept override { return keys_; }
  const RoleTable& role_table() const noexcept override { return policy_.table(); }

 private:
  Repository& repo() { return *cfg_.repository; }
  TimePoint now() const { return cfg_.clock->now(); }
  void log(LogLevel level, std::string_view message) const;
  // Applies a change; a store failure becomes internal_error, other codes pass as given.
  Status apply(const Change& change);

  // ---- management operations ----
  // Runs one management operation. `body(target)` checks the actor, loads the target
  // (recording it in `target`) and applies the change; then a success tells the caches
  // what went stale (`stale`, when the operation changes what they hold) and every
  // outcome is audited as an iam.management event.
  template <class Body>
  auto manage(const Actor& actor, std::string_view operation, std::optional<Invalidation::Kind> stale, Body&& body)
      -> decltype(body(std::declval<OperationTarget&>())) {
    OperationTarget target;
    auto result = body(target);
    if (result.ok() && stale) invalidate(*stale, target.invalidation_id(*stale));
    audit_management(actor, operation, result.ok() ? nullptr : &result.error(), target);
    return result;
  }

  // ---- invalidation (roles_regime.cpp) ----
  // A change made through this regime: this process's listeners, then the other processes
  // sharing the store (where the store can tell them).
  void invalidate(Invalidation::Kind kind, std::string id);
  // A change another process made: a rotated key set is reloaded at once, and this
  // process's caches are told (but it is not published again).
  void on_external_change(const Invalidation& event);
  void notify_listeners(const Invalidation& event) IAM_EXCLUDES(listeners_mutex_);

  // ---- audit (audit.cpp) ----
  void emit(std::string name, std::vector<std::pair<std::string, std::string>> fields);
  void audit_authenticate(std::string_view type, bool ok, std::string_view identity, std::string_view reason);
  void audit_authorise(std::string_view identity, std::string_view capability, std::string_view workspace,
                       const Verdict& verdict);
  void audit_management(const Actor& actor, std::string_view operation, const Error* error,
                        const OperationTarget& target);

  // ---- authorisation (authorisation.cpp) ----
  // The policy's verdict for a user, who must also be enabled.
  Verdict evaluate(const UserAuthorisationView& user, std::string_view capability, std::string_view workspace) const;
  Verdict evaluate(const StoredUser& user, std::string_view capability, std::string_view workspace) const;
  // The one decision of authorise and authorise_many, once the identity's user was read
  // (`read`, once per call; `verdict` is evaluate's when it succeeded): audited; a store
  // error is a deny not worth caching.
  Decision decide(const Identity& identity, const Status& read, Verdict verdict, std::string_view capability,
                  std::string_view target);
  // The in-process re-check of contract.md: a request naming an actor must hold the
  // capability for the workspace the operation really touches.
  Status check_actor(const Actor& actor, std::string_view capability, std::string_view target_workspace);
  // Granting a role that reaches every workspace needs an actor who holds `capability`
  // in every workspace.
  Status check_role_grant(const Actor& actor, std::string_view capability, const std::vector<std::string>& roles);
  // Loads a target user with the integrity check and the actor re-check (see the .cpp).
  Result<StoredUser> load_target(const Actor& actor, std::string_view user_id,
                                 std::optional<std::string_view> workspace, std::string_view capability,
                                 OperationTarget& target, bool guard_privileged = true);

  // ---- authentication (authentication.cpp) ----
  // Every identity check after the credential itself: user enabled, workspaces enabled.
  Result<StoredUser> active_user(std::string_view user_id, std::string_view bound_workspace, std::string& reason);
  Result<std::pair<StoredUser, StoredApiKey>> resolve_key(std::string_view api_key, std::string& reason);
  Result<Identity> authenticate_jwt(std::string_view token, std::string& reason);
  // A well-formed login's password check and token, once the throttle let it through.
  Result<LoginResult> login_checked(std::string_view username, std::string_view password,
                                    std::optional<std::string_view> workspace, std::string& user_id,
                                    std::string& reason);

  // ---- signing keys (signing_keys.cpp) ----
  Status reload_keys() IAM_EXCLUDES(reload_mutex_);
  // The change of a rotation at `at`: promote the next key (under `condition`, see
  // PromoteNextSigningKey), publish a fresh next key, delete keys past their grace.
  Change rotation_change(TimePoint at, std::optional<TimePoint> condition);
  // A store populated by an older version, or by hand, may lack the current or the next
  // key: adds what is missing (another process adding it first is as good).
  Status complete_key_set();
  SigningKey new_next_key();
  // Another process may have rotated: reload, at most once a second.
  bool maybe_reload_keys();

  // ---- bootstrap (bootstrap.cpp) ----
  Change seed_change(const SecretString& admin_key, const std::string& admin_id);
  Status seed_from_token();

  // ---- users (users.cpp) ----
  Status set_user_enabled(const Actor& actor, std::string_view user_id, std::optional<std::string_view> workspace,
                          bool enabled);

  RolesConfig cfg_;
  const BootstrapMode mode_;
  const std::uint32_t iterations_;
  const RolePolicy policy_;
  credentials::PasswordPolicy password_policy_;
  KeySet keys_;
  const bool audit_on_;
  Throttle login_throttle_;
  Mutex listeners_mutex_;
  std::vector<InvalidationListener> listeners_ IAM_GUARDED_BY(listeners_mutex_);
  // Serialises reloads, so one that read the store before a concurrent rotation cannot
  // publish its older snapshot after that rotation's own reload.
  Mutex reload_mutex_;
  std::atomic<std::int64_t> last_key_reload_{0};
  const std::shared_ptr<ExternalChangeRelay> relay_ = std::make_shared<ExternalChangeRelay>();
};

}  // namespace iam
