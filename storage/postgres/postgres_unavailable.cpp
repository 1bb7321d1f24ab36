// The PostgreSQL store in a build without it (meson -Dpostgres=disabled): the API exists
// so that callers compile against one header, and answers not_supported.
#include "iam/postgres_store.h"

namespace iam {

bool postgres_store_available() noexcept { return false; }

PostgresPoolStats postgres_pool_stats() noexcept { return {}; }

Result<std::shared_ptr<Repository>> make_postgres_repository(PostgresOptions) {
  return Error{ErrorCode::not_supported,
               "this build has no PostgreSQL store (configure it with meson -Dpostgres=enabled)"};
}

}  // namespace iam
