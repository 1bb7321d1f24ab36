// Internal: the PostgreSQL schema and its forward migrations (see postgres_schema.cpp).
//
// The schema version lives in the one-row table iam_schema_version. migration_steps()[i]
// is the SQL that takes a database at version i to version i + 1 (version 0: no iam_*
// tables); each step ends by recording its new version, and the caller runs the steps
// inside one transaction. Steps are never edited once released: a change to the schema is
// a new step appended to the list.
//
// THREAD SAFETY: constant data. OWNERSHIP: static strings.
#pragma once

#include <span>

namespace iam::postgres_detail {

// The SQL of each step: index i migrates version i to version i + 1.
std::span<const char* const> migration_steps();

// The version this build writes: the number of steps.
int latest_schema_version();

}  // namespace iam::postgres_detail
