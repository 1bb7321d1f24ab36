// The SQLite repository: what is SQLite's own. The records, the rules and encryption at
// rest are the SQL core's (storage/sql/sql_repository.h); this file supplies its sessions.
//
// Connections: one writer connection behind a mutex runs every apply() as
// BEGIN IMMEDIATE … COMMIT; reads run on a pool of other connections, one per thread
// reading at the same time (WAL lets them proceed while a write is in progress), each read
// being one SELECT in autocommit mode and so one consistent snapshot with no BEGIN/COMMIT
// of its own. Every connection caches its prepared statements and maps the file
// (mmap_size) instead of reading it page by page. locking_mode stays NORMAL: EXCLUSIVE
// would shut out the other processes that may share the file (docs/decisions.md).
//
// Failures of SQLite travel as a SqlFailure exception (nothing throws out of this file):
// the retry loop (with_retry) catches them, retries SQLITE_BUSY / SQLITE_LOCKED with
// backoff until busy_timeout has passed, and turns everything else into an Error.
#include "iam/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "storage/sql/sql_repository.h"
#include "storage/sqlite/sqlite_roles.h"
#include "storage/sqlite/sqlite_schema.h"

namespace iam {
namespace {

using sql::Refusal;
using sql::SqlFailure;

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

SqlFailure::Kind kind_of(int code) {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return SqlFailure::Kind::retryable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return SqlFailure::Kind::corrupt;
    case SQLITE_CONSTRAINT:
      if (code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY) return SqlFailure::Kind::duplicate;
      if (code == SQLITE_CONSTRAINT_FOREIGNKEY) return SqlFailure::Kind::missing_reference;
      return SqlFailure::Kind::invalid_data;
    default: return SqlFailure::Kind::other;
  }
}

[[noreturn]] void fail(int code, std::string message) { throw SqlFailure{kind_of(code), std::move(message), code}; }

[[noreturn]] void fail(sqlite3* db, int code, std::string_view what) {
  fail(code, std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(code)));
}

Error refuse(ErrorCode code, const std::string& path, std::string_view problem) {
  return Error{code, "sqlite store " + path + ": " + std::string(problem)};
}

Error to_error(const SqlFailure& failure, std::string_view context) {
  std::string message = "sqlite store " + std::string(context) + ": " + failure.message;
  if (failure.kind == SqlFailure::Kind::retryable)
    message += " (the database stayed locked by another connection past busy_timeout)";
  return Error{sql::error_code(failure.kind), std::move(message)};
}

// Runs `body` (which returns a Result), retrying SQLite's lock conflicts with jittered
// exponential backoff until `timeout` has passed; any other failure becomes an Error.
template <class F>
auto with_retry(std::chrono::milliseconds timeout, std::string_view context, F&& body) -> decltype(body()) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  std::chrono::microseconds backoff{500};
  thread_local std::minstd_rand jitter{std::random_device{}()};
  for (;;) {
    try {
      return body();
    } catch (const SqlFailure& failure) {
      if (failure.kind != SqlFailure::Kind::retryable || Clock::now() >= deadline) return to_error(failure, context);
    } catch (const Refusal& refusal) {
      return refusal.error;
    } catch (const std::bad_alloc&) {
      return Error{ErrorCode::internal_error, "sqlite store " + std::string(context) + ": out of memory"};
    }
    const auto wait = backoff / 2 + std::chrono::microseconds(jitter() % static_cast<unsigned>(backoff.count()));
    std::this_thread::sleep_for(wait);
    backoff = std::min<std::chrono::microseconds>(backoff * 2, std::chrono::milliseconds(100));
  }
}

// ---------------------------------------------------------------------------------------
// Connections and statements
// ---------------------------------------------------------------------------------------

struct ConnectionSettings {
  std::string path;
  SqliteOptions::Synchronous synchronous;
  std::chrono::milliseconds busy_timeout;
};

// SQLite caps this at its compile-time SQLITE_MAX_MMAP_SIZE (2 GiB by default); it is
// address space per connection, not memory.
constexpr const char* mmap_size_pragma = "PRAGMA mmap_size = 1073741824";  // 1 GiB

// One use of a cached statement: bind, step, read columns; reset on destruction.
class Stmt final : public sql::SqlRow {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Stmt() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  void bind(sql::Params params) {
    int i = 0;
    for (const auto& p : params) {
      ++i;
      switch (p.type) {
        case sql::SqlParam::Type::null: check(sqlite3_bind_null(stmt_, i)); break;
        case sql::SqlParam::Type::integer:
        case sql::SqlParam::Type::boolean: check(sqlite3_bind_int64(stmt_, i, p.integer)); break;
        case sql::SqlParam::Type::text: bind_text(i, p.text); break;
        case sql::SqlParam::Type::text_list: bind_text(i, sqlite_detail::encode_roles(*p.list)); break;
        case sql::SqlParam::Type::bytes: {
          // Bound without a copy (the caller keeps it alive), so SQLite keeps no unwiped
          // copy of a private key of its own.
          static constexpr std::uint8_t none = 0;
          check(sqlite3_bind_blob64(stmt_, i, p.bytes.empty() ? &none : p.bytes.data(), p.bytes.size(), SQLITE_STATIC));
          break;
        }
      }
    }
  }

  // true: a row is ready; false: done.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, rc, "statement failed");
  }

  bool is_null(int i) const override { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  std::int64_t integer(int i) const override { return sqlite3_column_int64(stmt_, i); }
  bool boolean(int i) const override { return integer(i) != 0; }
  std::string text(int i) const override {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    const int n = sqlite3_column_bytes(stmt_, i);
    return p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
  }
  SecretBytes bytes(int i) const override {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, i));
    const int n = sqlite3_column_bytes(stmt_, i);
    if (!p || n <= 0) return SecretBytes();
    return SecretBytes(std::span<const std::uint8_t>(p, static_cast<std::size_t>(n)));
  }
  std::vector<std::string> text_list(int i) const override {
    auto roles = sqlite_detail::decode_roles(text(i));
    if (!roles) sql::corrupt("a user's roles are not a JSON array of strings");
    return std::move(*roles);
  }

 private:
  void bind_text(int i, std::string_view value) {
    check(sqlite3_bind_text64(stmt_, i, value.empty() ? "" : value.data(), value.size(), SQLITE_TRANSIENT,
                              SQLITE_UTF8));
  }
  void check(int rc) {
    if (rc != SQLITE_OK) fail(db_, rc, "cannot bind a parameter");
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Connection final : public sql::SqlSession {
 public:
  Connection(const ConnectionSettings& settings, bool writer) : path_(settings.path) {
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    const int rc = sqlite3_open_v2(settings.path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      db_ = nullptr;
      fail(rc, "cannot open: " + message);
    }
    sqlite3_extended_result_codes(db_, 1);
    const auto ms = std::clamp<std::int64_t>(settings.busy_timeout.count(), 0, 1'000'000'000);
    sqlite3_busy_timeout(db_, static_cast<int>(ms));
    try {
      execute_script("PRAGMA foreign_keys = ON");
      execute_script("PRAGMA secure_delete = ON");  // freed pages (old private keys) are zeroed
      execute_script(settings.synchronous == SqliteOptions::Synchronous::full ? "PRAGMA synchronous = FULL"
                                                                              : "PRAGMA synchronous = NORMAL");
      // Pages are read from the OS page cache through a read-only mapping instead of one
      // pread (a system call and a 4 KiB copy) per B-tree page: a key lookup at 1 M keys
      // touches 4-7 pages. Writes still go through write() and fsync, so durability is
      // unchanged; SQLite re-checks the file size at each transaction and falls back to
      // reads where the mapping fails.
      execute_script(mmap_size_pragma);
      if (!writer) execute_script("PRAGMA query_only = ON");
    } catch (...) {
      sqlite3_close_v2(db_);
      throw;
    }
  }
  ~Connection() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void query(const std::string& sql, sql::Params params, sql::FunctionRef<void(const sql::SqlRow&)> row) override {
    Stmt s(db_, prepare(sql));
    s.bind(params);
    while (s.step()) row(s);
  }
  std::int64_t execute(const std::string& sql, sql::Params params) override {
    Stmt s(db_, prepare(sql));
    s.bind(params);
    while (s.step()) {
    }
    return sqlite3_changes64(db_);
  }
  // Runs SQL text that returns no rows (schema, pragmas with no answer).
  void execute_script(const char* sql) override {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
      std::string message = error ? error : sqlite3_errstr(rc);
      sqlite3_free(error);
      fail(rc, std::move(message));
    }
  }

  void begin() override { execute("BEGIN IMMEDIATE", {}); }  // the write lock now: no upgrade deadlock later
  void commit() override {
    execute("COMMIT", {});
    if (wal_wipe_pending_) wipe_wal();
  }
  void rollback() noexcept override {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

  // The schema version, 0 for an empty database; refuses a database of another application.
  int schema_version() override {
    std::int64_t application_id = 0;
    query("PRAGMA application_id", {}, [&](const sql::SqlRow& r) { application_id = r.integer(0); });
    if (application_id != 0 && application_id != sqlite_detail::application_id)
      throw Refusal{refuse(ErrorCode::internal_error, path_, "is an SQLite database of another application")};
    bool versioned = false;
    bool any_table = false;
    query("SELECT type, name FROM sqlite_schema", {}, [&](const sql::SqlRow& r) {
      any_table = true;
      versioned = versioned || (r.text(0) == "table" && r.text(1) == "schema_version");
    });
    if (!versioned) {
      if (any_table)
        throw Refusal{refuse(ErrorCode::internal_error, path_,
                             "is an SQLite database without the iam schema (another application's?)")};
      return 0;
    }
    std::optional<std::int64_t> version;
    query("SELECT version FROM schema_version WHERE id = 1", {}, [&](const sql::SqlRow& r) { version = r.integer(0); });
    if (!version) sql::corrupt("the schema_version table is empty");
    return static_cast<int>(*version);
  }

  // secure_delete zeroes what was freed in the database file, but the WAL keeps the page
  // images that held a private key until it is overwritten: empty it now. A reader of
  // another process may hold the WAL; then this is tried again after later commits.
  void private_keys_rewritten() noexcept override {
    wal_wipe_pending_ = true;
    wipe_wal();
  }

  sqlite3* db() const noexcept { return db_; }

 private:
  // A cached prepared statement for `sql` (reset and unbound by Stmt after each use).
  sqlite3_stmt* prepare(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) fail(db_, rc, "cannot prepare a statement");
    statements_.emplace(sql, stmt);
    return stmt;
  }

  void wipe_wal() noexcept {
    if (sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr) == SQLITE_OK)
      wal_wipe_pending_ = false;
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
  bool wal_wipe_pending_ = false;  // a rewritten private key may still be in the WAL
};

sql::SqlDialect sqlite_dialect(const std::string& path) {
  sql::SqlDialect d;
  d.label = "sqlite store " + path;
  d.placeholder = '?';
  d.key_check_text = "iam sqlite store: private key encryption check v1";
  d.migration_steps = sqlite_detail::migration_steps();
  return d;
}

// ---------------------------------------------------------------------------------------
// The backend: the writer, the reader pool, the retry rule
// ---------------------------------------------------------------------------------------

class SqliteBackend final : public sql::SqlBackend {
 public:
  SqliteBackend(ConnectionSettings settings, std::unique_ptr<Connection> writer)
      : settings_(std::move(settings)), dialect_(sqlite_dialect(settings_.path)), writer_(std::move(writer)) {
    pool_.reserve(max_idle_readers);  // give_back never allocates
  }

  const sql::SqlDialect& dialect() const noexcept override { return dialect_; }

  Status run(std::string_view what, sql::Access access, sql::FunctionRef<Status(sql::SqlSession&)> body) override {
    if (access == sql::Access::write) {
      MutexLock lock(write_mutex_);
      Connection& writer = *writer_;  // used only while the lock is held
      return with_retry(settings_.busy_timeout, what, [&] { return body(writer); });
    }
    return with_retry(settings_.busy_timeout, what, [&]() -> Status {
      Reader reader(*this);
      return body(reader.connection());
    });
  }

 private:
  // A reader connection on loan from the pool (or a new one), returned when the loan ends,
  // however the read ended (a failed statement is reset, the connection stays usable).
  class Reader {
   public:
    explicit Reader(SqliteBackend& backend) : backend_(backend), connection_(backend.take_reader()) {}
    ~Reader() { backend_.give_back(std::move(connection_)); }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    Connection& connection() { return *connection_; }

   private:
    SqliteBackend& backend_;
    std::unique_ptr<Connection> connection_;
  };

  std::unique_ptr<Connection> take_reader() {
    {
      MutexLock lock(pool_mutex_);
      if (!pool_.empty()) {
        auto c = std::move(pool_.back());
        pool_.pop_back();
        return c;
      }
    }
    return std::make_unique<Connection>(settings_, false);
  }
  void give_back(std::unique_ptr<Connection> c) noexcept {
    MutexLock lock(pool_mutex_);
    if (pool_.size() < max_idle_readers) pool_.push_back(std::move(c));
  }

  // As many idle readers as threads have read at once, up to this: a reader beyond the
  // pool is opened for one read and closed after (the file opened, its pragmas run, its
  // statements prepared again), so a pool smaller than the number of reading threads puts
  // an open into the tail of the reads' latency. Each idle reader holds two file
  // descriptors, its statements and a small page cache (the pages are the mapped file's).
  static constexpr std::size_t max_idle_readers = 64;

  const ConnectionSettings settings_;
  const sql::SqlDialect dialect_;
  Mutex write_mutex_;
  const std::unique_ptr<Connection> writer_ IAM_PT_GUARDED_BY(write_mutex_);
  Mutex pool_mutex_;
  std::vector<std::unique_ptr<Connection>> pool_ IAM_GUARDED_BY(pool_mutex_);
};

// ---------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------

std::string parent_directory(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Checks what can be checked before SQLite sees the file, and creates a missing file with
// mode 0600 (SQLite gives the -wal and -shm files the database file's mode).
Status prepare_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) return refuse(ErrorCode::internal_error, path, "is not a regular file");
    if ((st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) == 0 || ::access(path.c_str(), W_OK) != 0)
      return refuse(ErrorCode::internal_error, path, "the database file is read-only");
    if (st.st_size == 0) return {};  // an empty file is an empty database
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return refuse(ErrorCode::internal_error, path, std::string("cannot be read: ") + std::strerror(errno));
    std::array<char, 16> header{};
    const auto n = ::read(fd, header.data(), header.size());
    ::close(fd);
    static constexpr char magic[16] = "SQLite format 3";  // with its terminating NUL: 16 bytes
    if (n < 0) return refuse(ErrorCode::internal_error, path, std::string("cannot be read: ") + std::strerror(errno));
    const auto got = static_cast<std::size_t>(n);
    if (std::memcmp(header.data(), magic, got) != 0)
      return refuse(ErrorCode::internal_error, path, "is not an SQLite database");
    if (got < header.size() || st.st_size < 100)
      return refuse(ErrorCode::internal_error, path, "the database file is truncated (shorter than its header)");
    return {};
  }
  if (errno != ENOENT) return refuse(ErrorCode::internal_error, path, std::string("cannot stat: ") + std::strerror(errno));
  const std::string dir = parent_directory(path);
  struct stat dst {};
  if (::stat(dir.c_str(), &dst) != 0)
    return refuse(ErrorCode::internal_error, path, "the directory " + dir + " does not exist");
  if (!S_ISDIR(dst.st_mode)) return refuse(ErrorCode::internal_error, path, dir + " is not a directory");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    const int e = errno;
    if (e == EACCES || e == EROFS || e == EPERM)
      return refuse(ErrorCode::internal_error, path,
                    "cannot create the database file (is the directory read-only?): " + std::string(std::strerror(e)));
    return refuse(ErrorCode::internal_error, path, "cannot create the database file: " + std::string(std::strerror(e)));
  }
  ::close(fd);
  return {};
}

Result<std::shared_ptr<Repository>> open_repository_at(SqliteOptions options) {
  const std::string path = options.path;
  if (path.empty()) return Error{ErrorCode::invalid_argument, "sqlite store: the database path is empty"};
  IAM_RETURN_IF_ERROR(
      sql::check_key_options("sqlite store " + path, options.private_key_encryption_key, options.replacement_key));
  if (options.busy_timeout.count() < 0) return refuse(ErrorCode::invalid_argument, path, "busy_timeout is negative");
  IAM_RETURN_IF_ERROR(prepare_file(path));

  ConnectionSettings settings{path, options.synchronous, options.busy_timeout};
  const sql::SqlDialect dialect = sqlite_dialect(path);
  std::unique_ptr<Connection> writer;
  IAM_RETURN_IF_ERROR(with_retry(options.busy_timeout, path, [&]() -> Status {
    try {
      writer = std::make_unique<Connection>(settings, true);
      std::string answer;
      writer->query("PRAGMA journal_mode = WAL", {}, [&](const sql::SqlRow& r) { answer = r.text(0); });
      if (answer != "wal")
        throw Refusal{refuse(ErrorCode::internal_error, path, "cannot switch to WAL mode (is the directory writable?)")};
      answer.clear();
      writer->query("PRAGMA quick_check(1)", {}, [&](const sql::SqlRow& r) { answer = r.text(0); });
      if (answer != "ok") throw Refusal{refuse(ErrorCode::internal_error, path, "the database is damaged: " + answer)};
      sql::open_database(*writer, dialect, options.private_key_encryption_key, options.replacement_key);
      return {};
    } catch (const SqlFailure& failure) {
      writer.reset();
      const int primary = failure.native_code & 0xff;
      if (primary == SQLITE_NOTADB)
        throw Refusal{refuse(ErrorCode::internal_error, path, "is not an SQLite database (" + failure.message + ")")};
      if (failure.kind == SqlFailure::Kind::corrupt)
        throw Refusal{refuse(ErrorCode::internal_error, path,
                             "the database is damaged or truncated (" + failure.message + ")")};
      if (primary == SQLITE_READONLY)
        throw Refusal{refuse(ErrorCode::internal_error, path, "the database is read-only (" + failure.message + ")")};
      if (primary == SQLITE_CANTOPEN)
        throw Refusal{refuse(ErrorCode::internal_error, path, "cannot open the database (" + failure.message + ")")};
      throw;  // retried when busy, else reported
    } catch (...) {
      writer.reset();
      throw;
    }
  }));
  if (options.replacement_key) options.private_key_encryption_key = std::move(options.replacement_key);
  return sql::make_sql_repository(std::make_unique<SqliteBackend>(std::move(settings), std::move(writer)),
                                  std::move(options.private_key_encryption_key));
}

}  // namespace

bool sqlite_store_available() noexcept { return true; }

Result<std::shared_ptr<Repository>> make_sqlite_repository(SqliteOptions options) {
  return open_repository_at(std::move(options));
}

}  // namespace iam
