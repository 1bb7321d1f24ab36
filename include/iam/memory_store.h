// iam/memory_store.h — the in-memory Repository (tests, examples, throwaway deployments).
//
// THREAD SAFETY: safe to share; readers proceed together, writers are serialised.
// OWNERSHIP: holds everything in process memory; nothing survives the object.
#pragma once

#include <memory>

#include "iam/repository.h"

namespace iam {

std::shared_ptr<Repository> make_memory_repository();

}  // namespace iam
