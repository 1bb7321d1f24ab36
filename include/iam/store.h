// iam/store.h — opens a Repository from a store specification string, as the example
// programs' --store flags take it: "memory", "sqlite:PATH", "postgres:CONNINFO".
//
// THREAD SAFETY: open_repository may be called from any thread; what it returns is a
// thread-safe Repository. OWNERSHIP: the caller shares the returned repository.
// ERRORS: invalid_argument for an unknown or malformed specification, not_supported for a
// backend this build lacks, internal_error when the store cannot be opened.
#pragma once

#include <memory>
#include <string_view>

#include "iam/repository.h"

namespace iam {

Result<std::shared_ptr<Repository>> open_repository(std::string_view spec);

}  // namespace iam
