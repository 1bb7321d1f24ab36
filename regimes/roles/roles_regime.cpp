// The roles regime (contract.md "The roles regime's policy", protocol.md "Operations").
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>

#include "core/text.h"
#include "credentials/api_key.h"
#include "credentials/password.h"
#include "crypto/crypto.h"
#include "iam/roles.h"
#include "regimes/roles/internal.h"

namespace iam {
namespace {

constexpr std::string_view kDefaultWorkspace = "default";
constexpr std::size_t kMaxCredentialBytes = 16 * 1024;
constexpr std::size_t kMaxUsernameBytes = 256;
constexpr std::size_t kMaxNameBytes = 256;    // a user's, a workspace's or an API key's display name
constexpr std::size_t kMaxEmailBytes = 320;   // RFC 3696's 64 + 1 + 255
constexpr std::size_t kMaxRoleBytes = 64;     // longer is never a configured role: not echoed

// What a management operation needs of its actor (operations.json); re-checked in process.
constexpr std::string_view kUsersRead = "users:read";
constexpr std::string_view kUsersWrite = "users:write";
constexpr std::string_view kUsersAdmin = "users:admin";
constexpr std::string_view kKeysAdmin = "keys:admin";
constexpr std::string_view kWorkspacesAdmin = "workspaces:admin";
constexpr std::string_view kIamAdmin = "iam:admin";

Error denied() { return Error{ErrorCode::operation_not_permitted, "access denied"}; }
Error storage_error(const Error& e) { return Error{ErrorCode::internal_error, "storage: " + e.message}; }

bool valid_workspace_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(id[0])) return false;
  return std::all_of(id.begin() + 1, id.end(), [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

// Free text a caller asks to store: bounded, UTF-8, no control characters (a name shown
// by a terminal or written to a log must not carry escape sequences or line breaks).
Status check_text(std::string_view field, std::string_view value, std::size_t max_bytes) {
  if (value.size() > max_bytes || !text::is_plain(value))
    return Error{ErrorCode::invalid_argument,
                 std::string(field) + " is too long, not UTF-8, or has control characters"};
  return {};
}

// A new username: plain text, no white space at either end, and a username key (so not
// only ignorable characters); uniqueness is the store's, by that key.
Status check_username(std::string_view username) {
  if (username.empty()) return Error{ErrorCode::invalid_argument, "user.username is required"};
  if (auto s = check_text("user.username", username, kMaxUsernameBytes); !s.ok()) return s;
  if (text::has_outer_whitespace(username))
    return Error{ErrorCode::invalid_argument, "user.username begins or ends with white space"};
  if (!username_key(username))
    return Error{ErrorCode::invalid_argument, "user.username is empty once normalised or has unassigned characters"};
  return {};
}

// The optional free-text fields of a user: name and email.
Status check_user_text(const UserInput& input) {
  if (input.name)
    if (auto s = check_text("user.name", *input.name, kMaxNameBytes); !s.ok()) return s;
  if (input.email)
    if (auto s = check_text("user.email", *input.email, kMaxEmailBytes); !s.ok()) return s;
  return {};
}

// A lookup that distinguishes "absent" (not_found, passed on as given) from a store failure.
template <class T>
Result<T> checked(Result<T> r, std::string_view what) {
  if (r.ok() || r.error().code == ErrorCode::not_found) {
    if (!r.ok()) return Error{ErrorCode::not_found, std::string(what) + " not found"};
    return r;
  }
  return storage_error(r.error());
}

struct Verdict {
  bool allow = false;
  const char* reason = "";
};

}  // namespace

// Lets the repository's change listener (which may outlive the regime) reach the regime
// only while it exists.
struct ExternalChangeRelay {
  std::mutex mutex;
  RolesRegime::Impl* impl = nullptr;
};

struct RolesRegime::Impl {
  RolesConfig cfg;
  BootstrapMode mode = BootstrapMode::bootstrap;
  std::uint32_t iterations = minimum_password_iterations;
  credentials::PasswordPolicy policy;
  KeySet keys;
  bool audit_on = false;
  std::mutex listeners_mutex;
  std::vector<InvalidationListener> listeners;
  std::atomic<std::int64_t> last_key_reload{0};
  std::mutex reload_mutex;
  Throttle login_throttle;
  std::shared_ptr<ExternalChangeRelay> relay = std::make_shared<ExternalChangeRelay>();

  Impl(RolesConfig c, BootstrapMode m, std::uint32_t iters)
      : cfg(std::move(c)),
        mode(m),
        iterations(iters),
        keys(cfg.jwt, cfg.clock),
        login_throttle(cfg.login_throttle, cfg.clock) {
    policy.min_characters = cfg.password_rules.min_characters;
    policy.max_bytes = cfg.password_rules.max_bytes;
    policy.forbid_username = cfg.password_rules.forbid_username;
    audit_on = cfg.audit != null_audit_sink();
  }

  Repository& repo() { return *cfg.repository; }
  TimePoint now() const { return cfg.clock->now(); }
  void log(LogLevel level, std::string_view message) const {
    try {
      if (cfg.logger) cfg.logger(level, message);
    } catch (...) {
    }
  }

  // ---- audit ----
  void emit(std::string name, std::vector<std::pair<std::string, std::string>> fields) {
    if (!audit_on) return;
    try {
      AuditEvent event{std::move(name), now(), std::move(fields)};
      cfg.audit->record(event);
    } catch (...) {
      // A failing sink must not change any decision.
    }
  }
  void audit_authenticate(std::string_view type, bool ok, std::string_view identity, std::string_view reason) {
    if (!audit_on) return;
    std::vector<std::pair<std::string, std::string>> f{{"credential_type", std::string(type)},
                                                        {"outcome", ok ? "success" : "failure"},
                                                        {"identity", ok ? std::string(identity) : "unknown"}};
    if (!ok) f.emplace_back("failure_reason", std::string(reason));
    emit("iam.authenticate", std::move(f));
  }
  void audit_authorise(std::string_view identity, std::string_view capability, std::string_view workspace,
                       const Verdict& v) {
    if (!audit_on) return;
    std::vector<std::pair<std::string, std::string>> f{{"identity", std::string(identity)},
                                                        {"capability", std::string(capability)}};
    if (!workspace.empty()) f.emplace_back("workspace", std::string(workspace));
    f.emplace_back("outcome", v.allow ? "allow" : "deny");
    if (!v.allow) f.emplace_back("denial_reason", v.reason);
    emit("iam.authorise", std::move(f));
  }
  struct Target {
    std::string identity;
    std::string workspace;
  };
  template <class R>
  void audit_management(const Actor& actor, std::string_view operation, const R& result, const Target& target) {
    if (!audit_on) return;
    std::vector<std::pair<std::string, std::string>> f{{"actor", actor.value_or("")},
                                                        {"operation", std::string(operation)},
                                                        {"outcome", result.ok() ? "success" : "failure"}};
    if (!target.identity.empty()) f.emplace_back("target_identity", target.identity);
    if (!target.workspace.empty()) f.emplace_back("target_workspace", target.workspace);
    if (!result.ok()) f.emplace_back("error_type", std::string(error_type_name(result.error().code)));
    emit("iam.management", std::move(f));
  }

  ~Impl() {
    const std::lock_guard lock(relay->mutex);
    relay->impl = nullptr;
  }

  // ---- invalidation ----
  // A change made through this regime: this process's listeners, then the other processes
  // sharing the store (where the store can tell them).
  void invalidate(Invalidation::Kind kind, std::string id) {
    const Invalidation event{kind, std::move(id)};
    notify_listeners(event);
    cfg.repository->publish(event);
  }

  // A change another process made: a rotated key set is reloaded at once, and this
  // process's caches are told (but it is not published again).
  void on_external_change(const Invalidation& event) {
    if (event.kind == Invalidation::Kind::signing_keys || event.kind == Invalidation::Kind::everything)
      (void)reload_keys();
    notify_listeners(event);
  }

  void notify_listeners(const Invalidation& event) {
    std::lock_guard lock(listeners_mutex);
    for (const auto& listener : listeners) {
      try {
        listener(event);
      } catch (...) {
      }
    }
  }

  // ---- policy ----
  Verdict evaluate(const StoredUser& user, std::string_view capability, std::string_view target) const {
    if (!user.record.enabled) return {false, "user-disabled"};
    // IN-SCOPE is a question about a workspace: without one there is nothing to allow.
    if (capability == capability::in_scope && target.empty()) return {false, "no-workspace"};
    bool granted = false;
    for (const auto& role_name : user.record.roles) {
      const auto role = cfg.roles.find(role_name);
      if (role == cfg.roles.end()) {
        log(LogLevel::warning, "user " + user.record.id + " has unknown role '" + role_name + "': it grants nothing");
        continue;
      }
      // IN-SCOPE asks only "may this caller act in the target at all" (regime.h).
      if (capability != capability::in_scope && !role->second.capabilities.count(capability)) continue;
      granted = true;
      if (target.empty() || role->second.all_workspaces || target == user.record.workspace) return {true, ""};
    }
    return {false, granted ? "workspace-out-of-scope" : "capability-not-in-role"};
  }

  // Does some role grant `capability` in every workspace?
  bool grants_everywhere(const StoredUser& user, std::string_view capability) const {
    for (const auto& role_name : user.record.roles) {
      const auto role = cfg.roles.find(role_name);
      if (role != cfg.roles.end() && role->second.all_workspaces && role->second.capabilities.count(capability))
        return true;
    }
    return false;
  }

  // The in-process re-check of contract.md: a request naming an actor must hold the
  // capability for the workspace the operation really touches.
  Status check_actor(const Actor& actor, std::string_view capability, std::string_view target_workspace) {
    if (!actor) return {};
    auto user = repo().find_user(*actor);
    if (!user) return user.error().code == ErrorCode::not_found ? Status(denied()) : Status(storage_error(user.error()));
    const Verdict v = evaluate(*user, capability, target_workspace);
    audit_authorise(*actor, capability, target_workspace, v);
    if (!v.allow) return denied();
    return {};
  }

  // Granting a role that reaches every workspace needs an actor who reaches every workspace.
  Status check_role_grant(const Actor& actor, std::string_view capability, const std::vector<std::string>& roles) {
    if (!actor) return {};
    bool global = false;
    for (const auto& r : roles) {
      const auto role = cfg.roles.find(r);
      if (role != cfg.roles.end() && role->second.all_workspaces) global = true;
    }
    if (!global) return {};
    auto user = repo().find_user(*actor);
    if (!user) return user.error().code == ErrorCode::not_found ? Status(denied()) : Status(storage_error(user.error()));
    if (!grants_everywhere(*user, capability)) return denied();
    return {};
  }

  Status validate_roles(const std::vector<std::string>& roles) const {
    for (const auto& r : roles) {
      if (cfg.roles.count(r)) continue;
      // Echoed only when short plain text: the message reaches terminals and logs.
      if (r.size() > kMaxRoleBytes || !text::is_plain(r)) return Error{ErrorCode::invalid_argument, "unknown role"};
      return Error{ErrorCode::invalid_argument, "unknown role '" + r + "'"};
    }
    return {};
  }

  static Status check_integrity(std::optional<std::string_view> workspace, std::string_view actual) {
    if (workspace && !workspace->empty() && *workspace != actual)
      return Error{ErrorCode::operation_not_permitted, "the target is not in the named workspace"};
    return {};
  }

  // Does one of the user's roles reach every workspace (e.g. admin)?
  bool reaches_everywhere(const StoredUser& user) const {
    for (const auto& role_name : user.record.roles)
      if (const auto role = cfg.roles.find(role_name); role != cfg.roles.end() && role->second.all_workspaces)
        return true;
    return false;
  }

  // Loads a target user and applies the integrity check and the actor re-check. A target
  // whose roles reach every workspace is, in effect, in every workspace: changing it, or
  // minting its keys or passwords (`guard_privileged`), needs the capability everywhere,
  // so a workspace-scoped administrator cannot take over a deployment administrator whose
  // home happens to be its workspace.
  Result<StoredUser> load_target(const Actor& actor, std::string_view user_id,
                                 std::optional<std::string_view> workspace, std::string_view capability,
                                 Target& target, bool guard_privileged = true) {
    if (user_id.empty()) return Error{ErrorCode::invalid_argument, "user_id is required"};
    target.identity = std::string(user_id);
    auto user = checked(repo().find_user(user_id), "user");
    if (!user) {
      // An actor without the capability learns nothing about which ids exist.
      if (user.error().code == ErrorCode::not_found && actor) {
        if (auto s = check_actor(actor, capability, workspace.value_or("")); !s.ok()) return s.error();
      }
      return user;
    }
    target.workspace = user->record.workspace;
    if (auto s = check_actor(actor, capability, user->record.workspace); !s.ok()) return s.error();
    // "*" is never a valid workspace id, so only a role with every-workspace scope passes.
    if (guard_privileged && actor && reaches_everywhere(*user))
      if (auto s = check_actor(actor, capability, "*"); !s.ok()) return s.error();
    if (auto s = check_integrity(workspace, user->record.workspace); !s.ok()) return s.error();
    return user;
  }

  Status apply(const Change& change) {
    auto s = repo().apply(change);
    if (!s.ok() && s.error().code == ErrorCode::internal_error) return storage_error(s.error());
    return s;
  }

  // Serialised, so a reload that read the store before a concurrent rotation cannot
  // publish its older snapshot after that rotation's own reload.
  Status reload_keys() {
    std::lock_guard lock(reload_mutex);
    auto stored = repo().list_signing_keys();
    if (!stored) return storage_error(stored.error());
    return keys.load(std::move(*stored));
  }

  // Another process may have rotated: reload, at most once a second.
  bool maybe_reload_keys() {
    const std::int64_t t = unix_seconds(now());
    std::int64_t last = last_key_reload.load();
    if (t <= last || !last_key_reload.compare_exchange_strong(last, t)) return false;
    return reload_keys().ok();
  }

  Change seed_change(const SecretString& admin_key, const std::string& admin_id) {
    const TimePoint t = now();
    SecretBytes unusable(32);
    cfg.random->fill(unusable.span());
    std::string unusable_text = crypto::base64url_encode(unusable.span());
    StoredUser admin;
    admin.record = UserRecord{admin_id, std::string(kDefaultWorkspace), "admin", "Administrator", "", {"admin"},
                              true, true, t};
    admin.password_hash = credentials::hash_password(unusable_text, iterations, *cfg.random);
    wipe(unusable_text);
    StoredApiKey key;
    key.record.id = crypto::uuid_v4(*cfg.random);
    key.record.user_id = admin_id;
    key.record.name = "bootstrap";
    key.record.prefix = credentials::api_key_display_prefix(admin_key.view());
    key.record.created = t;
    key.key_hash = credentials::api_key_hash(admin_key.view());
    Change change;
    change.emplace_back(mutation::RequireEmpty{});
    change.emplace_back(mutation::InsertWorkspace{WorkspaceRecord{std::string(kDefaultWorkspace), "Default", true, t}});
    change.emplace_back(mutation::InsertUser{std::move(admin)});
    change.emplace_back(mutation::InsertApiKey{std::move(key)});
    change.emplace_back(mutation::InsertSigningKey{SigningKey::generate(*cfg.random, *cfg.clock)});
    return change;
  }

  // Every identity check after the credential itself: user enabled, workspaces enabled.
  Result<StoredUser> active_user(std::string_view user_id, std::string_view bound_workspace, std::string& reason) {
    auto user = repo().find_user(user_id);
    if (!user) {
      if (user.error().code != ErrorCode::not_found) return storage_error(user.error());
      reason = "user not found";
      return auth_failure();
    }
    if (!user->record.enabled) {
      reason = "user disabled";
      return auth_failure();
    }
    for (std::string_view ws : {std::string_view(user->record.workspace), bound_workspace}) {
      if (ws.empty()) continue;
      auto w = repo().find_workspace(ws);
      if (!w) {
        if (w.error().code != ErrorCode::not_found) return storage_error(w.error());
        reason = "workspace not found";
        return auth_failure();
      }
      if (!w->enabled) {
        reason = "workspace disabled";
        return auth_failure();
      }
    }
    return user;
  }

  Result<std::pair<StoredUser, StoredApiKey>> resolve_key(std::string_view api_key, std::string& reason) {
    if (api_key.empty() || api_key.size() > kMaxCredentialBytes) {
      reason = "malformed api key";
      return auth_failure();
    }
    auto key = repo().find_api_key_by_hash(credentials::api_key_hash(api_key));
    if (!key) {
      if (key.error().code != ErrorCode::not_found) return storage_error(key.error());
      reason = "unknown api key";
      return auth_failure();
    }
    const TimePoint t = now();
    if (key->record.expires && *key->record.expires <= t) {
      reason = "api key expired";
      return auth_failure();
    }
    auto user = active_user(key->record.user_id, "", reason);
    if (!user) return std::move(user).error();
    if (!key->record.last_used || t - *key->record.last_used >= cfg.last_used_interval) {
      Change touch;
      touch.emplace_back(mutation::TouchApiKey{key->record.id, t});
      (void)repo().apply(touch);  // best effort: last_used is informational
    }
    return std::make_pair(std::move(*user), std::move(*key));
  }

  Result<Identity> authenticate_jwt(std::string_view token, std::string& reason) {
    auto claims = keys.verify_with_reason(token, &reason);
    if (!claims && reason == "unknown kid" && maybe_reload_keys()) claims = keys.verify_with_reason(token, &reason);
    if (!claims) return auth_failure();
    auto user = active_user(claims->subject, claims->workspace, reason);
    if (!user) return std::move(user).error();
    // A password change or reset, or a disable, since the token was issued. Epochs, not
    // times: a token from a login in the same second as the change is still good.
    if (claims->credentials_epoch != user->credentials_epoch) {
      reason = "token issued before a credentials change";
      return auth_failure();
    }
    return Identity{user->record.id, claims->workspace, user->record.id, CredentialSource::jwt, claims->expires_at};
  }
};

// ------------------------------------------------------------------ construction

namespace {
Result<std::shared_ptr<RolesRegime>> create_regime(RolesConfig config, std::uint32_t iterations) {
  crypto::ensure_initialised();
  if (!config.repository) return Error{ErrorCode::invalid_argument, "the roles regime needs a repository"};
  if (!config.clock) config.clock = system_clock();
  if (!config.random) config.random = system_random();
  if (!config.audit) config.audit = null_audit_sink();
  if (!config.logger) config.logger = stderr_logger();
  if (auto s = config.jwt.validate(); !s.ok()) return s.error();
  if (config.decision_ttl.count() < 0) return Error{ErrorCode::invalid_argument, "decision_ttl must not be negative"};

  if (!config.bootstrap_mode && config.read_environment) {
    if (const char* env = std::getenv("IAM_BOOTSTRAP_MODE"); env && *env) {
      config.bootstrap_mode = parse_bootstrap_mode(env);
      if (!config.bootstrap_mode)
        return Error{ErrorCode::invalid_argument,
                     "IAM_BOOTSTRAP_MODE must be 'token' or 'bootstrap', not '" + std::string(env) + "'"};
    }
  }
  if (!config.bootstrap_mode)
    return Error{ErrorCode::invalid_argument,
                 "no bootstrap mode: configure 'token' or 'bootstrap' (or set IAM_BOOTSTRAP_MODE)"};
  if (!config.bootstrap_token && config.read_environment) {
    if (const char* env = std::getenv("IAM_BOOTSTRAP_TOKEN"); env && *env) config.bootstrap_token = SecretString(std::string_view(env));
  }
  const BootstrapMode mode = *config.bootstrap_mode;
  if (mode == BootstrapMode::bootstrap && config.bootstrap_token)
    return Error{ErrorCode::invalid_argument, "bootstrap mode refuses a bootstrap token (use token mode)"};
  if (mode == BootstrapMode::token) {
    if (!config.bootstrap_token || config.bootstrap_token->empty())
      return Error{ErrorCode::invalid_argument, "token mode needs a bootstrap token (IAM_BOOTSTRAP_TOKEN)"};
    const auto token = config.bootstrap_token->view();
    if (!credentials::is_api_key_text(token))
      return Error{ErrorCode::invalid_argument,
                   "the bootstrap token must start with 'tg_', be 20 to 256 characters and have no spaces"};
  }

  auto impl = std::make_unique<RolesRegime::Impl>(std::move(config), mode, iterations);
  RolesRegime::Impl& r = *impl;

  if (mode == BootstrapMode::token) {
    auto empty = r.repo().is_empty();
    if (!empty) return storage_error(empty.error());
    if (*empty) {
      auto seeded = r.apply(r.seed_change(*r.cfg.bootstrap_token, crypto::uuid_v4(*r.cfg.random)));
      // duplicate: another process seeded first, which is just as good.
      if (!seeded.ok() && seeded.error().code != ErrorCode::duplicate) return seeded.error();
      if (seeded.ok()) r.log(LogLevel::info, "seeded the store from the bootstrap token");
    }
  }
  if (auto s = r.reload_keys(); !s.ok()) return s.error();
  // A populated store without a signing key (e.g. keys deleted by hand): make one.
  auto empty = r.repo().is_empty();
  if (!empty) return storage_error(empty.error());
  if (!*empty && !r.keys.active_kid()) {
    Change change;
    change.emplace_back(mutation::InsertSigningKey{SigningKey::generate(*r.cfg.random, *r.cfg.clock)});
    (void)r.apply(change);  // duplicate: another process made one
    if (auto s = r.reload_keys(); !s.ok()) return s.error();
  }
  r.relay->impl = &r;
  r.repo().add_change_listener([relay = r.relay](const Invalidation& event) {
    const std::lock_guard lock(relay->mutex);
    if (relay->impl) relay->impl->on_external_change(event);
  });
  return std::make_shared<RolesRegime>(std::move(impl));
}
}  // namespace

Result<std::shared_ptr<RolesRegime>> RolesRegime::create(RolesConfig config) {
  if (config.password_iterations < minimum_password_iterations)
    return Error{ErrorCode::invalid_argument, "password_iterations below the minimum of 600000"};
  const auto iterations = config.password_iterations;
  return create_regime(std::move(config), iterations);
}

Result<std::shared_ptr<RolesRegime>> detail::create_roles_regime_for_testing(RolesConfig config,
                                                                              std::uint32_t password_iterations) {
  if (password_iterations == 0) return Error{ErrorCode::invalid_argument, "password iterations must be positive"};
  return create_regime(std::move(config), password_iterations);
}

RolesRegime::RolesRegime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RolesRegime::~RolesRegime() = default;
const KeySet& RolesRegime::key_set() const noexcept { return impl_->keys; }
const RoleTable& RolesRegime::role_table() const noexcept { return impl_->cfg.roles; }

void RolesRegime::add_invalidation_listener(InvalidationListener listener) {
  std::lock_guard lock(impl_->listeners_mutex);
  impl_->listeners.push_back(std::move(listener));
}

// ------------------------------------------------------------------ Regime

Result<Identity> RolesRegime::authenticate(std::string_view credential) noexcept {
  try {
    std::string reason;
    switch (credentials::credential_shape(credential)) {
      case credentials::CredentialShape::api_key: {
        auto resolved = impl_->resolve_key(credential, reason);
        impl_->audit_authenticate("api-key", resolved.ok(), resolved.ok() ? resolved->first.record.id : "", reason);
        if (!resolved) return std::move(resolved).error();
        const auto& user = resolved->first.record;
        // The key's own expiry, so that no cache keeps the identity past it.
        return Identity{user.id, user.workspace, user.id, CredentialSource::api_key, resolved->second.record.expires};
      }
      case credentials::CredentialShape::jwt: {
        auto identity = impl_->authenticate_jwt(credential, reason);
        impl_->audit_authenticate("jwt", identity.ok(), identity.ok() ? identity->handle : "", reason);
        return identity;
      }
      case credentials::CredentialShape::malformed: break;
    }
    impl_->audit_authenticate("unknown", false, "", "malformed credential");
    return auth_failure();
  } catch (...) {
    return Error{ErrorCode::internal_error, "authentication failed unexpectedly"};
  }
}

Result<Identity> RolesRegime::authenticate_anonymous() noexcept {
  impl_->audit_authenticate("anonymous", false, "", "anonymous access is not permitted by the roles regime");
  return Error{ErrorCode::auth_failed, "auth failure: anonymous access is not permitted"};
}

Decision RolesRegime::authorise(const Identity& identity, std::string_view capability, const Resource& resource,
                                const Parameters& parameters) noexcept {
  try {
    std::string_view target = resource.workspace_id();
    if (target.empty())
      if (const auto it = parameters.find(component::workspace); it != parameters.end()) target = it->second;
    auto user = impl_->repo().find_user(identity.handle);
    Verdict v{false, "user-unknown"};
    if (user) v = impl_->evaluate(*user, capability, target);
    else if (user.error().code != ErrorCode::not_found) v = {false, "regime-error"};
    impl_->audit_authorise(identity.handle, capability, target, v);
    // Errors are not worth caching: deny now, ask again next time.
    return Decision{v.allow, user || user.error().code == ErrorCode::not_found ? impl_->cfg.decision_ttl
                                                                                : std::chrono::seconds(0)};
  } catch (...) {
    return Decision::denied(std::chrono::seconds(0));
  }
}

std::vector<Decision> RolesRegime::authorise_many(const Identity& identity,
                                                  std::span<const AuthorisationCheck> checks) noexcept {
  std::vector<Decision> out;
  try {
    out.reserve(checks.size());
    auto user = impl_->repo().find_user(identity.handle);  // one lookup for the batch
    const bool store_ok = user.ok() || user.error().code == ErrorCode::not_found;
    for (const auto& check : checks) {
      std::string_view target = check.resource.workspace_id();
      if (target.empty())
        if (const auto it = check.parameters.find(component::workspace); it != check.parameters.end())
          target = it->second;
      Verdict v{false, store_ok ? "user-unknown" : "regime-error"};
      if (user) v = impl_->evaluate(*user, check.capability, target);
      impl_->audit_authorise(identity.handle, check.capability, target, v);
      out.push_back(Decision{v.allow, store_ok ? impl_->cfg.decision_ttl : std::chrono::seconds(0)});
    }
    return out;
  } catch (...) {
    out.assign(checks.size(), Decision::denied(std::chrono::seconds(0)));
    return out;
  }
}

// ------------------------------------------------------------------ operations

Result<BootstrapResult> RolesRegime::bootstrap() {
  Impl::Target target{"", std::string(kDefaultWorkspace)};
  Result<BootstrapResult> result = [&]() -> Result<BootstrapResult> {
    if (impl_->mode != BootstrapMode::bootstrap) {
      impl_->log(LogLevel::info, "bootstrap refused: not in bootstrap mode");
      return auth_failure();
    }
    SecretString key = credentials::generate_api_key(*impl_->cfg.random);
    const std::string admin_id = crypto::uuid_v4(*impl_->cfg.random);
    auto s = impl_->apply(impl_->seed_change(key, admin_id));
    if (!s.ok()) {
      if (s.error().code != ErrorCode::duplicate) return s.error();
      impl_->log(LogLevel::info, "bootstrap refused: the store is not empty");
      return auth_failure();
    }
    if (auto k = impl_->reload_keys(); !k.ok()) return k.error();
    target.identity = admin_id;
    return BootstrapResult{admin_id, std::move(key)};
  }();
  // Other processes on the store load the first signing key now rather than on demand.
  if (result.ok()) impl_->invalidate(Invalidation::Kind::signing_keys, "");
  impl_->audit_management(std::nullopt, "bootstrap", result, target);
  return result;
}

bool RolesRegime::bootstrap_available() {
  if (impl_->mode != BootstrapMode::bootstrap) return false;
  auto empty = impl_->repo().is_empty();
  return empty.ok() && *empty;
}

Result<LoginResult> RolesRegime::login(std::string_view username, std::string_view password,
                                       std::optional<std::string_view> workspace) {
  std::string reason;
  std::string user_id;
  std::optional<std::string> throttle_key;  // set once the login is well-formed and not throttled: it counts
  Result<LoginResult> result = [&]() -> Result<LoginResult> {
    // Sizes first: a malformed login is refused before anything of it is stored (it can
    // match no account, so it needs no throttling of its own).
    if (username.empty() || username.size() > kMaxUsernameBytes || password.size() > impl_->policy.max_bytes) {
      credentials::dummy_password_work(password.substr(0, impl_->policy.max_bytes), impl_->iterations);
      reason = "malformed login";
      return auth_failure();
    }
    // Keyed as the lookup is, so every spelling of a username shares one budget. A name
    // with no key (invalid UTF-8, folds to nothing) can match no account: malformed.
    std::optional<std::string> folded = username_key(username);
    if (!folded) {
      credentials::dummy_password_work(password.substr(0, impl_->policy.max_bytes), impl_->iterations);
      reason = "malformed login";
      return auth_failure();
    }
    std::string key = std::move(*folded);
    if (!impl_->login_throttle.allowed(key)) {
      // Refused without a password check: the answer is the same auth failure, and an
      // attacker's burst costs no PBKDF2 work.
      reason = "throttled";
      return auth_failure();
    }
    throttle_key = std::move(key);
    auto user = impl_->repo().find_user_by_username(username);
    if (!user) {
      if (user.error().code != ErrorCode::not_found) return storage_error(user.error());
      credentials::dummy_password_work(password, impl_->iterations);  // as slow as a real check
      reason = "unknown user";
      return auth_failure();
    }
    const bool password_ok = credentials::verify_password(password, user->password_hash);
    if (!password_ok) {
      reason = "wrong password";
      return auth_failure();
    }
    if (!user->record.enabled) {
      reason = "user disabled";
      return auth_failure();
    }
    const std::string bound = workspace && !workspace->empty() ? std::string(*workspace) : user->record.workspace;
    if (bound != user->record.workspace) {
      bool in_scope = false;
      for (const auto& role : user->record.roles)
        if (auto r = impl_->cfg.roles.find(role); r != impl_->cfg.roles.end() && r->second.all_workspaces)
          in_scope = true;
      if (!in_scope) {
        reason = "workspace out of the user's scope";
        return auth_failure();
      }
    }
    auto active = impl_->active_user(user->record.id, bound, reason);
    if (!active) return std::move(active).error();
    user_id = user->record.id;

    // Older, cheaper hashes are upgraded on a successful login.
    if (const auto parsed = credentials::parse_password_hash(user->password_hash);
        parsed && parsed->iterations < impl_->iterations) {
      StoredUser upgraded = *user;
      upgraded.password_hash = credentials::hash_password(password, impl_->iterations, *impl_->cfg.random);
      Change change;
      change.emplace_back(mutation::UpdateUser{std::move(upgraded)});
      (void)impl_->apply(change);  // best effort: the old hash still works
    }
    const TimePoint t = impl_->now();
    const TimePoint expires = t + impl_->cfg.jwt.lifetime;
    // Sign with the store's current key, not this process's memory of it: another process
    // sharing the store may have bootstrapped or rotated (a read, next to PBKDF2's cost).
    (void)impl_->reload_keys();
    JwtClaims claims{impl_->cfg.jwt.issuer, user->record.id, bound, t, expires};
    claims.credentials_epoch = active->credentials_epoch;  // as read after the password check
    auto token = impl_->keys.sign(claims);
    if (!token) return Error{ErrorCode::internal_error, "no signing key"};
    return LoginResult{SecretString(std::move(*token)), expires};
  }();
  if (throttle_key) {
    if (result.ok()) impl_->login_throttle.succeeded(*throttle_key);
    else if (result.error().code == ErrorCode::auth_failed) impl_->login_throttle.failed(*throttle_key);
  }
  impl_->audit_authenticate("login-password", result.ok(), user_id, reason);
  return result;
}

Result<UserRecord> RolesRegime::whoami(std::string_view user_id) {
  if (user_id.empty()) return Error{ErrorCode::invalid_argument, "whoami needs an actor"};
  auto user = checked(impl_->repo().find_user(user_id), "user");
  if (!user) return std::move(user).error();
  return user->record;
}

Result<ResolvedKey> RolesRegime::resolve_api_key(std::string_view api_key) {
  std::string reason;
  auto resolved = impl_->resolve_key(api_key, reason);
  impl_->audit_authenticate("api-key", resolved.ok(), resolved.ok() ? resolved->first.record.id : "", reason);
  if (!resolved) return std::move(resolved).error();
  const auto& user = resolved->first.record;
  return ResolvedKey{user.id, user.workspace, user.roles};
}

Result<std::string> RolesRegime::signing_key_public() { return impl_->keys.active_public_pem(); }

std::string RolesRegime::jwks() { return impl_->keys.jwks(); }

Status RolesRegime::rotate_signing_key(const Actor& actor) {
  Impl::Target target;
  Status result = [&]() -> Status {
    // Rotation affects every workspace's tokens (registry: all_workspaces).
    if (auto s = impl_->check_actor(actor, kIamAdmin, every_workspace); !s.ok()) return s;
    const TimePoint t = impl_->now();
    Change change;
    change.emplace_back(mutation::RetireSigningKeys{t});
    change.emplace_back(mutation::InsertSigningKey{SigningKey::generate(*impl_->cfg.random, *impl_->cfg.clock)});
    change.emplace_back(mutation::DeleteSigningKeysRetiredBefore{t - impl_->cfg.jwt.effective_grace()});
    if (auto s = impl_->apply(change); !s.ok()) return s;
    return impl_->reload_keys();
  }();
  if (result.ok()) impl_->invalidate(Invalidation::Kind::signing_keys, "");
  impl_->audit_management(actor, "rotate-signing-key", result, target);
  return result;
}

Status RolesRegime::change_password(const Actor& actor, std::string_view user_id, std::string_view password,
                                    std::string_view new_password) {
  Impl::Target target;
  Status result = [&]() -> Status {
    if (actor && !user_id.empty() && user_id != *actor) return denied();
    const std::string_view who = actor ? std::string_view(*actor) : user_id;
    if (who.empty()) return Error{ErrorCode::invalid_argument, "user_id is required"};
    target.identity = std::string(who);
    auto user = impl_->repo().find_user(who);
    if (!user) {
      if (user.error().code != ErrorCode::not_found) return storage_error(user.error());
      credentials::dummy_password_work(password, impl_->iterations);
      return auth_failure();
    }
    target.workspace = user->record.workspace;
    // A guess at the current password, as a login is: the account's login budget applies
    // (a stolen token must not buy unlimited guesses).
    const std::string throttle_key = username_key(user->record.username).value_or(user->record.username);
    if (!impl_->login_throttle.allowed(throttle_key)) return auth_failure();
    if (!credentials::verify_password(password, user->password_hash) || !user->record.enabled) {
      impl_->login_throttle.failed(throttle_key);
      return auth_failure();
    }
    impl_->login_throttle.succeeded(throttle_key);
    if (auto s = credentials::check_password_policy(impl_->policy, new_password, user->record.username); !s.ok())
      return s;
    StoredUser next = std::move(*user);
    next.password_hash = credentials::hash_password(new_password, impl_->iterations, *impl_->cfg.random);
    next.record.must_change_password = false;
    const std::string id = next.record.id;
    Change change;
    change.emplace_back(mutation::UpdateUser{std::move(next)});
    change.emplace_back(mutation::AdvanceCredentialsEpoch{id});  // the user's JWTs end here
    return impl_->apply(change);
  }();
  if (result.ok()) impl_->invalidate(Invalidation::Kind::user, target.identity);
  impl_->audit_management(actor, "change-password", result, target);
  return result;
}

Result<SecretString> RolesRegime::reset_password(const Actor& actor, std::string_view user_id,
                                                 std::optional<std::string_view> workspace) {
  Impl::Target target;
  Result<SecretString> result = [&]() -> Result<SecretString> {
    auto user = impl_->load_target(actor, user_id, workspace, kUsersAdmin, target);
    if (!user) return std::move(user).error();
    SecretString temporary = credentials::generate_temporary_password(*impl_->cfg.random);
    StoredUser next = std::move(*user);
    next.password_hash = credentials::hash_password(temporary.view(), impl_->iterations, *impl_->cfg.random);
    next.record.must_change_password = true;
    const std::string id = next.record.id;
    Change change;
    change.emplace_back(mutation::UpdateUser{std::move(next)});
    change.emplace_back(mutation::AdvanceCredentialsEpoch{id});  // the user's JWTs end here
    if (auto s = impl_->apply(change); !s.ok()) return s.error();
    return temporary;
  }();
  if (result.ok()) impl_->invalidate(Invalidation::Kind::user, target.identity);
  impl_->audit_management(actor, "reset-password", result, target);
  return result;
}

Result<UserRecord> RolesRegime::create_user(const Actor& actor, std::string_view workspace, const UserInput& input) {
  Impl::Target target;
  Result<UserRecord> result = [&]() -> Result<UserRecord> {
    std::string home(workspace);
    if (input.workspace && !input.workspace->empty()) {
      if (home.empty()) home = *input.workspace;
      else if (*input.workspace != home)
        return Error{ErrorCode::invalid_argument, "user.workspace differs from the request's workspace"};
    }
    if (home.empty()) return Error{ErrorCode::invalid_argument, "workspace is required"};
    target.workspace = home;
    if (auto s = impl_->check_actor(actor, kUsersAdmin, home); !s.ok()) return s.error();
    const std::string username = input.username.value_or("");
    if (auto s = check_username(username); !s.ok()) return s.error();
    if (auto s = check_user_text(input); !s.ok()) return s.error();
    if (!input.password || input.password->empty())
      return Error{ErrorCode::invalid_argument, "user.password is required"};
    const std::vector<std::string> roles = input.roles.value_or(std::vector<std::string>{"reader"});
    if (auto s = impl_->validate_roles(roles); !s.ok()) return s.error();
    if (auto s = impl_->check_role_grant(actor, kUsersAdmin, roles); !s.ok()) return s.error();
    auto ws = checked(impl_->repo().find_workspace(home), "workspace");
    if (!ws) return std::move(ws).error();
    if (!ws->enabled) return Error{ErrorCode::not_found, "workspace not found or disabled"};
    if (auto s = credentials::check_password_policy(impl_->policy, input.password->view(), username); !s.ok())
      return s.error();

    StoredUser user;
    user.record = UserRecord{crypto::uuid_v4(*impl_->cfg.random),
                             home,
                             username,
                             input.name.value_or(""),
                             input.email.value_or(""),
                             roles,
                             input.enabled.value_or(true),
                             input.must_change_password.value_or(false),
                             std::chrono::floor<std::chrono::seconds>(impl_->now())};
    user.password_hash = credentials::hash_password(input.password->view(), impl_->iterations, *impl_->cfg.random);
    target.identity = user.record.id;
    Change change;
    change.emplace_back(mutation::InsertUser{user});
    if (auto s = impl_->apply(change); !s.ok()) {
      if (s.error().code == ErrorCode::duplicate) return Error{ErrorCode::duplicate, "username already exists"};
      return s.error();
    }
    return user.record;
  }();
  impl_->audit_management(actor, "create-user", result, target);
  return result;
}

Result<std::vector<UserRecord>> RolesRegime::list_users(const Actor& actor, std::optional<std::string_view> workspace) {
  const bool filtered = workspace && !workspace->empty();
  if (filtered)
    if (auto s = impl_->check_actor(actor, kUsersRead, *workspace); !s.ok()) return s.error();
  auto users = impl_->repo().list_users(filtered ? workspace : std::nullopt);
  if (!users) return storage_error(users.error());
  std::optional<StoredUser> caller;
  if (actor && !filtered) {
    auto c = impl_->repo().find_user(*actor);
    if (!c) return c.error().code == ErrorCode::not_found ? Result<std::vector<UserRecord>>(denied())
                                                          : Result<std::vector<UserRecord>>(storage_error(c.error()));
    caller = std::move(*c);
    // No users:read anywhere is a refusal, as at the gateway, not an empty list.
    bool reads_somewhere = false;
    for (const auto& role : caller->record.roles)
      if (auto r = impl_->cfg.roles.find(role); r != impl_->cfg.roles.end() && r->second.capabilities.count(kUsersRead))
        reads_somewhere = true;
    if (!reads_somewhere || !caller->record.enabled) return denied();
  }
  std::vector<UserRecord> out;
  for (auto& u : *users) {
    // Without a filter an actor sees only the users its users:read grant covers.
    if (caller && !impl_->evaluate(*caller, kUsersRead, u.record.workspace).allow) continue;
    out.push_back(std::move(u.record));
  }
  return out;
}

Result<UserRecord> RolesRegime::get_user(const Actor& actor, std::string_view user_id,
                                         std::optional<std::string_view> workspace) {
  Impl::Target target;
  // Reading a record changes nothing: the home workspace decides, as list-users does.
  auto user = impl_->load_target(actor, user_id, workspace, kUsersRead, target, /*guard_privileged=*/false);
  if (!user) return std::move(user).error();
  return user->record;
}

Result<UserRecord> RolesRegime::update_user(const Actor& actor, std::string_view user_id, const UserInput& input,
                                            std::optional<std::string_view> workspace) {
  Impl::Target target;
  Result<UserRecord> result = [&]() -> Result<UserRecord> {
    if (input.password) return Error{ErrorCode::invalid_argument, "update-user cannot set a password"};
    auto user = impl_->load_target(actor, user_id, workspace, kUsersWrite, target);
    if (!user) return std::move(user).error();
    if (input.username && !input.username->empty() &&
        username_key(*input.username) != username_key(user->record.username))
      return Error{ErrorCode::invalid_argument, "usernames cannot be changed"};
    if (auto s = check_user_text(input); !s.ok()) return s.error();
    StoredUser next = *user;
    if (input.name && !input.name->empty()) next.record.name = *input.name;
    if (input.email && !input.email->empty()) next.record.email = *input.email;
    if (input.roles && !input.roles->empty()) {
      if (auto s = impl_->validate_roles(*input.roles); !s.ok()) return s.error();
      if (auto s = impl_->check_role_grant(actor, kUsersWrite, *input.roles); !s.ok()) return s.error();
      next.record.roles = *input.roles;
    }
    if (input.must_change_password) next.record.must_change_password = *input.must_change_password;
    if (input.enabled) next.record.enabled = *input.enabled;
    Change change;
    change.emplace_back(mutation::UpdateUser{next});
    if (input.enabled && !*input.enabled) {
      change.emplace_back(mutation::DeleteApiKeysOfUser{next.record.id});
      change.emplace_back(mutation::AdvanceCredentialsEpoch{next.record.id});  // JWTs stay dead after enable
    }
    if (auto s = impl_->apply(change); !s.ok()) return s.error();
    return next.record;
  }();
  if (result.ok()) impl_->invalidate(Invalidation::Kind::user, target.identity);
  impl_->audit_management(actor, "update-user", result, target);
  return result;
}

namespace {
// disable / enable share everything but the flag and the key cascade.
Status set_user_enabled(RolesRegime::Impl& impl, const Actor& actor, std::string_view user_id,
                        std::optional<std::string_view> workspace, bool enabled) {
  RolesRegime::Impl::Target target;
  Status result = [&]() -> Status {
    auto user = impl.load_target(actor, user_id, workspace, kUsersAdmin, target);
    if (!user) return std::move(user).error();
    StoredUser next = std::move(*user);
    next.record.enabled = enabled;
    Change change;
    change.emplace_back(mutation::UpdateUser{next});
    if (!enabled) {
      change.emplace_back(mutation::DeleteApiKeysOfUser{next.record.id});
      change.emplace_back(mutation::AdvanceCredentialsEpoch{next.record.id});  // JWTs stay dead after enable
    }
    return impl.apply(change);
  }();
  if (result.ok()) impl.invalidate(Invalidation::Kind::user, target.identity);
  impl.audit_management(actor, enabled ? "enable-user" : "disable-user", result, target);
  return result;
}
}  // namespace

Status RolesRegime::disable_user(const Actor& actor, std::string_view user_id,
                                 std::optional<std::string_view> workspace) {
  return set_user_enabled(*impl_, actor, user_id, workspace, false);
}

Status RolesRegime::enable_user(const Actor& actor, std::string_view user_id,
                                std::optional<std::string_view> workspace) {
  return set_user_enabled(*impl_, actor, user_id, workspace, true);
}

Status RolesRegime::delete_user(const Actor& actor, std::string_view user_id,
                                std::optional<std::string_view> workspace) {
  Impl::Target target;
  Status result = [&]() -> Status {
    auto user = impl_->load_target(actor, user_id, workspace, kUsersAdmin, target);
    if (!user) return std::move(user).error();
    Change change;
    change.emplace_back(mutation::DeleteUser{user->record.id});
    return impl_->apply(change);
  }();
  if (result.ok()) impl_->invalidate(Invalidation::Kind::user, target.identity);
  impl_->audit_management(actor, "delete-user", result, target);
  return result;
}

Result<WorkspaceRecord> RolesRegime::create_workspace(const Actor& actor, const WorkspaceInput& input) {
  Impl::Target target;
  Result<WorkspaceRecord> result = [&]() -> Result<WorkspaceRecord> {
    const std::string id = input.id.value_or("");
    target.workspace = id;
    if (id.empty()) return Error{ErrorCode::invalid_argument, "workspace_record.id is required"};
    if (id[0] == '_') return Error{ErrorCode::invalid_argument, "workspace ids starting with '_' are reserved"};
    if (!valid_workspace_id(id))
      return Error{ErrorCode::invalid_argument, "workspace id must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}"};
    if (input.name)
      if (auto s = check_text("workspace_record.name", *input.name, kMaxNameBytes); !s.ok()) return s.error();
    if (auto s = impl_->check_actor(actor, kWorkspacesAdmin, id); !s.ok()) return s.error();
    if (auto existing = impl_->repo().find_workspace(id); existing) return existing;  // idempotent
    WorkspaceRecord record{id, input.name.value_or(id), input.enabled.value_or(true),
                           std::chrono::floor<std::chrono::seconds>(impl_->now())};
    Change change;
    change.emplace_back(mutation::InsertWorkspace{record});
    if (auto s = impl_->apply(change); !s.ok()) {
      if (s.error().code != ErrorCode::duplicate) return s.error();
      return checked(impl_->repo().find_workspace(id), "workspace");  // lost a race: same answer
    }
    return record;
  }();
  impl_->audit_management(actor, "create-workspace", result, target);
  return result;
}

Result<std::vector<WorkspaceRecord>> RolesRegime::list_workspaces() {
  auto all = impl_->repo().list_workspaces();
  if (!all) return storage_error(all.error());
  return all;
}

Result<std::vector<WorkspaceRecord>> RolesRegime::list_my_workspaces(std::string_view user_id) {
  if (user_id.empty()) return Error{ErrorCode::invalid_argument, "list-my-workspaces needs an actor"};
  auto user = checked(impl_->repo().find_user(user_id), "user");
  if (!user) return std::move(user).error();
  auto all = impl_->repo().list_workspaces();
  if (!all) return storage_error(all.error());
  bool everywhere = false;
  for (const auto& role : user->record.roles)
    if (auto r = impl_->cfg.roles.find(role); r != impl_->cfg.roles.end() && r->second.all_workspaces)
      everywhere = true;
  std::vector<WorkspaceRecord> out;
  for (auto& w : *all)
    if (everywhere || w.id == user->record.workspace) out.push_back(std::move(w));
  return out;
}

Result<WorkspaceRecord> RolesRegime::get_workspace(std::string_view id) {
  if (id.empty()) return Error{ErrorCode::invalid_argument, "workspace_record.id is required"};
  return checked(impl_->repo().find_workspace(id), "workspace");
}

namespace {
Change disable_workspace_change(WorkspaceRecord record) {
  record.enabled = false;
  const std::string id = record.id;
  Change change;
  change.emplace_back(mutation::UpdateWorkspace{std::move(record)});
  change.emplace_back(mutation::DisableUsersInWorkspace{id});
  change.emplace_back(mutation::DeleteApiKeysInWorkspace{id});
  return change;
}
}  // namespace

Result<WorkspaceRecord> RolesRegime::update_workspace(const Actor& actor, const WorkspaceInput& input) {
  Impl::Target target;
  Result<WorkspaceRecord> result = [&]() -> Result<WorkspaceRecord> {
    const std::string id = input.id.value_or("");
    target.workspace = id;
    if (id.empty()) return Error{ErrorCode::invalid_argument, "workspace_record.id is required"};
    if (input.name)
      if (auto s = check_text("workspace_record.name", *input.name, kMaxNameBytes); !s.ok()) return s.error();
    if (auto s = impl_->check_actor(actor, kWorkspacesAdmin, id); !s.ok()) return s.error();
    auto current = checked(impl_->repo().find_workspace(id), "workspace");
    if (!current) return current;
    WorkspaceRecord next = *current;
    if (input.name && !input.name->empty()) next.name = *input.name;
    if (input.enabled) next.enabled = *input.enabled;
    Change change;
    // enabled:false is exactly disable-workspace, also on an already disabled workspace
    // (users enabled since then are disabled again and their keys revoked).
    if (input.enabled && !*input.enabled) {
      change = disable_workspace_change(next);
    } else {
      change.emplace_back(mutation::UpdateWorkspace{next});
    }
    if (auto s = impl_->apply(change); !s.ok()) return s.error();
    return next;
  }();
  if (result.ok()) impl_->invalidate(Invalidation::Kind::workspace, target.workspace);
  impl_->audit_management(actor, "update-workspace", result, target);
  return result;
}

Status RolesRegime::disable_workspace(const Actor& actor, std::string_view id) {
  Impl::Target target{"", std::string(id)};
  Status result = [&]() -> Status {
    if (id.empty()) return Error{ErrorCode::invalid_argument, "workspace_record.id is required"};
    if (auto s = impl_->check_actor(actor, kWorkspacesAdmin, id); !s.ok()) return s;
    auto current = checked(impl_->repo().find_workspace(id), "workspace");
    if (!current) return std::move(current).error();
    return impl_->apply(disable_workspace_change(std::move(*current)));
  }();
  if (result.ok()) impl_->invalidate(Invalidation::Kind::workspace, target.workspace);
  impl_->audit_management(actor, "disable-workspace", result, target);
  return result;
}

Result<CreatedApiKey> RolesRegime::create_api_key(const Actor& actor, const KeyInput& input,
                                                  std::optional<std::string_view> workspace) {
  Impl::Target target;
  Result<CreatedApiKey> result = [&]() -> Result<CreatedApiKey> {
    if (!input.name || input.name->empty()) return Error{ErrorCode::invalid_argument, "key.name is required"};
    if (auto s = check_text("key.name", *input.name, kMaxNameBytes); !s.ok()) return s.error();
    auto user = impl_->load_target(actor, input.user_id.value_or(""), workspace, kKeysAdmin, target);
    if (!user) return std::move(user).error();
    if (!user->record.enabled) return Error{ErrorCode::disabled, "the user is disabled"};
    std::optional<TimePoint> expires;
    if (input.expires && !input.expires->empty()) {
      expires = parse_request_time(*input.expires);
      if (!expires)
        return Error{ErrorCode::invalid_argument,
                     "key.expires is not an ISO 8601 date or time (e.g. 2031-12-31 or 2031-12-31T23:59:00Z)"};
      if (*expires <= impl_->now()) return Error{ErrorCode::invalid_argument, "key.expires is in the past"};
    }
    SecretString plaintext = credentials::generate_api_key(*impl_->cfg.random);
    StoredApiKey key;
    key.record = ApiKeyRecord{crypto::uuid_v4(*impl_->cfg.random),
                              user->record.id,
                              *input.name,
                              credentials::api_key_display_prefix(plaintext.view()),
                              expires,
                              std::chrono::floor<std::chrono::seconds>(impl_->now()),
                              std::nullopt};
    key.key_hash = credentials::api_key_hash(plaintext.view());
    Change change;
    change.emplace_back(mutation::InsertApiKey{key});
    if (auto s = impl_->apply(change); !s.ok()) return s.error();
    return CreatedApiKey{std::move(plaintext), key.record};
  }();
  impl_->audit_management(actor, "create-api-key", result, target);
  return result;
}

Result<std::vector<ApiKeyRecord>> RolesRegime::list_api_keys(const Actor& actor, std::string_view user_id,
                                                             std::optional<std::string_view> workspace) {
  Impl::Target target;
  auto user = impl_->load_target(actor, user_id, workspace, kKeysAdmin, target);
  if (!user) return std::move(user).error();
  auto keys = impl_->repo().list_api_keys(user->record.id);
  if (!keys) return storage_error(keys.error());
  std::vector<ApiKeyRecord> out;
  for (auto& k : *keys) out.push_back(std::move(k.record));
  return out;
}

Status RolesRegime::revoke_api_key(const Actor& actor, std::string_view key_id,
                                   std::optional<std::string_view> workspace) {
  Impl::Target target;
  std::string key_hash;
  Status result = [&]() -> Status {
    if (key_id.empty()) return Error{ErrorCode::invalid_argument, "key_id is required"};
    auto key = checked(impl_->repo().find_api_key(key_id), "API key");
    if (!key) {
      if (actor)
        if (auto s = impl_->check_actor(actor, kKeysAdmin, workspace.value_or("")); !s.ok()) return s;
      return std::move(key).error();
    }
    auto user = impl_->load_target(actor, key->record.user_id, workspace, kKeysAdmin, target);
    if (!user) return std::move(user).error();
    key_hash = key->key_hash;
    Change change;
    change.emplace_back(mutation::DeleteApiKey{key->record.id});
    return impl_->apply(change);
  }();
  if (result.ok()) impl_->invalidate(Invalidation::Kind::api_key, key_hash);
  impl_->audit_management(actor, "revoke-api-key", result, target);
  return result;
}

}  // namespace iam
