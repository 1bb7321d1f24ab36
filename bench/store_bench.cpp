// Uncached API key resolution in the SQLite and PostgreSQL stores: per-call latency of
// Repository::find_api_key_by_hash (with the SHA-256 of the plaintext computed in the
// call, as the roles regime does on a cache miss) with a million keys stored, over random
// lookups. A plain timing program rather than Google Benchmark, because percentiles need
// one sample per call.
//
//   bench-store [--only=sqlite|postgres] [--keys=N] [--lookups=M] [--warmup=W] [--sqlite-db=PATH]
//
// (defaults 1 000 000 keys, 20 000 lookups, 2 000 untimed warm-up lookups; with
// BENCH_QUICK=1 in the environment 100 000 / 5 000 / 500; --benchmark_* flags, which
// bench/run passes to every program, are ignored.)
//
// Seeding: the stores apply a Change as one transaction but check and insert each key
// with several statements (several round trips per key on PostgreSQL), far too slow for
// a million. So the store is opened (which creates its schema), the workspace and user go
// in through Repository::apply, and the keys are then inserted directly into the store's
// own api_keys table in one transaction, with the same columns the store writes: SQLite
// through a second connection on the file (hashes computed here), PostgreSQL with one
// INSERT ... SELECT over generate_series that computes the same plaintexts and hashes in
// SQL. Every timed lookup checks that the right record came back, so a seeding mistake
// aborts instead of timing not-found answers. Seeding time goes to stderr, not measured.
//
// SQLite: a fresh file in a temporary directory (under $TMPDIR, else /tmp), removed at
// the end; or, with --sqlite-db=PATH, that file, seeded when it does not exist and kept,
// so that later runs skip the seeding (a file holding another number of keys is refused). PostgreSQL: the connection comes from libpq's PG* environment (run under
// tests/postgres/with_postgres.py); the tables go into a schema of their own
// (iam_bench_<pid>), dropped at the end. Without PG* in the environment the PostgreSQL
// part is skipped with a note on stderr.
//
// Besides wall-clock time, each call's thread CPU time (CLOCK_THREAD_CPUTIME_ID, read
// around the wall-clock reads) is kept: on a loaded machine the wall-clock p99 includes
// time the thread waited for a core, the CPU-time one does not. The involuntary context
// switches during the timed loop go to stderr with the distribution.
//
// Output: RESULT {sqlite,postgres}_resolve_{p50,p99}_us, {sqlite,postgres}_resolve_cpu_{p50,p99}_us
#include <sqlite3.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef IAM_BENCH_POSTGRES
#include <libpq-fe.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench_common.h"
#include "credentials/api_key.h"
#include "credentials/password.h"
#include "crypto/crypto.h"
#include "iam/postgres_store.h"
#include "iam/random.h"
#include "iam/sqlite_store.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string only;  // "", "sqlite" or "postgres"
  std::size_t keys = 1'000'000;
  std::size_t lookups = 20'000;
  std::size_t warmup = 2'000;
  std::string sqlite_db;  // a kept (cached) SQLite file; "" for a temporary one
};

constexpr const char* user_id = "00000000-0000-4000-8000-00000000b0b0";
constexpr std::int64_t created_seconds = 1'800'000'000;

std::string key_id(std::size_t i) { return "bench-" + std::to_string(i); }

double elapsed_ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

// The workspace and the keys' owner, through the store's own write path.
void insert_owner(iam::Repository& repository) {
  const auto created = iam::from_unix_seconds(created_seconds);
  iam::StoredUser user;
  user.record = iam::UserRecord{user_id, "default", "bench-user", "Bench User", "", {"reader"}, true, false, created};
  user.password_hash = iam::credentials::hash_password("bench-password-0123", 1000, *iam::system_random());
  iam::Change change;
  change.emplace_back(iam::mutation::InsertWorkspace{iam::WorkspaceRecord{"default", "default", true, created}});
  change.emplace_back(iam::mutation::InsertUser{std::move(user)});
  if (auto s = repository.apply(change); !s.ok()) bench::fail("inserting the user: " + s.error().message);
}

double thread_cpu_us() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

long involuntary_switches() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_nivcsw;
}

// The p-quantile (nearest rank) of sorted samples.
double percentile(const std::vector<double>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

// Times `lookups` random resolutions (after `warmup` untimed ones) and prints p50 / p99 of
// wall-clock and of thread CPU time.
void measure(iam::Repository& repository, const Options& options, const std::string& store) {
  bench::Rng rng(0xbe5c0000 + options.keys);
  struct Sample {
    double wall_us;
    double cpu_us;
  };
  auto lookup_checked = [&](std::size_t i, const std::string& plaintext) -> Sample {
    const double cpu_start = thread_cpu_us();
    const auto start = Clock::now();
    auto found = repository.find_api_key_by_hash(iam::credentials::api_key_hash(plaintext));
    const auto stop = Clock::now();
    const double cpu_stop = thread_cpu_us();
    if (!found) bench::fail(store + ": a stored key was not found: " + found.error().message);
    if (found->record.id != key_id(i) || found->record.user_id != user_id)
      bench::fail(store + ": the lookup returned the wrong record");
    return {std::chrono::duration<double, std::micro>(stop - start).count(), cpu_stop - cpu_start};
  };
  for (std::size_t n = 0; n < options.warmup; ++n) {
    const std::size_t i = rng.below(options.keys);
    lookup_checked(i, bench::api_key_text(i));
  }
  std::vector<double> wall;
  std::vector<double> cpu;
  wall.reserve(options.lookups);
  cpu.reserve(options.lookups);
  const long switches_before = involuntary_switches();
  for (std::size_t n = 0; n < options.lookups; ++n) {
    const std::size_t i = rng.below(options.keys);
    const std::string plaintext = bench::api_key_text(i);  // built outside the timing
    const Sample s = lookup_checked(i, plaintext);
    wall.push_back(s.wall_us);
    cpu.push_back(s.cpu_us);
  }
  const long switches = involuntary_switches() - switches_before;
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  auto print_distribution = [&](const char* clock, const std::vector<double>& v) {
    std::fprintf(stderr, "%s %s µs: p10 %.1f p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f\n", store.c_str(), clock,
                 percentile(v, 0.10), percentile(v, 0.50), percentile(v, 0.90), percentile(v, 0.99),
                 percentile(v, 0.999), v.back());
  };
  print_distribution("wall", wall);
  print_distribution("cpu", cpu);
  std::fprintf(stderr, "%s: %ld involuntary context switches in %zu timed lookups\n", store.c_str(), switches,
               options.lookups);
  bench::result(store + "_resolve_p50_us", percentile(wall, 0.50));
  bench::result(store + "_resolve_p99_us", percentile(wall, 0.99));
  bench::result(store + "_resolve_cpu_p50_us", percentile(cpu, 0.50));
  bench::result(store + "_resolve_cpu_p99_us", percentile(cpu, 0.99));
}

// ---------------------------------------------------------------- SQLite

void sqlite_exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    bench::fail(std::string("sqlite: ") + sql + ": " + message);
  }
}

// The keys, straight into the store's api_keys table (columns as the store writes them:
// TEXT ids and hash, INTEGER Unix seconds, NULL for absent optionals), one transaction.
void sqlite_seed_keys(const std::string& path, std::size_t keys) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
    bench::fail("sqlite: cannot open " + path);
  sqlite3_busy_timeout(db, 5000);
  sqlite_exec(db, "PRAGMA synchronous = OFF");  // this connection only; a throwaway file
  sqlite_exec(db, "BEGIN IMMEDIATE");
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO api_keys (id, user_id, key_hash, name, prefix, expires, created, last_used) "
                         "VALUES (?1, ?2, ?3, 'bench', ?4, NULL, ?5, NULL)",
                         -1, &insert, nullptr) != SQLITE_OK)
    bench::fail(std::string("sqlite: prepare: ") + sqlite3_errmsg(db));
  for (std::size_t i = 0; i < keys; ++i) {
    const std::string plaintext = bench::api_key_text(i);
    const std::string id = key_id(i);
    const std::string hash = iam::credentials::api_key_hash(plaintext);
    const std::string prefix = iam::credentials::api_key_display_prefix(plaintext);
    sqlite3_bind_text(insert, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 2, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 3, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 4, prefix.data(), static_cast<int>(prefix.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 5, created_seconds);
    if (sqlite3_step(insert) != SQLITE_DONE) bench::fail(std::string("sqlite: insert: ") + sqlite3_errmsg(db));
    sqlite3_reset(insert);
  }
  sqlite3_finalize(insert);
  sqlite_exec(db, "COMMIT");
  sqlite_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");  // steady state: the rows in the main file
  sqlite3_close(db);
}

// The number of keys in a kept database file (through a connection of its own).
std::int64_t sqlite_key_count(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    bench::fail("sqlite: cannot open " + path);
  sqlite3_stmt* count = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM api_keys", -1, &count, nullptr) != SQLITE_OK ||
      sqlite3_step(count) != SQLITE_ROW)
    bench::fail(std::string("sqlite: counting the keys: ") + sqlite3_errmsg(db));
  const std::int64_t n = sqlite3_column_int64(count, 0);
  sqlite3_finalize(count);
  sqlite3_close(db);
  return n;
}

void measure_sqlite_file(const std::string& path, const Options& options) {
  const bool seeded = std::filesystem::exists(path);
  iam::SqliteOptions sqlite;
  sqlite.path = path;
  auto opened = iam::make_sqlite_repository(std::move(sqlite));
  if (!opened) bench::fail("make_sqlite_repository: " + opened.error().message);
  std::shared_ptr<iam::Repository> repository = std::move(*opened);
  if (seeded) {
    const auto n = sqlite_key_count(path);
    if (n != static_cast<std::int64_t>(options.keys))
      bench::fail(path + " holds " + std::to_string(n) + " keys, not " + std::to_string(options.keys) +
                  ": remove it or name another file");
    std::fprintf(stderr, "sqlite: reusing %s (%zu keys)\n", path.c_str(), options.keys);
  } else {
    const auto start = Clock::now();
    insert_owner(*repository);
    sqlite_seed_keys(path, options.keys);
    std::fprintf(stderr, "sqlite: seeded %zu keys in %.0f ms (%s)\n", options.keys, elapsed_ms(start), path.c_str());
  }
  measure(*repository, options, "sqlite");
}  // the repository closes its connections here

void run_sqlite(const Options& options) {
  if (!options.sqlite_db.empty()) {
    measure_sqlite_file(options.sqlite_db, options);
    return;
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/iam-bench-store-XXXXXX";
  if (!mkdtemp(pattern.data())) bench::fail("cannot create a temporary directory");
  const std::filesystem::path dir = pattern;
  measure_sqlite_file((dir / "bench.db").string(), options);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

// ---------------------------------------------------------------- PostgreSQL

#ifdef IAM_BENCH_POSTGRES
bool postgres_environment() {
  for (const char* name : {"PGHOST", "PGPORT", "PGDATABASE", "PGSERVICE"})
    if (const char* v = std::getenv(name); v && *v) return true;
  return false;
}

struct PgConnection {
  PGconn* conn;
  explicit PgConnection(const std::string& conninfo) : conn(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn) != CONNECTION_OK) bench::fail(std::string("postgres: cannot connect: ") + PQerrorMessage(conn));
  }
  ~PgConnection() { PQfinish(conn); }
  void exec(const std::string& sql, const std::vector<std::string>& params = {}) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* r = PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                               nullptr, 0);
    const auto status = PQresultStatus(r);
    const std::string error = PQresultErrorMessage(r);
    PQclear(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) bench::fail("postgres: " + sql + ": " + error);
  }
};

void run_postgres(const Options& options) {
  const std::string schema = "iam_bench_" + std::to_string(getpid());
  // Everything the store creates lands in the benchmark's own schema.
  const std::string conninfo = "options='-c search_path=" + schema + "'";
  PgConnection admin("");  // all from the PG* environment
  admin.exec("CREATE SCHEMA " + schema);
  {
    iam::PostgresOptions pg;
    pg.conninfo = conninfo;
    auto opened = iam::make_postgres_repository(std::move(pg));
    if (!opened) bench::fail("make_postgres_repository: " + opened.error().message);
    std::shared_ptr<iam::Repository> repository = std::move(*opened);
    const auto start = Clock::now();
    insert_owner(*repository);
    {
      // The same plaintexts as bench::api_key_text, hashed (lowercase hex SHA-256) in SQL,
      // into the store's table with the columns it writes.
      PgConnection seed(conninfo);
      seed.exec(
          "INSERT INTO iam_api_keys (id, user_id, key_hash, name, prefix, expires, created, last_used) "
          "SELECT 'bench-' || i, $1, encode(sha256(convert_to(k, 'UTF8')), 'hex'), 'bench', left(k, 7), NULL, $2, NULL "
          "FROM (SELECT i, 'tg_bench' || lpad(i::text, 27, '0') AS k FROM generate_series(0, $3::bigint - 1) AS i) AS s",
          {user_id, std::to_string(created_seconds), std::to_string(options.keys)});
      seed.exec("ANALYZE iam_api_keys");
    }
    std::fprintf(stderr, "postgres: seeded %zu keys in %.0f ms (schema %s)\n", options.keys, elapsed_ms(start),
                 schema.c_str());
    measure(*repository, options, "postgres");
  }  // the repository closes its pool here
  admin.exec("SET client_min_messages = warning");  // no NOTICE per dropped table
  admin.exec("DROP SCHEMA " + schema + " CASCADE");
}
#endif

}  // namespace

int main(int argc, char** argv) {
  Options options;
  // bench/run's quick mode: a smaller store and fewer samples (flags still override).
  if (const char* quick = std::getenv("BENCH_QUICK"); quick && *quick && std::string_view(quick) != "0") {
    options.keys = 100'000;
    options.lookups = 5'000;
    options.warmup = 500;
    std::fprintf(stderr, "BENCH_QUICK: %zu keys, %zu lookups\n", options.keys, options.lookups);
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.starts_with("--benchmark_")) continue;  // Google Benchmark flags: not used here
    auto value = [&](std::string_view name) -> std::optional<std::string> {
      const std::string flag = "--" + std::string(name);
      if (arg.starts_with(flag + "=")) return std::string(arg.substr(flag.size() + 1));
      if (arg == flag && i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    };
    if (auto v = value("only")) options.only = *v;
    else if (auto v = value("keys")) options.keys = std::stoull(*v);
    else if (auto v = value("lookups")) options.lookups = std::stoull(*v);
    else if (auto v = value("warmup")) options.warmup = std::stoull(*v);
    else if (auto v = value("sqlite-db")) options.sqlite_db = *v;
    else {
      std::fprintf(stderr, "usage: %s [--only=sqlite|postgres] [--keys=N] [--lookups=M] [--warmup=W] [--sqlite-db=PATH]\n", argv[0]);
      return 2;
    }
  }
  if (!options.only.empty() && options.only != "sqlite" && options.only != "postgres") {
    std::fprintf(stderr, "--only takes sqlite or postgres\n");
    return 2;
  }
  if (options.keys == 0 || options.keys >= (1ULL << 32) || options.lookups == 0) {
    std::fprintf(stderr, "--keys must be in 1..2^32-1 and --lookups positive\n");
    return 2;
  }
  iam::crypto::ensure_initialised();

  if (options.only != "postgres") run_sqlite(options);
  if (options.only != "sqlite") {
#ifdef IAM_BENCH_POSTGRES
    if (postgres_environment()) {
      run_postgres(options);
    } else {
      std::fprintf(stderr, "postgres: skipped (no PGHOST/PGPORT/PGDATABASE in the environment; run under "
                           "tests/postgres/with_postgres.py)\n");
      if (options.only == "postgres") return 1;
    }
#else
    std::fprintf(stderr, "postgres: skipped (built without -Dpostgres=enabled)\n");
    if (options.only == "postgres") return 1;
#endif
  }
  return 0;
}
