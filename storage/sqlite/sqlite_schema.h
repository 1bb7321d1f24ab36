// Internal: the SQLite schema and its forward migrations (see sqlite_schema.cpp).
//
// The schema version lives in the one-row table schema_version. migration_steps()[i] is
// the SQL that takes a database at version i to version i + 1 (version 0 is an empty
// file); each step ends by recording its new version, and the caller runs the steps
// inside one transaction. Steps are never edited once released: a change to the schema is
// a new step appended to the list.
//
// THREAD SAFETY: constant data. OWNERSHIP: static strings.
#pragma once

#include <cstdint>
#include <span>

namespace iam::sqlite_detail {

// PRAGMA application_id of every database this library creates ("iam1").
inline constexpr std::int32_t application_id = 0x69616d31;

// The SQL of each step: index i migrates version i to version i + 1.
std::span<const char* const> migration_steps();

// The version this build writes: the number of steps.
int latest_schema_version();

}  // namespace iam::sqlite_detail
