// The noauth regime (contract.md "The noauth regime"): one fixed identity, every request
// allowed, nothing stored, nothing ever changed.
//
// Management operations answer stub successes of the right shape, as TrustGraph's noauth
// handler does, so its tg-* tools work in development; nothing is ever stored, and every
// stub is logged as such (one line each is also in docs/decisions.md):
//   authenticate-anonymous, resolve-api-key  the default identity, roles ["admin"]
//                                            (resolve-api-key refuses a JWT-shaped value
//                                            like authenticate does)
//   whoami, get-user of the default id       stub record of the default identity
//   create/get/update/disable/enable-user    a stub user record: fixed id kStubId, name
//                                            "noauth", the request's username and roles
//   list-users                               one stub user: the default identity's record
//   delete-user, change-password,
//   revoke-api-key, disable-workspace,
//   rotate-signing-key, login                {} (login: noauth issues no JWTs)
//   reset-password                           a fixed, obviously fake temporary password
//   create-api-key                           a stub key record (id kStubId) and a fixed,
//                                            obviously fake plaintext (any key works anyway)
//   update-workspace                         the stub record of the named workspace
//   bootstrap-status                         bootstrap_available false
//   bootstrap                                auth-failed, as every regime answers when
//                                            bootstrap is unavailable
//   create-workspace                         validates the id, calls the application hook,
//                                            returns the record (no name: the id)
//   get-workspace                            stub record (enabled, name = id) for any valid id
//   list-workspaces, list-my-workspaces,
//   list-api-keys, list-signing-keys         empty lists
//   not-supported:
//     get-signing-key-public                       there are no signing keys
//     authorise, authorise-many via execute        answered by Regime::authorise /
//                                                  authorise_many (the dispatcher calls those)
//     group/grant and any other operation          not supported
#include <chrono>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "iam/noauth.h"
#include "iam/operation_table.h"

namespace iam {

namespace {

constexpr std::chrono::seconds allow_ttl{3600};
// Stub values: fixed and obviously fake (no real id or credential looks like these).
constexpr const char* kStubId = "00000000-0000-0000-0000-000000000000";
constexpr std::string_view kStubApiKey = "tg_NOAUTH-STUB-KEY-not-a-real-key00";
constexpr std::string_view kStubPassword = "noauth-stub-password";

// Exactly two dots: the shape of a compact JWS (gateway.md "Authenticating a request").
bool is_jwt_shaped(std::string_view credential) noexcept {
  std::size_t dots = 0;
  for (const char c : credential)
    if (c == '.') ++dots;
  return dots == 2;
}

bool is_ascii_alnum(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// protocol.md create-workspace: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`, `_` prefix reserved.
std::optional<Error> check_workspace_id(const std::optional<std::string>& id) {
  if (!id || id->empty()) return Error{ErrorCode::invalid_argument, "workspace_record.id is required"};
  if ((*id)[0] == '_') return Error{ErrorCode::invalid_argument, "workspace ids starting with '_' are reserved"};
  bool valid = id->size() <= 64 && is_ascii_alnum((*id)[0]);
  for (const char c : *id) valid = valid && (is_ascii_alnum(c) || c == '.' || c == '_' || c == '-');
  if (!valid) return Error{ErrorCode::invalid_argument, "workspace_record.id must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}"};
  return std::nullopt;
}

Error not_supported(std::string why) { return {ErrorCode::not_supported, "noauth regime: " + std::move(why)}; }

class NoauthRegime final : public Regime, public Administration {
 public:
  explicit NoauthRegime(NoauthConfig config)
      : user_id_(config.user_id.empty() ? "anonymous" : config.user_id),
        workspace_(config.workspace.empty() ? "default" : config.workspace),
        on_create_workspace_(std::move(config.on_create_workspace)),
        logger_(config.logger ? std::move(config.logger) : stderr_logger()),
        clock_(config.clock ? std::move(config.clock) : system_clock()),
        started_(clock_->now()) {
    if (config.user_id.empty() || config.workspace.empty())
      log(LogLevel::warning, "noauth regime: empty user_id or workspace in the configuration; using the default");
    log(LogLevel::warning, "noauth regime: authentication and authorisation are OFF; every request is allowed as user '" +
                               user_id_ + "' in workspace '" + workspace_ +
                               "'. Use only for development or behind an external authentication proxy.");
  }

  std::string_view name() const noexcept override { return "noauth"; }

  Result<Identity> authenticate(std::string_view credential) noexcept override {
    try {
      if (is_jwt_shaped(credential)) {
        log(LogLevel::debug, "noauth regime: refused a JWT-shaped credential (noauth issues no JWTs)");
        return auth_failure();
      }
      return default_identity();
    } catch (...) {
      return Error{ErrorCode::internal_error, "internal error"};
    }
  }

  Result<Identity> authenticate_anonymous() noexcept override {
    try {
      return default_identity();
    } catch (...) {
      return Error{ErrorCode::internal_error, "internal error"};
    }
  }

  Decision authorise(const Identity&, std::string_view, const Resource&, const Parameters&) noexcept override {
    return Decision::allowed(allow_ttl);
  }

  std::vector<Decision> authorise_many(const Identity&, std::span<const AuthorisationCheck> checks) noexcept override {
    try {
      return std::vector<Decision>(checks.size(), Decision::allowed(allow_ttl));
    } catch (...) {
      return {};  // callers treat a missing decision as a deny
    }
  }

  Administration* administration() noexcept override { return this; }

  Result<OperationResponse> execute(const OperationRequest& request) noexcept override {
    try {
      return execute_operation(request);
    } catch (...) {
      return Error{ErrorCode::internal_error, "internal error"};
    }
  }

  // Kept so the interface is honoured, but noauth never changes anything, so they are never
  // called.
  void add_invalidation_listener(InvalidationListener listener) override {
    const MutexLock lock(listeners_mutex_);
    listeners_.push_back(std::move(listener));
  }

 private:
  Result<OperationResponse> execute_operation(const OperationRequest& request) {
    const auto operation = find_operation(request.operation);
    if (!operation) return not_supported("operation not supported");
    // No default: a new Operation must be given its noauth answer here.
    switch (*operation) {
      case Operation::authenticate_anonymous: return identity_response();
      case Operation::resolve_api_key: {
        const std::string_view key = request.api_key ? request.api_key->view() : std::string_view{};
        if (auto identity = authenticate(key); !identity) return std::move(identity).error();
        return identity_response();
      }
      case Operation::whoami: {
        OperationResponse response;
        response.user = default_user();
        return response;
      }
      case Operation::login: return OperationResponse{};
      case Operation::bootstrap_status: {
        OperationResponse response;
        response.bootstrap_available = false;
        return response;
      }
      case Operation::bootstrap: return auth_failure();
      case Operation::create_workspace: return create_workspace(request);
      case Operation::get_workspace:
      case Operation::update_workspace: return stub_workspace(*operation, request);
      case Operation::list_workspaces:
      case Operation::list_my_workspaces: {
        OperationResponse response;
        response.workspaces.emplace();
        return response;
      }
      case Operation::list_api_keys: {
        OperationResponse response;
        response.api_keys.emplace();
        return response;
      }
      case Operation::list_signing_keys: {
        OperationResponse response;
        response.signing_keys.emplace();
        return response;
      }

      // The management operations: stubs of the right shape, nothing stored.
      case Operation::list_users: {
        OperationResponse response;
        response.users.emplace(1, default_user());
        return response;
      }
      case Operation::create_user:
      case Operation::get_user:
      case Operation::update_user:
      case Operation::disable_user:
      case Operation::enable_user: return user_stub(*operation, request);
      case Operation::delete_user:
      case Operation::change_password:
      case Operation::revoke_api_key:
      case Operation::disable_workspace:
      case Operation::rotate_signing_key: log_stub(request.operation); return OperationResponse{};
      case Operation::reset_password: {
        log_stub(request.operation);
        OperationResponse response;
        response.temporary_password = SecretString(std::string_view(kStubPassword));
        return response;
      }
      case Operation::create_api_key: return api_key_stub(request);

      case Operation::get_signing_key_public: return not_supported("there are no signing keys (noauth issues no JWTs)");
      case Operation::authorise:
      case Operation::authorise_many:
        return not_supported("use Regime::authorise / authorise_many (the JSON dispatcher calls them)");
      case Operation::create_group:
      case Operation::get_group:
      case Operation::list_groups:
      case Operation::update_group:
      case Operation::delete_group:
      case Operation::add_group_member:
      case Operation::remove_group_member:
      case Operation::list_group_members:
      case Operation::add_group_grant:
      case Operation::remove_group_grant:
      case Operation::list_group_grants:
      case Operation::add_user_grant:
      case Operation::remove_user_grant:
      case Operation::list_user_grants:
      case Operation::resolve_effective_permissions: return not_supported("operation not supported");
    }
    return not_supported("operation not supported");
  }

  Result<OperationResponse> stub_workspace(Operation operation, const OperationRequest& request) const {
    const auto& id = request.workspace_record ? request.workspace_record->id : std::nullopt;
    if (auto error = check_workspace_id(id)) return *error;
    if (operation == Operation::update_workspace) log_stub(request.operation);
    OperationResponse response;
    response.workspace = WorkspaceRecord{*id, *id, true, started_};
    return response;
  }

  Result<OperationResponse> user_stub(Operation operation, const OperationRequest& request) const {
    if (operation != Operation::create_user && (!request.user_id || request.user_id->empty()))
      return Error{ErrorCode::invalid_argument, "user_id is required"};
    log_stub(request.operation);
    OperationResponse response;
    response.user =
        operation == Operation::get_user && *request.user_id == user_id_ ? default_user() : stub_user(request);
    return response;
  }

  OperationResponse api_key_stub(const OperationRequest& request) const {
    log_stub(request.operation);
    const KeyInput key = request.key.value_or(KeyInput{});
    OperationResponse response;
    response.api_key_plaintext = SecretString(std::string_view(kStubApiKey));
    response.api_key = ApiKeyRecord{kStubId,
                                    key.user_id && !key.user_id->empty() ? *key.user_id : user_id_,
                                    key.name && !key.name->empty() ? *key.name : "noauth",
                                    std::string(kStubApiKey).substr(0, 7),
                                    std::nullopt,
                                    started_,
                                    std::nullopt};
    return response;
  }

  Result<OperationResponse> create_workspace(const OperationRequest& request) {
    const WorkspaceInput input = request.workspace_record.value_or(WorkspaceInput{});
    if (auto error = check_workspace_id(input.id)) return *error;
    // Without a name the id is the name, as in the roles regime.
    const std::string name = input.name && !input.name->empty() ? *input.name : *input.id;
    WorkspaceRecord record{*input.id, name, input.enabled.value_or(true), clock_->now()};
    if (on_create_workspace_) {
      try {
        on_create_workspace_(record);
      } catch (const std::exception& e) {
        log(LogLevel::error, "noauth regime: the create-workspace hook failed for '" + record.id + "': " + e.what());
        return Error{ErrorCode::internal_error, "internal error"};
      } catch (...) {
        log(LogLevel::error, "noauth regime: the create-workspace hook failed for '" + record.id + "'");
        return Error{ErrorCode::internal_error, "internal error"};
      }
    }
    OperationResponse response;
    response.workspace = std::move(record);
    return response;
  }

  Identity default_identity() const {
    Identity identity;
    identity.handle = user_id_;
    identity.workspace = workspace_;
    identity.principal_id = user_id_;
    identity.source = CredentialSource::anonymous;
    return identity;
  }

  OperationResponse identity_response() const {
    OperationResponse response;
    response.resolved_user_id = user_id_;
    response.resolved_workspace = workspace_;
    response.resolved_roles = std::vector<std::string>{"admin"};
    return response;
  }

  UserRecord default_user() const {
    UserRecord user;
    user.id = user_id_;
    user.workspace = workspace_;
    user.username = user_id_;
    user.name = "noauth";
    user.roles = {"admin"};
    user.enabled = true;
    user.must_change_password = false;
    user.created = started_;
    return user;
  }

  // The record a user-management stub answers: the request's username, roles and workspace
  // where given, a fixed id and the name "noauth" so nobody mistakes it for a stored user.
  UserRecord stub_user(const OperationRequest& request) const {
    UserRecord user = default_user();
    user.id = kStubId;
    if (const auto& input = request.user) {  // holds the password: read in place, never copied
      if (input->username && !input->username->empty()) user.username = *input->username;
      if (input->roles) user.roles = *input->roles;
      if (input->workspace && !input->workspace->empty()) user.workspace = *input->workspace;
    }
    if (request.workspace && !request.workspace->empty()) user.workspace = *request.workspace;  // wins, as in roles
    return user;
  }

  void log_stub(std::string_view operation) const {
    log(LogLevel::warning, "noauth regime: " + std::string(operation) + " answered with a stub; nothing was stored");
  }

  // A logger that throws must not change an answer.
  void log(LogLevel level, std::string_view message) const noexcept {
    try {
      logger_(level, message);
    } catch (...) {
    }
  }

  const std::string user_id_;
  const std::string workspace_;
  const std::function<void(const WorkspaceRecord&)> on_create_workspace_;
  const Logger logger_;
  const std::shared_ptr<Clock> clock_;
  const TimePoint started_;  // the `created` time of stub records

  Mutex listeners_mutex_;
  std::vector<InvalidationListener> listeners_ IAM_GUARDED_BY(listeners_mutex_);
};

}  // namespace

std::shared_ptr<Regime> make_noauth_regime(NoauthConfig config) {
  return std::make_shared<NoauthRegime>(std::move(config));
}

}  // namespace iam
