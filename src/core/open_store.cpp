#include "iam/memory_store.h"
#include "iam/sqlite_store.h"
#include "iam/store.h"

namespace iam {

Result<std::shared_ptr<Repository>> open_repository(std::string_view spec) {
  if (spec == "memory") return make_memory_repository();
  if (spec.starts_with("sqlite:")) {
    SqliteOptions options;
    options.path = std::string(spec.substr(7));
    if (options.path.empty()) return Error{ErrorCode::invalid_argument, "store 'sqlite:' needs a path: sqlite:PATH"};
    // The key that encrypts private signing keys at rest, if the environment names one.
    auto key = load_key_from_environment();
    if (!key.ok()) return std::move(key).error();
    options.private_key_encryption_key = std::move(key).value();
    return open_sqlite_repository(std::move(options));
  }
  if (spec.starts_with("postgres:"))
    return Error{ErrorCode::not_supported, "this build has no postgres store yet"};
  return Error{ErrorCode::invalid_argument,
               "unknown store '" + std::string(spec) + "': use memory, sqlite:PATH or postgres:CONNINFO"};
}

}  // namespace iam
