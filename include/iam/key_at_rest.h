// iam/key_at_rest.h — the key that encrypts private signing keys at rest in the SQL stores
// (iam/sqlite_store.h, iam/postgres_store.h): its size and how to read it from a file.
//
// THREAD SAFETY: both functions may be called from any thread (the environment must not be
// changed meanwhile). OWNERSHIP: the key is returned in a SecretBytes that wipes itself.
// ERRORS: as documented per function; a message names the file, never its content.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "iam/export.h"
#include "iam/secret.h"
#include "iam/status.h"

namespace iam {

inline constexpr std::size_t key_encryption_key_bytes = 32;

// The environment variable that make_repository("sqlite:…" / "postgres:…") reads the key
// file path from (iam/store.h).
inline constexpr const char* key_encryption_key_file_env = "IAM_KEY_ENCRYPTION_KEY_FILE";

// Reads an encryption key from a file holding either exactly 32 raw bytes or 64 hex
// characters (surrounding whitespace and a trailing newline allowed).
// invalid_argument (naming the file) when it cannot be read or holds anything else.
IAM_EXPORT Result<SecretBytes> load_key_file(const std::string& path);

// The key named by IAM_KEY_ENCRYPTION_KEY_FILE: nullopt when the variable is unset or empty,
// otherwise load_key_file of its value (and its errors).
IAM_EXPORT Result<std::optional<SecretBytes>> load_key_from_environment();

}  // namespace iam
