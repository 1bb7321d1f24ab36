// Internal: the repository logic of every SQL backend, written once against SqlSession
// (storage/sql/sql_session.h): the reads, apply() and its mutations with the rules of
// storage/preconditions.h, signing keys sealed at rest (storage/key_at_rest.h), and what
// opening a database does (schema migration, re-keying usernames, setting up or checking
// encryption, replacing the key). A backend supplies sessions and its rules for running
// them (SqlBackend); see docs/architecture.md, "Adding a storage backend".
//
// THREAD SAFETY: the repository is as thread-safe as the backend's run(): it keeps no
// mutable state of its own. OWNERSHIP: the repository owns the backend and its key.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "iam/repository.h"
#include "iam/secret.h"
#include "storage/sql/sql_session.h"

namespace iam::sql {

enum class Access { read, write };

class SqlBackend {
 public:
  virtual ~SqlBackend() = default;
  virtual const SqlDialect& dialect() const noexcept = 0;

  // Runs `body` on a session (for Access::write, one where changes may be applied),
  // retrying by the backend's rules (lock conflicts, a lost connection), and answers what
  // it answered. A SqlFailure becomes an Error (see error_code) whose message names `what`;
  // a Refusal becomes its error. `body` may run more than once: it must start afresh.
  virtual Status run(std::string_view what, Access access, FunctionRef<Status(SqlSession&)> body) = 0;

  // Repository::publish / add_change_listener, for backends that signal between processes.
  virtual void publish(const Invalidation& what) noexcept { (void)what; }
  virtual void add_change_listener(InvalidationListener listener) { (void)listener; }
};

// The repository error for a failure of `kind`: duplicate, not_found (a missing reference
// or an unstorable lookup key), invalid_argument (data the schema refuses), else
// internal_error.
ErrorCode error_code(SqlFailure::Kind kind);

// invalid_argument (prefixed with dialect.label) unless `key` and `replacement` are absent
// or key_encryption_key_bytes long, and `replacement` comes with `key`.
Status check_key_options(std::string_view label, const std::optional<SecretBytes>& key,
                         const std::optional<SecretBytes>& replacement);

// Settles a database on open, on `session`: migrates its schema forward, re-keys usernames
// an older username_key() computed, refuses a key that does not fit (or its absence) and
// seals plaintext private keys when given one, and re-seals them under `replacement` if
// given. Throws SqlFailure or Refusal (not_supported for a newer schema, invalid_argument
// for a key that does not fit).
void open_database(SqlSession& session, const SqlDialect& dialect, const std::optional<SecretBytes>& key,
                   const std::optional<SecretBytes>& replacement);

// The repository over `backend`; `key` seals private signing keys (nullopt: stored plain).
std::shared_ptr<Repository> make_sql_repository(std::unique_ptr<SqlBackend> backend,
                                                std::optional<SecretBytes> key);

}  // namespace iam::sql
