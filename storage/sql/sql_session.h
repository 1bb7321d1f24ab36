// Internal: what the SQL repository core (storage/sql/sql_repository.h) needs from a
// database: one connection in use (SqlSession), its failures classified (SqlFailure), and
// the few ways the dialects differ (SqlDialect). A backend implements SqlSession over its
// client library; everything else about records is the core's.
//
// Statements reach a session already expanded for its dialect: `$1` or `?1` placeholders
// (SqlDialect::placeholder), table names with the dialect's prefix, bytes columns selected
// as the dialect reads them. Parameters are views: the caller keeps what they point to
// alive until the call returns.
//
// THREAD SAFETY: a session is used by one thread at a time (the backend lends it out).
// ERRORS: every method may throw SqlFailure; nothing else escapes but std::bad_alloc.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "iam/clock.h"
#include "iam/function_ref.h"
#include "iam/secret.h"
#include "iam/status.h"

namespace iam::sql {

// A failure of the database or of the data read from it, as the core and the backends
// need to tell them apart.
struct SqlFailure {
  enum class Kind {
    duplicate,          // a uniqueness constraint (a race the preconditions could not see)
    missing_reference,  // a foreign key: the record referred to is gone
    invalid_data,       // a value the schema refuses (a CHECK, a string the database cannot hold)
    unstorable_text,    // a lookup key the database cannot hold: no record can have it
    retryable,          // a lock conflict, serialization failure or deadlock: try again
    connection_lost,    // the connection is unusable; nothing was committed unless during_commit
    corrupt,            // what the database holds breaks this library's invariants
    other,
  };
  Kind kind = Kind::other;
  std::string message;  // one line, never a parameter's value
  int native_code = 0;  // the client library's own code (SQLite's result code), 0 if none
  bool during_commit = false;  // connection lost while COMMIT was in flight: outcome unknown
};

// A refusal that is the core's or the backend's, not the database's: carried out of deep
// code as an exception, then returned as it is.
struct Refusal {
  Error error;
};

[[noreturn]] inline void corrupt(std::string message) {
  throw SqlFailure{SqlFailure::Kind::corrupt, std::move(message)};
}

// One statement parameter.
struct SqlParam {
  enum class Type { null, integer, boolean, text, bytes, text_list } type = Type::null;
  std::int64_t integer = 0;  // integer, boolean (0/1)
  std::string_view text;
  std::span<const std::uint8_t> bytes;  // bound without a copy where the client allows it
  const std::vector<std::string>* list = nullptr;  // text_list (a user's roles)
};

inline SqlParam null() { return SqlParam{}; }
inline SqlParam integer(std::int64_t v) {
  SqlParam p;
  p.type = SqlParam::Type::integer;
  p.integer = v;
  return p;
}
inline SqlParam boolean(bool v) {
  SqlParam p;
  p.type = SqlParam::Type::boolean;
  p.integer = v ? 1 : 0;
  return p;
}
inline SqlParam text(std::string_view v) {
  SqlParam p;
  p.type = SqlParam::Type::text;
  p.text = v;
  return p;
}
inline SqlParam bytes(std::span<const std::uint8_t> v) {
  SqlParam p;
  p.type = SqlParam::Type::bytes;
  p.bytes = v;
  return p;
}
inline SqlParam text_list(const std::vector<std::string>& v) {
  SqlParam p;
  p.type = SqlParam::Type::text_list;
  p.list = &v;
  return p;
}
inline SqlParam time(TimePoint v) { return integer(unix_seconds(v)); }  // whole Unix seconds
inline SqlParam time(const std::optional<TimePoint>& v) { return v ? time(*v) : null(); }

using Params = std::initializer_list<SqlParam>;

// The current row of a result; columns count from 0. Accessors throw SqlFailure (corrupt)
// when a value does not have the type asked for.
class SqlRow {
 public:
  virtual bool is_null(int col) const = 0;
  virtual std::int64_t integer(int col) const = 0;
  virtual bool boolean(int col) const = 0;
  virtual std::string text(int col) const = 0;
  virtual SecretBytes bytes(int col) const = 0;  // wiped memory: private keys travel here
  virtual std::vector<std::string> text_list(int col) const = 0;

  TimePoint time(int col) const { return from_unix_seconds(integer(col)); }
  std::optional<TimePoint> optional_time(int col) const {
    if (is_null(col)) return std::nullopt;
    return time(col);
  }

 protected:
  ~SqlRow() = default;
};

using iam::FunctionRef;  // iam/function_ref.h

class SqlSession {
 public:
  virtual ~SqlSession() = default;

  // Runs a statement and hands each row it returns to `row`.
  virtual void query(const std::string& sql, Params params, FunctionRef<void(const SqlRow&)> row) = 0;
  // Runs a statement that returns no rows; the number of rows it changed.
  virtual std::int64_t execute(const std::string& sql, Params params) = 0;
  // Runs SQL text without parameters, possibly several statements (a migration step).
  virtual void execute_script(const char* sql) = 0;

  // A transaction for a change: applied whole on commit(), not at all on rollback().
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;

  // A transaction that changes the schema or rewrites stored data on open (migration,
  // re-keying usernames, encrypting keys), serialised with every other process doing the
  // same; end_schema_change() after its commit or rollback.
  virtual void begin_schema_change() { begin(); }
  virtual void end_schema_change() noexcept {}
  // Inside a transaction: holds off other writers of `tables` (full names) until it ends,
  // where begin() alone does not already.
  virtual void lock_tables(std::string_view tables) { (void)tables; }

  // The schema version the database holds; 0 when it holds no schema yet. Throws Refusal
  // for a database that is not this library's.
  virtual int schema_version() = 0;

  // Called after every commit that changed private signing keys (dropped, sealed or
  // re-sealed), so that a backend can wipe the old bytes from its logs.
  virtual void private_keys_rewritten() noexcept {}
};

// How a dialect spells what the core writes.
struct SqlDialect {
  std::string label;          // starts every message: "sqlite store /var/iam.db", "postgres store"
  std::string table_prefix;   // "" or "iam_": `{t}users` in the core's SQL
  char placeholder = '$';     // '$' ($1) or '?' (?1)
  bool bytes_as_hex = false;  // bytes columns selected as encode(col, 'hex') (PostgreSQL text results)
  std::string_view key_check_text;  // sealed as the store's key check (storage/key_at_rest.h)
  std::span<const char* const> migration_steps;  // [i] takes version i to i + 1
};

}  // namespace iam::sql
