// iam/postgres_store.h — the PostgreSQL Repository (libpq): workspaces, users, API keys and
// signing keys in one database that any number of processes may share.
//
// CONNECTION: `conninfo` is anything libpq accepts, "host=db dbname=iam user=iam" or a
// postgresql:// URI; what it leaves out comes from libpq's PG* environment variables (PGHOST,
// PGPORT, PGUSER, PGDATABASE, ...), so an empty conninfo is all environment. The password
// need never be in it: libpq reads PGPASSWORD or the passfile (~/.pgpass or PGPASSFILE).
// Unless the conninfo says otherwise, connecting times out after 10 seconds, TCP
// keepalives find a dead server within about a minute, and a server that stops answering
// in the middle of a call is given up on after 30 seconds (tcp_user_timeout). Error
// messages never quote the conninfo (it may hold a password). Statements are prepared
// once per connection, so a pooler in between (PgBouncer) must use session pooling.
//
// SCHEMA: tables named iam_* in the connection's current schema (options='-c search_path=…'
// picks another), created or migrated forward on open inside one transaction under a lock,
// so several processes opening one new database at once migrate it once. Ids, usernames
// and hashes are text with the "C" collation (byte-wise order and equality whatever the
// database's locale); timestamps are whole Unix seconds (a sub-second part is dropped);
// roles are a text[]. Strings must be valid UTF-8 without NUL (PostgreSQL text): a change
// holding another string is invalid_argument.
//
// TRANSACTIONS: every Change is one READ COMMITTED transaction, applied whole or not at
// all. The schema's constraints (unique id, username key, key hash and kid, one active
// signing key, foreign keys) settle races between processes: of two instances creating
// one username exactly one succeeds and the other gets duplicate. RequireEmpty first locks
// the workspace and user tables against writers (SHARE ROW EXCLUSIVE), so of bootstraps
// racing on one database exactly one wins and the rest get duplicate. A serialization
// failure or deadlock (SQLSTATE 40001, 40P01) is retried with backoff for up to
// retry_timeout, and only then reported (internal_error).
//
// THREAD SAFETY: the repository is safe to share between threads: it keeps a pool of up
// to pool_size connections, each used by one call at a time; a call waits for a free one.
// CONNECTION LOSS: a broken connection is dropped and a new one made on next use. A call
// whose connection turns out to be dead before it changed anything is retried once on a
// new connection, so a server restart goes unnoticed. While the server is unreachable
// every call answers internal_error (it never throws; at once when the connection is
// refused, else after the timeouts above), and calls succeed again by themselves once the
// server is back: no reopening needed. A connection lost during COMMIT answers
// internal_error although the change may have been applied.
// CROSS-PROCESS INVALIDATION: publish() sends a NOTIFY on channel "iam_invalidation"
// (payload "<instance> <kind> <id>", the instance being random per repository object) on a
// pooled connection; if the server cannot be reached it is dropped silently and the other
// processes learn within their caches' TTL. The first add_change_listener() starts one
// background thread with a connection of its own that LISTENs (it waits up to 2 seconds for
// the LISTEN to be in place) and calls the listeners with what other repositories publish,
// never with this one's own. When that connection is lost the listeners get `everything`,
// it reconnects with backoff (100 ms doubling to 2 s) and they get `everything` again once
// it listens again. Destroying the repository stops the thread within about 100 ms; no
// listener is called afterwards.
// OWNERSHIP: the caller shares the repository; the connections close when the last
// reference goes. PostgresOptions owns its key; the repository keeps its own copy.
//
// ERRORS (make_postgres_repository):
//   invalid_argument — the options are wrong (pool_size 0, a key that is not 32 bytes, a
//     replacement_key without a key, a negative retry_timeout, a conninfo libpq cannot
//     parse), or the key does not fit the database: it holds encrypted private keys and no
//     key, or a different key, was given.
//   not_supported — the database was written by a newer schema version than this build,
//     or this build has no PostgreSQL store (configured without -Dpostgres=enabled).
//   internal_error — the server cannot be reached or refuses the connection (wrong
//     password, no such database), the user may not create the tables, or PostgreSQL
//     failed otherwise. Messages name the problem (libpq's and the server's words).
// Repository calls answer as repository.h says; a failure of the server or the connection
// is internal_error, and a failed apply() changed nothing.
//
// ENCRYPTION AT REST: as for the SQLite store (iam/sqlite_store.h): with
// `private_key_encryption_key`, private signing keys are stored sealed with libsodium's
// crypto_secretbox, the database records that it holds encrypted keys with a check value,
// and opening it without the key or with another is refused; plaintext keys already stored
// are encrypted in place on the first open with a key. Without a key they are stored in the
// clear: restrict access to the database.
//
// STORE SPECIFICATION: make_repository("postgres:CONNINFO") (iam/store.h) opens CONNINFO
// with the default options and the key named by IAM_KEY_ENCRYPTION_KEY_FILE, if set; a
// bare "postgres://…" or "postgresql://…" URI is taken as the CONNINFO whole.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "iam/export.h"
#include "iam/key_at_rest.h"
#include "iam/repository.h"
#include "iam/secret.h"
#include "iam/status.h"

namespace iam {

inline constexpr std::size_t postgres_encryption_key_bytes = key_encryption_key_bytes;

struct PostgresOptions {
  std::string conninfo;  // libpq keyword=value string or postgresql:// URI; see above
  std::size_t pool_size = 8;  // most connections open at once
  // How long serialization failures and deadlocks are retried before a call fails.
  std::chrono::milliseconds retry_timeout{5000};
  // 32 bytes: encrypts private signing keys at rest (crypto_secretbox). See above.
  std::optional<SecretBytes> private_key_encryption_key;
  // With private_key_encryption_key: re-encrypts the private keys under this key on open,
  // as SqliteOptions::replacement_key does (rotation of the key-encryption key).
  std::optional<SecretBytes> replacement_key;
};

// For metrics, over every PostgreSQL repository of this process (zero without the store):
// pooled connections on loan to a call now, and connections found lost since start (each
// dropped and replaced by a new one on next use).
struct PostgresPoolStats {
  std::uint64_t in_use = 0;
  std::uint64_t connections_lost = 0;
};
IAM_EXPORT PostgresPoolStats postgres_pool_stats() noexcept;

// True when this build has the PostgreSQL store (meson -Dpostgres=enabled).
IAM_EXPORT bool postgres_store_available() noexcept;

// Connects, creates or migrates the schema, and returns the repository.
IAM_EXPORT Result<std::shared_ptr<Repository>> make_postgres_repository(PostgresOptions options);

}  // namespace iam
