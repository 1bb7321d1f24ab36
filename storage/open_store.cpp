// make_repository (iam/store.h): the one place that knows every backend. It lives in
// storage/ because core code must not include the backends.
#include <algorithm>

#include "iam/memory_store.h"
#include "iam/postgres_store.h"
#include "iam/sqlite_store.h"
#include "iam/store.h"

namespace iam {

Result<std::shared_ptr<Repository>> make_repository(std::string_view spec) {
  // The key that encrypts private signing keys at rest, if the environment names one. Not
  // read for a postgres store in a build without it: that says so whatever the environment holds.
  const bool keyed = (spec.starts_with("sqlite:") && sqlite_store_available()) ||
                     ((spec.starts_with("postgres:") || spec.starts_with("postgresql://")) && postgres_store_available());
  if (!keyed) return make_repository(spec, std::nullopt);
  IAM_ASSIGN_OR_RETURN(auto key, load_key_from_environment());
  return make_repository(spec, std::move(key));
}

Result<std::shared_ptr<Repository>> make_repository(std::string_view spec,
                                                    std::optional<SecretBytes> private_key_encryption_key,
                                                    std::optional<SecretBytes> replacement_key) {
  if (spec == "memory") return make_memory_repository();
  if (spec.starts_with("sqlite:")) {
    // Checked first: a build without the store says so whatever the environment holds.
    if (!sqlite_store_available()) return make_sqlite_repository({});
    SqliteOptions options;
    options.path = std::string(spec.substr(7));
    if (options.path.empty()) return Error{ErrorCode::invalid_argument, "store 'sqlite:' needs a path: sqlite:PATH"};
    options.private_key_encryption_key = std::move(private_key_encryption_key);
    options.replacement_key = std::move(replacement_key);
    return make_sqlite_repository(std::move(options));
  }
  if (spec.starts_with("postgres:") || spec.starts_with("postgresql://")) {
    // Checked first: a build without the store says so whatever the environment holds.
    if (!postgres_store_available()) return make_postgres_repository({});
    PostgresOptions options;
    // "postgres:CONNINFO"; a bare postgres:// or postgresql:// URI is taken whole. An empty
    // CONNINFO takes everything from the PG* environment variables.
    const auto rest = spec.starts_with("postgresql://") ? spec : spec.substr(9);
    options.conninfo = std::string(rest.starts_with("//") ? spec : rest);
    options.private_key_encryption_key = std::move(private_key_encryption_key);
    options.replacement_key = std::move(replacement_key);
    return make_postgres_repository(std::move(options));
  }
  // Only the kind is named: a mistyped specification may still hold a password
  // ("postgre://user:secret@host").
  const std::string_view kind = spec.substr(0, std::min(spec.find(':'), std::size_t{20}));
  return Error{ErrorCode::invalid_argument,
               "unknown store kind '" + std::string(kind) + "': use memory, sqlite:PATH or postgres:CONNINFO"};
}

}  // namespace iam
