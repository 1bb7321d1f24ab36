// tests/conformance/backend.h — how a storage backend plugs into the conformance suite.
//
// The suite (conformance_suite.cpp) is written against iam::Repository only. Each backend
// contributes one source file that defines make_backend_under_test(), and one entry in the
// `conformance_backends` dictionary of tests/conformance/meson.build; the build then makes
// one test executable per backend, all running the same TEST_CASEs.
//
// THREAD SAFETY: the suite calls these from the test's main thread only.
// OWNERSHIP: the suite owns the repositories it is given and drops them at the end of
// each test case.
#pragma once

#include <memory>

#include "iam/repository.h"

namespace conformance {

// REQUIRED. Every call returns a fresh, EMPTY repository that shares nothing with any
// other repository returned earlier (a backend that needs a server database or a file
// creates a fresh one per call and cleans it up when the repository is destroyed). Never
// returns null; a backend that cannot start should abort the test run with a clear message.
std::shared_ptr<iam::Repository> make_backend_under_test();

// OPTIONAL. For backends that persist: destroy `repo` (the suite holds no other reference
// to it) and return a new repository over the same stored data, as a restarted process
// would see it. A backend that does not define this function gets the suite's default,
// which answers nullptr, and the persistence test case then only says it was skipped.
std::shared_ptr<iam::Repository> reopen_backend(std::shared_ptr<iam::Repository> repo);

}  // namespace conformance
