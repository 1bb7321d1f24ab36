// How a fresh deployment gets its first administrator (protocol.md "Bootstrap modes"):
// token mode seeds an empty store from a configured key at start; bootstrap mode seeds it
// on the first bootstrap operation. Either way the seed is one atomic change.
#include "credentials/api_key.h"
#include "crypto/crypto.h"
#include "regimes/roles/roles_regime_impl.h"

namespace iam {

std::optional<BootstrapMode> parse_bootstrap_mode(std::string_view text) {
  if (text == "token") return BootstrapMode::token;
  if (text == "bootstrap") return BootstrapMode::bootstrap;
  return std::nullopt;
}

// The default workspace, an admin (whose password nobody knows) with `admin_key`, and
// the first signing key with the next one published behind it — only into an empty store.
Change RolesRegimeImpl::seed_change(const SecretString& admin_key, const std::string& admin_id) {
  const TimePoint t = now();
  SecretBytes unusable(32);
  cfg_.random->fill(unusable.span());
  std::string unusable_text = crypto::base64url_encode(unusable.span());
  StoredUser admin;
  admin.record = UserRecord{admin_id, std::string(kDefaultWorkspace), "admin", "Administrator", "", {"admin"},
                            true, true, t};
  admin.password_hash = credentials::hash_password(unusable_text, iterations_, *cfg_.random);
  wipe(unusable_text);
  StoredApiKey key;
  key.record.id = crypto::uuid_v4(*cfg_.random);
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
  change.emplace_back(mutation::InsertSigningKey{SigningKey::generate(*cfg_.random, *cfg_.clock)});
  change.emplace_back(mutation::InsertSigningKey{new_next_key()});
  return change;
}

Status RolesRegimeImpl::seed_from_token() {
  auto empty = repo().is_empty();
  if (!empty) return storage_error(empty.error());
  if (!*empty) return {};
  auto seeded = apply(seed_change(*cfg_.bootstrap_token, crypto::uuid_v4(*cfg_.random)));
  // duplicate: another process seeded first, which is just as good.
  if (!seeded.ok() && seeded.error().code != ErrorCode::duplicate) return seeded;
  if (seeded.ok()) log(LogLevel::info, "seeded the store from the bootstrap token");
  return {};
}

Result<BootstrapResult> RolesRegimeImpl::bootstrap() {
  // Other processes on the store load the first signing key now rather than on demand.
  return manage(std::nullopt, "bootstrap", Invalidation::Kind::signing_keys,
                [&](OperationTarget& target) -> Result<BootstrapResult> {
                  target.workspace = std::string(kDefaultWorkspace);
                  if (mode_ != BootstrapMode::bootstrap) {
                    log(LogLevel::info, "bootstrap refused: not in bootstrap mode");
                    return auth_failure();
                  }
                  SecretString key = credentials::generate_api_key(*cfg_.random);
                  const std::string admin_id = crypto::uuid_v4(*cfg_.random);
                  if (auto s = apply(seed_change(key, admin_id)); !s.ok()) {
                    if (s.error().code != ErrorCode::duplicate) return std::move(s).error();
                    log(LogLevel::info, "bootstrap refused: the store is not empty");
                    return auth_failure();
                  }
                  IAM_RETURN_IF_ERROR(reload_keys());
                  target.identity = admin_id;
                  return BootstrapResult{admin_id, std::move(key)};
                });
}

bool RolesRegimeImpl::bootstrap_available() {
  if (mode_ != BootstrapMode::bootstrap) return false;
  auto empty = repo().is_empty();
  return empty.ok() && *empty;
}

}  // namespace iam
