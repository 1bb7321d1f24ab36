// The roles regime's JWT signing keys: the key set mirrors the store (reloaded when
// another process rotates), published as PEM and JWKS, rotated with a grace period.
#include "regimes/roles/roles_regime_impl.h"

namespace iam {

Status RolesRegimeImpl::reload_keys() {
  const MutexLock lock(reload_mutex_);
  auto stored = repo().list_signing_keys();
  if (!stored) return storage_error(stored.error());
  return keys_.load(std::move(*stored));
}

bool RolesRegimeImpl::maybe_reload_keys() {
  const std::int64_t t = unix_seconds(now());
  std::int64_t last = last_key_reload_.load();
  if (t <= last || !last_key_reload_.compare_exchange_strong(last, t)) return false;
  return reload_keys().ok();
}

Result<std::string> RolesRegimeImpl::signing_key_public() { return keys_.active_public_pem(); }

std::string RolesRegimeImpl::jwks() { return keys_.jwks(); }

Status RolesRegimeImpl::rotate_signing_key(const Actor& actor) {
  return manage(actor, "rotate-signing-key", Invalidation::Kind::signing_keys, [&](OperationTarget&) -> Status {
    // Rotation affects every workspace's tokens (registry: all_workspaces).
    IAM_RETURN_IF_ERROR(check_actor(actor, kIamAdmin, every_workspace));
    const TimePoint t = now();
    Change change;
    change.emplace_back(mutation::RetireSigningKeys{t});
    change.emplace_back(mutation::InsertSigningKey{SigningKey::generate(*cfg_.random, *cfg_.clock)});
    change.emplace_back(mutation::DeleteSigningKeysRetiredBefore{t - cfg_.jwt.effective_grace()});
    IAM_RETURN_IF_ERROR(apply(change));
    return reload_keys();
  });
}

}  // namespace iam
