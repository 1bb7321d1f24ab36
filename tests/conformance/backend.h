// tests/conformance/backend.h — how a storage backend plugs into the conformance suite.
//
// The suite (suite.h and the *_test.cpp files here) is written against iam::Repository
// only. Each backend contributes one source file that defines make_backend_under_test()
// and backend_persists (and, if it persists, reopen_backend()), and one entry in the
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

// REQUIRED. Whether the backend keeps its records beyond the repository object. When
// false the persistence case is skipped (doctest reports it as skipped); when true the
// backend must define reopen_backend. Define it with `extern const bool backend_persists =
// …;` (a constant, read when the test cases register).
extern const bool backend_persists;

// For backends that persist: destroy `repo` (the suite holds no other reference to it)
// and return a new repository over the same stored data, as a restarted process would see
// it. Not needed when backend_persists is false.
std::shared_ptr<iam::Repository> reopen_backend(std::shared_ptr<iam::Repository> repo);

}  // namespace conformance
