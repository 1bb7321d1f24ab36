// iam/sqlite_store.h — the SQLite Repository: one database file holds workspaces, users,
// API keys and signing keys (the private half optionally encrypted at rest).
//
// The file is opened in WAL mode with foreign keys on; every Change is one
// BEGIN IMMEDIATE … COMMIT transaction, so it is applied whole or not at all, and a
// committed change survives a crash of the process (and, with Synchronous::full, of the
// machine). A new database is created with mode 0600 (its -wal and -shm files inherit it)
// and the schema is created or migrated forward on open. Timestamps are kept as whole Unix
// seconds (a sub-second part is dropped).
//
// THREAD SAFETY: the returned repository is safe to share between threads: writes are
// serialised on one connection behind a mutex, reads use a small pool of other connections
// and run while a write is in progress. Several processes may open the same file at once:
// a lock held by another connection (SQLITE_BUSY / SQLITE_LOCKED) is waited for and
// retried with backoff for up to `busy_timeout`, and only then reported (internal_error).
// OWNERSHIP: the caller shares the repository; the connections close when the last
// reference goes. SqliteOptions owns its key (a SecretBytes that wipes itself); the
// repository keeps its own copy, and private keys read from the file live only in the
// SecretBytes of the SigningKeys handed out.
// ERRORS (make_sqlite_repository):
//   invalid_argument — the options are wrong: an empty path, a key that is not 32 bytes, a
//     replacement_key without a key, a negative busy_timeout; or the key does not fit the file: it holds encrypted private
//     keys and no key, or a different key, was supplied.
//   not_supported — the database was written by a newer schema version than this build,
//     or this build has no SQLite store (configured with -Dsqlite=disabled).
//   internal_error — the store cannot be opened (as iam/store.h says): the directory does
//     not exist; the file is not an SQLite database, or is one this library did not
//     create; it is read-only, damaged or truncated; or SQLite failed otherwise.
// Each message names the file and the problem. Repository calls answer as repository.h
// says; a failure of SQLite itself (disk full, I/O error, lock held past busy_timeout) is
// internal_error, and a failed apply() changed nothing.
//
// ENCRYPTION AT REST: with `private_key_encryption_key` set, every private signing key is
// stored as libsodium crypto_secretbox_easy(key, random nonce) and the database records
// that it holds encrypted keys together with a check value, so opening it again without
// the key, or with another key, is refused. After a signing key is retired the WAL is
// emptied (secure_delete zeroes the freed bytes in the database file), so its private half
// does not linger in either file. A database that holds plaintext keys and is
// opened with a key has them encrypted in place (one transaction); there is no way back
// to plaintext (replacement_key moves it to another key). Without a key, private keys are
// stored in the clear: protect the file. A
// repository opened without a key on a file that another process has since encrypted
// answers invalid_argument to list_signing_keys and to a change that inserts a private key.
//
// STORE SPECIFICATION: make_repository("sqlite:PATH") (iam/store.h) opens PATH with the
// default options; when the environment variable IAM_KEY_ENCRYPTION_KEY_FILE names a file,
// the encryption key is read from it with load_key_file (iam/key_at_rest.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "iam/export.h"
#include "iam/key_at_rest.h"  // load_key_file, load_key_from_environment
#include "iam/repository.h"
#include "iam/secret.h"
#include "iam/status.h"

namespace iam {

inline constexpr std::size_t sqlite_encryption_key_bytes = key_encryption_key_bytes;

// The environment variable that make_repository("sqlite:…") reads the key file path from.
inline constexpr const char* sqlite_key_file_env = key_encryption_key_file_env;

struct SqliteOptions {
  std::string path;  // the database file; created (mode 0600) when absent
  // full: every commit is fsynced (survives power loss). normal: a commit survives a crash
  // of the process but the last commits may be lost on power loss.
  enum class Synchronous { full, normal } synchronous = Synchronous::full;
  // How long to wait for a lock held by another connection or process before failing.
  std::chrono::milliseconds busy_timeout{5000};
  // 32 bytes: encrypts private signing keys at rest (crypto_secretbox). See above.
  std::optional<SecretBytes> private_key_encryption_key;
  // 32 bytes, with private_key_encryption_key: on open every private key and the check value
  // are re-encrypted under this key in one transaction (rotation of the key-encryption
  // key), and the repository uses it from then on. Another repository still holding the old
  // key is refused (invalid_argument) when it next stores a private key, and reading one
  // fails (internal_error): stop other processes before rotating.
  std::optional<SecretBytes> replacement_key;
};

// True when this build has the SQLite store (meson -Dsqlite=enabled, the default).
IAM_EXPORT bool sqlite_store_available() noexcept;

// Opens (creating or migrating as needed) the database at options.path.
IAM_EXPORT Result<std::shared_ptr<Repository>> make_sqlite_repository(SqliteOptions options);

}  // namespace iam
