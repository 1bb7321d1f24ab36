// The in-memory backend under the conformance suite. It keeps nothing beyond the object,
// so it does not persist: the persistence case is skipped (and reported so), and the
// suite's default reopen_backend (which answers null) is never called.
#include "backend.h"

#include "iam/memory_store.h"

namespace conformance {

extern const bool backend_persists = false;

std::shared_ptr<iam::Repository> make_backend_under_test() { return iam::make_memory_repository(); }

}  // namespace conformance
