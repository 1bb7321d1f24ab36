// The PostgreSQL repository (libpq): what is PostgreSQL's own. The records, the rules and
// encryption at rest are the SQL core's (storage/sql/sql_repository.h); this file supplies
// its sessions, the pool, the retry rule and cross-process invalidation.
//
// Connections: a pool of up to pool_size PGconn, each lent to one call at a time. Reads are
// one SELECT each (one snapshot, so consistent); apply() runs BEGIN … COMMIT on one
// connection. Statements are prepared once per connection (PQprepare) and run with
// PQexecPrepared: strings and bytea travel as binary parameters (exact length, so a NUL
// cannot truncate one silently), numbers and booleans as text; bytea columns are read as
// encode(…, 'hex') so the server's bytea_output setting does not matter.
//
// Failures of libpq or the server travel as a SqlFailure exception (nothing throws out of
// this file): the backend's run() catches them, retries serialization failures and
// deadlocks with backoff, retries once on a new connection when the old one turns out to
// be dead, and turns everything else into an Error. The schema's constraints stand behind
// the core's checks for races with other transactions (unique violation → duplicate,
// foreign key violation → not_found).
#include "iam/postgres_store.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "crypto/crypto.h"
#include "storage/postgres/postgres_schema.h"
#include "storage/sql/sql_repository.h"

namespace iam {
namespace {

using sql::corrupt;
using sql::Refusal;
using sql::SqlFailure;

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

bool sqlstate_class(std::string_view state, std::string_view cls) { return state.substr(0, 2) == cls; }

// The server is going away or not there yet: treat like a lost connection.
bool connection_state(std::string_view state) {
  return sqlstate_class(state, "08") || state == "57P01" || state == "57P02" || state == "57P03";
}

SqlFailure::Kind failure_kind(std::string_view state) {
  using K = SqlFailure::Kind;
  if (connection_state(state)) return K::connection_lost;
  if (state == "23505") return K::duplicate;
  if (state == "23503") return K::missing_reference;
  // A string the database cannot hold (not UTF-8, or NUL): a lookup of it finds nothing.
  if (state == "22021" || state == "22P05") return K::unstorable_text;
  if (sqlstate_class(state, "22") || state == "23502" || state == "23514") return K::invalid_data;
  if (state == "40001" || state == "40P01") return K::retryable;
  if (state == "XX001") return K::corrupt;
  return K::other;
}

[[noreturn]] void connection_failed(std::string message) {
  throw SqlFailure{SqlFailure::Kind::connection_lost, std::move(message)};
}

// libpq's multi-line messages as one line (they go to logs).
std::string one_line(const char* text) {
  std::string out;
  for (const char* p = text ? text : ""; *p; ++p) {
    const bool space = *p == '\n' || *p == '\t' || *p == '\r';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : *p;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

Error to_error(const SqlFailure& failure, std::string_view context) {
  std::string message = "postgres store " + std::string(context) + ": " + failure.message;
  if (failure.kind == SqlFailure::Kind::retryable) message += " (still conflicting after retry_timeout)";
  if (failure.during_commit) message += " (the connection was lost during COMMIT: the change may have been applied)";
  return Error{sql::error_code(failure.kind), std::move(message)};
}

// ---------------------------------------------------------------------------------------
// Parameters and results
// ---------------------------------------------------------------------------------------

// The parameters of one statement, $1 … $n in order.
class Params {
 public:
  Params() = default;
  // Binary format: the exact bytes, checked by the server (valid UTF-8, no NUL).
  Params& text(std::string_view value) {
    values_.push_back(Value{std::string(value), nullptr, 0, 1, false});
    return *this;
  }
  Params& integer(std::int64_t value) {
    values_.push_back(Value{std::to_string(value), nullptr, 0, 0, false});
    return *this;
  }
  Params& boolean(bool value) {
    values_.push_back(Value{value ? "t" : "f", nullptr, 0, 0, false});
    return *this;
  }
  Params& null() {
    values_.push_back(Value{{}, nullptr, 0, 0, true});
    return *this;
  }
  // bytea, bound without a copy: `value` must outlive the statement's execution (private
  // keys are bound this way so no unwiped copy is made here).
  Params& bytes(std::span<const std::uint8_t> value) {
    static constexpr char none = 0;
    const char* p = value.empty() ? &none : reinterpret_cast<const char*>(value.data());
    values_.push_back(Value{{}, p, static_cast<int>(value.size()), 1, false});
    return *this;
  }
  // A text[] as an array literal (text format): every element quoted, \ and " escaped.
  Params& text_array(const std::vector<std::string>& items) {
    std::string literal = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].find('\0') != std::string::npos)
        throw Refusal{Error{ErrorCode::invalid_argument, "postgres store: a role contains a NUL character"}};
      if (i) literal += ',';
      literal += '"';
      for (const char c : items[i]) {
        if (c == '"' || c == '\\') literal += '\\';
        literal += c;
      }
      literal += '"';
    }
    literal += '}';
    values_.push_back(Value{std::move(literal), nullptr, 0, 0, false});
    return *this;
  }

  // The core's parameters, in order.
  explicit Params(sql::Params params) {
    for (const auto& p : params) {
      switch (p.type) {
        case sql::SqlParam::Type::null: null(); break;
        case sql::SqlParam::Type::integer: integer(p.integer); break;
        case sql::SqlParam::Type::boolean: boolean(p.integer != 0); break;
        case sql::SqlParam::Type::text: text(p.text); break;
        case sql::SqlParam::Type::bytes: bytes(p.bytes); break;
        case sql::SqlParam::Type::text_list: text_array(*p.list); break;
      }
    }
  }

  int size() const { return static_cast<int>(values_.size()); }

  // The arrays PQexecPrepared takes; valid while this object is unchanged.
  void arrays(std::vector<const char*>& values, std::vector<int>& lengths, std::vector<int>& formats) const {
    for (const auto& v : values_) {
      if (v.null) values.push_back(nullptr);
      else values.push_back(v.external ? v.external : v.owned.c_str());
      lengths.push_back(v.external ? v.length : static_cast<int>(v.owned.size()));
      formats.push_back(v.format);
    }
  }

 private:
  struct Value {
    std::string owned;
    const char* external;
    int length;  // of `external`
    int format;  // 0 text, 1 binary
    bool null;
  };
  std::vector<Value> values_;
};

// A successful result (text format), cleared on destruction.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result) {}
  ~Rows() { PQclear(result_); }
  Rows(Rows&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
  Rows& operator=(Rows&&) = delete;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  int size() const { return PQntuples(result_); }
  bool empty() const { return size() == 0; }
  // Rows an INSERT / UPDATE / DELETE touched.
  std::int64_t affected() const { return parse_integer(PQcmdTuples(result_)); }

  bool is_null(int row, int col) const { return PQgetisnull(result_, row, col) != 0; }
  std::string_view view(int row, int col) const {
    return {PQgetvalue(result_, row, col), static_cast<std::size_t>(PQgetlength(result_, row, col))};
  }
  std::string text(int row, int col) const { return std::string(view(row, col)); }
  std::int64_t integer(int row, int col) const { return parse_integer(view(row, col)); }
  bool boolean(int row, int col) const {
    const auto v = view(row, col);
    if (v != "t" && v != "f") corrupt("a boolean column holds '" + std::string(v) + "'");
    return v == "t";
  }
  TimePoint time(int row, int col) const { return from_unix_seconds(integer(row, col)); }
  std::optional<TimePoint> optional_time(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return time(row, col);
  }
  // A column selected as encode(…, 'hex'), decoded straight into wiped memory; the hex
  // text in the result is wiped as well.
  SecretBytes secret_hex(int row, int col) const {
    char* text = PQgetvalue(result_, row, col);
    const auto length = static_cast<std::size_t>(PQgetlength(result_, row, col));
    SecretBytes out(length / 2);
    std::size_t written = 0;
    const bool ok = length % 2 == 0 && sodium_hex2bin(out.data(), out.size(), text, length, nullptr, &written,
                                                      nullptr) == 0 && written == out.size();
    sodium_memzero(text, length);
    if (!ok) corrupt("a bytea column does not decode");
    return out;
  }
  std::vector<std::string> text_array(int row, int col) const;

 private:
  static std::int64_t parse_integer(std::string_view text) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) corrupt("an integer column holds '" + std::string(text) + "'");
    return value;
  }

  PGresult* result_;
};

// Parses the text output of a one-dimensional text[] without NULL elements: elements are
// double-quoted (with \ escapes) when they need it, bare otherwise.
std::vector<std::string> Rows::text_array(int row, int col) const {
  const std::string_view text = view(row, col);
  std::vector<std::string> out;
  std::size_t i = 0;
  auto bad = [&]() -> std::vector<std::string> { corrupt("a text[] column holds a malformed array"); };
  if (text.size() < 2 || text[i++] != '{') return bad();
  if (text[i] == '}') return i + 1 == text.size() ? out : bad();
  for (;;) {
    std::string item;
    if (i < text.size() && text[i] == '"') {
      ++i;
      for (;;) {
        if (i >= text.size()) return bad();
        char c = text[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= text.size()) return bad();
          c = text[i++];
        }
        item += c;
      }
    } else {
      while (i < text.size() && text[i] != ',' && text[i] != '}') {
        if (text[i] == '"' || text[i] == '\\' || text[i] == '{') return bad();
        item += text[i++];
      }
      const bool null = item.size() == 4 && (item[0] | 0x20) == 'n' && (item[1] | 0x20) == 'u' &&
                        (item[2] | 0x20) == 'l' && (item[3] | 0x20) == 'l';
      if (item.empty() || null) return bad();  // NULL elements are refused by the schema
    }
    out.push_back(std::move(item));
    if (i >= text.size()) return bad();
    const char sep = text[i++];
    if (sep == '}') break;
    if (sep != ',') return bad();
  }
  if (i != text.size()) return bad();
  return out;
}


// One row of a result, as the core reads it.
class PgRow final : public sql::SqlRow {
 public:
  PgRow(const Rows& rows, int row) : rows_(rows), row_(row) {}
  bool is_null(int col) const override { return rows_.is_null(row_, col); }
  std::int64_t integer(int col) const override { return rows_.integer(row_, col); }
  bool boolean(int col) const override { return rows_.boolean(row_, col); }
  std::string text(int col) const override { return rows_.text(row_, col); }
  SecretBytes bytes(int col) const override { return rows_.secret_hex(row_, col); }
  std::vector<std::string> text_list(int col) const override { return rows_.text_array(row_, col); }

 private:
  const Rows& rows_;
  int row_;
};

// ---------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------

// Serialises schema changes of one database across processes: an advisory lock, keyed
// "iam1" and 1. Taken before the transaction begins: a transaction's start is when the
// server drops cached catalog entries, so what is read after it sees tables another
// process created while this one waited.
constexpr const char* schema_lock = "SELECT pg_advisory_lock(1767992625, 1)";
constexpr const char* schema_unlock = "SELECT pg_advisory_unlock(1767992625, 1)";

class Connection final : public sql::SqlSession {
 public:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  ~Connection() override { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Usable for another call: connected and outside any transaction.
  bool reusable() const { return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE; }
  bool in_transaction() const { return PQtransactionStatus(conn_) != PQTRANS_IDLE; }

  void query(const std::string& sql, sql::Params params, sql::FunctionRef<void(const sql::SqlRow&)> row) override {
    const Rows rows = run(sql, Params(params));
    for (int i = 0; i < rows.size(); ++i) row(PgRow(rows, i));
  }
  std::int64_t execute(const std::string& sql, sql::Params params) override {
    return run(sql, Params(params)).affected();
  }
  // SQL text without parameters: transaction control, LOCK, DDL (possibly several statements).
  void execute_script(const char* sql) override { exec(sql); }

  void begin() override { exec("BEGIN ISOLATION LEVEL READ COMMITTED"); }
  void commit() override {
    try {
      exec("COMMIT");
    } catch (SqlFailure& failure) {
      failure.during_commit = failure.kind == SqlFailure::Kind::connection_lost;
      throw;
    }
  }
  // Best effort: a connection that cannot roll back is not reused (see reusable()).
  void rollback() noexcept override {
    if (PQstatus(conn_) == CONNECTION_OK && in_transaction()) PQclear(PQexec(conn_, "ROLLBACK"));
  }

  void begin_schema_change() override {
    exec(schema_lock);
    try {
      begin();
    } catch (...) {
      end_schema_change();
      throw;
    }
  }
  // Best effort (a lost connection releases what it held).
  void end_schema_change() noexcept override { PQclear(PQexec(conn_, schema_unlock)); }
  // SHARE ROW EXCLUSIVE conflicts with itself and with every writer of these tables, so
  // racing bootstraps run one after another and each sees what the earlier committed
  // (READ COMMITTED: the next statement takes a new snapshot).
  void lock_tables(std::string_view tables) override {
    exec(("LOCK TABLE " + std::string(tables) + " IN SHARE ROW EXCLUSIVE MODE").c_str());
  }

  // The schema version, 0 when there are no iam tables yet.
  int schema_version() override {
    if (!exec("SELECT 1 WHERE to_regclass('iam_schema_version') IS NOT NULL").size()) return 0;
    const auto r = exec("SELECT version FROM iam_schema_version WHERE id = 1");
    if (r.size() != 1) corrupt("the iam_schema_version table is empty");
    return static_cast<int>(r.integer(0, 0));
  }

 private:
  Rows exec(const char* sql) { return check(PQexec(conn_, sql)); }

  // A statement with parameters, prepared on this connection at first use.
  Rows run(const std::string& sql, const Params& params) {
    const std::string& name = prepared(sql, params.size());
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    params.arrays(values, lengths, formats);
    return check(PQexecPrepared(conn_, name.c_str(), params.size(), values.data(), lengths.data(), formats.data(), 0));
  }

  const std::string& prepared(const std::string& sql, int parameters) {
    const auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    std::string name = "iam_" + std::to_string(statements_.size());
    check(PQprepare(conn_, name.c_str(), sql.c_str(), parameters, nullptr));
    return statements_.emplace(sql, std::move(name)).first->second;
  }

  Rows check(PGresult* result) {
    const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Rows(result);
    std::string sqlstate;
    SqlFailure failure;
    if (result) {
      const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
      sqlstate = state ? state : "";
      // The primary message only: DETAIL would quote the row's values.
      const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
      failure.message = one_line(primary ? primary : PQresultErrorMessage(result));
      PQclear(result);
    } else {
      failure.message = one_line(PQerrorMessage(conn_));
    }
    if (failure.message.empty()) failure.message = "unexpected result " + std::string(PQresStatus(status));
    failure.kind = PQstatus(conn_) != CONNECTION_OK ? SqlFailure::Kind::connection_lost : failure_kind(sqlstate);
    if (failure.kind == SqlFailure::Kind::connection_lost && sqlstate.empty())
      failure.message = "connection lost: " + failure.message;
    throw failure;
  }

  PGconn* conn_;
  std::unordered_map<std::string, std::string> statements_;  // SQL → prepared statement name
};

// Opens connections with the repository's settings.
class Connector {
 public:
  explicit Connector(std::string conninfo)
      : conninfo_(std::move(conninfo)),
        default_timeout_(std::getenv("PGCONNECT_TIMEOUT") == nullptr),
        default_name_(std::getenv("PGAPPNAME") == nullptr) {}

  std::unique_ptr<Connection> connect() const {
    std::vector<const char*> keywords;
    std::vector<const char*> values;
    parameters(keywords, values);
    PGconn* conn = PQconnectdbParams(keywords.data(), values.data(), 1);
    if (!conn) connection_failed("cannot connect: out of memory");
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string message = "cannot connect: " + one_line(PQerrorMessage(conn));
      PQfinish(conn);
      connection_failed(std::move(message));
    }
    return std::make_unique<Connection>(conn);
  }

  // The same connection, started without blocking (PQconnectStartParams): the caller drives
  // it with PQconnectPoll. Null when out of memory.
  PGconn* start() const {
    std::vector<const char*> keywords;
    std::vector<const char*> values;
    parameters(keywords, values);
    return PQconnectStartParams(keywords.data(), values.data(), 1);
  }

 private:
  // Defaults first (only those the environment leaves unset: a keyword given here would
  // beat the PG* variable), then the caller's conninfo, expanded from "dbname", so that
  // it overrides them; last what this file relies on: UTF-8 text.
  void parameters(std::vector<const char*>& keywords, std::vector<const char*>& values) const {
    auto add = [&](const char* keyword, const char* value) {
      keywords.push_back(keyword);
      values.push_back(value);
    };
    if (default_timeout_) add("connect_timeout", "10");
    if (default_name_) add("application_name", "iam");
    add("keepalives_idle", "30");
    add("keepalives_interval", "10");
    add("keepalives_count", "3");
    add("tcp_user_timeout", "30000");  // a server gone mid-call is given up on after 30 s
    add("dbname", conninfo_.c_str());
    add("client_encoding", "UTF8");
    add(nullptr, nullptr);
  }

  std::string conninfo_;
  bool default_timeout_;
  bool default_name_;
};

// postgres_pool_stats(): process-wide, so an application reads them without a handle on
// the repository (which make_repository hides behind Repository).
std::atomic<std::uint64_t> connections_in_use{0};
std::atomic<std::uint64_t> connections_lost{0};

// At most `size` connections; idle ones are kept for the next call.
class Pool {
 public:
  Pool(Connector connector, std::size_t size) : connector_(std::move(connector)), size_(size) {
    idle_.reserve(size);  // give_back never allocates
  }

  // A connection on loan, returned (or dropped, when not reusable) when the loan ends.
  class Lease {
   public:
    Lease(Pool& pool, std::unique_ptr<Connection> connection) : pool_(pool), connection_(std::move(connection)) {
      connections_in_use.fetch_add(1, std::memory_order_relaxed);
    }
    ~Lease() { release(); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() { return *connection_; }
    void release() noexcept {
      if (!released_) {
        pool_.give_back(std::move(connection_));
        connections_in_use.fetch_sub(1, std::memory_order_relaxed);
      }
      released_ = true;
    }

   private:
    Pool& pool_;
    std::unique_ptr<Connection> connection_;
    bool released_ = false;
  };

  // Waits for an idle connection or room for a new one. Throws SqlFailure when a new
  // connection cannot be made.
  std::unique_ptr<Connection> take() {
    {
      MutexLock lock(mutex_);
      available_.wait(mutex_, [&]() IAM_REQUIRES(mutex_) { return !idle_.empty() || open_ < size_; });
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
      ++open_;  // reserved while connecting outside the lock
    }
    try {
      return connector_.connect();
    } catch (...) {
      give_back(nullptr);
      throw;
    }
  }

  // Adds a connection made elsewhere (the one open() migrated with).
  void adopt(std::unique_ptr<Connection> connection) {
    {
      MutexLock lock(mutex_);
      ++open_;
    }
    give_back(std::move(connection));
  }

  void give_back(std::unique_ptr<Connection> connection) noexcept {
    if (connection && connection->in_transaction()) connection->rollback();
    std::unique_ptr<Connection> closing;
    {
      MutexLock lock(mutex_);
      if (connection && connection->reusable()) {
        idle_.push_back(std::move(connection));
      } else {
        closing = std::move(connection);
        --open_;
      }
    }
    available_.notify_one();
  }

  // After one connection was found dead the idle ones probably are too (a server restart):
  // close them all rather than let each caller find out.
  void drop_idle() noexcept {
    std::vector<std::unique_ptr<Connection>> closing;
    {
      MutexLock lock(mutex_);
      closing.swap(idle_);
      open_ -= closing.size();
    }
    available_.notify_all();
  }

 private:
  Connector connector_;
  const std::size_t size_;
  Mutex mutex_;
  std::condition_variable_any available_;  // waits on mutex_
  std::vector<std::unique_ptr<Connection>> idle_ IAM_GUARDED_BY(mutex_);
  std::size_t open_ IAM_GUARDED_BY(mutex_) = 0;  // idle + lent + being connected
};

// ---------------------------------------------------------------------------------------
// Cross-process invalidation: NOTIFY on a pooled connection, LISTEN on a dedicated one
// ---------------------------------------------------------------------------------------

constexpr const char* notify_channel = "iam_invalidation";
constexpr std::size_t notify_payload_limit = 7999;  // PostgreSQL: payloads under 8000 bytes

std::string_view kind_word(Invalidation::Kind kind) {
  switch (kind) {
    case Invalidation::Kind::user: return "user";
    case Invalidation::Kind::api_key: return "api_key";
    case Invalidation::Kind::workspace: return "workspace";
    case Invalidation::Kind::signing_keys: return "signing_keys";
    case Invalidation::Kind::everything: return "everything";
  }
  return "everything";
}

std::optional<Invalidation::Kind> kind_of(std::string_view word) {
  using K = Invalidation::Kind;
  for (const K k : {K::user, K::api_key, K::workspace, K::signing_keys, K::everything})
    if (word == kind_word(k)) return k;
  return std::nullopt;
}

// "<instance> <kind> <id>" (the id may be empty or hold spaces); one too long for
// PostgreSQL says "everything" instead.
std::string notify_payload(std::string_view instance, const Invalidation& what) {
  std::string payload = std::string(instance) + ' ' + std::string(kind_word(what.kind)) + ' ' + what.id;
  if (payload.size() > notify_payload_limit) payload = std::string(instance) + " everything ";
  return payload;
}

// What a payload asks; nullopt for one this instance sent. A payload that does not parse
// (another writer on the channel, a newer kind) is taken as "everything".
std::optional<Invalidation> parse_payload(std::string_view payload, std::string_view self) {
  const auto first = payload.find(' ');
  if (payload.substr(0, first) == self) return std::nullopt;
  if (first == std::string_view::npos) return Invalidation{};
  const std::string_view rest = payload.substr(first + 1);
  const auto second = rest.find(' ');
  const auto kind = kind_of(rest.substr(0, second));
  if (!kind) return Invalidation{};
  Invalidation out{*kind, second == std::string_view::npos ? std::string() : std::string(rest.substr(second + 1))};
  if (out.kind == Invalidation::Kind::signing_keys || out.kind == Invalidation::Kind::everything) out.id.clear();
  return out;
}

// Waits up to `ms` for the connection's socket to be readable (or writable): 1 ready,
// 0 not yet, -1 no socket or poll failed.
int wait_socket(PGconn* conn, bool write, int ms) {
  const int fd = PQsocket(conn);
  if (fd < 0) return -1;
  pollfd p{};
  p.fd = fd;
  p.events = write ? POLLOUT : POLLIN;
  const int r = ::poll(&p, 1, ms);
  if (r < 0) return errno == EINTR ? 0 : -1;
  return r > 0 ? 1 : 0;
}

// The listening side: one thread with its own connection, started by the first listener.
// It waits on the socket at most poll_ms at a time so that stopping is prompt; a lost
// connection is reported as "everything" and re-established with capped backoff, and
// "everything" is reported again once listening again (what was sent in between is unknown).
class ChangeChannel {
 public:
  static constexpr int poll_ms = 100;
  static constexpr std::chrono::seconds connect_limit{10};
  static constexpr std::chrono::seconds first_listen_wait{2};

  ChangeChannel(Connector connector, std::string instance)
      : connector_(std::move(connector)), instance_(std::move(instance)) {}
  ~ChangeChannel() { stop(); }
  ChangeChannel(const ChangeChannel&) = delete;
  ChangeChannel& operator=(const ChangeChannel&) = delete;

  const std::string& instance() const { return instance_; }

  // The first call starts the thread and waits (at most first_listen_wait) until it listens;
  // if it does not by then, it reports "everything" once it does.
  void add(InvalidationListener listener) {
    MutexLock lock(mutex_);
    listeners_.push_back(std::move(listener));
    if (thread_.joinable()) return;
    thread_ = std::thread([this] { run(); });
    changed_.wait_for(mutex_, first_listen_wait, [&]() IAM_REQUIRES(mutex_) { return listening_ || stop_; });
    if (!listening_) announce_next_listen_ = true;
  }

  void stop() noexcept {
    {
      MutexLock lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  bool stopping() {
    MutexLock lock(mutex_);
    return stop_;
  }

  void pause(std::chrono::milliseconds d) {
    MutexLock lock(mutex_);
    changed_.wait_for(mutex_, d, [&]() IAM_REQUIRES(mutex_) { return stop_; });
  }

  void deliver(const Invalidation& what) noexcept {
    std::vector<InvalidationListener> listeners;
    try {
      MutexLock lock(mutex_);
      listeners = listeners_;
    } catch (...) {
      return;
    }
    for (const auto& listener : listeners) {
      try {
        if (listener) listener(what);
      } catch (...) {
      }
    }
  }

  void run() noexcept {
    std::chrono::milliseconds backoff{100};
    bool lost = false;  // a channel was lost: report "everything" when listening again
    while (!stopping()) {
      PGconn* conn = nullptr;
      try {
        conn = open_listening();
      } catch (...) {
        conn = nullptr;
      }
      if (conn) {
        backoff = std::chrono::milliseconds(100);
        bool announce = lost;
        {
          MutexLock lock(mutex_);
          listening_ = true;
          announce = announce || announce_next_listen_;
          announce_next_listen_ = false;
        }
        changed_.notify_all();
        if (announce) deliver(Invalidation{});
        listen(conn);
        PQfinish(conn);
        {
          MutexLock lock(mutex_);
          listening_ = false;
        }
        if (stopping()) break;
        deliver(Invalidation{});  // notifications may have been missed
        lost = true;
        continue;  // one attempt at once, then backoff
      }
      if (stopping()) break;
      pause(backoff);
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(2));
    }
  }

  // A connection that listens on the channel, or null (unreachable, failed or stopping).
  // Never blocks for longer than poll_ms without looking at the stop flag.
  PGconn* open_listening() {
    PGconn* conn = connector_.start();
    if (!conn) return nullptr;
    auto fail = [&]() -> PGconn* {
      PQfinish(conn);
      return nullptr;
    };
    if (PQstatus(conn) == CONNECTION_BAD) return fail();
    const auto deadline = std::chrono::steady_clock::now() + connect_limit;
    auto status = PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK) {
      if (status == PGRES_POLLING_FAILED || stopping() || std::chrono::steady_clock::now() > deadline) return fail();
      const int ready = wait_socket(conn, status == PGRES_POLLING_WRITING, poll_ms);
      if (ready < 0) return fail();
      if (ready > 0) status = PQconnectPoll(conn);
    }
    // Quiet: the server's words when it shuts down would go to stderr.
    PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
    if (!PQsendQuery(conn, "LISTEN iam_invalidation")) return fail();
    while (PQisBusy(conn)) {
      if (stopping() || std::chrono::steady_clock::now() > deadline) return fail();
      const int ready = wait_socket(conn, false, poll_ms);
      if (ready < 0) return fail();
      if (ready > 0 && !PQconsumeInput(conn)) return fail();
    }
    bool ok = true;
    while (PGresult* result = PQgetResult(conn)) {
      if (PQresultStatus(result) != PGRES_COMMAND_OK) ok = false;
      PQclear(result);
    }
    if (!ok || PQstatus(conn) != CONNECTION_OK) return fail();
    return conn;
  }

  // Delivers notifications until the connection is lost or the channel stops.
  void listen(PGconn* conn) {
    while (!stopping()) {
      const int ready = wait_socket(conn, false, poll_ms);
      if (ready < 0) return;
      if (ready > 0 && !PQconsumeInput(conn)) return;
      while (PGnotify* notify = PQnotifies(conn)) {
        const bool ours = notify->relname && std::strcmp(notify->relname, notify_channel) == 0;
        std::string payload = ours && notify->extra ? notify->extra : "";
        PQfreemem(notify);
        if (!ours) continue;
        if (const auto what = parse_payload(payload, instance_)) deliver(*what);
      }
      if (PQstatus(conn) != CONNECTION_OK) return;
    }
  }

  const Connector connector_;
  const std::string instance_;
  Mutex mutex_;
  std::condition_variable_any changed_;  // waits on mutex_
  std::vector<InvalidationListener> listeners_ IAM_GUARDED_BY(mutex_);
  bool stop_ IAM_GUARDED_BY(mutex_) = false;
  bool listening_ IAM_GUARDED_BY(mutex_) = false;
  bool announce_next_listen_ IAM_GUARDED_BY(mutex_) = false;
  // Started under mutex_ by add(); joined by stop() (from the destructor, when no add() can
  // run), which must not hold mutex_ while the thread still takes it.
  std::thread thread_;
};

// 16 hex digits, random per repository: tells a repository its own notifications.
std::string new_instance_id() {
  std::array<std::uint8_t, 8> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  char hex[2 * 8 + 1];
  sodium_bin2hex(hex, sizeof hex, bytes.data(), bytes.size());
  return std::string(hex, 16);
}

sql::SqlDialect postgres_dialect() {
  sql::SqlDialect d;
  d.label = "postgres store";
  d.table_prefix = "iam_";
  d.placeholder = '$';
  d.bytes_as_hex = true;
  d.key_check_text = "iam postgres store: private key encryption check v1";
  d.migration_steps = postgres_detail::migration_steps();
  return d;
}

// ---------------------------------------------------------------------------------------
// The backend: the pool, the retry rule, the invalidation channel
// ---------------------------------------------------------------------------------------

class PostgresBackend final : public sql::SqlBackend {
 public:
  PostgresBackend(Connector connector, std::size_t pool_size, std::chrono::milliseconds retry_timeout)
      : dialect_(postgres_dialect()),
        pool_(connector, pool_size),
        retry_timeout_(retry_timeout),
        channel_(std::move(connector), new_instance_id()) {}

  void adopt(std::unique_ptr<Connection> connection) { pool_.adopt(std::move(connection)); }

  const sql::SqlDialect& dialect() const noexcept override { return dialect_; }

  // Runs `body` on a pooled connection: retries serialization failures and deadlocks with
  // jittered backoff until retry_timeout has passed, and once on a new connection when the
  // one it had turns out dead before anything was committed; any other failure is an Error.
  Status run(std::string_view what, sql::Access access, sql::FunctionRef<Status(sql::SqlSession&)> body) override {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + retry_timeout_;
    std::chrono::microseconds backoff{1000};
    thread_local std::minstd_rand jitter{std::random_device{}()};
    bool reconnected = false;
    for (;;) {
      std::unique_ptr<Connection> taken;
      try {
        taken = pool_.take();
      } catch (const SqlFailure& failure) {
        return to_error(failure, what);  // the server is unreachable
      } catch (const std::bad_alloc&) {
        return Error{ErrorCode::internal_error, "postgres store " + std::string(what) + ": out of memory"};
      }
      Pool::Lease lease(pool_, std::move(taken));
      try {
        return body(*lease);
      } catch (const SqlFailure& failure) {
        if (failure.kind == SqlFailure::Kind::connection_lost) {
          connections_lost.fetch_add(1, std::memory_order_relaxed);
          lease.release();  // not reusable: closed
          pool_.drop_idle();
          if (!reconnected && !failure.during_commit) {
            reconnected = true;
            continue;
          }
          return to_error(failure, what);
        }
        if (failure.kind == SqlFailure::Kind::unstorable_text && access == sql::Access::read)
          return Error{ErrorCode::not_found, "postgres store " + std::string(what) + ": no record has that key"};
        if (failure.kind != SqlFailure::Kind::retryable || Clock::now() >= deadline) return to_error(failure, what);
      } catch (const Refusal& refusal) {
        return refusal.error;
      } catch (const std::bad_alloc&) {
        return Error{ErrorCode::internal_error, "postgres store " + std::string(what) + ": out of memory"};
      } catch (const std::exception& e) {
        return Error{ErrorCode::internal_error, "postgres store " + std::string(what) + ": " + e.what()};
      }
      lease.release();  // do not hold a connection while waiting
      const auto wait = backoff / 2 + std::chrono::microseconds(jitter() % static_cast<unsigned>(backoff.count()));
      std::this_thread::sleep_for(wait);
      backoff = std::min<std::chrono::microseconds>(backoff * 2, std::chrono::milliseconds(100));
    }
  }

  // NOTIFY on a pooled connection (retried once on a new one after a restart, like every
  // call); when the server cannot be reached the notification is dropped: the others then
  // learn within their caches' TTL.
  void publish(const Invalidation& what) noexcept override {
    try {
      const std::string payload = notify_payload(channel_.instance(), what);
      (void)run("publish", sql::Access::write, [&](sql::SqlSession& s) -> Status {
        s.query("SELECT pg_notify('iam_invalidation', $1)", {sql::text(payload)}, [](const sql::SqlRow&) {});
        return {};
      });
    } catch (...) {
    }
  }

  void add_change_listener(InvalidationListener listener) override { channel_.add(std::move(listener)); }

 private:
  const sql::SqlDialect dialect_;
  Pool pool_;
  const std::chrono::milliseconds retry_timeout_;
  ChangeChannel channel_;  // last: its thread stops first
};

Error refuse(ErrorCode code, std::string_view problem) {
  return Error{code, "postgres store: " + std::string(problem)};
}

}  // namespace

bool postgres_store_available() noexcept { return true; }

PostgresPoolStats postgres_pool_stats() noexcept {
  return {connections_in_use.load(std::memory_order_relaxed), connections_lost.load(std::memory_order_relaxed)};
}

Result<std::shared_ptr<Repository>> make_postgres_repository(PostgresOptions options) {
  if (options.pool_size == 0) return refuse(ErrorCode::invalid_argument, "pool_size must be at least 1");
  if (options.retry_timeout.count() < 0) return refuse(ErrorCode::invalid_argument, "retry_timeout is negative");
  IAM_RETURN_IF_ERROR(
      sql::check_key_options("postgres store", options.private_key_encryption_key, options.replacement_key));
  if (!options.conninfo.empty()) {
    // libpq's own message may quote the string (and a password in it): not repeated.
    char* parse_error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(options.conninfo.c_str(), &parse_error);
    PQfreemem(parse_error);
    if (!parsed)
      return refuse(ErrorCode::invalid_argument,
                    "the connection string is neither libpq keyword=value pairs nor a postgresql:// URI");
    PQconninfoFree(parsed);
  }
  crypto::ensure_initialised();

  Connector connector(options.conninfo);
  try {
    auto connection = connector.connect();
    try {
      sql::open_database(*connection, postgres_dialect(), options.private_key_encryption_key, options.replacement_key);
    } catch (...) {
      connection->rollback();
      throw;
    }
    if (options.replacement_key) options.private_key_encryption_key = std::move(options.replacement_key);
    auto backend = std::make_unique<PostgresBackend>(std::move(connector), options.pool_size, options.retry_timeout);
    backend->adopt(std::move(connection));
    return sql::make_sql_repository(std::move(backend), std::move(options.private_key_encryption_key));
  } catch (const SqlFailure& failure) {
    return to_error(failure, "open");
  } catch (const Refusal& refusal) {
    return refusal.error;
  } catch (const std::bad_alloc&) {
    return refuse(ErrorCode::internal_error, "out of memory");
  }
}

}  // namespace iam
