// iam/store.h — opens a Repository from a store specification string, as the example
// programs' --store flags take it: "memory", "sqlite:PATH", "postgres:CONNINFO".
//
// THREAD SAFETY: make_repository may be called from any thread; what it returns is a
// thread-safe Repository. OWNERSHIP: the caller shares the returned repository.
// ERRORS: invalid_argument for an unknown or malformed specification, not_supported for a
// backend this build lacks, internal_error when the store cannot be opened.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "iam/export.h"
#include "iam/repository.h"
#include "iam/secret.h"

namespace iam {

IAM_EXPORT Result<std::shared_ptr<Repository>> make_repository(std::string_view spec);

// As above, with the key that encrypts private signing keys at rest (iam/key_at_rest.h)
// given here instead of read from $IAM_KEY_ENCRYPTION_KEY_FILE: nullopt opens without a key.
// `replacement_key` re-encrypts them under a new key on open (SqliteOptions::replacement_key,
// PostgresOptions::replacement_key). "memory" ignores both.
IAM_EXPORT Result<std::shared_ptr<Repository>> make_repository(std::string_view spec,
                                                               std::optional<SecretBytes> private_key_encryption_key,
                                                               std::optional<SecretBytes> replacement_key = std::nullopt);

}  // namespace iam
