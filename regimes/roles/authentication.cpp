// The roles regime's authentication: API keys, JWTs (ours, Ed25519), password logins and
// their per-account throttle. Every failure is the one opaque auth failure; the real
// reason goes to the audit event only.
#include "credentials/api_key.h"
#include "regimes/oidc/oidc_token.h"
#include "regimes/roles/roles_regime_impl.h"

namespace iam {

Result<Identity> RolesRegimeImpl::authenticate(std::string_view credential) noexcept {
  try {
    std::string reason;
    switch (credential_shape(credential)) {
      case CredentialShape::api_key: {
        auto resolved = resolve_key(credential, reason);
        audit_authenticate("api-key", resolved.ok(), resolved.ok() ? resolved->first.record.id : "", reason);
        if (!resolved) return std::move(resolved).error();
        const auto& user = resolved->first.record;
        // The key's own expiry, so that no cache keeps the identity past it.
        return Identity{user.id, user.workspace, user.id, CredentialSource::api_key, resolved->second.record.expires};
      }
      case CredentialShape::jwt: {
        auto identity = authenticate_jwt(credential, reason);
        audit_authenticate("jwt", identity.ok(), identity.ok() ? identity->handle : "", reason);
        return identity;
      }
      case CredentialShape::malformed: break;
    }
    audit_authenticate("unknown", false, "", "malformed credential");
    return auth_failure();
  } catch (...) {
    return Error{ErrorCode::internal_error, "authentication failed unexpectedly"};
  }
}

bool RolesRegimeImpl::recognises(std::string_view credential) const noexcept {
  try {
    switch (credential_shape(credential)) {
      case CredentialShape::api_key: return true;
      case CredentialShape::jwt: return oidc::peek_issuer(credential) == keys_.config().issuer;
      case CredentialShape::malformed: break;
    }
  } catch (...) {
  }
  return false;
}

Result<Identity> RolesRegimeImpl::authenticate_anonymous() noexcept {
  audit_authenticate("anonymous", false, "", "anonymous access is not permitted by the roles regime");
  return Error{ErrorCode::auth_failed, "auth failure: anonymous access is not permitted"};
}

Result<StoredUser> RolesRegimeImpl::active_user(std::string_view user_id, std::string_view bound_workspace,
                                                std::string& reason) {
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

Result<std::pair<StoredUser, StoredApiKey>> RolesRegimeImpl::resolve_key(std::string_view api_key,
                                                                         std::string& reason) {
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
  IAM_ASSIGN_OR_RETURN(StoredUser user, active_user(key->record.user_id, "", reason));
  if (!key->record.last_used || t - *key->record.last_used >= cfg_.last_used_interval)
    (void)repo().apply(single_change(mutation::TouchApiKey{key->record.id, t}));  // best effort: informational
  return std::make_pair(std::move(user), std::move(*key));
}

Result<Identity> RolesRegimeImpl::authenticate_jwt(std::string_view token, std::string& reason) {
  auto claims = keys_.verify_with_reason(token, &reason);
  if (!claims && reason == "unknown kid" && maybe_reload_keys()) claims = keys_.verify_with_reason(token, &reason);
  if (!claims) return auth_failure();
  // Signed with what this process holds as the next key: another process has rotated, and
  // a store that cannot notify (SQLite) did not say so. Catch up, to sign with it too.
  if (claims->kid == keys_.next_kid()) (void)maybe_reload_keys();
  IAM_ASSIGN_OR_RETURN(const StoredUser user, active_user(claims->subject, claims->workspace, reason));
  // A password change or reset, or a disable, since the token was issued. Epochs, not
  // times: a token from a login in the same second as the change is still good.
  if (claims->credentials_epoch != user.credentials_epoch) {
    reason = "token issued before a credentials change";
    return auth_failure();
  }
  return Identity{user.record.id, claims->workspace, user.record.id, CredentialSource::jwt, claims->expires_at};
}

Result<LoginResult> RolesRegimeImpl::login(std::string_view username, std::string_view password,
                                           std::optional<std::string_view> workspace) {
  std::string reason;
  std::string user_id;
  std::optional<std::string> throttle_key;  // set once the login is well-formed and not throttled: it counts
  Result<LoginResult> result = [&]() -> Result<LoginResult> {
    // Sizes first: a malformed login is refused before anything of it is stored (it can
    // match no account, so it needs no throttling of its own).
    const std::string_view bounded_password = password.substr(0, password_policy_.max_bytes);
    if (username.empty() || username.size() > kMaxUsernameBytes || password.size() > password_policy_.max_bytes) {
      credentials::dummy_password_work(bounded_password, iterations_);
      reason = "malformed login";
      return auth_failure();
    }
    // Keyed as the lookup is, so every spelling of a username shares one budget. A name
    // with no key (invalid UTF-8, folds to nothing) can match no account: malformed.
    std::optional<std::string> key = username_key(username);
    if (!key) {
      credentials::dummy_password_work(bounded_password, iterations_);
      reason = "malformed login";
      return auth_failure();
    }
    if (!login_throttle_.allowed(*key)) {
      // Refused without a password check: the answer is the same auth failure, and an
      // attacker's burst costs no PBKDF2 work.
      reason = "throttled";
      return auth_failure();
    }
    throttle_key = std::move(key);
    return login_checked(username, password, workspace, user_id, reason);
  }();
  if (throttle_key) {
    if (result.ok()) login_throttle_.succeeded(*throttle_key);
    else if (result.error().code == ErrorCode::auth_failed) login_throttle_.failed(*throttle_key);
  }
  audit_authenticate("login-password", result.ok(), user_id, reason);
  return result;
}

Result<LoginResult> RolesRegimeImpl::login_checked(std::string_view username, std::string_view password,
                                                   std::optional<std::string_view> workspace, std::string& user_id,
                                                   std::string& reason) {
  auto user = repo().find_user_by_username(username);
  if (!user) {
    if (user.error().code != ErrorCode::not_found) return storage_error(user.error());
    credentials::dummy_password_work(password, iterations_);  // as slow as a real check
    reason = "unknown user";
    return auth_failure();
  }
  if (!credentials::verify_password(password, user->password_hash)) {
    reason = "wrong password";
    return auth_failure();
  }
  if (!user->record.enabled) {
    reason = "user disabled";
    return auth_failure();
  }
  const std::string bound = workspace && !workspace->empty() ? std::string(*workspace) : user->record.workspace;
  if (!policy_.scope_covers(holder_of(*user), bound)) {
    reason = "workspace out of the user's scope";
    return auth_failure();
  }
  IAM_ASSIGN_OR_RETURN(const StoredUser active, active_user(user->record.id, bound, reason));
  user_id = user->record.id;

  // Older, cheaper hashes are upgraded on a successful login.
  if (const auto parsed = credentials::parse_password_hash(user->password_hash);
      parsed && parsed->iterations < iterations_) {
    StoredUser upgraded = *user;
    upgraded.password_hash = credentials::hash_password(password, iterations_, *cfg_.random);
    (void)apply(single_change(mutation::UpdateUser{std::move(upgraded)}));  // best effort: the old hash still works
  }
  const TimePoint t = now();
  const TimePoint expires = t + cfg_.jwt.lifetime;
  // Sign with the store's current key, not this process's memory of it: another process
  // sharing the store may have bootstrapped or rotated (a read, next to PBKDF2's cost).
  (void)reload_keys();
  JwtClaims claims{cfg_.jwt.issuer, user->record.id, bound, t, expires};
  claims.credentials_epoch = active.credentials_epoch;  // as read after the password check
  auto token = keys_.sign(claims);
  if (!token) return Error{ErrorCode::internal_error, "no signing key"};
  return LoginResult{SecretString(std::move(*token)), expires};
}

}  // namespace iam
