// The SQLite store in a build without it (meson -Dsqlite=disabled): the API exists so
// that callers compile against one header, and answers not_supported.
#include "iam/sqlite_store.h"

namespace iam {

bool sqlite_store_available() noexcept { return false; }

Result<std::shared_ptr<Repository>> make_sqlite_repository(SqliteOptions) {
  return Error{ErrorCode::not_supported, "this build has no SQLite store (configure it with meson -Dsqlite=enabled)"};
}

}  // namespace iam
