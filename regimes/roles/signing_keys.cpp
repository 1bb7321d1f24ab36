// The roles regime's JWT signing keys: the key set mirrors the store (reloaded when
// another process rotates), published as PEM and JWKS, rotated in stages (the next key is
// published a rotation ahead of signing) with a grace period for the retired key, on
// request or on a schedule the store arbitrates.
#include <charconv>

#include "regimes/roles/roles_regime_impl.h"

namespace iam {

std::optional<std::chrono::seconds> parse_key_rotation_interval(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  const char unit = text.back();
  const std::string_view digits = text.substr(0, text.size() - 1);
  std::int64_t per_unit = 0;
  switch (unit) {
    case 's': per_unit = 1; break;
    case 'm': per_unit = 60; break;
    case 'h': per_unit = 3600; break;
    case 'd': per_unit = 86400; break;
    default: return std::nullopt;
  }
  if (digits.front() < '1' || digits.front() > '9') return std::nullopt;  // no sign, no leading zero
  std::int64_t count = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (error != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  constexpr std::int64_t ten_years = 3650LL * 86400;
  if (count > ten_years / per_unit) return std::nullopt;
  return std::chrono::seconds(count * per_unit);
}

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

SigningKey RolesRegimeImpl::new_next_key() {
  SigningKey key = SigningKey::generate(*cfg_.random, *cfg_.clock);
  key.activated.reset();
  return key;
}

Status RolesRegimeImpl::complete_key_set() {
  // (a duplicate means another process added the key first)
  if (!keys_.active_kid()) {
    (void)apply(single_change(mutation::InsertSigningKey{SigningKey::generate(*cfg_.random, *cfg_.clock)}));
    IAM_RETURN_IF_ERROR(reload_keys());
  }
  if (!keys_.next_kid()) {
    (void)apply(single_change(mutation::InsertSigningKey{new_next_key()}));
    IAM_RETURN_IF_ERROR(reload_keys());
  }
  return {};
}

Change RolesRegimeImpl::rotation_change(TimePoint at, std::optional<TimePoint> condition) {
  Change change;
  change.emplace_back(mutation::PromoteNextSigningKey{at, condition});
  change.emplace_back(mutation::InsertSigningKey{new_next_key()});
  change.emplace_back(mutation::DeleteSigningKeysRetiredBefore{at - cfg_.jwt.effective_grace()});
  return change;
}

Status RolesRegimeImpl::rotate_signing_key(const Actor& actor) {
  return manage(actor, "rotate-signing-key", Invalidation::Kind::signing_keys, [&](OperationTarget&) -> Status {
    // Rotation affects every workspace's tokens (registry: all_workspaces).
    IAM_RETURN_IF_ERROR(check_actor(actor, kIamAdmin, every_workspace));
    IAM_RETURN_IF_ERROR(apply(rotation_change(now(), std::nullopt)));
    return reload_keys();
  });
}

Result<std::vector<SigningKeyRecord>> RolesRegimeImpl::list_signing_keys(const Actor& actor) {
  // Lists every workspace's keys (registry: all_workspaces). A read: not audited.
  IAM_RETURN_IF_ERROR(check_actor(actor, kIamAdmin, every_workspace));
  auto stored = repo().list_signing_keys();
  if (!stored) return storage_error(stored.error());
  std::vector<SigningKeyRecord> out;
  out.reserve(stored->size());
  for (const SigningKey& key : *stored) {
    SigningKeyRecord record{key.kid, SigningKeyStatus::retired, key.created, key.activated, key.retired, std::nullopt};
    if (key.is_next()) record.status = SigningKeyStatus::next;
    if (key.is_current()) record.status = SigningKeyStatus::current;
    if (key.retired) record.grace_ends = *key.retired + cfg_.jwt.effective_grace();
    out.push_back(std::move(record));
  }
  return out;
}

Result<bool> RolesRegimeImpl::rotate_signing_key_if_due(std::chrono::seconds interval) {
  if (interval.count() <= 0) return Error{ErrorCode::invalid_argument, "the key rotation interval must be positive"};
  const TimePoint t = now();
  // Not due by this process's own key set (or no key yet: bootstrap makes the first):
  // nothing to ask the store. A set that missed another process's rotation only looks
  // more due than it is; the store refuses then.
  if (const auto since = keys_.active_since(); !since || t - *since < interval) return false;
  Status applied = apply(rotation_change(t, t - interval));
  const bool lost = !applied.ok() && applied.error().code == ErrorCode::duplicate;  // another process came first
  if (!applied.ok() && !lost) {
    audit_management(std::nullopt, "rotate-signing-key", &applied.error(), OperationTarget{});
    return std::move(applied).error();
  }
  IAM_RETURN_IF_ERROR(reload_keys());
  if (lost) return false;
  invalidate(Invalidation::Kind::signing_keys, "");
  audit_management(std::nullopt, "rotate-signing-key", nullptr, OperationTarget{});
  return true;
}

}  // namespace iam
