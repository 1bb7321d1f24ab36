// The roles regime's user operations (protocol.md "Operations"): create, read, update,
// enable / disable / delete, and passwords (change, reset).
#include "crypto/crypto.h"
#include "regimes/roles/roles_regime_impl.h"

namespace iam {
namespace {

// A new username: plain text, no white space at either end, and a username key (so not
// only ignorable characters); uniqueness is the store's, by that key.
Status check_username(std::string_view username) {
  if (username.empty()) return Error{ErrorCode::invalid_argument, "user.username is required"};
  IAM_RETURN_IF_ERROR(check_text("user.username", username, kMaxUsernameBytes));
  if (text::has_outer_whitespace(username))
    return Error{ErrorCode::invalid_argument, "user.username begins or ends with white space"};
  if (!username_key(username))
    return Error{ErrorCode::invalid_argument, "user.username is empty once normalised or has unassigned characters"};
  return {};
}

// The optional free-text fields of a user: name and email.
Status check_user_text(const UserInput& input) {
  if (input.name) IAM_RETURN_IF_ERROR(check_text("user.name", *input.name, kMaxNameBytes));
  if (input.email) IAM_RETURN_IF_ERROR(check_text("user.email", *input.email, kMaxEmailBytes));
  return {};
}

// The update of a user's record, and when the user is disabled its keys revoked and its
// JWTs ended for good (enable does not revive them).
Change user_update_change(StoredUser next, bool disables) {
  const std::string id = next.record.id;
  Change change = single_change(mutation::UpdateUser{std::move(next)});
  if (disables) {
    change.emplace_back(mutation::DeleteApiKeysOfUser{id});
    change.emplace_back(mutation::AdvanceCredentialsEpoch{id});
  }
  return change;
}

// A new password hash; the user's JWTs end here.
Change password_change(StoredUser next) {
  const std::string id = next.record.id;
  Change change = single_change(mutation::UpdateUser{std::move(next)});
  change.emplace_back(mutation::AdvanceCredentialsEpoch{id});
  return change;
}

}  // namespace

Result<UserRecord> RolesRegimeImpl::whoami(std::string_view user_id) {
  if (user_id.empty()) return Error{ErrorCode::invalid_argument, "whoami needs an actor"};
  IAM_ASSIGN_OR_RETURN(StoredUser user, checked(repo().find_user(user_id), "user"));
  return std::move(user.record);
}

Result<UserRecord> RolesRegimeImpl::create_user(const Actor& actor, std::string_view workspace,
                                                const UserInput& input) {
  return manage(actor, "create-user", std::nullopt, [&](OperationTarget& target) -> Result<UserRecord> {
    std::string home(workspace);
    if (input.workspace && !input.workspace->empty()) {
      if (home.empty()) home = *input.workspace;
      else if (*input.workspace != home)
        return Error{ErrorCode::invalid_argument, "user.workspace differs from the request's workspace"};
    }
    if (home.empty()) return Error{ErrorCode::invalid_argument, "workspace is required"};
    target.workspace = home;
    IAM_RETURN_IF_ERROR(check_actor(actor, kUsersAdmin, home));
    const std::string username = input.username.value_or("");
    IAM_RETURN_IF_ERROR(check_username(username));
    IAM_RETURN_IF_ERROR(check_user_text(input));
    if (!input.password || input.password->empty())
      return Error{ErrorCode::invalid_argument, "user.password is required"};
    const std::vector<std::string> roles = input.roles.value_or(std::vector<std::string>{"reader"});
    IAM_RETURN_IF_ERROR(policy_.validate(roles));
    IAM_RETURN_IF_ERROR(check_role_grant(actor, kUsersAdmin, roles));
    IAM_ASSIGN_OR_RETURN(const WorkspaceRecord ws, checked(repo().find_workspace(home), "workspace"));
    if (!ws.enabled) return Error{ErrorCode::not_found, "workspace not found or disabled"};
    IAM_RETURN_IF_ERROR(credentials::check_password_policy(password_policy_, input.password->view(), username));

    StoredUser user;
    user.record = UserRecord{crypto::uuid_v4(*cfg_.random),
                             home,
                             username,
                             input.name.value_or(""),
                             input.email.value_or(""),
                             roles,
                             input.enabled.value_or(true),
                             input.must_change_password.value_or(false),
                             std::chrono::floor<std::chrono::seconds>(now())};
    user.password_hash = credentials::hash_password(input.password->view(), iterations_, *cfg_.random);
    target.identity = user.record.id;
    if (auto s = apply(single_change(mutation::InsertUser{user})); !s.ok()) {
      if (s.error().code == ErrorCode::duplicate) return Error{ErrorCode::duplicate, "username already exists"};
      return std::move(s).error();
    }
    return user.record;
  });
}

Result<std::vector<UserRecord>> RolesRegimeImpl::list_users(const Actor& actor,
                                                           std::optional<std::string_view> workspace) {
  const bool filtered = workspace && !workspace->empty();
  if (filtered) IAM_RETURN_IF_ERROR(check_actor(actor, kUsersRead, *workspace));
  auto users = repo().list_users(filtered ? workspace : std::nullopt);
  if (!users) return storage_error(users.error());
  std::optional<StoredUser> caller;
  if (actor && !filtered) {
    auto found = repo().find_user(*actor);
    if (!found) return found.error().code == ErrorCode::not_found ? denied() : storage_error(found.error());
    caller = std::move(*found);
    // No users:read anywhere is a refusal, as at the gateway, not an empty list.
    if (!caller->record.enabled || !policy_.grants_somewhere(holder_of(*caller), kUsersRead)) return denied();
  }
  std::vector<UserRecord> out;
  for (auto& u : *users) {
    // Without a filter an actor sees only the users its users:read grant covers.
    if (caller && !evaluate(*caller, kUsersRead, u.record.workspace).allow) continue;
    out.push_back(std::move(u.record));
  }
  return out;
}

Result<UserRecord> RolesRegimeImpl::get_user(const Actor& actor, std::string_view user_id,
                                             std::optional<std::string_view> workspace) {
  OperationTarget target;
  // Reading a record changes nothing: the home workspace decides, as list-users does.
  IAM_ASSIGN_OR_RETURN(StoredUser user,
                       load_target(actor, user_id, workspace, kUsersRead, target, /*guard_privileged=*/false));
  return std::move(user.record);
}

Result<UserRecord> RolesRegimeImpl::update_user(const Actor& actor, std::string_view user_id, const UserInput& input,
                                                std::optional<std::string_view> workspace) {
  return manage(actor, "update-user", Invalidation::Kind::user, [&](OperationTarget& target) -> Result<UserRecord> {
    if (input.password) return Error{ErrorCode::invalid_argument, "update-user cannot set a password"};
    IAM_ASSIGN_OR_RETURN(StoredUser next, load_target(actor, user_id, workspace, kUsersWrite, target));
    if (input.username && !input.username->empty() &&
        username_key(*input.username) != username_key(next.record.username))
      return Error{ErrorCode::invalid_argument, "usernames cannot be changed"};
    IAM_RETURN_IF_ERROR(check_user_text(input));
    if (input.name && !input.name->empty()) next.record.name = *input.name;
    if (input.email && !input.email->empty()) next.record.email = *input.email;
    if (input.roles && !input.roles->empty()) {
      IAM_RETURN_IF_ERROR(policy_.validate(*input.roles));
      IAM_RETURN_IF_ERROR(check_role_grant(actor, kUsersWrite, *input.roles));
      next.record.roles = *input.roles;
    }
    if (input.must_change_password) next.record.must_change_password = *input.must_change_password;
    if (input.enabled) next.record.enabled = *input.enabled;
    UserRecord updated = next.record;
    IAM_RETURN_IF_ERROR(apply(user_update_change(std::move(next), input.enabled && !*input.enabled)));
    return updated;
  });
}

// disable / enable share everything but the flag and the key cascade.
Status RolesRegimeImpl::set_user_enabled(const Actor& actor, std::string_view user_id,
                                         std::optional<std::string_view> workspace, bool enabled) {
  return manage(actor, enabled ? "enable-user" : "disable-user", Invalidation::Kind::user,
                [&](OperationTarget& target) -> Status {
                  IAM_ASSIGN_OR_RETURN(StoredUser next, load_target(actor, user_id, workspace, kUsersAdmin, target));
                  next.record.enabled = enabled;
                  return apply(user_update_change(std::move(next), !enabled));
                });
}

Status RolesRegimeImpl::disable_user(const Actor& actor, std::string_view user_id,
                                     std::optional<std::string_view> workspace) {
  return set_user_enabled(actor, user_id, workspace, false);
}

Status RolesRegimeImpl::enable_user(const Actor& actor, std::string_view user_id,
                                    std::optional<std::string_view> workspace) {
  return set_user_enabled(actor, user_id, workspace, true);
}

Status RolesRegimeImpl::delete_user(const Actor& actor, std::string_view user_id,
                                    std::optional<std::string_view> workspace) {
  return manage(actor, "delete-user", Invalidation::Kind::user, [&](OperationTarget& target) -> Status {
    IAM_ASSIGN_OR_RETURN(const StoredUser user, load_target(actor, user_id, workspace, kUsersAdmin, target));
    return apply(single_change(mutation::DeleteUser{user.record.id}));
  });
}

Status RolesRegimeImpl::change_password(const Actor& actor, std::string_view user_id, std::string_view password,
                                        std::string_view new_password) {
  return manage(actor, "change-password", Invalidation::Kind::user, [&](OperationTarget& target) -> Status {
    if (actor && !user_id.empty() && user_id != *actor) return denied();
    const std::string_view who = actor ? std::string_view(*actor) : user_id;
    if (who.empty()) return Error{ErrorCode::invalid_argument, "user_id is required"};
    target.identity = std::string(who);
    auto user = repo().find_user(who);
    if (!user) {
      if (user.error().code != ErrorCode::not_found) return storage_error(user.error());
      credentials::dummy_password_work(password, iterations_);
      return auth_failure();
    }
    target.workspace = user->record.workspace;
    // A guess at the current password, as a login is: the account's login budget applies
    // (a stolen token must not buy unlimited guesses).
    const std::string throttle_key = username_key(user->record.username).value_or(user->record.username);
    if (!login_throttle_.allowed(throttle_key)) return auth_failure();
    if (!credentials::verify_password(password, user->password_hash) || !user->record.enabled) {
      login_throttle_.failed(throttle_key);
      return auth_failure();
    }
    login_throttle_.succeeded(throttle_key);
    IAM_RETURN_IF_ERROR(credentials::check_password_policy(password_policy_, new_password, user->record.username));
    StoredUser next = std::move(*user);
    next.password_hash = credentials::hash_password(new_password, iterations_, *cfg_.random);
    next.record.must_change_password = false;
    return apply(password_change(std::move(next)));
  });
}

Result<SecretString> RolesRegimeImpl::reset_password(const Actor& actor, std::string_view user_id,
                                                     std::optional<std::string_view> workspace) {
  return manage(actor, "reset-password", Invalidation::Kind::user, [&](OperationTarget& target) -> Result<SecretString> {
    IAM_ASSIGN_OR_RETURN(StoredUser next, load_target(actor, user_id, workspace, kUsersAdmin, target));
    SecretString temporary = credentials::generate_temporary_password(*cfg_.random);
    next.password_hash = credentials::hash_password(temporary.view(), iterations_, *cfg_.random);
    next.record.must_change_password = true;
    IAM_RETURN_IF_ERROR(apply(password_change(std::move(next))));
    return temporary;
  });
}

}  // namespace iam
