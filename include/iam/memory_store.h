// iam/memory_store.h — the in-memory Repository (tests, examples, throwaway deployments).
//
// THREAD SAFETY: safe to share; readers proceed together, writers are serialised.
// OWNERSHIP: holds everything in process memory; nothing survives the object.
#pragma once

#include <memory>

#include "iam/export.h"
#include "iam/repository.h"

namespace iam {

IAM_EXPORT std::shared_ptr<Repository> make_memory_repository();

}  // namespace iam
