// The PostgreSQL store beyond the conformance suite, against the throw-away server of
// tests/postgres/with_postgres.py: races between repositories (separate pools, as separate
// processes would have), the server going away and coming back, lost connections, schema
// versions, options and the store specification, encryption at rest, and strings
// PostgreSQL cannot hold.
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "iam/gateway.h"
#include "iam/log.h"
#include "iam/postgres_store.h"
#include "iam/repository.h"
#include "iam/roles.h"
#include "iam/store.h"
#include "storage/postgres/postgres_schema.h"
#include "tests/postgres/pg_test_support.h"

namespace {

namespace m = iam::mutation;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t t0 = 1'800'000'000;

iam::TimePoint at(std::int64_t s) { return iam::from_unix_seconds(s); }

iam::PostgresOptions options_for(const pgtest::TempDatabase& db, const iam::SecretBytes* key = nullptr) {
  iam::PostgresOptions o;
  o.conninfo = db.conninfo();
  if (key) o.private_key_encryption_key = key->copy();
  return o;
}

std::shared_ptr<iam::Repository> open_ok(const pgtest::TempDatabase& db, const iam::SecretBytes* key = nullptr) {
  auto r = iam::open_postgres_repository(options_for(db, key));
  if (!r.ok()) FAIL("open " << db.name() << ": " << r.error().message);
  return std::move(r).value();
}

iam::Error open_error(iam::PostgresOptions options) {
  auto r = iam::open_postgres_repository(std::move(options));
  REQUIRE_FALSE(r.ok());
  return r.error();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

template <class T>
std::string outcome(const iam::Result<T>& r) {
  return r.ok() ? std::string("ok") : std::string(iam::error_type_name(r.error().code));
}

template <class T>
std::string detail(const iam::Result<T>& r) {
  return r.ok() ? std::string("ok") : std::string(iam::error_type_name(r.error().code)) + ": " + r.error().message;
}

template <class... M>
iam::Status apply(iam::Repository& repo, M&&... steps) {
  iam::Change c;
  (c.emplace_back(std::forward<M>(steps)), ...);
  return repo.apply(c);
}

iam::WorkspaceRecord workspace(const std::string& id) {
  iam::WorkspaceRecord w;
  w.id = id;
  w.name = "Workspace " + id;
  w.enabled = true;
  w.created = at(t0);
  return w;
}

iam::StoredUser user(const std::string& id, const std::string& ws, const std::string& username) {
  iam::StoredUser u;
  u.record.id = id;
  u.record.workspace = ws;
  u.record.username = username;
  u.record.name = "Name of " + id;
  u.record.email = id + "@example.com";
  u.record.roles = {"reader"};
  u.record.enabled = true;
  u.record.created = at(t0 + 1);
  u.password_hash = "pbkdf2-sha256$600000$c2FsdA$" + std::string(43, 'h');
  return u;
}

iam::StoredApiKey api_key(const std::string& id, const std::string& user_id) {
  iam::StoredApiKey k;
  k.record.id = id;
  k.record.user_id = user_id;
  k.record.name = "key " + id;
  k.record.prefix = "tg_abcd";
  k.record.created = at(t0 + 2);
  k.key_hash = std::string(64 - id.size(), '0') + id;
  return k;
}

iam::SigningKey signing_key(const std::string& kid, std::uint8_t seed_byte, std::int64_t created) {
  std::array<std::uint8_t, iam::ed25519_seed_bytes> seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(seed_byte + i);
  auto key = iam::SigningKey::from_seed(kid, seed, at(created));
  REQUIRE(key.ok());
  return std::move(key).value();
}

iam::SecretBytes random_key() {
  REQUIRE(sodium_init() >= 0);
  iam::SecretBytes key(iam::postgres_encryption_key_bytes);
  randombytes_buf(key.data(), key.size());
  return key;
}

using iam::crypto::hex_encode;  // the library's own (libsodium)

// The bootstrap of the roles regime: the store must be empty, then seed it.
iam::Change bootstrap_change(const std::string& tag) {
  auto admin = user("u-admin-" + tag, "default", "admin");
  admin.record.must_change_password = true;
  iam::Change c;
  c.emplace_back(m::RequireEmpty{});
  c.emplace_back(m::InsertWorkspace{workspace("default")});
  c.emplace_back(m::InsertUser{admin});
  c.emplace_back(m::InsertApiKey{api_key("k-" + tag, "u-admin-" + tag)});
  c.emplace_back(m::InsertSigningKey{signing_key("kid-" + tag, 7, t0)});
  return c;
}

// Runs body(t) for t in [0, n) on n threads released together.
template <class F>
void run_threads(int n, F body) {
  std::latch start(n);
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t)
    threads.emplace_back([&start, &body, t] {
      start.arrive_and_wait();
      body(t);
    });
  for (auto& th : threads) th.join();
}

// Starts the server again when a test that stopped it ends, however it ends.
class ServerBack {
 public:
  ~ServerBack() {
    if (stopped_) pgtest::server_control("start");
  }
  bool stop() {
    stopped_ = pgtest::server_control("stop");
    return stopped_;
  }
  bool start() {
    const bool ok = pgtest::server_control("start");
    if (ok) stopped_ = false;
    return ok;
  }

 private:
  bool stopped_ = false;
};

}  // namespace

// =====================================================================================
// Schema
// =====================================================================================

TEST_CASE("postgres: open creates the schema at the latest version, with an index for every lookup") {
  pgtest::TempDatabase db;
  auto repo = open_ok(db);
  CHECK(pgtest::query_value(db.name(), "SELECT version FROM iam_schema_version") == "2");
  // Every lookup has an index: primary keys, unique constraints and these.
  const auto indexes = pgtest::query_value(
      db.name(), "SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes WHERE tablename LIKE 'iam_%'");
  for (const char* name :
       {"iam_workspaces_pkey", "iam_users_pkey", "iam_users_username_key_unique", "iam_users_by_workspace",
        "iam_api_keys_pkey", "iam_api_keys_key_hash_unique", "iam_api_keys_by_user", "iam_signing_keys_kid_unique",
        "iam_signing_keys_one_active", "iam_signing_keys_by_created", "iam_meta_pkey"}) {
    INFO("index " << name);
    CHECK(contains(" " + indexes + " ", std::string(" ") + name + " "));
  }
  // The constraints live in the schema: the database refuses a second user with one
  // username key and a user of an absent workspace even when the repository is bypassed.
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertUser{user("u1", "acme", "Alice")})) ==
          "ok");
  CHECK(contains(pgtest::exec(db.name(), "INSERT INTO iam_users SELECT 'u2', workspace_id, username, username_key, "
                                         "name, email, roles, enabled, must_change_password, created, password_hash "
                                         "FROM iam_users"),
                 "iam_users_username_key_unique"));
  CHECK(contains(pgtest::exec(db.name(), "UPDATE iam_users SET workspace_id = 'nowhere'"), "foreign key"));
  repo.reset();

  // Opening again at the same version changes nothing and keeps the data.
  auto again = open_ok(db);
  CHECK(again->find_user_by_username("ALICE").ok());
}

TEST_CASE("postgres: a version 1 database is migrated: its users keep everything, at credentials epoch 0") {
  pgtest::TempDatabase db;
  // What version 1 of the library wrote.
  REQUIRE(pgtest::exec(db.name(), std::string("BEGIN;") + iam::postgres_detail::migration_steps()[0] + "COMMIT;") ==
          "");
  REQUIRE(pgtest::exec(db.name(),
                       "INSERT INTO iam_workspaces VALUES ('acme', 'Acme', true, 1800000000);"
                       "INSERT INTO iam_users VALUES ('u1', 'acme', 'Alice', 'alice', 'Alice A', 'a@example.com', "
                       "'{admin}', true, false, 1800000001, 'pbkdf2-sha256$1$c2FsdA$x');") == "");
  auto repo = open_ok(db);
  CHECK(pgtest::query_value(db.name(), "SELECT version FROM iam_schema_version") ==
        std::to_string(iam::postgres_detail::latest_schema_version()));
  auto alice = repo->find_user_by_username("ALICE");
  REQUIRE(alice.ok());
  CHECK(alice->record.roles == std::vector<std::string>{"admin"});
  CHECK(alice->password_hash == "pbkdf2-sha256$1$c2FsdA$x");
  CHECK(alice->credentials_epoch == 0);
  iam::Change change;
  change.emplace_back(m::AdvanceCredentialsEpoch{"u1"});
  REQUIRE(repo->apply(change).ok());
  CHECK(repo->find_user("u1")->credentials_epoch == 1);
  CHECK(pgtest::exec(db.name(), "UPDATE iam_users SET credentials_epoch = -1") != "");  // the schema refuses it
}

TEST_CASE("postgres: a database of a newer schema version is refused with not_supported") {
  pgtest::TempDatabase db;
  open_ok(db).reset();
  REQUIRE(pgtest::exec(db.name(), "UPDATE iam_schema_version SET version = 99").empty());
  const auto e = open_error(options_for(db));
  CHECK(e.code == iam::ErrorCode::not_supported);
  CHECK(contains(e.message, "99"));
  CHECK(pgtest::query_value(db.name(), "SELECT version FROM iam_schema_version") == "99");  // untouched
}

TEST_CASE("postgres: several instances opening one new database at once migrate it once") {
  pgtest::TempDatabase db;
  constexpr int n = 4;
  std::vector<std::string> results(n);
  run_threads(n, [&](int t) {
    auto r = iam::open_postgres_repository(options_for(db));
    results[static_cast<std::size_t>(t)] = detail(r);
  });
  for (const auto& r : results) CHECK(r == "ok");
  CHECK(pgtest::query_value(db.name(), "SELECT count(*) FROM iam_schema_version") == "1");
}

// A database as version 1 of the schema left it, by a library whose username_key()
// lowered ASCII letters only: `users` rows as (id, username, old key).
void write_version_1_database(const pgtest::TempDatabase& db, const std::vector<std::array<const char*, 3>>& users) {
  REQUIRE(pgtest::exec(db.name(), iam::postgres_detail::migration_steps()[0]).empty());
  REQUIRE(pgtest::exec(db.name(), "INSERT INTO iam_workspaces VALUES ('acme', 'Acme', true, 1800000000)").empty());
  int created = 1800000001;
  for (const auto& [id, username, key] : users)
    REQUIRE(pgtest::exec(db.name(), std::string("INSERT INTO iam_users VALUES ('") + id + "', 'acme', '" + username +
                                        "', '" + key + "', '', '', '{reader}', true, false, " +
                                        std::to_string(created++) + ", 'pbkdf2-sha256$1$c2FsdA$x')")
                .empty());
}

TEST_CASE("postgres: usernames keyed by an older username_key are re-keyed at open") {
  pgtest::TempDatabase db;
  write_version_1_database(db, {{"u-wide", "\xef\xbd\x81" "dmin", "\xef\xbd\x81" "dmin"},  // full-width a
                                {"u-strasse", "Stra\xc3\x9f" "e", "stra\xc3\x9f" "e"},
                                {"u-bob", "Bob", "bob"}});
  {
    auto repo = open_ok(db);
    CHECK(repo->find_user_by_username("ADMIN")->record.id == "u-wide");
    CHECK(repo->find_user_by_username("strasse")->record.id == "u-strasse");
    CHECK(repo->find_user_by_username("BOB")->record.id == "u-bob");
    CHECK(outcome(apply(*repo, m::InsertUser{user("u-admin", "acme", "admin")})) == "duplicate");
  }
  CHECK(pgtest::query_value(db.name(), "SELECT username_key FROM iam_users WHERE id = 'u-wide'") == "admin");
  CHECK(pgtest::query_value(db.name(), "SELECT username_key FROM iam_users WHERE id = 'u-strasse'") == "strasse");
  CHECK(pgtest::query_value(db.name(), "SELECT convert_from(value, 'UTF8') FROM iam_meta WHERE name = 'username_keys'") ==
        "nfkc-casefold");
  CHECK(open_ok(db)->list_users(std::nullopt)->size() == 3);
}

TEST_CASE("postgres: the re-keying refuses, changing nothing, when two users would share a key") {
  pgtest::TempDatabase db;
  write_version_1_database(db, {{"u-admin", "admin", "admin"}, {"u-wide", "\xef\xbd\x81" "dmin", "\xef\xbd\x81" "dmin"}});
  const auto e = open_error(options_for(db));
  CHECK(e.code == iam::ErrorCode::internal_error);
  CHECK(contains(e.message, "u-admin ('admin')"));
  CHECK(contains(e.message, "u-wide ('\xef\xbd\x81" "dmin')"));
  CHECK(pgtest::query_value(db.name(), "SELECT username_key FROM iam_users WHERE id = 'u-wide'") == "\xef\xbd\x81" "dmin");
  CHECK(pgtest::query_value(db.name(), "SELECT count(*) FROM iam_meta WHERE name = 'username_keys'") == "0");
  CHECK(pgtest::query_value(db.name(), "SELECT count(*) FROM iam_users") == "2");
  REQUIRE(pgtest::exec(db.name(), "DELETE FROM iam_users WHERE id = 'u-wide'").empty());
  CHECK(open_ok(db)->find_user_by_username("\xef\xbc\xa1" "DMIN")->record.id == "u-admin");
}

// =====================================================================================
// Races between repositories (each its own pool: as two processes)
// =====================================================================================

TEST_CASE("postgres: two repositories creating one username: exactly one succeeds, the other gets duplicate") {
  pgtest::TempDatabase db;
  auto a = open_ok(db);
  auto b = open_ok(db);
  REQUIRE(detail(apply(*a, m::InsertWorkspace{workspace("acme")})) == "ok");
  constexpr int rounds = 15;
  constexpr int threads = 6;
  std::vector<std::vector<std::string>> results(rounds, std::vector<std::string>(threads));
  run_threads(threads, [&](int t) {
    auto& repo = t % 2 ? *a : *b;
    for (int round = 0; round < rounds; ++round) {
      const std::string name = (t % 3 ? "racer-" : "RACER-") + std::to_string(round);
      results[static_cast<std::size_t>(round)][static_cast<std::size_t>(t)] = outcome(
          apply(repo, m::InsertUser{user("u-" + std::to_string(round) + "-" + std::to_string(t), "acme", name)}));
    }
  });
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    int winners = 0;
    for (const auto& r : results[static_cast<std::size_t>(round)]) {
      if (r == "ok") ++winners;
      else CHECK(r == "duplicate");
    }
    CHECK(winners == 1);
    CHECK(a->find_user_by_username("Racer-" + std::to_string(round)).ok());
  }
  CHECK(a->list_users(std::nullopt)->size() == rounds);
}

TEST_CASE("postgres: bootstraps racing from several repositories: exactly one wins") {
  constexpr int rounds = 4;
  constexpr int threads = 6;
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    pgtest::TempDatabase db;
    std::vector<std::shared_ptr<iam::Repository>> repos = {open_ok(db), open_ok(db), open_ok(db)};
    std::vector<iam::Change> changes;
    for (int t = 0; t < threads; ++t) changes.push_back(bootstrap_change("t" + std::to_string(t)));
    std::vector<std::string> results(threads);
    run_threads(threads, [&](int t) {
      const auto i = static_cast<std::size_t>(t);
      results[i] = outcome(repos[i % repos.size()]->apply(changes[i]));
    });
    int winners = 0;
    for (const auto& r : results) {
      if (r == "ok") ++winners;
      else CHECK(r == "duplicate");
    }
    REQUIRE(winners == 1);
    CHECK(repos[0]->list_users(std::nullopt)->size() == 1);
    CHECK(repos[1]->list_signing_keys()->size() == 1);
    CHECK(repos[2]->list_workspaces()->size() == 1);
    CHECK(!repos[0]->is_empty().value());
  }
}

TEST_CASE("postgres: deadlocks between changes are retried, so every change succeeds") {
  pgtest::TempDatabase db;
  auto a = open_ok(db);
  auto b = open_ok(db);
  REQUIRE(detail(apply(*a, m::InsertWorkspace{workspace("w1")}, m::InsertWorkspace{workspace("w2")})) == "ok");
  constexpr int iterations = 30;
  std::vector<std::string> failures;
  std::mutex mutex;
  run_threads(4, [&](int t) {
    auto& repo = t % 2 ? *a : *b;
    for (int i = 0; i < iterations; ++i) {
      auto w1 = workspace("w1");
      auto w2 = workspace("w2");
      w1.name = w2.name = "t" + std::to_string(t) + "-" + std::to_string(i);
      // opposite orders: the classic deadlock
      const auto s = t % 2 ? apply(repo, m::UpdateWorkspace{w1}, m::UpdateWorkspace{w2})
                           : apply(repo, m::UpdateWorkspace{w2}, m::UpdateWorkspace{w1});
      if (!s.ok()) {
        std::lock_guard lock(mutex);
        failures.push_back(detail(s));
      }
    }
  });
  INFO((failures.empty() ? std::string() : failures.front()));
  CHECK(failures.empty());
  CHECK(a->find_workspace("w1")->name == a->find_workspace("w2")->name);
}

// =====================================================================================
// Connections lost and servers gone
// =====================================================================================

TEST_CASE("postgres: connections killed by the server are replaced without the caller noticing") {
  pgtest::TempDatabase db;
  auto repo = open_ok(db);
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  run_threads(4, [&](int) { CHECK(repo->find_workspace("acme").ok()); });  // several pooled connections
  const auto killed = pgtest::query_value(
      "", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" + db.name() + "'");
  CHECK(killed != "0");
  CHECK(detail(repo->find_workspace("acme")) == "ok");
  CHECK(detail(apply(*repo, m::InsertUser{user("u1", "acme", "alice")})) == "ok");
  run_threads(4, [&](int) { CHECK(detail(repo->list_users(std::nullopt)) == "ok"); });
}

TEST_CASE("postgres: server stopped: every call answers internal_error; restarted: calls succeed again") {
  pgtest::TempDatabase db;
  ServerBack server;
  auto repo = open_ok(db);
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertUser{user("u1", "acme", "alice")},
                       m::InsertApiKey{api_key("k1", "u1")}, m::InsertSigningKey{signing_key("kid-1", 1, t0)})) ==
          "ok");

  REQUIRE(server.stop());
  const auto started = Clock::now();
  std::vector<std::pair<std::string, std::string>> answers;  // (call, outcome: message)
  auto note = [&](const char* call, const auto& result) {
    answers.emplace_back(call, result.ok() ? std::string("ok") : detail(result));
  };
  for (int i = 0; i < 2; ++i) {
    note("find_workspace", repo->find_workspace("acme"));
    note("list_workspaces", repo->list_workspaces());
    note("find_user", repo->find_user("u1"));
    note("find_user_by_username", repo->find_user_by_username("alice"));
    note("list_users", repo->list_users(std::nullopt));
    note("find_api_key", repo->find_api_key("k1"));
    note("find_api_key_by_hash", repo->find_api_key_by_hash(api_key("k1", "u1").key_hash));
    note("list_api_keys", repo->list_api_keys("u1"));
    note("list_signing_keys", repo->list_signing_keys());
    note("is_empty", repo->is_empty());
    note("apply", apply(*repo, m::InsertUser{user("u2", "acme", "bob")}));
  }
  for (const auto& [call, answer] : answers) {
    const auto& call_ = call;  // clang 14 cannot capture a structured binding
    INFO(call_);
    CHECK(answer.starts_with("internal-error: "));
  }
  // Fails fast (connection refused), from many threads at once as well.
  run_threads(8, [&](int) {
    for (int i = 0; i < 5; ++i) CHECK(outcome(repo->find_user("u1")) == "internal-error");
  });
  CHECK(Clock::now() - started < std::chrono::seconds(20));
  // An unreachable server at open is internal_error too.
  CHECK(open_error(options_for(db)).code == iam::ErrorCode::internal_error);

  REQUIRE(server.start());
  // The same repository, not reopened: every call works again.
  CHECK(detail(repo->find_user("u1")) == "ok");
  CHECK(detail(repo->list_signing_keys()) == "ok");
  CHECK(detail(apply(*repo, m::InsertUser{user("u2", "acme", "bob")})) == "ok");
  run_threads(8, [&](int t) {
    CHECK(detail(repo->find_user_by_username("BOB")) == "ok");
    CHECK(detail(apply(*repo, m::TouchApiKey{"k1", at(t0 + t)})) == "ok");
  });
  CHECK(repo->list_users(std::nullopt)->size() == 2);  // the failed applies left nothing
}

TEST_CASE("postgres: server stopped and restarted while calls are running: no crash, only ok or internal_error") {
  pgtest::TempDatabase db;
  ServerBack server;
  auto repo = open_ok(db);
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");

  std::atomic<bool> done{false};
  std::atomic<int> ok{0};
  std::atomic<int> down{0};
  std::mutex mutex;
  std::vector<std::string> unexpected;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; !done.load(); ++i) {
        const std::string id = "u-" + std::to_string(t) + "-" + std::to_string(i);
        iam::Status s;
        if (t % 2) s = apply(*repo, m::InsertUser{user(id, "acme", id)});
        else if (auto r = repo->find_workspace("acme"); !r.ok()) s = r.error();
        if (s.ok()) {
          ok.fetch_add(1);
        } else if (s.error().code == iam::ErrorCode::internal_error) {
          down.fetch_add(1);
        } else {
          std::lock_guard lock(mutex);
          unexpected.push_back(detail(s));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(server.stop());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(server.start());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  done = true;
  for (auto& th : threads) th.join();
  INFO((unexpected.empty() ? std::string() : unexpected.front()));
  CHECK(unexpected.empty());
  CHECK(ok.load() > 0);
  CHECK(down.load() > 0);
  // Back to normal, from every thread.
  run_threads(4, [&](int t) {
    CHECK(detail(repo->find_workspace("acme")) == "ok");
    CHECK(detail(apply(*repo, m::InsertUser{user("after-" + std::to_string(t), "acme", "after-" + std::to_string(t))})) ==
          "ok");
  });
}

// =====================================================================================
// Options, errors and the store specification
// =====================================================================================

TEST_CASE("postgres: bad options are invalid_argument; connection failures are internal_error without secrets") {
  pgtest::TempDatabase db;
  auto o = options_for(db);
  o.pool_size = 0;
  CHECK(open_error(std::move(o)).code == iam::ErrorCode::invalid_argument);
  o = options_for(db);
  o.retry_timeout = std::chrono::milliseconds(-1);
  CHECK(open_error(std::move(o)).code == iam::ErrorCode::invalid_argument);
  o = options_for(db);
  o.private_key_encryption_key = iam::SecretBytes(16);
  CHECK(open_error(std::move(o)).code == iam::ErrorCode::invalid_argument);

  const std::string secret = "Hunter2-not-to-be-logged";
  o = options_for(db);
  o.conninfo = "dbname=x password '" + secret;  // unparsable
  auto e = open_error(std::move(o));
  CHECK(e.code == iam::ErrorCode::invalid_argument);
  CHECK_FALSE(contains(e.message, secret));

  o = options_for(db);
  o.conninfo = db.conninfo() + " password=" + secret;  // wrong password
  e = open_error(std::move(o));
  CHECK(e.code == iam::ErrorCode::internal_error);
  CHECK(contains(e.message, "password authentication failed"));
  CHECK_FALSE(contains(e.message, secret));

  o = options_for(db);
  o.conninfo = "postgresql://iam_test:" + secret + "@127.0.0.1:1/" + db.name();  // nothing listens on port 1
  e = open_error(std::move(o));
  CHECK(e.code == iam::ErrorCode::internal_error);
  CHECK_FALSE(contains(e.message, secret));

  o = options_for(db);
  o.conninfo = "dbname=" + db.name() + "_absent";
  CHECK(open_error(std::move(o)).code == iam::ErrorCode::internal_error);
}

TEST_CASE("postgres: open_repository(\"postgres:CONNINFO\") and postgresql:// URIs") {
  pgtest::TempDatabase db;
  ::unsetenv("IAM_KEY_ENCRYPTION_KEY_FILE");
  CHECK(iam::postgres_store_available());
  {
    auto repo = iam::open_repository("postgres:" + db.conninfo());
    REQUIRE(repo.ok());
    REQUIRE(detail(apply(**repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  }
  // The password comes from the passfile with_postgres.py set up (PGPASSFILE).
  const std::string uri =
      "postgresql://" + std::string(std::getenv("PGUSER")) + "@127.0.0.1:" + std::getenv("PGPORT") + "/" + db.name();
  for (const auto& spec : {"postgres:" + uri, uri, "postgres://" + uri.substr(13)}) {
    INFO(spec);
    auto repo = iam::open_repository(spec);
    REQUIRE(repo.ok());
    CHECK((*repo)->find_workspace("acme").ok());
  }
  CHECK(iam::open_repository("postgres:host=/nonexistent-socket-dir dbname=x").error().code ==
        iam::ErrorCode::internal_error);

  // The key file named by the environment encrypts private keys at rest.
  const auto key = random_key();
  char path[] = "/tmp/iam-pg-key-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(path) << hex_encode(key.span()) << "\n";
  ::setenv("IAM_KEY_ENCRYPTION_KEY_FILE", path, 1);
  {
    auto repo = iam::open_repository("postgres:" + db.conninfo());
    REQUIRE(repo.ok());
    REQUIRE(detail(apply(**repo, m::InsertSigningKey{signing_key("kid-1", 3, t0)})) == "ok");
  }
  ::unsetenv("IAM_KEY_ENCRYPTION_KEY_FILE");
  ::unlink(path);
  CHECK(pgtest::query_value(db.name(), "SELECT secret_encrypted FROM iam_signing_keys") == "t");
  CHECK(iam::open_repository("postgres:" + db.conninfo()).error().code == iam::ErrorCode::invalid_argument);
}

// =====================================================================================
// Encryption at rest
// =====================================================================================

TEST_CASE("postgres: private keys encrypted at rest; the key must fit the database") {
  pgtest::TempDatabase db;
  const auto key = random_key();
  const auto sk = signing_key("kid-1", 5, t0);
  {
    auto repo = open_ok(db, &key);
    REQUIRE(detail(apply(*repo, m::InsertSigningKey{sk.copy()})) == "ok");
    CHECK(hex_encode(repo->list_signing_keys()->at(0).secret_key.span()) == hex_encode(sk.secret_key.span()));
  }
  const auto stored = pgtest::query_value(db.name(), "SELECT encode(secret_key, 'hex') FROM iam_signing_keys");
  CHECK_FALSE(stored.empty());
  CHECK_FALSE(contains(stored, hex_encode(sk.secret_key.span()).substr(0, 32)));  // the seed is not there

  auto e = open_error(options_for(db));
  CHECK(e.code == iam::ErrorCode::invalid_argument);
  const auto other = random_key();
  e = open_error(options_for(db, &other));
  CHECK(e.code == iam::ErrorCode::invalid_argument);
  CHECK(hex_encode(open_ok(db, &key)->list_signing_keys()->at(0).secret_key.span()) == hex_encode(sk.secret_key.span()));
}

TEST_CASE("postgres: plaintext keys are encrypted in place by the first open with a key") {
  pgtest::TempDatabase db;
  const auto sk = signing_key("kid-1", 9, t0);
  auto plain = open_ok(db);
  REQUIRE(detail(apply(*plain, m::InsertSigningKey{sk.copy()})) == "ok");
  CHECK(pgtest::query_value(db.name(), "SELECT encode(secret_key, 'hex') FROM iam_signing_keys") ==
        hex_encode(sk.secret_key.span()));

  const auto key = random_key();
  auto encrypted = open_ok(db, &key);
  CHECK(pgtest::query_value(db.name(), "SELECT secret_encrypted FROM iam_signing_keys") == "t");
  CHECK(hex_encode(encrypted->list_signing_keys()->at(0).secret_key.span()) == hex_encode(sk.secret_key.span()));

  // The repository opened before, without the key, may not add a plaintext key now, nor
  // read the encrypted ones.
  CHECK(outcome(apply(*plain, m::RetireSigningKeys{at(t0 + 1)}, m::InsertSigningKey{signing_key("kid-2", 10, t0 + 1)})) ==
        "invalid-argument");
  CHECK(outcome(plain->list_signing_keys()) == "invalid-argument");
  CHECK(encrypted->list_signing_keys()->size() == 1);
}

TEST_CASE("postgres: replacement_key re-encrypts the private keys under a new key") {
  pgtest::TempDatabase db;
  const auto old_key = random_key();
  const auto new_key = random_key();
  const auto sk = signing_key("kid-1", 11, t0);
  auto stale = open_ok(db, &old_key);  // stays open, as a process not yet restarted would
  REQUIRE(detail(apply(*stale, m::InsertSigningKey{sk.copy()})) == "ok");
  const auto sealed_before = pgtest::query_value(db.name(), "SELECT encode(secret_key, 'hex') FROM iam_signing_keys");

  auto opts = options_for(db, &old_key);
  opts.replacement_key = new_key.copy();
  {
    auto rekeyed = iam::open_postgres_repository(std::move(opts));
    REQUIRE(detail(rekeyed) == "ok");
    CHECK(hex_encode((*rekeyed)->list_signing_keys()->at(0).secret_key.span()) == hex_encode(sk.secret_key.span()));
  }
  CHECK(pgtest::query_value(db.name(), "SELECT encode(secret_key, 'hex') FROM iam_signing_keys") != sealed_before);
  CHECK(contains(open_error(options_for(db, &old_key)).message, "not the one"));
  CHECK(hex_encode(open_ok(db, &new_key)->list_signing_keys()->at(0).secret_key.span()) ==
        hex_encode(sk.secret_key.span()));
  // the repository still holding the old key may not seal a new key with it, nor read one
  CHECK(outcome(apply(*stale, m::RetireSigningKeys{at(t0 + 1)}, m::InsertSigningKey{signing_key("kid-2", 12, t0 + 1)})) ==
        "invalid-argument");
  CHECK_FALSE(stale->list_signing_keys().ok());

  auto no_current = options_for(db);
  no_current.replacement_key = new_key.copy();
  CHECK(open_error(std::move(no_current)).code == iam::ErrorCode::invalid_argument);
}

// =====================================================================================
// Strings PostgreSQL cannot hold
// =====================================================================================

TEST_CASE("postgres: strings that are not UTF-8 or hold NUL: lookups find nothing, changes are invalid_argument") {
  pgtest::TempDatabase db;
  auto repo = open_ok(db);
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertUser{user("u1", "acme", "alice")})) ==
          "ok");
  const std::string nul("a\0b", 3);
  const std::string latin1 = "caf\xe9";
  CHECK(outcome(repo->find_user(nul)) == "not-found");
  CHECK(outcome(repo->find_user_by_username(latin1)) == "not-found");
  CHECK(outcome(repo->find_api_key_by_hash(nul)) == "not-found");
  CHECK(outcome(repo->find_workspace(latin1)) == "not-found");
  CHECK(outcome(apply(*repo, m::InsertWorkspace{workspace(nul)})) == "invalid-argument");
  CHECK(outcome(apply(*repo, m::InsertUser{user("u2", "acme", latin1)})) == "invalid-argument");
  auto bad_roles = user("u3", "acme", "carol");
  bad_roles.record.roles = {"reader", nul};
  CHECK(outcome(apply(*repo, m::InsertUser{bad_roles})) == "invalid-argument");
  CHECK(repo->list_users(std::nullopt)->size() == 1);
  CHECK(repo->list_workspaces()->size() == 1);

  // Roles that need quoting in an array literal come back exactly.
  auto odd = user("u4", "acme", "dave");
  odd.record.roles = {"", "NULL", "null", "a,b", "{x}", "quote\"d", "back\\slash", " spaced ", "ünï"};
  REQUIRE(detail(apply(*repo, m::InsertUser{odd})) == "ok");
  CHECK(repo->find_user("u4")->record.roles == odd.record.roles);
}

// =====================================================================================
// Cross-process invalidation (NOTIFY / LISTEN)
// =====================================================================================

namespace {

using Kind = iam::Invalidation::Kind;
using namespace std::chrono_literals;

// What a repository's change listener received. Must outlive the repository.
class Received {
 public:
  iam::InvalidationListener listener() {
    return [this](const iam::Invalidation& what) {
      {
        const std::lock_guard lock(mutex_);
        seen_.push_back(what);
      }
      changed_.notify_all();
    };
  }
  // Waits until pred(received so far) holds, at most `limit`.
  template <class P>
  bool wait_until(std::chrono::milliseconds limit, P pred) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return pred(seen_); });
  }
  bool wait_for_count(std::chrono::milliseconds limit, std::size_t n) {
    return wait_until(limit, [&](const auto& seen) { return seen.size() >= n; });
  }
  std::vector<iam::Invalidation> snapshot() {
    const std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<iam::Invalidation> seen_;
};

std::size_t count_everything(const std::vector<iam::Invalidation>& seen) {
  std::size_t n = 0;
  for (const auto& s : seen) n += s.kind == Kind::everything;
  return n;
}

long long ms(Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

std::shared_ptr<iam::RolesRegime> roles_on(std::shared_ptr<iam::Repository> repository) {
  iam::RolesConfig config;
  config.repository = std::move(repository);
  config.bootstrap_mode = iam::BootstrapMode::bootstrap;
  config.read_environment = false;
  config.logger = iam::null_logger();
  auto regime = iam::RolesRegime::create(std::move(config));
  if (!regime.ok()) FAIL("RolesRegime::create: " << regime.error().message);
  return *regime;
}

}  // namespace

TEST_CASE("postgres: a published invalidation reaches the other repositories within a second, not the publisher") {
  pgtest::TempDatabase db;
  Received at_a;
  Received at_b;
  auto a = open_ok(db);
  auto b = open_ok(db);  // a second pool, as another process would have
  a->add_change_listener(at_a.listener());
  b->add_change_listener(at_b.listener());

  const std::vector<iam::Invalidation> sent = {{Kind::user, "u-1"},
                                               {Kind::api_key, std::string(64, 'a')},
                                               {Kind::workspace, "acme west"},  // ids may hold spaces
                                               {Kind::signing_keys, ""},
                                               {Kind::everything, ""}};
  for (std::size_t i = 0; i < sent.size(); ++i) {
    const auto started = Clock::now();
    a->publish(sent[i]);
    REQUIRE(at_b.wait_for_count(1000ms, i + 1));
    const auto latency = Clock::now() - started;
    MESSAGE("notification " << i << " reached the other repository in " << ms(latency) << " ms");
    CHECK(latency < 1s);
    const auto got = at_b.snapshot().at(i);
    CHECK(got.kind == sent[i].kind);
    CHECK(got.id == sent[i].id);
  }
  // And the other way round.
  b->publish({Kind::user, "u-2"});
  REQUIRE(at_a.wait_for_count(1000ms, 1));
  CHECK(at_a.snapshot().at(0).id == "u-2");

  // A payload of another writer on the channel is taken as "everything".
  CHECK(pgtest::exec(db.name(), "SELECT pg_notify('iam_invalidation', 'garbage')").empty());
  REQUIRE(at_b.wait_for_count(1000ms, sent.size() + 1));
  CHECK(at_b.snapshot().back().kind == Kind::everything);

  std::this_thread::sleep_for(300ms);
  CHECK(at_a.snapshot().size() == 2);  // u-2 and garbage: never its own
  CHECK(at_b.snapshot().size() == sent.size() + 1);  // never its own u-2
}

TEST_CASE("postgres: listening connection lost: listeners get everything; after a restart notifications flow again") {
  pgtest::TempDatabase db;
  ServerBack server;
  Received at_b;
  auto a = open_ok(db);
  auto b = open_ok(db);
  b->add_change_listener(at_b.listener());
  a->publish({Kind::user, "u-1"});
  REQUIRE(at_b.wait_for_count(1000ms, 1));

  REQUIRE(server.stop());
  CHECK(at_b.wait_until(5000ms, [](const auto& seen) { return count_everything(seen) >= 1; }));
  const auto started = Clock::now();
  a->publish({Kind::user, "u-lost"});  // dropped, without an exception or a long wait
  CHECK(Clock::now() - started < 5s);

  REQUIRE(server.start());
  const auto restarted = Clock::now();
  // Listening again: "everything" once more, since what was sent meanwhile is unknown.
  REQUIRE(at_b.wait_until(10000ms, [](const auto& seen) { return count_everything(seen) >= 2; }));
  MESSAGE("listening again " << ms(Clock::now() - restarted) << " ms after the server was back");
  const auto count = at_b.snapshot().size();
  const auto sent = Clock::now();
  a->publish({Kind::api_key, "after-restart"});  // A's pooled connections are dead: renewed
  REQUIRE(at_b.wait_for_count(3000ms, count + 1));
  MESSAGE("first notification after the restart arrived in " << ms(Clock::now() - sent) << " ms");
  CHECK(at_b.snapshot().back().id == "after-restart");
  for (const auto& s : at_b.snapshot()) CHECK(s.id != "u-lost");
}

TEST_CASE("postgres: destroying a repository stops its listener promptly; no callback afterwards") {
  pgtest::TempDatabase db;
  ServerBack server;
  Received at_b;
  Received at_c;
  auto a = open_ok(db);
  auto b = open_ok(db);
  b->add_change_listener(at_b.listener());
  a->publish({Kind::user, "u-1"});
  REQUIRE(at_b.wait_for_count(1000ms, 1));

  auto started = Clock::now();
  b.reset();
  auto took = Clock::now() - started;
  MESSAGE("repository with a listening thread destroyed in " << ms(took) << " ms");
  CHECK(took < 500ms);
  a->publish({Kind::user, "u-2"});
  std::this_thread::sleep_for(300ms);
  CHECK(at_b.snapshot().size() == 1);

  // Also while the server is gone (the thread waiting to reconnect).
  auto c = open_ok(db);
  c->add_change_listener(at_c.listener());
  REQUIRE(server.stop());
  REQUIRE(at_c.wait_until(5000ms, [](const auto& seen) { return count_everything(seen) >= 1; }));
  std::this_thread::sleep_for(500ms);  // into the backoff
  started = Clock::now();
  c.reset();
  took = Clock::now() - started;
  MESSAGE("repository with a reconnecting thread destroyed in " << ms(took) << " ms");
  CHECK(took < 500ms);
  const auto count = at_c.snapshot().size();
  REQUIRE(server.start());
  std::this_thread::sleep_for(300ms);
  CHECK(at_c.snapshot().size() == count);
}

TEST_CASE("postgres: end to end: a key revoked and a key rotated through one regime take effect at another's gateway") {
  pgtest::TempDatabase db;
  auto regime_a = roles_on(open_ok(db));
  auto admin = regime_a->bootstrap();
  REQUIRE(admin.ok());
  auto regime_b = roles_on(open_ok(db));  // "another process" on the same database

  iam::GatewayConfig config;
  config.regime = regime_b;
  config.authentication_ttl = 60s;
  config.logger = iam::null_logger();
  auto created = iam::Enforcer::create(std::move(config));
  REQUIRE(created.ok());
  const auto enforcer = std::move(*created);

  iam::KeyInput input;
  input.user_id = admin->admin_user_id;
  input.name = "laptop";
  auto key = regime_a->create_api_key(std::nullopt, input, std::nullopt);
  REQUIRE(key.ok());
  const std::string plaintext(key->plaintext.view());
  REQUIRE(enforcer->authenticate(plaintext).ok());
  REQUIRE(enforcer->cached_identities() == 1);  // now cached for 60 s

  REQUIRE(regime_a->revoke_api_key(std::nullopt, key->record.id, std::nullopt).ok());
  auto started = Clock::now();
  bool refused = false;
  while (Clock::now() - started < 1s) {
    if (!enforcer->authenticate(plaintext).ok()) {
      refused = true;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  MESSAGE("revoked key refused by the other gateway after " << ms(Clock::now() - started) << " ms");
  CHECK(refused);

  const auto old_kid = regime_b->key_set().active_kid();
  REQUIRE(regime_a->rotate_signing_key(std::nullopt).ok());
  const auto new_kid = regime_a->key_set().active_kid();
  REQUIRE(new_kid.has_value());
  CHECK(new_kid != old_kid);
  started = Clock::now();
  bool rotated = false;
  while (Clock::now() - started < 1s) {
    if (regime_b->key_set().active_kid() == new_kid) {
      rotated = true;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  MESSAGE("rotation seen by the other regime after " << ms(Clock::now() - started) << " ms");
  CHECK(rotated);
}

TEST_CASE("postgres: end to end: change-password and disable-user through one regime end the user's JWTs at another's gateway") {
  pgtest::TempDatabase db;
  auto regime_a = roles_on(open_ok(db));
  auto admin = regime_a->bootstrap();
  REQUIRE(admin.ok());
  auto regime_b = roles_on(open_ok(db));  // "another process" on the same database
  iam::GatewayConfig config;
  config.regime = regime_b;
  config.authentication_ttl = 60s;
  config.logger = iam::null_logger();
  auto created = iam::Enforcer::create(std::move(config));
  REQUIRE(created.ok());
  const auto enforcer = std::move(*created);

  iam::UserInput input;
  input.username = "alice";
  input.password = iam::SecretString(std::string_view("correct horse battery"));
  auto alice = regime_a->create_user(admin->admin_user_id, "default", input);
  REQUIRE(alice.ok());
  auto login = [&](std::string_view password) {
    auto r = regime_a->login("alice", password, std::nullopt);
    REQUIRE(r.ok());
    return std::string(r->jwt.view());
  };
  // Refused by the other gateway within a second (the NOTIFY path), or never.
  auto refused_within_a_second = [&](const std::string& jwt) {
    const auto started = Clock::now();
    while (Clock::now() - started < 1s) {
      if (!enforcer->authenticate(jwt).ok()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  };

  const auto first = login("correct horse battery");
  REQUIRE(enforcer->authenticate(first).ok());  // cached for 60 s
  REQUIRE(regime_a->change_password(alice->id, alice->id, "correct horse battery", "a brand new passphrase").ok());
  CHECK(refused_within_a_second(first));
  const auto second = login("a brand new passphrase");
  CHECK(enforcer->authenticate(second).ok());

  REQUIRE(regime_a->disable_user(admin->admin_user_id, alice->id, std::nullopt).ok());
  CHECK(refused_within_a_second(second));
  REQUIRE(regime_a->enable_user(admin->admin_user_id, alice->id, std::nullopt).ok());
  CHECK_FALSE(enforcer->authenticate(second).ok());  // stays dead after enable-user
  CHECK(enforcer->authenticate(login("a brand new passphrase")).ok());
}
