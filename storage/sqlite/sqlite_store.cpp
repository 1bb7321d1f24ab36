// The SQLite repository.
//
// Connections: one writer connection behind a mutex runs every apply() as
// BEGIN IMMEDIATE … COMMIT; reads run on a small pool of other connections (WAL lets them
// proceed while a write is in progress), each read being one SELECT and so one consistent
// snapshot. Every connection caches its prepared statements.
//
// Failures of SQLite travel inside this file as a SqlFailure exception (nothing throws out
// of it): the retry loop (with_retry) catches them, retries SQLITE_BUSY / SQLITE_LOCKED
// with backoff until busy_timeout has passed, and turns everything else into an Error.
// The rules of repository.h (duplicate, not_found) are checked with explicit queries, in
// the order the in-memory backend checks them; the schema's constraints stand behind them.
#include "iam/sqlite_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "storage/sqlite/sqlite_schema.h"
#include "storage/username_keys.h"

namespace iam {
namespace {

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

// A failure of SQLite (or of the stored data): `code` is SQLite's extended result code.
struct SqlFailure {
  int code;
  std::string message;
};

// A refusal that is not SQLite's: carried out of deep code as an exception, then returned.
struct Refusal {
  Error error;
};

bool is_busy(int code) {
  const int primary = code & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

[[noreturn]] void fail(sqlite3* db, int code, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  throw SqlFailure{code, std::move(message)};
}

[[noreturn]] void corrupt(std::string message) { throw SqlFailure{SQLITE_CORRUPT, std::move(message)}; }

// ---------------------------------------------------------------------------------------
// Connections and statements
// ---------------------------------------------------------------------------------------

struct ConnectionSettings {
  std::string path;
  SqliteOptions::Synchronous synchronous;
  std::chrono::milliseconds busy_timeout;
};

class Connection {
 public:
  Connection(const ConnectionSettings& settings, bool writer) {
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    const int rc = sqlite3_open_v2(settings.path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw SqlFailure{rc, "cannot open: " + message};
    }
    sqlite3_extended_result_codes(db_, 1);
    const auto ms = std::clamp<std::int64_t>(settings.busy_timeout.count(), 0, 1'000'000'000);
    sqlite3_busy_timeout(db_, static_cast<int>(ms));
    try {
      exec("PRAGMA foreign_keys = ON");
      exec("PRAGMA secure_delete = ON");  // freed pages (old private keys) are zeroed
      exec(settings.synchronous == SqliteOptions::Synchronous::full ? "PRAGMA synchronous = FULL"
                                                                    : "PRAGMA synchronous = NORMAL");
      if (!writer) exec("PRAGMA query_only = ON");
    } catch (...) {
      sqlite3_close_v2(db_);
      throw;
    }
  }
  ~Connection() {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const noexcept { return db_; }

  // A cached prepared statement for `sql` (reset and unbound by Stmt after each use).
  sqlite3_stmt* prepare(const char* sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) fail(db_, rc, "cannot prepare a statement");
    statements_.emplace(sql, stmt);
    return stmt;
  }

  // Runs SQL text that returns no rows (schema, pragmas with no answer).
  void exec(const char* sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
      std::string message = error ? error : sqlite3_errstr(rc);
      sqlite3_free(error);
      throw SqlFailure{rc, std::move(message)};
    }
  }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

// One use of a cached statement: bind, step, read columns; reset on destruction.
class Stmt {
 public:
  Stmt(Connection& connection, const char* sql) : db_(connection.db()), stmt_(connection.prepare(sql)) {}
  ~Stmt() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& text(int i, std::string_view value) {
    check(sqlite3_bind_text64(stmt_, i, value.empty() ? "" : value.data(), value.size(), SQLITE_TRANSIENT,
                              SQLITE_UTF8));
    return *this;
  }
  Stmt& integer(int i, std::int64_t value) {
    check(sqlite3_bind_int64(stmt_, i, value));
    return *this;
  }
  Stmt& boolean(int i, bool value) { return integer(i, value ? 1 : 0); }
  Stmt& time(int i, TimePoint value) { return integer(i, unix_seconds(value)); }
  Stmt& time(int i, const std::optional<TimePoint>& value) {
    if (!value) return null(i);
    return time(i, *value);
  }
  Stmt& null(int i) {
    check(sqlite3_bind_null(stmt_, i));
    return *this;
  }
  // Bound without a copy: `value` must outlive the statement's use (private keys are bound
  // this way so SQLite keeps no unwiped copy of its own).
  Stmt& blob(int i, std::span<const std::uint8_t> value) {
    static constexpr std::uint8_t none = 0;
    check(sqlite3_bind_blob64(stmt_, i, value.empty() ? &none : value.data(), value.size(), SQLITE_STATIC));
    return *this;
  }

  // true: a row is ready; false: done.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, rc, "statement failed");
  }
  // Steps a statement that returns no rows.
  void run() {
    while (step()) {
    }
  }
  int changes() const { return sqlite3_changes(db_); }

  bool is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  std::int64_t integer(int i) const { return sqlite3_column_int64(stmt_, i); }
  bool boolean(int i) const { return integer(i) != 0; }
  TimePoint time(int i) const { return from_unix_seconds(integer(i)); }
  std::optional<TimePoint> optional_time(int i) const {
    if (is_null(i)) return std::nullopt;
    return time(i);
  }
  std::string text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    const int n = sqlite3_column_bytes(stmt_, i);
    return p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
  }
  std::span<const std::uint8_t> blob(int i) const {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, i));
    const int n = sqlite3_column_bytes(stmt_, i);
    if (!p || n <= 0) return {};
    return {p, static_cast<std::size_t>(n)};
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail(db_, rc, "cannot bind a parameter");
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// A write transaction: BEGIN IMMEDIATE now, ROLLBACK unless commit() was reached.
class Transaction {
 public:
  explicit Transaction(Connection& connection) : connection_(connection) {
    Stmt(connection_, "BEGIN IMMEDIATE").run();
  }
  ~Transaction() {
    if (!sqlite3_get_autocommit(connection_.db())) sqlite3_exec(connection_.db(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() { Stmt(connection_, "COMMIT").run(); }

 private:
  Connection& connection_;
};

bool exists(Connection& c, const char* sql, std::string_view arg) {
  Stmt s(c, sql);
  s.text(1, arg);
  return s.step();
}

// ---------------------------------------------------------------------------------------
// Roles: a JSON array of strings. Written by hand so that every byte is kept (nlohmann
// refuses strings that are not UTF-8); the output is valid JSON for UTF-8 roles.
// ---------------------------------------------------------------------------------------

std::string encode_roles(const std::vector<std::string>& roles) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "[";
  for (std::size_t i = 0; i < roles.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (const char ch : roles[i]) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += ch;
      } else if (c < 0x20) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0x0f];
      } else {
        out += ch;
      }
    }
    out += '"';
  }
  out += ']';
  return out;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// Parses any JSON array of strings (so rows edited with SQLite's JSON functions read too).
std::optional<std::vector<std::string>> decode_roles(std::string_view text) {
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  };
  auto hex4 = [&](std::uint32_t& value) {
    if (text.size() - i < 4) return false;
    value = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i++];
      value <<= 4;
      if (c >= '0' && c <= '9') value |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') value |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') value |= static_cast<std::uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  };
  std::vector<std::string> roles;
  skip_space();
  if (i >= text.size() || text[i++] != '[') return std::nullopt;
  skip_space();
  if (i < text.size() && text[i] == ']') {
    ++i;
  } else {
    for (;;) {
      skip_space();
      if (i >= text.size() || text[i++] != '"') return std::nullopt;
      std::string role;
      for (;;) {
        if (i >= text.size()) return std::nullopt;
        const char c = text[i++];
        if (c == '"') break;
        if (c != '\\') {
          role += c;
          continue;
        }
        if (i >= text.size()) return std::nullopt;
        const char e = text[i++];
        switch (e) {
          case '"': role += '"'; break;
          case '\\': role += '\\'; break;
          case '/': role += '/'; break;
          case 'b': role += '\b'; break;
          case 'f': role += '\f'; break;
          case 'n': role += '\n'; break;
          case 'r': role += '\r'; break;
          case 't': role += '\t'; break;
          case 'u': {
            std::uint32_t cp = 0;
            if (!hex4(cp)) return std::nullopt;
            if (cp >= 0xd800 && cp < 0xdc00) {
              std::uint32_t low = 0;
              if (text.size() - i < 6 || text[i] != '\\' || text[i + 1] != 'u') return std::nullopt;
              i += 2;
              if (!hex4(low) || low < 0xdc00 || low >= 0xe000) return std::nullopt;
              cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
              return std::nullopt;
            }
            append_utf8(role, cp);
            break;
          }
          default: return std::nullopt;
        }
      }
      roles.push_back(std::move(role));
      skip_space();
      if (i >= text.size()) return std::nullopt;
      const char sep = text[i++];
      if (sep == ']') break;
      if (sep != ',') return std::nullopt;
    }
  }
  skip_space();
  if (i != text.size()) return std::nullopt;
  return roles;
}

// ---------------------------------------------------------------------------------------
// Private keys at rest: nonce || crypto_secretbox_easy(plaintext)
// ---------------------------------------------------------------------------------------

constexpr std::string_view key_check_plaintext = "iam sqlite store: private key encryption check v1";
constexpr const char* meta_private_keys = "private_keys";  // value "encrypted"
constexpr const char* meta_key_check = "key_check";

std::vector<std::uint8_t> seal(const SecretBytes& key, std::span<const std::uint8_t> plaintext) {
  std::vector<std::uint8_t> out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size());
  randombytes_buf(out.data(), crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(out.data() + crypto_secretbox_NONCEBYTES, plaintext.data(), plaintext.size(), out.data(),
                        key.data());
  return out;
}

std::optional<SecretBytes> unseal(const SecretBytes& key, std::span<const std::uint8_t> box) {
  constexpr std::size_t overhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
  if (box.size() <= overhead) return std::nullopt;
  SecretBytes plaintext(box.size() - overhead);
  if (crypto_secretbox_open_easy(plaintext.data(), box.data() + crypto_secretbox_NONCEBYTES,
                                 box.size() - crypto_secretbox_NONCEBYTES, box.data(), key.data()) != 0)
    return std::nullopt;
  return plaintext;
}

std::optional<std::vector<std::uint8_t>> read_meta(Connection& c, const char* name) {
  Stmt s(c, "SELECT value FROM meta WHERE name = ?1");
  s.text(1, name);
  if (!s.step()) return std::nullopt;
  const auto v = s.blob(0);
  return std::vector<std::uint8_t>(v.begin(), v.end());
}

// ---------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------

Error to_error(const SqlFailure& failure, std::string_view context) {
  const int primary = failure.code & 0xff;
  std::string message = "sqlite store " + std::string(context) + ": " + failure.message;
  if (primary == SQLITE_CONSTRAINT) {
    if (failure.code == SQLITE_CONSTRAINT_UNIQUE || failure.code == SQLITE_CONSTRAINT_PRIMARYKEY)
      return Error{ErrorCode::duplicate, std::move(message)};
    if (failure.code == SQLITE_CONSTRAINT_FOREIGNKEY) return Error{ErrorCode::not_found, std::move(message)};
    return Error{ErrorCode::invalid_argument, std::move(message)};
  }
  if (is_busy(failure.code)) message += " (the database stayed locked by another connection past busy_timeout)";
  return Error{ErrorCode::internal_error, std::move(message)};
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
      if (!is_busy(failure.code) || Clock::now() >= deadline) return to_error(failure, context);
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
// Row readers
// ---------------------------------------------------------------------------------------

#define IAM_WORKSPACE_COLUMNS "id, name, enabled, created"
#define IAM_USER_COLUMNS \
  "id, workspace_id, username, name, email, roles, enabled, must_change_password, created, password_hash, " \
  "credentials_epoch"
#define IAM_KEY_COLUMNS "id, user_id, name, prefix, expires, created, last_used, key_hash"
#define IAM_SIGNING_COLUMNS "kid, public_key, secret_key, secret_encrypted, created, retired"

WorkspaceRecord read_workspace(const Stmt& s) {
  WorkspaceRecord w;
  w.id = s.text(0);
  w.name = s.text(1);
  w.enabled = s.boolean(2);
  w.created = s.time(3);
  return w;
}

// SQLite integers are signed: an epoch past INT64_MAX (never reached by +1 steps) is refused.
std::int64_t epoch_value(std::uint64_t epoch) {
  if (epoch > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw Refusal{Error{ErrorCode::invalid_argument, "credentials epoch out of range"}};
  return static_cast<std::int64_t>(epoch);
}

StoredUser read_user(const Stmt& s) {
  StoredUser u;
  u.record.id = s.text(0);
  u.record.workspace = s.text(1);
  u.record.username = s.text(2);
  u.record.name = s.text(3);
  u.record.email = s.text(4);
  auto roles = decode_roles(s.text(5));
  if (!roles) corrupt("the roles of user '" + u.record.id + "' are not a JSON array of strings");
  u.record.roles = std::move(*roles);
  u.record.enabled = s.boolean(6);
  u.record.must_change_password = s.boolean(7);
  u.record.created = s.time(8);
  u.password_hash = s.text(9);
  const std::int64_t epoch = s.integer(10);
  if (epoch < 0) corrupt("the credentials epoch of user '" + u.record.id + "' is negative");
  u.credentials_epoch = static_cast<std::uint64_t>(epoch);
  return u;
}

StoredApiKey read_key(const Stmt& s) {
  StoredApiKey k;
  k.record.id = s.text(0);
  k.record.user_id = s.text(1);
  k.record.name = s.text(2);
  k.record.prefix = s.text(3);
  k.record.expires = s.optional_time(4);
  k.record.created = s.time(5);
  k.record.last_used = s.optional_time(6);
  k.key_hash = s.text(7);
  return k;
}

// ---------------------------------------------------------------------------------------
// The repository
// ---------------------------------------------------------------------------------------

class SqliteRepository final : public Repository {
 public:
  SqliteRepository(ConnectionSettings settings, std::unique_ptr<Connection> writer,
                   std::optional<SecretBytes> key)
      : settings_(std::move(settings)), writer_(std::move(writer)), key_(std::move(key)) {}

  Result<WorkspaceRecord> find_workspace(std::string_view id) override {
    return read<WorkspaceRecord>("find_workspace", [&](Connection& c) -> Result<WorkspaceRecord> {
      Stmt s(c, "SELECT " IAM_WORKSPACE_COLUMNS " FROM workspaces WHERE id = ?1");
      s.text(1, id);
      if (!s.step()) return Error{ErrorCode::not_found, "workspace not found"};
      return read_workspace(s);
    });
  }

  Result<std::vector<WorkspaceRecord>> list_workspaces() override {
    return read<std::vector<WorkspaceRecord>>("list_workspaces", [&](Connection& c) {
      Stmt s(c, "SELECT " IAM_WORKSPACE_COLUMNS " FROM workspaces ORDER BY id");
      std::vector<WorkspaceRecord> out;
      while (s.step()) out.push_back(read_workspace(s));
      return out;
    });
  }

  Result<StoredUser> find_user(std::string_view id) override {
    return read<StoredUser>("find_user", [&](Connection& c) -> Result<StoredUser> {
      Stmt s(c, "SELECT " IAM_USER_COLUMNS " FROM users WHERE id = ?1");
      s.text(1, id);
      if (!s.step()) return Error{ErrorCode::not_found, "user not found"};
      return read_user(s);
    });
  }

  Result<StoredUser> find_user_by_username(std::string_view username) override {
    const auto key = username_key(username);
    if (!key) return Error{ErrorCode::not_found, "user not found"};
    return read<StoredUser>("find_user_by_username", [&](Connection& c) -> Result<StoredUser> {
      Stmt s(c, "SELECT " IAM_USER_COLUMNS " FROM users WHERE username_key = ?1");
      s.text(1, *key);
      if (!s.step()) return Error{ErrorCode::not_found, "user not found"};
      return read_user(s);
    });
  }

  Result<std::vector<StoredUser>> list_users(std::optional<std::string_view> workspace) override {
    return read<std::vector<StoredUser>>("list_users", [&](Connection& c) {
      std::vector<StoredUser> out;
      if (workspace) {
        Stmt s(c, "SELECT " IAM_USER_COLUMNS " FROM users WHERE workspace_id = ?1 ORDER BY username_key");
        s.text(1, *workspace);
        while (s.step()) out.push_back(read_user(s));
      } else {
        Stmt s(c, "SELECT " IAM_USER_COLUMNS " FROM users ORDER BY username_key");
        while (s.step()) out.push_back(read_user(s));
      }
      return out;
    });
  }

  Result<StoredApiKey> find_api_key(std::string_view id) override {
    return read<StoredApiKey>("find_api_key", [&](Connection& c) -> Result<StoredApiKey> {
      Stmt s(c, "SELECT " IAM_KEY_COLUMNS " FROM api_keys WHERE id = ?1");
      s.text(1, id);
      if (!s.step()) return Error{ErrorCode::not_found, "API key not found"};
      return read_key(s);
    });
  }

  Result<StoredApiKey> find_api_key_by_hash(std::string_view key_hash) override {
    return read<StoredApiKey>("find_api_key_by_hash", [&](Connection& c) -> Result<StoredApiKey> {
      Stmt s(c, "SELECT " IAM_KEY_COLUMNS " FROM api_keys WHERE key_hash = ?1");
      s.text(1, key_hash);
      if (!s.step()) return Error{ErrorCode::not_found, "API key not found"};
      return read_key(s);
    });
  }

  Result<std::vector<StoredApiKey>> list_api_keys(std::string_view user_id) override {
    return read<std::vector<StoredApiKey>>("list_api_keys", [&](Connection& c) {
      Stmt s(c, "SELECT " IAM_KEY_COLUMNS " FROM api_keys WHERE user_id = ?1 ORDER BY created, id");
      s.text(1, user_id);
      std::vector<StoredApiKey> out;
      while (s.step()) out.push_back(read_key(s));
      return out;
    });
  }

  Result<std::vector<SigningKey>> list_signing_keys() override {
    return read<std::vector<SigningKey>>("list_signing_keys", [&](Connection& c) {
      Stmt s(c, "SELECT " IAM_SIGNING_COLUMNS " FROM signing_keys ORDER BY created, seq");
      std::vector<SigningKey> out;
      while (s.step()) out.push_back(read_signing_key(s));
      return out;
    });
  }

  Result<bool> is_empty() override {
    return read<bool>("is_empty", [&](Connection& c) {
      Stmt s(c, "SELECT NOT EXISTS (SELECT 1 FROM workspaces) AND NOT EXISTS (SELECT 1 FROM users)");
      if (!s.step()) corrupt("is_empty returned no row");
      return s.boolean(0);
    });
  }

  Status apply(std::span<const Mutation> change) override {
    if (change.empty()) return {};
    std::lock_guard lock(write_mutex_);
    Status status = with_retry(settings_.busy_timeout, "apply", [&]() -> Status {
      Connection& c = *writer_;
      Transaction tx(c);
      for (const auto& m : change) {
        Status s = std::visit([&](const auto& step) { return apply_one(c, step); }, m);
        if (!s.ok()) return s;  // the transaction rolls back
      }
      tx.commit();
      return {};
    });
    if (!status.ok()) return status;
    for (const auto& m : change)
      if (std::holds_alternative<mutation::RetireSigningKeys>(m) ||
          std::holds_alternative<mutation::DeleteSigningKeysRetiredBefore>(m))
        wal_wipe_pending_ = true;
    // secure_delete zeroes what a retirement freed in the database file, but the WAL keeps
    // the page images that held the private key until it is overwritten: empty it now. A
    // reader of another process may hold the WAL; then this is tried again on later writes.
    if (wal_wipe_pending_ && sqlite3_wal_checkpoint_v2(writer_->db(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr,
                                                       nullptr) == SQLITE_OK)
      wal_wipe_pending_ = false;
    return status;
  }

 private:
  // ---- reads ----

  // A reader connection on loan from the pool, returned when the loan ends.
  class Lease {
   public:
    explicit Lease(SqliteRepository& repo) : repo_(repo) {
      {
        std::lock_guard lock(repo_.pool_mutex_);
        if (!repo_.pool_.empty()) {
          connection_ = std::move(repo_.pool_.back());
          repo_.pool_.pop_back();
        }
      }
      if (!connection_) connection_ = std::make_unique<Connection>(repo_.settings_, false);
    }
    ~Lease() {
      if (!connection_) return;
      std::lock_guard lock(repo_.pool_mutex_);
      if (repo_.pool_.size() < max_idle_readers) repo_.pool_.push_back(std::move(connection_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() { return *connection_; }

   private:
    SqliteRepository& repo_;
    std::unique_ptr<Connection> connection_;
  };

  template <class T, class F>
  Result<T> read(std::string_view what, F&& body) {
    return with_retry(settings_.busy_timeout, what, [&]() -> Result<T> {
      Lease lease(*this);
      return body(*lease);
    });
  }

  SigningKey read_signing_key(const Stmt& s) const {
    SigningKey k;
    k.kid = s.text(0);
    const auto pub = s.blob(1);
    if (pub.size() != k.public_key.size()) corrupt("signing key '" + k.kid + "' has a malformed public key");
    std::copy(pub.begin(), pub.end(), k.public_key.begin());
    const auto secret = s.blob(2);
    if (!s.is_null(2)) {
      if (s.boolean(3)) {
        if (!key_)
          throw Refusal{Error{ErrorCode::invalid_argument,
                              "sqlite store " + settings_.path +
                                  ": signing keys are encrypted and this repository was opened without the key"}};
        auto plain = unseal(*key_, secret);
        if (!plain) corrupt("the private half of signing key '" + k.kid + "' does not decrypt");
        k.secret_key = std::move(*plain);
      } else {
        k.secret_key = SecretBytes(secret);
      }
      // libsodium's secret key is seed || public key: a swapped or damaged row shows here.
      if (k.secret_key.size() != ed25519_secret_key_bytes ||
          !std::equal(k.public_key.begin(), k.public_key.end(), k.secret_key.data() + ed25519_seed_bytes))
        corrupt("the private half of signing key '" + k.kid + "' does not match its public key");
    }
    k.created = s.time(4);
    k.retired = s.optional_time(5);
    return k;
  }

  // ---- mutations (inside the writer's transaction) ----

  Status apply_one(Connection& c, const mutation::RequireEmpty&) {
    Stmt s(c, "SELECT EXISTS (SELECT 1 FROM workspaces) OR EXISTS (SELECT 1 FROM users)");
    if (s.step() && s.boolean(0)) return Error{ErrorCode::duplicate, "the store is not empty"};
    return {};
  }

  Status apply_one(Connection& c, const mutation::InsertWorkspace& m) {
    if (exists(c, "SELECT 1 FROM workspaces WHERE id = ?1", m.workspace.id))
      return Error{ErrorCode::duplicate, "workspace exists"};
    Stmt s(c, "INSERT INTO workspaces (id, name, enabled, created) VALUES (?1, ?2, ?3, ?4)");
    s.text(1, m.workspace.id).text(2, m.workspace.name).boolean(3, m.workspace.enabled).time(4, m.workspace.created);
    s.run();
    return {};
  }

  Status apply_one(Connection& c, const mutation::UpdateWorkspace& m) {
    Stmt s(c, "UPDATE workspaces SET name = ?2, enabled = ?3 WHERE id = ?1");
    s.text(1, m.workspace.id).text(2, m.workspace.name).boolean(3, m.workspace.enabled);
    s.run();
    if (s.changes() == 0) return Error{ErrorCode::not_found, "workspace not found"};
    return {};
  }

  Status apply_one(Connection& c, const mutation::InsertUser& m) {
    const auto& u = m.user;
    const auto key = username_key(u.record.username);
    if (exists(c, "SELECT 1 FROM users WHERE id = ?1", u.record.id)) return Error{ErrorCode::duplicate, "user id exists"};
    if (!key) return Error{ErrorCode::invalid_argument, "the username has no key (not UTF-8, or empty)"};
    if (exists(c, "SELECT 1 FROM users WHERE username_key = ?1", *key))
      return Error{ErrorCode::duplicate, "username exists"};
    if (!exists(c, "SELECT 1 FROM workspaces WHERE id = ?1", u.record.workspace))
      return Error{ErrorCode::not_found, "workspace not found"};
    Stmt s(c,
           "INSERT INTO users (id, workspace_id, username, username_key, name, email, roles, enabled, "
           "must_change_password, created, password_hash, credentials_epoch) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    s.text(1, u.record.id)
        .text(2, u.record.workspace)
        .text(3, u.record.username)
        .text(4, *key)
        .text(5, u.record.name)
        .text(6, u.record.email)
        .text(7, encode_roles(u.record.roles))
        .boolean(8, u.record.enabled)
        .boolean(9, u.record.must_change_password)
        .time(10, u.record.created)
        .text(11, u.password_hash)
        .integer(12, epoch_value(u.credentials_epoch));
    s.run();
    return {};
  }

  Status apply_one(Connection& c, const mutation::UpdateUser& m) {
    const auto& u = m.user;
    if (!exists(c, "SELECT 1 FROM users WHERE id = ?1", u.record.id)) return Error{ErrorCode::not_found, "user not found"};
    if (!exists(c, "SELECT 1 FROM workspaces WHERE id = ?1", u.record.workspace))
      return Error{ErrorCode::not_found, "workspace not found"};
    Stmt s(c,
           "UPDATE users SET workspace_id = ?2, name = ?3, email = ?4, roles = ?5, enabled = ?6, "
           "must_change_password = ?7, password_hash = ?8 WHERE id = ?1");
    s.text(1, u.record.id)
        .text(2, u.record.workspace)
        .text(3, u.record.name)
        .text(4, u.record.email)
        .text(5, encode_roles(u.record.roles))
        .boolean(6, u.record.enabled)
        .boolean(7, u.record.must_change_password)
        .text(8, u.password_hash);
    s.run();
    return {};
  }

  Status apply_one(Connection& c, const mutation::DeleteUser& m) {
    if (!exists(c, "SELECT 1 FROM users WHERE id = ?1", m.user_id)) return Error{ErrorCode::not_found, "user not found"};
    Stmt(c, "DELETE FROM api_keys WHERE user_id = ?1").text(1, m.user_id).run();
    Stmt(c, "DELETE FROM users WHERE id = ?1").text(1, m.user_id).run();
    return {};
  }

  Status apply_one(Connection& c, const mutation::DisableUsersInWorkspace& m) {
    Stmt(c, "UPDATE users SET enabled = 0, credentials_epoch = credentials_epoch + 1 WHERE workspace_id = ?1")
        .text(1, m.workspace_id)
        .run();
    return {};
  }

  Status apply_one(Connection& c, const mutation::AdvanceCredentialsEpoch& m) {
    Stmt s(c, "UPDATE users SET credentials_epoch = credentials_epoch + 1 WHERE id = ?1");
    s.text(1, m.user_id).run();
    if (s.changes() == 0) return Error{ErrorCode::not_found, "user not found"};
    return {};
  }

  Status apply_one(Connection& c, const mutation::InsertApiKey& m) {
    const auto& k = m.key;
    if (exists(c, "SELECT 1 FROM api_keys WHERE id = ?1", k.record.id))
      return Error{ErrorCode::duplicate, "API key id exists"};
    if (exists(c, "SELECT 1 FROM api_keys WHERE key_hash = ?1", k.key_hash))
      return Error{ErrorCode::duplicate, "API key exists"};
    if (!exists(c, "SELECT 1 FROM users WHERE id = ?1", k.record.user_id))
      return Error{ErrorCode::not_found, "user not found"};
    Stmt s(c,
           "INSERT INTO api_keys (id, user_id, key_hash, name, prefix, expires, created, last_used) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    s.text(1, k.record.id)
        .text(2, k.record.user_id)
        .text(3, k.key_hash)
        .text(4, k.record.name)
        .text(5, k.record.prefix)
        .time(6, k.record.expires)
        .time(7, k.record.created)
        .time(8, k.record.last_used);
    s.run();
    return {};
  }

  Status apply_one(Connection& c, const mutation::DeleteApiKey& m) {
    Stmt s(c, "DELETE FROM api_keys WHERE id = ?1");
    s.text(1, m.key_id).run();
    if (s.changes() == 0) return Error{ErrorCode::not_found, "API key not found"};
    return {};
  }

  Status apply_one(Connection& c, const mutation::DeleteApiKeysOfUser& m) {
    Stmt(c, "DELETE FROM api_keys WHERE user_id = ?1").text(1, m.user_id).run();
    return {};
  }

  Status apply_one(Connection& c, const mutation::DeleteApiKeysInWorkspace& m) {
    Stmt(c, "DELETE FROM api_keys WHERE user_id IN (SELECT id FROM users WHERE workspace_id = ?1)")
        .text(1, m.workspace_id)
        .run();
    return {};
  }

  Status apply_one(Connection& c, const mutation::TouchApiKey& m) {
    Stmt(c, "UPDATE api_keys SET last_used = ?2 WHERE id = ?1").text(1, m.key_id).time(2, m.last_used).run();
    return {};
  }

  Status apply_one(Connection& c, const mutation::InsertSigningKey& m) {
    const auto& k = m.key;
    if (exists(c, "SELECT 1 FROM signing_keys WHERE kid = ?1", k.kid))
      return Error{ErrorCode::duplicate, "signing key exists"};
    if (!k.retired) {
      Stmt s(c, "SELECT 1 FROM signing_keys WHERE retired IS NULL");
      if (s.step()) return Error{ErrorCode::duplicate, "an active signing key exists"};
    }
    // Another process may have turned encryption on since this one opened the file: never
    // write a plaintext private key next to encrypted ones.
    if (!key_ && !k.secret_key.empty() && exists(c, "SELECT 1 FROM meta WHERE name = ?1", meta_private_keys))
      return Error{ErrorCode::invalid_argument,
                   "sqlite store " + settings_.path +
                       ": the database now holds encrypted private keys; reopen it with the encryption key"};
    // Another process may have replaced the key-encryption key: never seal under a stale one.
    if (key_ && !k.secret_key.empty()) {
      const auto check = read_meta(c, meta_key_check);
      const auto plain = check ? unseal(*key_, *check) : std::nullopt;
      if (!plain || crypto::as_text(plain->span()) != key_check_plaintext)
        return Error{ErrorCode::invalid_argument,
                     "sqlite store " + settings_.path +
                         ": the database's encryption key was replaced; reopen it with the new key"};
    }
    std::vector<std::uint8_t> sealed;  // declared first: bound without a copy, so it outlives `s`
    Stmt s(c,
           "INSERT INTO signing_keys (kid, public_key, secret_key, secret_encrypted, created, retired) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    s.text(1, k.kid).blob(2, k.public_key).time(5, k.created).time(6, k.retired);
    if (k.secret_key.empty()) {
      s.null(3).boolean(4, false);
    } else if (key_) {
      sealed = seal(*key_, k.secret_key.span());
      s.blob(3, sealed).boolean(4, true);
    } else {
      s.blob(3, k.secret_key.span()).boolean(4, false);
    }
    s.run();
    return {};
  }

  Status apply_one(Connection& c, const mutation::RetireSigningKeys& m) {
    Stmt(c, "UPDATE signing_keys SET retired = ?1, secret_key = NULL, secret_encrypted = 0 WHERE retired IS NULL")
        .time(1, m.at)
        .run();
    return {};
  }

  Status apply_one(Connection& c, const mutation::DeleteSigningKeysRetiredBefore& m) {
    // Stored seconds r are before `before` exactly when r < ceil(before).
    const auto before = std::chrono::ceil<std::chrono::seconds>(m.before.time_since_epoch()).count();
    Stmt(c, "DELETE FROM signing_keys WHERE retired IS NOT NULL AND retired < ?1").integer(1, before).run();
    return {};
  }

  static constexpr std::size_t max_idle_readers = 4;

  ConnectionSettings settings_;
  std::mutex write_mutex_;
  std::unique_ptr<Connection> writer_;  // only touched with write_mutex_ held
  bool wal_wipe_pending_ = false;       // a retired private key may be in the WAL (write_mutex_)
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<Connection>> pool_;
  const std::optional<SecretBytes> key_;
};

// ---------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------

Error refuse(ErrorCode code, const std::string& path, std::string_view problem) {
  return Error{code, "sqlite store " + path + ": " + std::string(problem)};
}

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

// The schema version, 0 for an empty database; refuses a database of another application.
int read_schema_version(Connection& c, const std::string& path) {
  {
    Stmt s(c, "PRAGMA application_id");
    if (s.step() && s.integer(0) != 0 && s.integer(0) != sqlite_detail::application_id)
      throw Refusal{refuse(ErrorCode::internal_error, path, "is an SQLite database of another application")};
  }
  if (!exists(c, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1", "schema_version")) {
    Stmt s(c, "SELECT 1 FROM sqlite_schema LIMIT 1");
    if (s.step())
      throw Refusal{refuse(ErrorCode::internal_error, path,
                           "is an SQLite database without the iam schema (another application's?)")};
    return 0;
  }
  Stmt s(c, "SELECT version FROM schema_version WHERE id = 1");
  if (!s.step()) corrupt("the schema_version table is empty");
  return static_cast<int>(s.integer(0));
}

void migrate(Connection& c, const std::string& path) {
  const int latest = sqlite_detail::latest_schema_version();
  auto check = [&](int version) {
    if (version > latest)
      throw Refusal{refuse(ErrorCode::not_supported, path,
                           "the database has schema version " + std::to_string(version) +
                               ", newer than this build supports (" + std::to_string(latest) +
                               "); open it with a newer version of iam")};
    if (version < 0) corrupt("the schema version is negative");
  };
  int version = read_schema_version(c, path);
  check(version);
  if (version == latest) return;
  Transaction tx(c);
  version = read_schema_version(c, path);  // another process may have migrated meanwhile
  check(version);
  const auto steps = sqlite_detail::migration_steps();
  for (int v = version; v < latest; ++v) c.exec(steps[static_cast<std::size_t>(v)]);
  tx.commit();
}

// Rewrites every username key computed by an older username_key() (see
// storage/username_keys.h), once: a code step rather than a schema version, as SQL cannot
// compute NFKC. Refuses the open, changing nothing, when two users would share a key.
void rekey_usernames(Connection& c, const std::string& path) {
  using namespace storage_detail;
  const std::string meta_name(username_keys_meta);
  auto current = [&] {
    const auto form = read_meta(c, meta_name.c_str());
    return form && std::string_view(reinterpret_cast<const char*>(form->data()), form->size()) == username_keys_form;
  };
  if (current()) return;
  Transaction tx(c);
  if (current()) return;  // another process got here first
  std::vector<StoredUsername> users;
  {
    Stmt s(c, "SELECT id, username, username_key FROM users ORDER BY created, id");
    while (s.step()) users.push_back(StoredUsername{s.text(0), s.text(1), s.text(2)});
  }
  auto plan = plan_username_rekey(users);
  if (!plan) throw Refusal{refuse(plan.error().code, path, plan.error().message)};
  // Through a placeholder no key can equal (keys never hold control characters), so no
  // intermediate state trips the UNIQUE constraint.
  for (const auto& r : *plan) Stmt(c, "UPDATE users SET username_key = char(1) || id WHERE id = ?1").text(1, r.id).run();
  for (const auto& r : *plan)
    Stmt(c, "UPDATE users SET username_key = ?2 WHERE id = ?1").text(1, r.id).text(2, r.key).run();
  Stmt(c, "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)")
      .text(1, meta_name)
      .blob(2, crypto::as_bytes(username_keys_form))
      .run();
  tx.commit();
}

// With a key: checks it against the database's check value, or (first use) records the
// check value and encrypts every plaintext private key. Without one: refuses a database
// that holds encrypted keys.
void setup_encryption(Connection& c, const std::string& path, const std::optional<SecretBytes>& key) {
  auto verify = [&](const std::optional<std::vector<std::uint8_t>>& check) {
    if (!check) corrupt("the database holds encrypted keys but no key check value");
    auto plain = unseal(*key, *check);
    if (!plain || crypto::as_text(plain->span()) != key_check_plaintext)
      throw Refusal{refuse(ErrorCode::invalid_argument, path,
                           "the private key encryption key is not the one this database was encrypted with")};
  };
  if (!key) {
    if (read_meta(c, meta_private_keys))
      throw Refusal{refuse(ErrorCode::invalid_argument, path,
                           "the database holds encrypted private keys and no encryption key was given (set "
                           "private_key_encryption_key, or " + std::string(sqlite_key_file_env) + ")")};
    return;
  }
  if (read_meta(c, meta_private_keys)) {
    verify(read_meta(c, meta_key_check));
    return;
  }
  {
    Transaction tx(c);
    if (read_meta(c, meta_private_keys)) {  // another process got here first
      verify(read_meta(c, meta_key_check));
      return;
    }
    const auto check = seal(*key, crypto::as_bytes(key_check_plaintext));
    Stmt(c, "INSERT INTO meta (name, value) VALUES (?1, ?2)").text(1, meta_key_check).blob(2, check).run();
    Stmt(c, "INSERT INTO meta (name, value) VALUES (?1, ?2)")
        .text(1, meta_private_keys)
        .blob(2, crypto::as_bytes("encrypted"))
        .run();
    std::vector<std::pair<std::int64_t, std::vector<std::uint8_t>>> sealed;
    {
      Stmt s(c, "SELECT seq, secret_key FROM signing_keys WHERE secret_key IS NOT NULL AND secret_encrypted = 0");
      while (s.step()) sealed.emplace_back(s.integer(0), seal(*key, s.blob(1)));
    }
    for (const auto& [seq, box] : sealed)
      Stmt(c, "UPDATE signing_keys SET secret_key = ?2, secret_encrypted = 1 WHERE seq = ?1")
          .integer(1, seq)
          .blob(2, box)
          .run();
    tx.commit();
  }
  // Move the pages out of the WAL and empty it, so the old plaintext (zeroed in the main
  // file by secure_delete) is not left in the -wal file either. Best effort: a reader in
  // another process may hold the WAL, in which case it is reused and overwritten later.
  sqlite3_wal_checkpoint_v2(c.db(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

// Re-encrypts every private key and the check value from `key` (already verified) to
// `replacement`, in one transaction.
void replace_encryption_key(Connection& c, const std::string& path, const SecretBytes& key,
                            const SecretBytes& replacement) {
  {
    Transaction tx(c);
    const auto check = read_meta(c, meta_key_check);
    auto plain_check = check ? unseal(key, *check) : std::nullopt;
    if (!plain_check || crypto::as_text(plain_check->span()) != key_check_plaintext)  // changed meanwhile
      throw Refusal{refuse(ErrorCode::invalid_argument, path,
                           "the private key encryption key is not the one this database was encrypted with")};
    std::vector<std::pair<std::int64_t, std::vector<std::uint8_t>>> resealed;
    {
      Stmt s(c, "SELECT seq, secret_key FROM signing_keys WHERE secret_key IS NOT NULL AND secret_encrypted = 1");
      while (s.step()) {
        auto plain = unseal(key, s.blob(1));
        if (!plain) corrupt("a private signing key does not decrypt with the current key");
        resealed.emplace_back(s.integer(0), seal(replacement, plain->span()));
      }
    }
    for (const auto& [seq, box] : resealed)
      Stmt(c, "UPDATE signing_keys SET secret_key = ?2 WHERE seq = ?1").integer(1, seq).blob(2, box).run();
    Stmt(c, "UPDATE meta SET value = ?2 WHERE name = ?1")
        .text(1, meta_key_check)
        .blob(2, seal(replacement, crypto::as_bytes(key_check_plaintext)))
        .run();
    tx.commit();
  }
  sqlite3_wal_checkpoint_v2(c.db(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);  // as above
}

Result<std::shared_ptr<Repository>> open_repository_at(SqliteOptions options) {
  const std::string path = options.path;
  if (path.empty()) return Error{ErrorCode::invalid_argument, "sqlite store: the database path is empty"};
  if (options.private_key_encryption_key && options.private_key_encryption_key->size() != sqlite_encryption_key_bytes)
    return refuse(ErrorCode::invalid_argument, path,
                  "the private key encryption key must be " + std::to_string(sqlite_encryption_key_bytes) + " bytes");
  if (options.replacement_key &&
      (!options.private_key_encryption_key || options.replacement_key->size() != sqlite_encryption_key_bytes))
    return refuse(ErrorCode::invalid_argument, path,
                  "a replacement key needs the current key, and must be " +
                      std::to_string(sqlite_encryption_key_bytes) + " bytes");
  if (options.busy_timeout.count() < 0) return refuse(ErrorCode::invalid_argument, path, "busy_timeout is negative");
  crypto::ensure_initialised();
  if (auto s = prepare_file(path); !s.ok()) return std::move(s).error();

  ConnectionSettings settings{path, options.synchronous, options.busy_timeout};
  std::unique_ptr<Connection> writer;
  auto opened = with_retry(options.busy_timeout, path, [&]() -> Status {
    try {
      writer = std::make_unique<Connection>(settings, true);
      {
        Stmt s(*writer, "PRAGMA journal_mode = WAL");
        if (!s.step() || s.text(0) != "wal")
          throw Refusal{refuse(ErrorCode::internal_error, path,
                               "cannot switch to WAL mode (is the directory writable?)")};
      }
      {
        Stmt s(*writer, "PRAGMA quick_check(1)");
        if (!s.step() || s.text(0) != "ok")
          throw Refusal{refuse(ErrorCode::internal_error, path, "the database is damaged: " + s.text(0))};
      }
      migrate(*writer, path);
      rekey_usernames(*writer, path);
      setup_encryption(*writer, path, options.private_key_encryption_key);
      if (options.replacement_key)
        replace_encryption_key(*writer, path, *options.private_key_encryption_key, *options.replacement_key);
      return {};
    } catch (const SqlFailure& failure) {
      writer.reset();
      const int primary = failure.code & 0xff;
      if (primary == SQLITE_NOTADB)
        throw Refusal{refuse(ErrorCode::internal_error, path, "is not an SQLite database (" + failure.message + ")")};
      if (primary == SQLITE_CORRUPT)
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
  });
  if (!opened.ok()) return std::move(opened).error();
  if (options.replacement_key) options.private_key_encryption_key = std::move(options.replacement_key);
  return std::shared_ptr<Repository>(std::make_shared<SqliteRepository>(
      std::move(settings), std::move(writer), std::move(options.private_key_encryption_key)));
}

}  // namespace

Result<std::shared_ptr<Repository>> open_sqlite_repository(SqliteOptions options) {
  return open_repository_at(std::move(options));
}

Result<SecretBytes> load_key_file(const std::string& path) {
  auto bad = [&](std::string_view problem) {
    return Error{ErrorCode::invalid_argument, "encryption key file " + path + ": " + std::string(problem)};
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return bad(std::string("cannot be read: ") + std::strerror(errno));
  constexpr std::size_t limit = 256;
  SecretBytes buffer(limit + 1);
  std::size_t size = 0;
  for (;;) {
    const auto n = ::read(fd, buffer.data() + size, buffer.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return bad(std::string("cannot be read: ") + std::strerror(e));
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
    if (size == buffer.size()) break;
  }
  ::close(fd);
  if (size == sqlite_encryption_key_bytes) return SecretBytes(buffer.span().first(size));
  std::size_t begin = 0;
  std::size_t end = size;
  auto space = [](std::uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (begin < end && space(buffer.data()[begin])) ++begin;
  while (end > begin && space(buffer.data()[end - 1])) --end;
  if (end - begin == 2 * sqlite_encryption_key_bytes) {
    SecretBytes key(sqlite_encryption_key_bytes);
    std::size_t written = 0;
    const char* end_of_hex = nullptr;
    if (sodium_hex2bin(key.data(), key.size(), reinterpret_cast<const char*>(buffer.data() + begin), end - begin,
                       nullptr, &written, &end_of_hex) == 0 &&
        written == key.size() && end_of_hex == reinterpret_cast<const char*>(buffer.data() + end))
      return key;
  }
  return bad("must hold exactly 32 raw bytes or 64 hexadecimal characters");
}

Result<std::optional<SecretBytes>> load_key_from_environment() {
  const char* path = std::getenv(sqlite_key_file_env);
  if (!path || !*path) return std::optional<SecretBytes>{};
  auto key = load_key_file(path);
  if (!key.ok()) return std::move(key).error();
  return std::optional<SecretBytes>(std::move(key).value());
}

}  // namespace iam
