// The noauth regime (contract.md "The noauth regime"): one fixed identity, every request
// allowed, nothing stored, nothing ever changed.
//
// Management operations, and why (one line each is also in docs/decisions.md):
//   authenticate-anonymous, resolve-api-key  the default identity, roles ["admin"]
//                                            (resolve-api-key refuses a JWT-shaped value
//                                            like authenticate does)
//   whoami                                   stub record of the default identity, roles ["admin"]
//   get-user                                 the same stub for the default user id; not-found
//                                            for any other id (noauth has exactly one user)
//   login                                    {} (noauth issues no JWTs)
//   change-password                          {} (every password is accepted, so the new one
//                                            works as promised)
//   bootstrap-status                         bootstrap_available false
//   bootstrap                                auth-failed, as every regime answers when
//                                            bootstrap is unavailable
//   create-workspace                         validates the id, calls the application hook,
//                                            returns the record (no name: the id)
//   get-workspace                            stub record (enabled, name = id) for any valid
//                                            id: every workspace is open and the application
//                                            owns the list
//   list-users, list-workspaces,
//   list-my-workspaces, list-api-keys        empty lists
//   not-supported (a success would be a lie a tool could rely on):
//     get-signing-key-public, rotate-signing-key   there are no signing keys
//     reset-password                               would have to invent a temporary password
//     create-user, update-user, disable-user,
//     enable-user, delete-user                     noauth keeps no users; claiming a user was
//                                                  disabled or deleted would hide that its
//                                                  access is unchanged
//     create-api-key, revoke-api-key               noauth keeps no keys (a revoke would claim
//                                                  access was removed)
//     update-workspace, disable-workspace          noauth keeps no workspaces to change
//     authorise, authorise-many via execute        answered by Regime::authorise /
//                                                  authorise_many (the dispatcher calls those)
//     group/grant and any other operation          not supported
#include <chrono>
#include <exception>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "iam/noauth.h"

namespace iam {

namespace {

constexpr std::chrono::seconds allow_ttl{3600};

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

class NoauthRegime final : public Regime {
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
    const std::lock_guard lock(listeners_mutex_);
    listeners_.push_back(std::move(listener));
  }

 private:
  Result<OperationResponse> execute_operation(const OperationRequest& request) {
    const std::string& op = request.operation;

    if (op == "authenticate-anonymous") return identity_response();
    if (op == "resolve-api-key") {
      const std::string_view key = request.api_key ? request.api_key->view() : std::string_view{};
      if (auto identity = authenticate(key); !identity) return std::move(identity).error();
      return identity_response();
    }
    if (op == "whoami") {
      OperationResponse response;
      response.user = default_user();
      return response;
    }
    if (op == "get-user") {
      if (!request.user_id || request.user_id->empty())
        return Error{ErrorCode::invalid_argument, "user_id is required"};
      if (*request.user_id != user_id_) return Error{ErrorCode::not_found, "no such user"};
      OperationResponse response;
      response.user = default_user();
      return response;
    }
    if (op == "login" || op == "change-password") return OperationResponse{};
    if (op == "bootstrap-status") {
      OperationResponse response;
      response.bootstrap_available = false;
      return response;
    }
    if (op == "bootstrap") return auth_failure();
    if (op == "create-workspace") return create_workspace(request);
    if (op == "get-workspace") {
      const auto& id = request.workspace_record ? request.workspace_record->id : std::nullopt;
      if (auto error = check_workspace_id(id)) return *error;
      OperationResponse response;
      response.workspace = WorkspaceRecord{*id, *id, true, started_};
      return response;
    }
    if (op == "list-users") {
      OperationResponse response;
      response.users.emplace();
      return response;
    }
    if (op == "list-workspaces" || op == "list-my-workspaces") {
      OperationResponse response;
      response.workspaces.emplace();
      return response;
    }
    if (op == "list-api-keys") {
      OperationResponse response;
      response.api_keys.emplace();
      return response;
    }

    if (op == "get-signing-key-public" || op == "rotate-signing-key")
      return not_supported("there are no signing keys (noauth issues no JWTs)");
    if (op == "reset-password") return not_supported("there are no passwords to reset");
    if (op == "create-user" || op == "update-user" || op == "disable-user" || op == "enable-user" ||
        op == "delete-user")
      return not_supported("no users are kept; every caller is '" + user_id_ + "'");
    if (op == "create-api-key" || op == "revoke-api-key")
      return not_supported("no API keys are kept; every credential is accepted");
    if (op == "update-workspace" || op == "disable-workspace")
      return not_supported("no workspaces are kept; the application owns them");
    if (op == "authorise" || op == "authorise-many")
      return not_supported("use Regime::authorise / authorise_many (the JSON dispatcher calls them)");
    return not_supported("operation not supported");
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
    user.name = user_id_;
    user.roles = {"admin"};
    user.enabled = true;
    user.must_change_password = false;
    user.created = started_;
    return user;
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

  std::mutex listeners_mutex_;
  std::vector<InvalidationListener> listeners_;
};

}  // namespace

std::shared_ptr<Regime> make_noauth_regime(NoauthConfig config) {
  return std::make_shared<NoauthRegime>(std::move(config));
}

}  // namespace iam
