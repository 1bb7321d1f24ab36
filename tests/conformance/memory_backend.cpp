// The in-memory backend under the conformance suite. It keeps nothing beyond the object,
// so it does not define reopen_backend (the persistence case is skipped).
#include "backend.h"

#include "iam/memory_store.h"

namespace conformance {

std::shared_ptr<iam::Repository> make_backend_under_test() { return iam::make_memory_repository(); }

}  // namespace conformance
