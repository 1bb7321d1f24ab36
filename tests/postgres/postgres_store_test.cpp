// The PostgreSQL store beyond the conformance suite, against the throw-away server of
// tests/postgres/with_postgres.py (the other concerns: postgres_resilience_test.cpp,
// postgres_invalidation_test.cpp): schema versions, options and the store specification,
// encryption at rest, and strings PostgreSQL cannot hold.
#include "tests/postgres/store_test_support.h"

using namespace pgstore;

// =====================================================================================
// Schema
// =====================================================================================

TEST_CASE("postgres: open creates the schema at the latest version, with an index for every lookup") {
  pgtest::TempDatabase db;
  auto repo = open_ok(db);
  CHECK(pgtest::query_value(db.name(), "SELECT version FROM iam_schema_version") ==
        std::to_string(iam::postgres_detail::latest_schema_version()));
  // Every lookup has an index: primary keys, unique constraints and these.
  const auto indexes = pgtest::query_value(
      db.name(), "SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes WHERE tablename LIKE 'iam_%'");
  for (const char* name :
       {"iam_workspaces_pkey", "iam_users_pkey", "iam_users_username_key_unique", "iam_users_by_workspace",
        "iam_api_keys_pkey", "iam_api_keys_key_hash_unique", "iam_api_keys_by_user", "iam_signing_keys_kid_unique",
        "iam_signing_keys_one_current", "iam_signing_keys_one_next", "iam_signing_keys_by_created",
        "iam_meta_pkey"}) {
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

TEST_CASE("postgres: a version 2 database's active key becomes the current key; one current, one next") {
  pgtest::TempDatabase db;
  REQUIRE(pgtest::exec(db.name(), std::string("BEGIN;") + iam::postgres_detail::migration_steps()[0] +
                                      iam::postgres_detail::migration_steps()[1] + "COMMIT;") == "");
  REQUIRE(pgtest::exec(db.name(),
                       "INSERT INTO iam_signing_keys (kid, public_key, created, retired) VALUES "
                       "('kid-old', decode(repeat('00', 32), 'hex'), 1799999000, 1799999500), "
                       "('kid-v2', decode(repeat('01', 32), 'hex'), 1800000000, NULL)") == "");
  auto repo = open_ok(db);
  const auto keys = repo->list_signing_keys();
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  CHECK(keys->at(1).kid == "kid-v2");
  CHECK(keys->at(1).is_current());
  CHECK(keys->at(1).activated == at(1'800'000'000));
  CHECK(keys->at(0).retired.has_value());
  // The schema itself refuses a second current or a second next key.
  CHECK(pgtest::exec(db.name(), "UPDATE iam_signing_keys SET retired = NULL WHERE kid = 'kid-old'") != "");
  REQUIRE(pgtest::exec(db.name(), "INSERT INTO iam_signing_keys (kid, public_key, created) VALUES "
                                  "('kid-n1', decode(repeat('02', 32), 'hex'), 1800000001)") == "");
  CHECK(pgtest::exec(db.name(), "INSERT INTO iam_signing_keys (kid, public_key, created) VALUES "
                                "('kid-n2', decode(repeat('03', 32), 'hex'), 1800000001)") != "");
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
    auto r = iam::make_postgres_repository(options_for(db));
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

TEST_CASE("postgres: make_repository(\"postgres:CONNINFO\") and postgresql:// URIs") {
  pgtest::TempDatabase db;
  ::unsetenv("IAM_KEY_ENCRYPTION_KEY_FILE");
  CHECK(iam::postgres_store_available());
  {
    auto repo = iam::make_repository("postgres:" + db.conninfo());
    REQUIRE(repo.ok());
    REQUIRE(detail(apply(**repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  }
  // The password comes from the passfile with_postgres.py set up (PGPASSFILE).
  const std::string uri =
      "postgresql://" + std::string(std::getenv("PGUSER")) + "@127.0.0.1:" + std::getenv("PGPORT") + "/" + db.name();
  for (const auto& spec : {"postgres:" + uri, uri, "postgres://" + uri.substr(13)}) {
    INFO(spec);
    auto repo = iam::make_repository(spec);
    REQUIRE(repo.ok());
    CHECK((*repo)->find_workspace("acme").ok());
  }
  CHECK(iam::make_repository("postgres:host=/nonexistent-socket-dir dbname=x").error().code ==
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
    auto repo = iam::make_repository("postgres:" + db.conninfo());
    REQUIRE(repo.ok());
    REQUIRE(detail(apply(**repo, m::InsertSigningKey{signing_key("kid-1", 3, t0)})) == "ok");
  }
  ::unsetenv("IAM_KEY_ENCRYPTION_KEY_FILE");
  ::unlink(path);
  CHECK(pgtest::query_value(db.name(), "SELECT secret_encrypted FROM iam_signing_keys") == "t");
  CHECK(iam::make_repository("postgres:" + db.conninfo()).error().code == iam::ErrorCode::invalid_argument);
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
    auto rekeyed = iam::make_postgres_repository(std::move(opts));
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

