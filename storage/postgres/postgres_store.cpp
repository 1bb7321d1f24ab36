// The PostgreSQL repository (libpq).
//
// Connections: a pool of up to pool_size PGconn, each lent to one call at a time. Reads are
// one SELECT each (one snapshot, so consistent); apply() runs BEGIN … COMMIT on one
// connection. Statements are prepared once per connection (PQprepare) and run with
// PQexecPrepared: strings and bytea travel as binary parameters (exact length, so a NUL
// cannot truncate one silently), numbers and booleans as text; bytea columns are read as
// encode(…, 'hex') so the server's bytea_output setting does not matter.
//
// Failures of libpq or the server travel inside this file as a PgFailure exception (nothing
// throws out of it): run() catches them, retries serialization failures and deadlocks with
// backoff, retries once on a new connection when the old one turns out to be dead, and
// turns everything else into an Error. The rules of repository.h (duplicate, not_found) are
// checked with explicit queries in the order the in-memory backend checks them; the
// schema's constraints stand behind them for races with other transactions (unique
// violation → duplicate, foreign key violation → not_found).
#include "iam/postgres_store.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "storage/postgres/postgres_schema.h"
#include "storage/username_keys.h"

namespace iam {
namespace {

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

// A failure of libpq or the server. `sqlstate` is empty when the server never answered.
struct PgFailure {
  std::string sqlstate;
  std::string message;
  bool connection_lost = false;  // the connection is unusable (or was never made)
  bool during_commit = false;    // lost while COMMIT was in flight: the outcome is unknown
};

// A refusal that is not the server's: carried out of deep code as an exception, then returned.
struct Refusal {
  Error error;
};

[[noreturn]] void corrupt(std::string message) { throw PgFailure{"XX001", std::move(message)}; }

bool sqlstate_class(std::string_view state, std::string_view cls) { return state.substr(0, 2) == cls; }

// The server is going away or not there yet: treat like a lost connection.
bool connection_state(std::string_view state) {
  return sqlstate_class(state, "08") || state == "57P01" || state == "57P02" || state == "57P03";
}

bool retryable(std::string_view state) { return state == "40001" || state == "40P01"; }

// A string the database cannot hold (not UTF-8, or NUL): a lookup of it finds nothing.
bool unstorable_text(std::string_view state) { return state == "22021" || state == "22P05"; }

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

Error to_error(const PgFailure& failure, std::string_view context) {
  std::string message = "postgres store " + std::string(context) + ": " + failure.message;
  const std::string_view state = failure.sqlstate;
  if (state == "23505") return Error{ErrorCode::duplicate, std::move(message)};
  if (state == "23503") return Error{ErrorCode::not_found, std::move(message)};
  if (sqlstate_class(state, "22") || state == "23502" || state == "23514")
    return Error{ErrorCode::invalid_argument, std::move(message)};
  if (retryable(state)) message += " (still conflicting after retry_timeout)";
  if (failure.during_commit) message += " (the connection was lost during COMMIT: the change may have been applied)";
  return Error{ErrorCode::internal_error, std::move(message)};
}

// ---------------------------------------------------------------------------------------
// Parameters and results
// ---------------------------------------------------------------------------------------

// The parameters of one statement, $1 … $n in order.
class Params {
 public:
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
  Params& time(TimePoint value) { return integer(unix_seconds(value)); }
  Params& time(const std::optional<TimePoint>& value) { return value ? time(*value) : null(); }
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

// ---------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------

class Connection {
 public:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  ~Connection() { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Usable for another call: connected and outside any transaction.
  bool reusable() const { return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE; }
  bool in_transaction() const { return PQtransactionStatus(conn_) != PQTRANS_IDLE; }

  // SQL text without parameters: transaction control, LOCK, DDL (possibly several statements).
  Rows exec(const char* sql) { return check(PQexec(conn_, sql)); }

  // A statement with parameters, prepared on this connection at first use.
  Rows run(const char* sql, const Params& params = Params()) {
    const std::string& name = prepared(sql, params.size());
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    params.arrays(values, lengths, formats);
    return check(PQexecPrepared(conn_, name.c_str(), params.size(), values.data(), lengths.data(), formats.data(), 0));
  }

  bool exists(const char* sql, std::string_view arg) { return !run(sql, Params().text(arg)).empty(); }

  void begin() { exec("BEGIN ISOLATION LEVEL READ COMMITTED"); }
  void commit() {
    try {
      exec("COMMIT");
    } catch (PgFailure& failure) {
      failure.during_commit = failure.connection_lost;
      throw;
    }
  }
  // Best effort: a connection that cannot roll back is not reused (see reusable()).
  void rollback() noexcept {
    if (PQstatus(conn_) == CONNECTION_OK && in_transaction()) PQclear(PQexec(conn_, "ROLLBACK"));
  }
  // Best effort, for cleanup on a failure path (a lost connection releases what it held).
  void exec_quietly(const char* sql) noexcept { PQclear(PQexec(conn_, sql)); }

 private:
  const std::string& prepared(const char* sql, int parameters) {
    const auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    std::string name = "iam_" + std::to_string(statements_.size());
    check(PQprepare(conn_, name.c_str(), sql, parameters, nullptr));
    return statements_.emplace(sql, std::move(name)).first->second;
  }

  Rows check(PGresult* result) {
    const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Rows(result);
    PgFailure failure;
    if (result) {
      const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
      failure.sqlstate = state ? state : "";
      // The primary message only: DETAIL would quote the row's values.
      const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
      failure.message = one_line(primary ? primary : PQresultErrorMessage(result));
      PQclear(result);
    } else {
      failure.message = one_line(PQerrorMessage(conn_));
    }
    if (failure.message.empty()) failure.message = "unexpected result " + std::string(PQresStatus(status));
    failure.connection_lost = PQstatus(conn_) != CONNECTION_OK || connection_state(failure.sqlstate);
    if (failure.connection_lost && failure.sqlstate.empty()) failure.message = "connection lost: " + failure.message;
    throw failure;
  }

  PGconn* conn_;
  std::unordered_map<std::string_view, std::string> statements_;  // SQL (a literal) → name
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
    if (!conn) throw PgFailure{"", "cannot connect: out of memory", true};
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string message = "cannot connect: " + one_line(PQerrorMessage(conn));
      PQfinish(conn);
      throw PgFailure{"", std::move(message), true};
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

// At most `size` connections; idle ones are kept for the next call.
class Pool {
 public:
  Pool(Connector connector, std::size_t size) : connector_(std::move(connector)), size_(size) {
    idle_.reserve(size);  // give_back never allocates
  }

  // A connection on loan, returned (or dropped, when not reusable) when the loan ends.
  class Lease {
   public:
    Lease(Pool& pool, std::unique_ptr<Connection> connection) : pool_(pool), connection_(std::move(connection)) {}
    ~Lease() { release(); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() { return *connection_; }
    void release() noexcept {
      if (!released_) pool_.give_back(std::move(connection_));
      released_ = true;
    }

   private:
    Pool& pool_;
    std::unique_ptr<Connection> connection_;
    bool released_ = false;
  };

  // Waits for an idle connection or room for a new one. Throws PgFailure when a new
  // connection cannot be made.
  std::unique_ptr<Connection> take() {
    {
      std::unique_lock lock(mutex_);
      available_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
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
      std::lock_guard lock(mutex_);
      ++open_;
    }
    give_back(std::move(connection));
  }

  void give_back(std::unique_ptr<Connection> connection) noexcept {
    if (connection && connection->in_transaction()) connection->rollback();
    std::unique_ptr<Connection> closing;
    {
      std::lock_guard lock(mutex_);
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
      std::lock_guard lock(mutex_);
      closing.swap(idle_);
      open_ -= closing.size();
    }
    available_.notify_all();
  }

 private:
  Connector connector_;
  const std::size_t size_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;  // idle + lent + being connected
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
    std::unique_lock lock(mutex_);
    listeners_.push_back(std::move(listener));
    if (thread_.joinable()) return;
    thread_ = std::thread([this] { run(); });
    changed_.wait_for(lock, first_listen_wait, [&] { return listening_ || stop_; });
    if (!listening_) announce_next_listen_ = true;
  }

  void stop() noexcept {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  bool stopping() {
    std::lock_guard lock(mutex_);
    return stop_;
  }

  void pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, d, [&] { return stop_; });
  }

  void deliver(const Invalidation& what) noexcept {
    std::vector<InvalidationListener> listeners;
    try {
      std::lock_guard lock(mutex_);
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
          std::lock_guard lock(mutex_);
          listening_ = true;
          announce = announce || announce_next_listen_;
          announce_next_listen_ = false;
        }
        changed_.notify_all();
        if (announce) deliver(Invalidation{});
        listen(conn);
        PQfinish(conn);
        {
          std::lock_guard lock(mutex_);
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
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<InvalidationListener> listeners_;
  bool stop_ = false;
  bool listening_ = false;
  bool announce_next_listen_ = false;
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

// ---------------------------------------------------------------------------------------
// Private keys at rest: nonce || crypto_secretbox_easy(plaintext)
// ---------------------------------------------------------------------------------------

constexpr std::string_view key_check_plaintext = "iam postgres store: private key encryption check v1";
constexpr const char* meta_private_keys = "private_keys";  // value "encrypted"
constexpr const char* meta_key_check = "key_check";

std::vector<std::uint8_t> seal(const SecretBytes& key, std::span<const std::uint8_t> plaintext) {
  std::vector<std::uint8_t> box(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size());
  randombytes_buf(box.data(), crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(box.data() + crypto_secretbox_NONCEBYTES, plaintext.data(), plaintext.size(), box.data(),
                        key.data());
  return box;
}

std::optional<SecretBytes> unseal(const SecretBytes& key, std::span<const std::uint8_t> box) {
  if (box.size() <= crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) return std::nullopt;
  SecretBytes plaintext(box.size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES);
  if (crypto_secretbox_open_easy(plaintext.data(), box.data() + crypto_secretbox_NONCEBYTES,
                                 box.size() - crypto_secretbox_NONCEBYTES, box.data(), key.data()) != 0)
    return std::nullopt;
  return plaintext;
}

std::optional<std::vector<std::uint8_t>> read_meta(Connection& c, const char* name) {
  const auto r = c.run("SELECT encode(value, 'hex') FROM iam_meta WHERE name = $1", Params().text(name));
  if (r.empty()) return std::nullopt;
  auto bytes = crypto::hex_decode(r.view(0, 0));
  if (!bytes) corrupt("iam_meta." + std::string(name) + " does not decode");
  return bytes;
}

// True when `key` opens the database's check value (it is the key the database is under).
bool key_fits(Connection& c, const SecretBytes& key) {
  const auto check = read_meta(c, meta_key_check);
  const auto plain = check ? unseal(key, *check) : std::nullopt;
  return plain && crypto::as_text(plain->span()) == key_check_plaintext;
}

// ---------------------------------------------------------------------------------------
// Row readers
// ---------------------------------------------------------------------------------------

#define IAM_WORKSPACE_COLUMNS "id, name, enabled, created"
#define IAM_USER_COLUMNS \
  "id, workspace_id, username, name, email, roles, enabled, must_change_password, created, password_hash, " \
  "credentials_epoch"
#define IAM_KEY_COLUMNS "id, user_id, name, prefix, expires, created, last_used, key_hash"
#define IAM_SIGNING_COLUMNS \
  "kid, encode(public_key, 'hex'), encode(secret_key, 'hex'), secret_encrypted, created, retired"

WorkspaceRecord read_workspace(const Rows& r, int i) {
  WorkspaceRecord w;
  w.id = r.text(i, 0);
  w.name = r.text(i, 1);
  w.enabled = r.boolean(i, 2);
  w.created = r.time(i, 3);
  return w;
}

// bigint is signed: an epoch past INT64_MAX (never reached by +1 steps) is refused.
std::int64_t epoch_value(std::uint64_t epoch) {
  if (epoch > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw Refusal{Error{ErrorCode::invalid_argument, "credentials epoch out of range"}};
  return static_cast<std::int64_t>(epoch);
}

StoredUser read_user(const Rows& r, int i) {
  StoredUser u;
  u.record.id = r.text(i, 0);
  u.record.workspace = r.text(i, 1);
  u.record.username = r.text(i, 2);
  u.record.name = r.text(i, 3);
  u.record.email = r.text(i, 4);
  u.record.roles = r.text_array(i, 5);
  u.record.enabled = r.boolean(i, 6);
  u.record.must_change_password = r.boolean(i, 7);
  u.record.created = r.time(i, 8);
  u.password_hash = r.text(i, 9);
  const std::int64_t epoch = r.integer(i, 10);
  if (epoch < 0) corrupt("the credentials epoch of user '" + u.record.id + "' is negative");
  u.credentials_epoch = static_cast<std::uint64_t>(epoch);
  return u;
}

StoredApiKey read_key(const Rows& r, int i) {
  StoredApiKey k;
  k.record.id = r.text(i, 0);
  k.record.user_id = r.text(i, 1);
  k.record.name = r.text(i, 2);
  k.record.prefix = r.text(i, 3);
  k.record.expires = r.optional_time(i, 4);
  k.record.created = r.time(i, 5);
  k.record.last_used = r.optional_time(i, 6);
  k.key_hash = r.text(i, 7);
  return k;
}

template <class T, class F>
std::vector<T> read_all(const Rows& r, F read) {
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) out.push_back(read(r, i));
  return out;
}

// ---------------------------------------------------------------------------------------
// The repository
// ---------------------------------------------------------------------------------------

class PostgresRepository final : public Repository {
 public:
  PostgresRepository(Connector connector, std::size_t pool_size, std::chrono::milliseconds retry_timeout,
                     std::optional<SecretBytes> key)
      : pool_(connector, pool_size),
        retry_timeout_(retry_timeout),
        key_(std::move(key)),
        channel_(std::move(connector), new_instance_id()) {}

  void adopt(std::unique_ptr<Connection> connection) { pool_.adopt(std::move(connection)); }

  // NOTIFY on a pooled connection (retried once on a new one after a restart, like every
  // call); when the server cannot be reached the notification is dropped: the others then
  // learn within their caches' TTL.
  void publish(const Invalidation& what) noexcept override {
    try {
      const std::string payload = notify_payload(channel_.instance(), what);
      (void)run<void>("publish", [&](Connection& c) -> Status {
        c.run("SELECT pg_notify('iam_invalidation', $1)", Params().text(payload));
        return {};
      });
    } catch (...) {
    }
  }

  void add_change_listener(InvalidationListener listener) override { channel_.add(std::move(listener)); }

  Result<WorkspaceRecord> find_workspace(std::string_view id) override {
    return run<WorkspaceRecord>("find_workspace", [&](Connection& c) -> Result<WorkspaceRecord> {
      const auto r = c.run("SELECT " IAM_WORKSPACE_COLUMNS " FROM iam_workspaces WHERE id = $1", Params().text(id));
      if (r.empty()) return Error{ErrorCode::not_found, "workspace not found"};
      return read_workspace(r, 0);
    });
  }

  Result<std::vector<WorkspaceRecord>> list_workspaces() override {
    return run<std::vector<WorkspaceRecord>>("list_workspaces", [&](Connection& c) {
      return read_all<WorkspaceRecord>(c.run("SELECT " IAM_WORKSPACE_COLUMNS " FROM iam_workspaces ORDER BY id"),
                                       read_workspace);
    });
  }

  Result<StoredUser> find_user(std::string_view id) override {
    return run<StoredUser>("find_user", [&](Connection& c) -> Result<StoredUser> {
      const auto r = c.run("SELECT " IAM_USER_COLUMNS " FROM iam_users WHERE id = $1", Params().text(id));
      if (r.empty()) return Error{ErrorCode::not_found, "user not found"};
      return read_user(r, 0);
    });
  }

  Result<StoredUser> find_user_by_username(std::string_view username) override {
    const auto key = username_key(username);
    if (!key) return Error{ErrorCode::not_found, "user not found"};
    return run<StoredUser>("find_user_by_username", [&](Connection& c) -> Result<StoredUser> {
      const auto r = c.run("SELECT " IAM_USER_COLUMNS " FROM iam_users WHERE username_key = $1", Params().text(*key));
      if (r.empty()) return Error{ErrorCode::not_found, "user not found"};
      return read_user(r, 0);
    });
  }

  Result<std::vector<StoredUser>> list_users(std::optional<std::string_view> workspace) override {
    return run<std::vector<StoredUser>>("list_users", [&](Connection& c) {
      if (workspace)
        return read_all<StoredUser>(
            c.run("SELECT " IAM_USER_COLUMNS " FROM iam_users WHERE workspace_id = $1 ORDER BY username_key",
                  Params().text(*workspace)),
            read_user);
      return read_all<StoredUser>(c.run("SELECT " IAM_USER_COLUMNS " FROM iam_users ORDER BY username_key"),
                                  read_user);
    });
  }

  Result<StoredApiKey> find_api_key(std::string_view id) override {
    return run<StoredApiKey>("find_api_key", [&](Connection& c) -> Result<StoredApiKey> {
      const auto r = c.run("SELECT " IAM_KEY_COLUMNS " FROM iam_api_keys WHERE id = $1", Params().text(id));
      if (r.empty()) return Error{ErrorCode::not_found, "API key not found"};
      return read_key(r, 0);
    });
  }

  Result<StoredApiKey> find_api_key_by_hash(std::string_view key_hash) override {
    return run<StoredApiKey>("find_api_key_by_hash", [&](Connection& c) -> Result<StoredApiKey> {
      const auto r = c.run("SELECT " IAM_KEY_COLUMNS " FROM iam_api_keys WHERE key_hash = $1", Params().text(key_hash));
      if (r.empty()) return Error{ErrorCode::not_found, "API key not found"};
      return read_key(r, 0);
    });
  }

  Result<std::vector<StoredApiKey>> list_api_keys(std::string_view user_id) override {
    return run<std::vector<StoredApiKey>>("list_api_keys", [&](Connection& c) {
      return read_all<StoredApiKey>(
          c.run("SELECT " IAM_KEY_COLUMNS " FROM iam_api_keys WHERE user_id = $1 ORDER BY created, id",
                Params().text(user_id)),
          read_key);
    });
  }

  Result<std::vector<SigningKey>> list_signing_keys() override {
    return run<std::vector<SigningKey>>("list_signing_keys", [&](Connection& c) {
      const auto r = c.run("SELECT " IAM_SIGNING_COLUMNS " FROM iam_signing_keys ORDER BY created, seq");
      std::vector<SigningKey> out;
      for (int i = 0; i < r.size(); ++i) out.push_back(read_signing_key(r, i));
      return out;
    });
  }

  Result<bool> is_empty() override {
    return run<bool>("is_empty", [&](Connection& c) {
      const auto r = c.run("SELECT NOT EXISTS (SELECT 1 FROM iam_workspaces) AND NOT EXISTS (SELECT 1 FROM iam_users)");
      if (r.size() != 1) corrupt("is_empty returned no row");
      return r.boolean(0, 0);
    });
  }

  Status apply(std::span<const Mutation> change) override {
    if (change.empty()) return {};
    return run<void>("apply", [&](Connection& c) -> Status {
      c.begin();
      for (const auto& m : change) {
        Status s = std::visit([&](const auto& step) { return apply_one(c, step); }, m);
        if (!s.ok()) {
          c.rollback();
          return s;
        }
      }
      c.commit();
      return {};
    });
  }

 private:
  // Runs `body` on a pooled connection: retries serialization failures and deadlocks with
  // jittered backoff until retry_timeout has passed, and once on a new connection when the
  // one it had turns out dead before anything was committed; any other failure is an Error.
  template <class T, class F>
  Result<T> run(std::string_view what, F&& body) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + retry_timeout_;
    std::chrono::microseconds backoff{1000};
    thread_local std::minstd_rand jitter{std::random_device{}()};
    bool reconnected = false;
    for (;;) {
      std::unique_ptr<Connection> taken;
      try {
        taken = pool_.take();
      } catch (const PgFailure& failure) {
        return to_error(failure, what);  // the server is unreachable
      } catch (const std::bad_alloc&) {
        return Error{ErrorCode::internal_error, "postgres store " + std::string(what) + ": out of memory"};
      }
      Pool::Lease lease(pool_, std::move(taken));
      try {
        return body(*lease);
      } catch (const PgFailure& failure) {
        if (failure.connection_lost) {
          lease.release();  // not reusable: closed
          pool_.drop_idle();
          if (!reconnected && !failure.during_commit) {
            reconnected = true;
            continue;
          }
          return to_error(failure, what);
        }
        if (unstorable_text(failure.sqlstate) && !std::is_void_v<T>)
          return Error{ErrorCode::not_found, "postgres store " + std::string(what) + ": no record has that key"};
        if (!retryable(failure.sqlstate) || Clock::now() >= deadline) return to_error(failure, what);
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

  SigningKey read_signing_key(const Rows& r, int i) const {
    SigningKey k;
    k.kid = r.text(i, 0);
    {
      const SecretBytes pub = r.secret_hex(i, 1);
      if (pub.size() != k.public_key.size()) corrupt("signing key '" + k.kid + "' has a malformed public key");
      std::copy(pub.data(), pub.data() + pub.size(), k.public_key.begin());
    }
    if (!r.is_null(i, 2)) {
      SecretBytes stored = r.secret_hex(i, 2);
      if (r.boolean(i, 3)) {
        if (!key_)
          throw Refusal{Error{ErrorCode::invalid_argument,
                              "postgres store: signing keys are encrypted and this repository was opened without "
                              "the key"}};
        auto plain = unseal(*key_, stored.span());
        if (!plain) corrupt("the private half of signing key '" + k.kid + "' does not decrypt");
        k.secret_key = std::move(*plain);
      } else {
        k.secret_key = std::move(stored);
      }
      // libsodium's secret key is seed || public key: a swapped or damaged row shows here.
      if (k.secret_key.size() != ed25519_secret_key_bytes ||
          !std::equal(k.public_key.begin(), k.public_key.end(), k.secret_key.data() + ed25519_seed_bytes))
        corrupt("the private half of signing key '" + k.kid + "' does not match its public key");
    }
    k.created = r.time(i, 4);
    k.retired = r.optional_time(i, 5);
    return k;
  }

  // ---- mutations (inside the change's transaction) ----

  static Status apply_one(Connection& c, const mutation::RequireEmpty&) {
    // SHARE ROW EXCLUSIVE conflicts with itself and with every writer of these tables, so
    // racing bootstraps run one after another and each sees what the earlier committed
    // (READ COMMITTED: the next statement takes a new snapshot).
    c.exec("LOCK TABLE iam_workspaces, iam_users IN SHARE ROW EXCLUSIVE MODE");
    const auto r = c.run("SELECT EXISTS (SELECT 1 FROM iam_workspaces) OR EXISTS (SELECT 1 FROM iam_users)");
    if (r.size() == 1 && r.boolean(0, 0)) return Error{ErrorCode::duplicate, "the store is not empty"};
    return {};
  }

  static Status apply_one(Connection& c, const mutation::InsertWorkspace& m) {
    const auto& w = m.workspace;
    if (c.exists("SELECT 1 FROM iam_workspaces WHERE id = $1", w.id)) return Error{ErrorCode::duplicate, "workspace exists"};
    c.run("INSERT INTO iam_workspaces (id, name, enabled, created) VALUES ($1, $2, $3, $4)",
          Params().text(w.id).text(w.name).boolean(w.enabled).time(w.created));
    return {};
  }

  static Status apply_one(Connection& c, const mutation::UpdateWorkspace& m) {
    const auto& w = m.workspace;
    const auto r = c.run("UPDATE iam_workspaces SET name = $2, enabled = $3 WHERE id = $1",
                         Params().text(w.id).text(w.name).boolean(w.enabled));
    if (r.affected() == 0) return Error{ErrorCode::not_found, "workspace not found"};
    return {};
  }

  static Status apply_one(Connection& c, const mutation::InsertUser& m) {
    const auto& u = m.user;
    const auto key = username_key(u.record.username);
    if (c.exists("SELECT 1 FROM iam_users WHERE id = $1", u.record.id)) return Error{ErrorCode::duplicate, "user id exists"};
    if (!key) return Error{ErrorCode::invalid_argument, "the username has no key (not UTF-8, or empty)"};
    if (c.exists("SELECT 1 FROM iam_users WHERE username_key = $1", *key))
      return Error{ErrorCode::duplicate, "username exists"};
    if (!c.exists("SELECT 1 FROM iam_workspaces WHERE id = $1", u.record.workspace))
      return Error{ErrorCode::not_found, "workspace not found"};
    c.run("INSERT INTO iam_users (id, workspace_id, username, username_key, name, email, roles, enabled, "
          "must_change_password, created, password_hash, credentials_epoch) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
          Params()
              .text(u.record.id)
              .text(u.record.workspace)
              .text(u.record.username)
              .text(*key)
              .text(u.record.name)
              .text(u.record.email)
              .text_array(u.record.roles)
              .boolean(u.record.enabled)
              .boolean(u.record.must_change_password)
              .time(u.record.created)
              .text(u.password_hash)
              .integer(epoch_value(u.credentials_epoch)));
    return {};
  }

  static Status apply_one(Connection& c, const mutation::UpdateUser& m) {
    const auto& u = m.user;
    if (!c.exists("SELECT 1 FROM iam_users WHERE id = $1", u.record.id)) return Error{ErrorCode::not_found, "user not found"};
    if (!c.exists("SELECT 1 FROM iam_workspaces WHERE id = $1", u.record.workspace))
      return Error{ErrorCode::not_found, "workspace not found"};
    const auto r = c.run(
        "UPDATE iam_users SET workspace_id = $2, name = $3, email = $4, roles = $5, enabled = $6, "
        "must_change_password = $7, password_hash = $8 WHERE id = $1",
        Params()
            .text(u.record.id)
            .text(u.record.workspace)
            .text(u.record.name)
            .text(u.record.email)
            .text_array(u.record.roles)
            .boolean(u.record.enabled)
            .boolean(u.record.must_change_password)
            .text(u.password_hash));
    if (r.affected() == 0) return Error{ErrorCode::not_found, "user not found"};  // deleted meanwhile
    return {};
  }

  static Status apply_one(Connection& c, const mutation::DeleteUser& m) {
    // The keys go by ON DELETE CASCADE, including any another transaction just added.
    const auto r = c.run("DELETE FROM iam_users WHERE id = $1", Params().text(m.user_id));
    if (r.affected() == 0) return Error{ErrorCode::not_found, "user not found"};
    return {};
  }

  static Status apply_one(Connection& c, const mutation::DisableUsersInWorkspace& m) {
    c.run("UPDATE iam_users SET enabled = false, credentials_epoch = credentials_epoch + 1 WHERE workspace_id = $1",
          Params().text(m.workspace_id));
    return {};
  }

  static Status apply_one(Connection& c, const mutation::AdvanceCredentialsEpoch& m) {
    const auto r = c.run("UPDATE iam_users SET credentials_epoch = credentials_epoch + 1 WHERE id = $1",
                         Params().text(m.user_id));
    if (r.affected() == 0) return Error{ErrorCode::not_found, "user not found"};
    return {};
  }

  static Status apply_one(Connection& c, const mutation::InsertApiKey& m) {
    const auto& k = m.key;
    if (c.exists("SELECT 1 FROM iam_api_keys WHERE id = $1", k.record.id))
      return Error{ErrorCode::duplicate, "API key id exists"};
    if (c.exists("SELECT 1 FROM iam_api_keys WHERE key_hash = $1", k.key_hash))
      return Error{ErrorCode::duplicate, "API key exists"};
    if (!c.exists("SELECT 1 FROM iam_users WHERE id = $1", k.record.user_id))
      return Error{ErrorCode::not_found, "user not found"};
    c.run("INSERT INTO iam_api_keys (id, user_id, key_hash, name, prefix, expires, created, last_used) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
          Params()
              .text(k.record.id)
              .text(k.record.user_id)
              .text(k.key_hash)
              .text(k.record.name)
              .text(k.record.prefix)
              .time(k.record.expires)
              .time(k.record.created)
              .time(k.record.last_used));
    return {};
  }

  static Status apply_one(Connection& c, const mutation::DeleteApiKey& m) {
    const auto r = c.run("DELETE FROM iam_api_keys WHERE id = $1", Params().text(m.key_id));
    if (r.affected() == 0) return Error{ErrorCode::not_found, "API key not found"};
    return {};
  }

  static Status apply_one(Connection& c, const mutation::DeleteApiKeysOfUser& m) {
    c.run("DELETE FROM iam_api_keys WHERE user_id = $1", Params().text(m.user_id));
    return {};
  }

  static Status apply_one(Connection& c, const mutation::DeleteApiKeysInWorkspace& m) {
    c.run("DELETE FROM iam_api_keys WHERE user_id IN (SELECT id FROM iam_users WHERE workspace_id = $1)",
          Params().text(m.workspace_id));
    return {};
  }

  static Status apply_one(Connection& c, const mutation::TouchApiKey& m) {
    c.run("UPDATE iam_api_keys SET last_used = $2 WHERE id = $1", Params().text(m.key_id).time(m.last_used));
    return {};
  }

  Status apply_one(Connection& c, const mutation::InsertSigningKey& m) {
    const auto& k = m.key;
    if (c.exists("SELECT 1 FROM iam_signing_keys WHERE kid = $1", k.kid))
      return Error{ErrorCode::duplicate, "signing key exists"};
    if (!k.retired && !c.run("SELECT 1 FROM iam_signing_keys WHERE retired IS NULL").empty())
      return Error{ErrorCode::duplicate, "an active signing key exists"};
    std::vector<std::uint8_t> sealed;  // declared first: bound without a copy, so it outlives the call
    Params p;
    p.text(k.kid).bytes(k.public_key).time(k.created).time(k.retired);
    if (k.secret_key.empty()) {
      p.null().boolean(false);
    } else if (key_) {
      sealed = seal(*key_, k.secret_key.span());
      p.bytes(sealed).boolean(true);
    } else {
      p.bytes(k.secret_key.span()).boolean(false);
    }
    c.run("INSERT INTO iam_signing_keys (kid, public_key, created, retired, secret_key, secret_encrypted) "
          "VALUES ($1, $2, $3, $4, $5, $6)",
          p);
    // Another process may have turned encryption on since this one opened the database.
    // Checked after the insert: the insert waits for that process's table lock, so this
    // query sees its commit, and the plaintext key is never committed next to encrypted ones.
    if (!key_ && !k.secret_key.empty() && c.exists("SELECT 1 FROM iam_meta WHERE name = $1", meta_private_keys))
      throw Refusal{Error{ErrorCode::invalid_argument,
                          "postgres store: the database now holds encrypted private keys; reopen it with the "
                          "encryption key"}};
    // Likewise another process may have replaced the key-encryption key (replacement_key).
    if (key_ && !k.secret_key.empty() && !key_fits(c, *key_))
      throw Refusal{Error{ErrorCode::invalid_argument,
                          "postgres store: the database's encryption key was replaced; reopen it with the new key"}};
    return {};
  }

  static Status apply_one(Connection& c, const mutation::RetireSigningKeys& m) {
    c.run("UPDATE iam_signing_keys SET retired = $1, secret_key = NULL, secret_encrypted = false "
          "WHERE retired IS NULL",
          Params().time(m.at));
    return {};
  }

  static Status apply_one(Connection& c, const mutation::DeleteSigningKeysRetiredBefore& m) {
    // Stored seconds r are before `before` exactly when r < ceil(before).
    const auto before = std::chrono::ceil<std::chrono::seconds>(m.before.time_since_epoch()).count();
    c.run("DELETE FROM iam_signing_keys WHERE retired IS NOT NULL AND retired < $1", Params().integer(before));
    return {};
  }

  Pool pool_;
  const std::chrono::milliseconds retry_timeout_;
  const std::optional<SecretBytes> key_;
  ChangeChannel channel_;  // last: its thread stops first
};

// ---------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------

Error refuse(ErrorCode code, std::string_view problem) {
  return Error{code, "postgres store: " + std::string(problem)};
}

// Serialises schema changes of one database across processes: an advisory lock, keyed
// "iam1" and 1.
constexpr const char* schema_lock = "SELECT pg_advisory_lock(1767992625, 1)";
constexpr const char* schema_unlock = "SELECT pg_advisory_unlock(1767992625, 1)";
constexpr const char* schema_xact_lock = "SELECT pg_advisory_xact_lock(1767992625, 1)";

// The schema version, 0 when there are no iam tables yet.
int read_schema_version(Connection& c) {
  if (!c.exec("SELECT 1 WHERE to_regclass('iam_schema_version') IS NOT NULL").size()) return 0;
  const auto r = c.exec("SELECT version FROM iam_schema_version WHERE id = 1");
  if (r.size() != 1) corrupt("the iam_schema_version table is empty");
  return static_cast<int>(r.integer(0, 0));
}

void migrate(Connection& c) {
  const int latest = postgres_detail::latest_schema_version();
  auto check = [&](int version) {
    if (version > latest)
      throw Refusal{refuse(ErrorCode::not_supported,
                           "the database has schema version " + std::to_string(version) +
                               ", newer than this build supports (" + std::to_string(latest) +
                               "); use a newer version of iam")};
    if (version < 0) corrupt("the schema version is negative");
  };
  int version = read_schema_version(c);
  check(version);
  if (version == latest) return;
  // The lock is taken before the transaction begins: a transaction's start is when the
  // server drops cached catalog entries, so the re-read below sees tables another process
  // created while this one waited.
  c.exec(schema_lock);
  try {
    c.begin();
    version = read_schema_version(c);  // another process may have migrated meanwhile
    check(version);
    const auto steps = postgres_detail::migration_steps();
    for (int v = version; v < latest; ++v) c.exec(steps[static_cast<std::size_t>(v)]);
    c.commit();
  } catch (...) {
    c.rollback();
    c.exec_quietly(schema_unlock);
    throw;
  }
  c.exec(schema_unlock);
}

// Rewrites every username key computed by an older username_key() (see
// storage/username_keys.h), once: a code step rather than a schema version, as SQL cannot
// compute NFKC. Refuses the open, changing nothing, when two users would share a key.
// (The caller rolls back on a throw.)
void rekey_usernames(Connection& c) {
  using namespace storage_detail;
  const std::string meta_name(username_keys_meta);
  auto current = [&] {
    const auto form = read_meta(c, meta_name.c_str());
    return form && std::string_view(reinterpret_cast<const char*>(form->data()), form->size()) == username_keys_form;
  };
  if (current()) return;
  c.begin();
  c.exec(schema_xact_lock);
  // Holds off inserts (by processes still on the old keys) until the new keys are in.
  c.exec("LOCK TABLE iam_users IN SHARE ROW EXCLUSIVE MODE");
  if (current()) {  // another process got here first
    c.rollback();
    return;
  }
  std::vector<StoredUsername> users;
  {
    const auto r = c.exec("SELECT id, username, username_key FROM iam_users ORDER BY created, id");
    for (int i = 0; i < r.size(); ++i) users.push_back(StoredUsername{r.text(i, 0), r.text(i, 1), r.text(i, 2)});
  }
  auto plan = plan_username_rekey(users);
  if (!plan) throw Refusal{refuse(plan.error().code, plan.error().message)};
  // Through a placeholder no key can equal (keys never hold control characters), so no
  // intermediate state trips the UNIQUE constraint.
  for (const auto& r : *plan) c.run("UPDATE iam_users SET username_key = chr(1) || id WHERE id = $1", Params().text(r.id));
  for (const auto& r : *plan)
    c.run("UPDATE iam_users SET username_key = $2 WHERE id = $1", Params().text(r.id).text(r.key));
  c.run("INSERT INTO iam_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
        Params().text(meta_name).bytes(crypto::as_bytes(username_keys_form)));
  c.commit();
}

// With a key: checks it against the database's check value, or (first use) records the
// check value and encrypts every plaintext private key. Without one: refuses a database
// that holds encrypted keys.
void setup_encryption(Connection& c, const std::optional<SecretBytes>& key) {
  auto verify = [&](const std::optional<std::vector<std::uint8_t>>& check) {
    if (!check) corrupt("the database holds encrypted keys but no key check value");
    auto plain = unseal(*key, *check);
    if (!plain || crypto::as_text(plain->span()) != key_check_plaintext)
      throw Refusal{refuse(ErrorCode::invalid_argument,
                           "the private key encryption key is not the one this database was encrypted with")};
  };
  if (!key) {
    if (read_meta(c, meta_private_keys))
      throw Refusal{refuse(ErrorCode::invalid_argument,
                           "the database holds encrypted private keys and no encryption key was given (set "
                           "private_key_encryption_key, or IAM_KEY_ENCRYPTION_KEY_FILE)")};
    return;
  }
  if (read_meta(c, meta_private_keys)) {
    verify(read_meta(c, meta_key_check));
    return;
  }
  c.begin();
  c.exec(schema_xact_lock);
  // Holds off inserts of plaintext keys by processes opened without the key (they check
  // for encryption after their insert, see InsertSigningKey).
  c.exec("LOCK TABLE iam_signing_keys IN SHARE ROW EXCLUSIVE MODE");
  if (read_meta(c, meta_private_keys)) {  // another process got here first
    verify(read_meta(c, meta_key_check));
    c.rollback();
    return;
  }
  const auto check = seal(*key, crypto::as_bytes(key_check_plaintext));
  c.run("INSERT INTO iam_meta (name, value) VALUES ($1, $2)", Params().text(meta_key_check).bytes(check));
  c.run("INSERT INTO iam_meta (name, value) VALUES ($1, $2)",
        Params().text(meta_private_keys).bytes(crypto::as_bytes("encrypted")));
  std::vector<std::pair<std::int64_t, std::vector<std::uint8_t>>> sealed;
  {
    const auto r = c.run(
        "SELECT seq, encode(secret_key, 'hex') FROM iam_signing_keys WHERE secret_key IS NOT NULL AND NOT "
        "secret_encrypted");
    for (int i = 0; i < r.size(); ++i) sealed.emplace_back(r.integer(i, 0), seal(*key, r.secret_hex(i, 1).span()));
  }
  for (const auto& [seq, box] : sealed)
    c.run("UPDATE iam_signing_keys SET secret_key = $2, secret_encrypted = true WHERE seq = $1",
          Params().integer(seq).bytes(box));
  c.commit();
}

// Re-encrypts every private key and the check value from `key` (already verified) to
// `replacement`, in one transaction that holds off inserts of signing keys meanwhile.
void replace_encryption_key(Connection& c, const SecretBytes& key, const SecretBytes& replacement) {
  c.begin();
  c.exec("LOCK TABLE iam_signing_keys IN SHARE ROW EXCLUSIVE MODE");
  if (!key_fits(c, key))  // replaced meanwhile
    throw Refusal{refuse(ErrorCode::invalid_argument,
                         "the private key encryption key is not the one this database was encrypted with")};
  std::vector<std::pair<std::int64_t, std::vector<std::uint8_t>>> resealed;
  {
    const auto r = c.run(
        "SELECT seq, encode(secret_key, 'hex') FROM iam_signing_keys WHERE secret_key IS NOT NULL AND "
        "secret_encrypted");
    for (int i = 0; i < r.size(); ++i) {
      auto plain = unseal(key, r.secret_hex(i, 1).span());
      if (!plain) corrupt("a private signing key does not decrypt with the current key");
      resealed.emplace_back(r.integer(i, 0), seal(replacement, plain->span()));
    }
  }
  for (const auto& [seq, box] : resealed)
    c.run("UPDATE iam_signing_keys SET secret_key = $2 WHERE seq = $1", Params().integer(seq).bytes(box));
  c.run("UPDATE iam_meta SET value = $2 WHERE name = $1",
        Params().text(meta_key_check).bytes(seal(replacement, crypto::as_bytes(key_check_plaintext))));
  c.commit();
}

}  // namespace

bool postgres_store_available() noexcept { return true; }

Result<std::shared_ptr<Repository>> open_postgres_repository(PostgresOptions options) {
  if (options.pool_size == 0) return refuse(ErrorCode::invalid_argument, "pool_size must be at least 1");
  if (options.retry_timeout.count() < 0) return refuse(ErrorCode::invalid_argument, "retry_timeout is negative");
  if (options.private_key_encryption_key &&
      options.private_key_encryption_key->size() != postgres_encryption_key_bytes)
    return refuse(ErrorCode::invalid_argument, "the private key encryption key must be " +
                                                   std::to_string(postgres_encryption_key_bytes) + " bytes");
  if (options.replacement_key &&
      (!options.private_key_encryption_key || options.replacement_key->size() != postgres_encryption_key_bytes))
    return refuse(ErrorCode::invalid_argument, "a replacement key needs the current key, and must be " +
                                                   std::to_string(postgres_encryption_key_bytes) + " bytes");
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
      migrate(*connection);
      rekey_usernames(*connection);
      setup_encryption(*connection, options.private_key_encryption_key);
      if (options.replacement_key) {
        replace_encryption_key(*connection, *options.private_key_encryption_key, *options.replacement_key);
        options.private_key_encryption_key = std::move(options.replacement_key);
      }
    } catch (...) {
      connection->rollback();
      throw;
    }
    auto repo = std::make_shared<PostgresRepository>(std::move(connector), options.pool_size, options.retry_timeout,
                                                     std::move(options.private_key_encryption_key));
    repo->adopt(std::move(connection));
    return std::shared_ptr<Repository>(std::move(repo));
  } catch (const PgFailure& failure) {
    return to_error(failure, "open");
  } catch (const Refusal& refusal) {
    return refusal.error;
  } catch (const std::bad_alloc&) {
    return refuse(ErrorCode::internal_error, "out of memory");
  }
}

}  // namespace iam
