// The roles regime's API-key operations (protocol.md "Operations"): create (the plaintext
// is shown once and never stored: only its hash), list, revoke, resolve.
#include "credentials/api_key.h"
#include "crypto/crypto.h"
#include "regimes/roles/roles_regime_impl.h"

namespace iam {

Result<CreatedApiKey> RolesRegimeImpl::create_api_key(const Actor& actor, const KeyInput& input,
                                                      std::optional<std::string_view> workspace) {
  return manage(actor, "create-api-key", std::nullopt, [&](OperationTarget& target) -> Result<CreatedApiKey> {
    if (!input.name || input.name->empty()) return Error{ErrorCode::invalid_argument, "key.name is required"};
    IAM_RETURN_IF_ERROR(check_text("key.name", *input.name, kMaxNameBytes));
    IAM_ASSIGN_OR_RETURN(const StoredUser user,
                         load_target(actor, input.user_id.value_or(""), workspace, kKeysAdmin, target));
    if (!user.record.enabled) return Error{ErrorCode::disabled, "the user is disabled"};
    std::optional<TimePoint> expires;
    if (input.expires && !input.expires->empty()) {
      expires = parse_request_time(*input.expires);
      if (!expires)
        return Error{ErrorCode::invalid_argument,
                     "key.expires is not an ISO 8601 date or time (e.g. 2031-12-31 or 2031-12-31T23:59:00Z)"};
      if (*expires <= now()) return Error{ErrorCode::invalid_argument, "key.expires is in the past"};
    }
    SecretString plaintext = credentials::generate_api_key(*cfg_.random);
    StoredApiKey key;
    key.record = ApiKeyRecord{crypto::uuid_v4(*cfg_.random),
                              user.record.id,
                              *input.name,
                              credentials::api_key_display_prefix(plaintext.view()),
                              expires,
                              std::chrono::floor<std::chrono::seconds>(now()),
                              std::nullopt};
    key.key_hash = credentials::api_key_hash(plaintext.view());
    IAM_RETURN_IF_ERROR(apply(single_change(mutation::InsertApiKey{key})));
    return CreatedApiKey{std::move(plaintext), key.record};
  });
}

Result<std::vector<ApiKeyRecord>> RolesRegimeImpl::list_api_keys(const Actor& actor, std::string_view user_id,
                                                                 std::optional<std::string_view> workspace) {
  OperationTarget target;
  IAM_ASSIGN_OR_RETURN(const StoredUser user, load_target(actor, user_id, workspace, kKeysAdmin, target));
  auto keys = repo().list_api_keys(user.record.id);
  if (!keys) return storage_error(keys.error());
  std::vector<ApiKeyRecord> out;
  for (auto& k : *keys) out.push_back(std::move(k.record));
  return out;
}

Status RolesRegimeImpl::revoke_api_key(const Actor& actor, std::string_view key_id,
                                       std::optional<std::string_view> workspace) {
  return manage(actor, "revoke-api-key", Invalidation::Kind::api_key, [&](OperationTarget& target) -> Status {
    if (key_id.empty()) return Error{ErrorCode::invalid_argument, "key_id is required"};
    auto key = checked(repo().find_api_key(key_id), "API key");
    if (!key) {
      // An actor without the capability learns nothing about which ids exist.
      IAM_RETURN_IF_ERROR(check_actor(actor, kKeysAdmin, workspace.value_or("")));
      return std::move(key).error();
    }
    IAM_RETURN_IF_ERROR(load_target(actor, key->record.user_id, workspace, kKeysAdmin, target));
    target.api_key_hash = key->key_hash;
    return apply(single_change(mutation::DeleteApiKey{key->record.id}));
  });
}

Result<ResolvedKey> RolesRegimeImpl::resolve_api_key(std::string_view api_key) {
  std::string reason;
  auto resolved = resolve_key(api_key, reason);
  audit_authenticate("api-key", resolved.ok(), resolved.ok() ? resolved->first.record.id : "", reason);
  if (!resolved) return std::move(resolved).error();
  const auto& user = resolved->first.record;
  return ResolvedKey{user.id, user.workspace, user.roles};
}

}  // namespace iam
