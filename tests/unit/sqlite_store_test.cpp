// The SQLite store beyond the conformance suite: opening bad files, file modes, schema
// versions and migration, private keys encrypted at rest, persistence, a mapped reader
// seeing another repository's writes, lock timeouts, the key file loader and the
// "sqlite:PATH" store specification.
#include <doctest/doctest.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "iam/postgres_store.h"
#include "iam/repository.h"
#include "iam/sqlite_store.h"
#include "iam/store.h"
#include "storage/sqlite/sqlite_schema.h"
#include "tests/support/records.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace records;
namespace m = iam::mutation;
namespace fs = std::filesystem;

using test_support::TempDir;

iam::SqliteOptions options_for(const std::string& path, const iam::SecretBytes* key = nullptr) {
  iam::SqliteOptions o;
  o.path = path;
  if (key) o.private_key_encryption_key = key->copy();
  return o;
}

std::shared_ptr<iam::Repository> open_ok(const std::string& path, const iam::SecretBytes* key = nullptr) {
  auto r = iam::make_sqlite_repository(options_for(path, key));
  if (!r.ok()) FAIL("open " << path << ": " << r.error().message);
  return std::move(r).value();
}

iam::Error open_error(const std::string& path, const iam::SecretBytes* key = nullptr) {
  auto r = iam::make_sqlite_repository(options_for(path, key));
  REQUIRE_FALSE(r.ok());
  return r.error();
}

using iam::crypto::hex_encode;  // the library's own (libsodium)

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Whether `needle` occurs in the database file or its -wal file.
bool file_holds(const std::string& path, std::span<const std::uint8_t> needle) {
  const std::string n(reinterpret_cast<const char*>(needle.data()), needle.size());
  for (const auto& p : {path, path + "-wal", path + "-journal"})
    if (fs::exists(p) && contains(read_bytes(p), n)) return true;
  return false;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

// Raw SQLite access, to fake what the library would never write itself.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  void exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    const std::string message = error ? error : "";
    sqlite3_free(error);
    INFO(sql);
    REQUIRE_MESSAGE(rc == SQLITE_OK, message);
  }
  int try_exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
  std::int64_t integer(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(s) == SQLITE_ROW);
    const auto v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
  }
  void insert_blob(const std::string& sql, std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    sqlite3_bind_blob(s, 1, a.data(), static_cast<int>(a.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 2, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
    REQUIRE(sqlite3_step(s) == SQLITE_DONE);
    sqlite3_finalize(s);
  }

 private:
  sqlite3* db_ = nullptr;
};

// A small world, with enough rows to span several database pages.
void seed(iam::Repository& repo, int users = 3) {
  REQUIRE(apply(repo, m::InsertWorkspace{workspace("acme")}).ok());
  for (int i = 0; i < users; ++i) {
    const std::string id = "u" + std::to_string(i);
    auto key = api_key("k" + std::to_string(i), id);
    key.record.expires = at(far);
    REQUIRE(apply(repo, m::InsertUser{user(id, "acme", "User" + std::to_string(i), {"writer", "reader"})},
                  m::InsertApiKey{key})
                .ok());
  }
}

}  // namespace

TEST_CASE("sqlite: open refuses bad paths and bad files with a clear error") {
  TempDir dir;

  SUBCASE("empty path") {
    const auto e = open_error("");
    CHECK(e.code == iam::ErrorCode::invalid_argument);
    CHECK(contains(e.message, "empty"));
  }
  SUBCASE("missing directory") {
    const auto path = dir.file("no/such/dir/iam.db");
    const auto e = open_error(path);
    CHECK(e.code == iam::ErrorCode::internal_error);
    CHECK(contains(e.message, "does not exist"));
    CHECK(contains(e.message, path));
    CHECK_FALSE(fs::exists(path));
  }
  SUBCASE("a file that is not SQLite") {
    const auto path = dir.file("notes.txt");
    std::ofstream(path) << "This is a text file, not a database. It is long enough to hold a header.\n";
    const auto e = open_error(path);
    CHECK(e.code == iam::ErrorCode::internal_error);
    CHECK(contains(e.message, "not an SQLite database"));
    CHECK(read_bytes(path).starts_with("This is a text file"));  // untouched
  }
  SUBCASE("an SQLite database of another application") {
    const auto path = dir.file("other.db");
    { RawDb(path).exec("CREATE TABLE things (x INTEGER)"); }
    const auto e = open_error(path);
    CHECK(e.code == iam::ErrorCode::internal_error);
    CHECK(contains(e.message, "without the iam schema"));
  }
  SUBCASE("a truncated database") {
    const auto path = dir.file("iam.db");
    {
      auto repo = open_ok(path);
      seed(*repo, 400);
    }
    const auto size = fs::file_size(path);
    REQUIRE(size > 8192);
    for (const auto cut : {size / 2, std::uintmax_t{4096 + 100}, std::uintmax_t{60}, std::uintmax_t{10}}) {
      INFO("cut to " << cut << " bytes of " << size);
      const auto copy = dir.file("cut-" + std::to_string(cut) + ".db");
      fs::copy_file(path, copy);
      fs::resize_file(copy, cut);
      const auto e = open_error(copy);
      CHECK(e.code == iam::ErrorCode::internal_error);
      CHECK((contains(e.message, "truncated") || contains(e.message, "damaged")));
      CHECK(contains(e.message, copy));
    }
  }
  SUBCASE("a read-only database file") {
    const auto path = dir.file("iam.db");
    { seed(*open_ok(path)); }
    fs::permissions(path, fs::perms::owner_read);
    const auto e = open_error(path);
    CHECK(e.code == iam::ErrorCode::internal_error);
    CHECK(contains(e.message, "read-only"));
  }
  SUBCASE("a directory instead of a file") {
    const auto e = open_error(dir.file(""));
    CHECK(e.code == iam::ErrorCode::internal_error);
  }
  SUBCASE("an encryption key of the wrong size") {
    iam::SecretBytes short_key(16);
    const auto e = open_error(dir.file("iam.db"), &short_key);
    CHECK(e.code == iam::ErrorCode::invalid_argument);
    CHECK(contains(e.message, "32 bytes"));
  }
}

TEST_CASE("sqlite: a new database file and its WAL files have mode 0600") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  const auto old_mask = ::umask(022);
  {
    auto repo = open_ok(path);
    seed(*repo);
    CHECK(mode_of(path) == 0600);
    REQUIRE(fs::exists(path + "-wal"));
    CHECK(mode_of(path + "-wal") == 0600);
    REQUIRE(fs::exists(path + "-shm"));
    CHECK(mode_of(path + "-shm") == 0600);
  }
  ::umask(old_mask);
  CHECK(mode_of(path) == 0600);
}

TEST_CASE("sqlite: everything persists across a reopen") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  auto sk = signing_key("kid-1", 1, 1'800'000'000);
  {
    auto repo = open_ok(path);
    seed(*repo);
    REQUIRE(apply(*repo, m::InsertSigningKey{sk.copy()}, m::TouchApiKey{"k1", iam::from_unix_seconds(1'900'000'000)})
                .ok());
  }
  auto repo = open_ok(path);
  CHECK(repo->list_workspaces()->size() == 1);
  const auto users = repo->list_users(std::nullopt);
  REQUIRE(users.ok());
  REQUIRE(users->size() == 3);
  CHECK(users->at(1).record.roles == std::vector<std::string>{"writer", "reader"});
  CHECK(repo->find_user_by_username("USER2")->record.id == "u2");
  const auto k1 = repo->find_api_key_by_hash(api_key("k1", "u1").key_hash);
  REQUIRE(k1.ok());
  CHECK(k1->record.last_used == iam::from_unix_seconds(1'900'000'000));
  CHECK(k1->record.expires == iam::from_unix_seconds(4'102'444'800));
  const auto keys = repo->list_signing_keys();
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 1);
  CHECK(hex_encode(keys->at(0).secret_key.span()) == hex_encode(sk.secret_key.span()));
  CHECK(keys->at(0).public_key == sk.public_key);
  // the schema's constraints stand behind the repository's checks
  CHECK(apply(*repo, m::InsertUser{user("u9", "acme", "user1")}).error().code == iam::ErrorCode::duplicate);
}

TEST_CASE("sqlite: the schema itself refuses inconsistent rows") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  { seed(*open_ok(path)); }
  RawDb raw(path);
  raw.exec("PRAGMA foreign_keys = ON");
  // a user of an absent workspace, a key of an absent user, a second user with one username
  // key, a second key with one hash, a user with keys deleted alone
  CHECK(raw.try_exec("INSERT INTO users VALUES ('x', 'nowhere', 'x', 'x', '', '', '[]', 1, 0, 0, '', 0)") ==
        SQLITE_CONSTRAINT);
  CHECK(raw.try_exec("INSERT INTO api_keys VALUES ('kx', 'nobody', 'h', '', '', NULL, 0, NULL)") == SQLITE_CONSTRAINT);
  CHECK(raw.try_exec("INSERT INTO users VALUES ('x', 'acme', 'USER1', 'user1', '', '', '[]', 1, 0, 0, '', 0)") ==
        SQLITE_CONSTRAINT);
  CHECK(raw.try_exec("INSERT INTO api_keys VALUES ('kx', 'u1', '" + fake_hash("key:k1") + "', '', '', NULL, 0, NULL)") ==
        SQLITE_CONSTRAINT);
  CHECK(raw.try_exec("DELETE FROM users WHERE id = 'u1'") == SQLITE_CONSTRAINT);
  CHECK(raw.try_exec("UPDATE users SET enabled = 2 WHERE id = 'u1'") == SQLITE_CONSTRAINT);
  CHECK(raw.try_exec("UPDATE users SET credentials_epoch = -1 WHERE id = 'u1'") == SQLITE_CONSTRAINT);
  CHECK(raw.integer("SELECT count(*) FROM users") == 3);
}

TEST_CASE("sqlite: a database of a newer schema version is refused") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  { seed(*open_ok(path)); }
  const int newer = iam::sqlite_detail::latest_schema_version() + 1;
  { RawDb(path).exec("UPDATE schema_version SET version = " + std::to_string(newer)); }
  const auto e = open_error(path);
  CHECK(e.code == iam::ErrorCode::not_supported);
  CHECK(contains(e.message, "newer"));
  CHECK(contains(e.message, "schema version " + std::to_string(newer)));
  CHECK(RawDb(path).integer("SELECT version FROM schema_version") == newer);  // left alone
}

TEST_CASE("sqlite: a database of an older schema version is migrated, its data kept") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  auto sk = signing_key("kid-v1", 3, 1'800'000'000);
  REQUIRE(iam::sqlite_detail::latest_schema_version() >= 2);
  {
    // what version 1 of the library wrote
    RawDb raw(path);
    raw.exec("BEGIN");
    raw.exec(iam::sqlite_detail::migration_steps()[0]);
    raw.exec("COMMIT");
    raw.exec(
        "INSERT INTO workspaces VALUES ('acme', 'Acme', 1, 1800000000);"
        "INSERT INTO users VALUES ('u1', 'acme', 'Alice', 'alice', 'Alice A', 'a@example.com', '[\"admin\"]', 1, 0, "
        "1800000001, 'pbkdf2-sha256$1$c2FsdA$x');"
        "INSERT INTO api_keys VALUES ('k1', 'u1', 'hash-1', 'ci', 'tg_abcd', NULL, 1800000002, NULL);");
    raw.insert_blob("INSERT INTO signing_keys (kid, public_key, secret_key, created) VALUES ('kid-v1', ?1, ?2, 1800000000)",
                    sk.public_key, sk.secret_key.span());
    CHECK(raw.integer("SELECT version FROM schema_version") == 1);
  }

  SUBCASE("without a key") {
    auto repo = open_ok(path);
    CHECK(RawDb(path).integer("SELECT version FROM schema_version") == iam::sqlite_detail::latest_schema_version());
    const auto alice = repo->find_user_by_username("ALICE");
    REQUIRE(alice.ok());
    CHECK(alice->record.roles == std::vector<std::string>{"admin"});
    // what version 3 added: every existing user starts at credentials epoch 0
    CHECK(alice->credentials_epoch == 0);
    CHECK(apply(*repo, m::AdvanceCredentialsEpoch{"u1"}).ok());
    CHECK(repo->find_user("u1")->credentials_epoch == 1);
    CHECK(repo->list_api_keys("u1")->size() == 1);
    const auto keys = repo->list_signing_keys();
    REQUIRE(keys.ok());
    REQUIRE(keys->size() == 1);
    CHECK(hex_encode(keys->at(0).secret_key.span()) == hex_encode(sk.secret_key.span()));
    // what version 4 added: the active key is the current one, activated when created
    CHECK(keys->at(0).is_current());
    CHECK(keys->at(0).activated == iam::from_unix_seconds(1'800'000'000));
    // what versions 2 and 4 added works: a second current key is refused, and a second
    // next key, by the repository and by the schema itself
    CHECK(apply(*repo, m::InsertSigningKey{signing_key("kid-2", 4, 1'800'000'001)}).error().code ==
          iam::ErrorCode::duplicate);
    CHECK(apply(*repo, m::InsertSigningKey{next_signing_key("kid-n1", 5, iam::from_unix_seconds(1'800'000'001))}).ok());
    CHECK(apply(*repo, m::InsertSigningKey{next_signing_key("kid-n2", 6, iam::from_unix_seconds(1'800'000'001))})
              .error()
              .code == iam::ErrorCode::duplicate);
    repo.reset();
    RawDb raw(path);
    raw.exec("PRAGMA foreign_keys = ON");
    raw.exec("INSERT INTO signing_keys (kid, public_key, created, retired, activated) "
             "VALUES ('kid-old', zeroblob(32), 1, 2, 1)");
    raw.exec("INSERT INTO signing_keys (kid, public_key, created, retired) VALUES ('kid-older', zeroblob(32), 1, 2)");
    CHECK(raw.try_exec("UPDATE signing_keys SET retired = NULL WHERE kid = 'kid-old'") == SQLITE_CONSTRAINT);
    CHECK(raw.try_exec("UPDATE signing_keys SET retired = NULL WHERE kid = 'kid-older'") == SQLITE_CONSTRAINT);
  }

  SUBCASE("with a key: the migrated plaintext key is encrypted in place") {
    const auto key = random_key();
    {
      auto repo = open_ok(path, &key);
      const auto keys = repo->list_signing_keys();
      REQUIRE(keys.ok());
      REQUIRE(keys->size() == 1);
      CHECK(hex_encode(keys->at(0).secret_key.span()) == hex_encode(sk.secret_key.span()));
    }
    CHECK_FALSE(file_holds(path, sk.secret_key.span()));
    CHECK_FALSE(file_holds(path, sk.secret_key.span().first(iam::ed25519_seed_bytes)));
    CHECK(open_error(path).code == iam::ErrorCode::invalid_argument);
    CHECK(hex_encode(open_ok(path, &key)->list_signing_keys()->at(0).secret_key.span()) == hex_encode(sk.secret_key.span()));
  }
}

// What version 2 of the schema, written by a library whose username_key() lowered ASCII
// letters only, looks like: `users` rows as (id, username, old key).
void write_version_2_store(const std::string& path,
                           const std::vector<std::array<const char*, 3>>& users) {
  RawDb raw(path);
  raw.exec("BEGIN");
  raw.exec(iam::sqlite_detail::migration_steps()[0]);
  raw.exec(iam::sqlite_detail::migration_steps()[1]);
  raw.exec("COMMIT");
  REQUIRE(raw.integer("SELECT version FROM schema_version") == 2);
  raw.exec("INSERT INTO workspaces VALUES ('acme', 'Acme', 1, 1800000000)");
  int created = 1800000001;
  for (const auto& [id, username, key] : users)
    raw.exec(std::string("INSERT INTO users VALUES ('") + id + "', 'acme', '" + username + "', '" + key +
             "', '', '', '[\"reader\"]', 1, 0, " + std::to_string(created++) + ", 'pbkdf2-sha256$1$c2FsdA$x')");
}

std::string stored_key(const std::string& path, const std::string& id) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT username_key FROM users WHERE id = ?1", -1, &s, nullptr) == SQLITE_OK);
  sqlite3_bind_text(s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  std::string key(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), static_cast<std::size_t>(sqlite3_column_bytes(s, 0)));
  sqlite3_finalize(s);
  sqlite3_close_v2(db);
  return key;
}

TEST_CASE("sqlite: usernames keyed by an older username_key are re-keyed at open") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  write_version_2_store(path, {{"u-wide", "\xef\xbd\x81" "dmin", "\xef\xbd\x81" "dmin"},   // full-width a
                               {"u-strasse", "Stra\xc3\x9f" "e", "stra\xc3\x9f" "e"},
                               {"u-emile", "\xc3\x89mile", "\xc3\x89mile"},
                               {"u-bob", "Bob", "bob"}});
  {
    auto repo = open_ok(path);
    CHECK(must(repo->find_user_by_username("admin")).record.id == "u-wide");
    CHECK(must(repo->find_user_by_username("ADMIN")).record.id == "u-wide");
    CHECK(must(repo->find_user_by_username("STRASSE")).record.id == "u-strasse");
    CHECK(must(repo->find_user_by_username("\xc3\xa9mile")).record.id == "u-emile");
    CHECK(must(repo->find_user_by_username("BOB")).record.id == "u-bob");
    CHECK(must(repo->find_user("u-wide")).record.username == "\xef\xbd\x81" "dmin");  // the name itself is kept
    // the look-alike is now taken
    CHECK(apply(*repo, m::InsertUser{user("u-admin", "acme", "admin")}).error().code == iam::ErrorCode::duplicate);
    CHECK(apply(*repo, m::InsertUser{user("u-ss", "acme", "strasse")}).error().code == iam::ErrorCode::duplicate);
    CHECK(apply(*repo, m::InsertUser{user("u-new", "acme", "Carol")}).ok());
  }
  CHECK(stored_key(path, "u-wide") == "admin");
  CHECK(stored_key(path, "u-strasse") == "strasse");
  CHECK(stored_key(path, "u-new") == "carol");
  CHECK(RawDb(path).integer("SELECT count(*) FROM meta WHERE name = 'username_keys' AND value = CAST('nfkc-casefold' AS BLOB)") == 1);
  // a second open has nothing to do and keeps everything
  CHECK(must(open_ok(path)->list_users(std::nullopt)).size() == 5);
}

TEST_CASE("sqlite: the re-keying refuses, changing nothing, when two users would share a key") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  write_version_2_store(path, {{"u-admin", "admin", "admin"},
                               {"u-wide", "\xef\xbd\x81" "dmin", "\xef\xbd\x81" "dmin"},
                               {"u-evil", "evil\x1b[2J", "evil\x1b[2j"},
                               {"u-evil2", "\xef\xbd\x85" "vil\x1b[2J", "\xef\xbd\x85" "vil\x1b[2j"}});
  const auto e = open_error(path);
  CHECK(e.code == iam::ErrorCode::internal_error);
  // both users of each pair are named, their names escaped
  CHECK(contains(e.message, "u-admin ('admin')"));
  CHECK(contains(e.message, "u-wide ('\xef\xbd\x81" "dmin')"));
  CHECK(contains(e.message, "u-evil ('evil\\e[2J')"));
  CHECK(contains(e.message, "u-evil2 ('\xef\xbd\x85" "vil\\e[2J')"));
  CHECK_FALSE(contains(e.message, "\x1b"));
  // nothing changed: the old keys, no meta entry, every user there
  CHECK(stored_key(path, "u-wide") == "\xef\xbd\x81" "dmin");
  CHECK(RawDb(path).integer("SELECT count(*) FROM meta WHERE name = 'username_keys'") == 0);
  CHECK(RawDb(path).integer("SELECT count(*) FROM users") == 4);
  // once an operator removes one of each pair, the open succeeds
  RawDb(path).exec("DELETE FROM users WHERE id IN ('u-wide', 'u-evil2')");
  auto repo = open_ok(path);
  CHECK(must(repo->find_user_by_username("ADMIN")).record.id == "u-admin");
  CHECK(must(repo->find_user_by_username("EVIL\x1b[2J")).record.id == "u-evil");
}

TEST_CASE("sqlite: private keys encrypted at rest") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  const auto key = random_key();
  auto k1 = signing_key("kid-1", 1, 1'800'000'000);
  auto k2 = signing_key("kid-2", 2, 1'800'000'100);

  {
    auto repo = open_ok(path, &key);
    seed(*repo);
    REQUIRE(apply(*repo, m::InsertSigningKey{k1.copy()}).ok());
    REQUIRE(apply(*repo, m::RetireSigningKeys{iam::from_unix_seconds(1'800'000'100)}, m::InsertSigningKey{k2.copy()})
                .ok());
    // while open (the pages are in the WAL) and after closing (checkpointed)
    CHECK_FALSE(file_holds(path, k2.secret_key.span()));
    CHECK_FALSE(file_holds(path, k2.secret_key.span().first(iam::ed25519_seed_bytes)));
    CHECK_FALSE(file_holds(path, key.span()));
  }
  for (const auto* k : {&k1, &k2}) {
    CHECK_FALSE(file_holds(path, k->secret_key.span()));
    CHECK_FALSE(file_holds(path, k->secret_key.span().first(iam::ed25519_seed_bytes)));
  }
  CHECK(file_holds(path, k2.public_key));  // the public half is stored as it is

  SUBCASE("the key round-trips through a reopen") {
    auto repo = open_ok(path, &key);
    const auto keys = repo->list_signing_keys();
    REQUIRE(keys.ok());
    REQUIRE(keys->size() == 2);
    CHECK(keys->at(0).kid == "kid-1");
    CHECK(keys->at(0).secret_key.empty());
    CHECK(keys->at(1).kid == "kid-2");
    CHECK(hex_encode(keys->at(1).secret_key.span()) == hex_encode(k2.secret_key.span()));
    CHECK_FALSE(keys->at(1).retired.has_value());
  }
  SUBCASE("no key is refused") {
    const auto e = open_error(path);
    CHECK(e.code == iam::ErrorCode::invalid_argument);
    CHECK(contains(e.message, "encrypted"));
  }
  SUBCASE("a wrong key is refused") {
    const auto wrong = random_key();
    const auto e = open_error(path, &wrong);
    CHECK(e.code == iam::ErrorCode::invalid_argument);
    CHECK(contains(e.message, "not the one"));
  }
  SUBCASE("a damaged ciphertext is an error, not a wrong key") {
    { RawDb(path).exec("UPDATE signing_keys SET secret_key = zeroblob(104) WHERE kid = 'kid-2'"); }
    auto repo = open_ok(path, &key);
    const auto keys = repo->list_signing_keys();
    REQUIRE_FALSE(keys.ok());
    CHECK(keys.error().code == iam::ErrorCode::internal_error);
  }
}

TEST_CASE("sqlite: a reader sees another repository's commits after the file grew and was checkpointed") {
  // Readers map the file (mmap_size): the pages a checkpoint writes past the end of what a
  // reader mapped must still be read, as another process's writes would be.
  TempDir dir;
  const auto path = dir.file("iam.db");
  auto writer = open_ok(path);
  auto reader = open_ok(path);
  seed(*writer, 1);
  REQUIRE(reader->find_api_key_by_hash(api_key("k0", "u0").key_hash).ok());  // the reader has mapped the file
  RawDb(path).exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const auto size_before = fs::file_size(path);
  constexpr int added = 2000;
  iam::Change change;
  for (int i = 0; i < added; ++i) change.emplace_back(m::InsertApiKey{api_key("g" + std::to_string(i), "u0")});
  REQUIRE(writer->apply(change).ok());
  RawDb(path).exec("PRAGMA wal_checkpoint(TRUNCATE)");
  REQUIRE(fs::file_size(path) > size_before + 64 * 4096);  // the new pages are in the file, past the old end
  int found = 0;
  for (int i = 0; i < added; ++i) {
    const std::string id = "g" + std::to_string(i);
    const auto key = reader->find_api_key_by_hash(api_key(id, "u0").key_hash);
    if (key.ok() && key->record.id == id) ++found;
  }
  CHECK(found == added);
  CHECK(reader->find_api_key_by_hash(api_key("k0", "u0").key_hash).ok());
}

TEST_CASE("sqlite: a retired private key leaves no bytes in the database or its WAL") {
  // Checked while the repository is open, as a copy of a running gateway's files would be.
  TempDir dir;
  const auto path = dir.file("iam.db");
  auto k1 = signing_key("kid-1", 1, 1'800'000'000);
  auto k2 = signing_key("kid-2", 2, 1'800'000'100);
  auto repo = open_ok(path);  // no key: the plaintext is what a leftover page would show
  seed(*repo);
  REQUIRE(apply(*repo, m::InsertSigningKey{k1.copy()}).ok());
  REQUIRE(file_holds(path, k1.secret_key.span().first(iam::ed25519_seed_bytes)));  // the test sees stored bytes
  REQUIRE(apply(*repo, m::RetireSigningKeys{iam::from_unix_seconds(1'800'000'100)}, m::InsertSigningKey{k2.copy()})
              .ok());
  CHECK_FALSE(file_holds(path, k1.secret_key.span().first(iam::ed25519_seed_bytes)));
  REQUIRE(apply(*repo, m::DeleteSigningKeysRetiredBefore{iam::from_unix_seconds(1'800'000'200)}).ok());
  CHECK_FALSE(file_holds(path, k1.secret_key.span().first(iam::ed25519_seed_bytes)));
  CHECK(file_holds(path, k2.secret_key.span().first(iam::ed25519_seed_bytes)));  // the active key is kept
  // later writes reuse the WAL: still nothing of the retired key
  REQUIRE(apply(*repo, m::InsertWorkspace{workspace("later")}).ok());
  CHECK_FALSE(file_holds(path, k1.secret_key.span().first(iam::ed25519_seed_bytes)));
}

TEST_CASE("sqlite: replacement_key re-encrypts the private keys under a new key") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  const auto old_key = random_key();
  const auto new_key = random_key();
  auto k1 = signing_key("kid-1", 1, 1'800'000'000);
  auto stale = open_ok(path, &old_key);  // stays open, as a process not yet restarted would
  REQUIRE(apply(*stale, m::InsertSigningKey{k1.copy()}).ok());

  auto opts = options_for(path, &old_key);
  opts.replacement_key = new_key.copy();
  auto rekeyed = iam::make_sqlite_repository(std::move(opts));
  REQUIRE(rekeyed.ok());
  CHECK(hex_encode((*rekeyed)->list_signing_keys()->at(0).secret_key.span()) == hex_encode(k1.secret_key.span()));
  rekeyed->reset();

  CHECK(contains(open_error(path, &old_key).message, "not the one"));
  CHECK(hex_encode(open_ok(path, &new_key)->list_signing_keys()->at(0).secret_key.span()) ==
        hex_encode(k1.secret_key.span()));
  CHECK_FALSE(file_holds(path, k1.secret_key.span().first(iam::ed25519_seed_bytes)));
  // the repository still holding the old key may not seal a new key with it
  const auto written = apply(*stale, m::RetireSigningKeys{iam::from_unix_seconds(1'800'000'001)},
                             m::InsertSigningKey{signing_key("kid-2", 2, 1'800'000'001)});
  REQUIRE_FALSE(written.ok());
  CHECK(written.error().code == iam::ErrorCode::invalid_argument);
  CHECK_FALSE(stale->list_signing_keys().ok());

  auto no_current = options_for(path);
  no_current.replacement_key = new_key.copy();
  CHECK(iam::make_sqlite_repository(std::move(no_current)).error().code == iam::ErrorCode::invalid_argument);
}

TEST_CASE("sqlite: a plaintext database gets encrypted when opened with a key, and stays so") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  const auto key = random_key();
  auto k1 = signing_key("kid-1", 1, 1'800'000'000);

  auto plain = open_ok(path);  // stays open, as another process would
  REQUIRE(apply(*plain, m::InsertSigningKey{k1.copy()}).ok());
  REQUIRE(file_holds(path, k1.secret_key.span()));  // plaintext, as documented

  auto encrypted = open_ok(path, &key);
  CHECK(hex_encode(encrypted->list_signing_keys()->at(0).secret_key.span()) == hex_encode(k1.secret_key.span()));

  // the handle without the key may no longer write or read private keys
  const auto written = apply(*plain, m::RetireSigningKeys{iam::from_unix_seconds(1'800'000'001)},
                             m::InsertSigningKey{signing_key("kid-2", 2, 1'800'000'001)});
  REQUIRE_FALSE(written.ok());
  CHECK(written.error().code == iam::ErrorCode::invalid_argument);
  CHECK(plain->list_signing_keys().error().code == iam::ErrorCode::invalid_argument);
  // its other records still work
  CHECK(apply(*plain, m::InsertWorkspace{workspace("acme")}).ok());

  plain.reset();
  encrypted.reset();
  CHECK_FALSE(file_holds(path, k1.secret_key.span()));
  CHECK_FALSE(file_holds(path, k1.secret_key.span().first(iam::ed25519_seed_bytes)));
  CHECK(open_error(path).code == iam::ErrorCode::invalid_argument);
  auto again = open_ok(path, &key);
  CHECK(hex_encode(again->list_signing_keys()->at(0).secret_key.span()) == hex_encode(k1.secret_key.span()));
  CHECK(again->find_workspace("acme").ok());
}

TEST_CASE("sqlite: a lock held past busy_timeout is internal_error and changes nothing") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  auto opts = options_for(path);
  opts.busy_timeout = std::chrono::milliseconds(100);
  auto opened = iam::make_sqlite_repository(std::move(opts));
  REQUIRE(opened.ok());
  auto repo = std::move(opened).value();
  REQUIRE(apply(*repo, m::InsertWorkspace{workspace("acme")}).ok());
  {
    RawDb other(path);
    other.exec("BEGIN IMMEDIATE");
    const auto s = apply(*repo, m::InsertWorkspace{workspace("beta")});
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == iam::ErrorCode::internal_error);
    CHECK(contains(s.error().message, "locked"));
    CHECK(repo->list_workspaces()->size() == 1);  // readers are not blocked by a writer
    other.exec("ROLLBACK");
  }
  CHECK(apply(*repo, m::InsertWorkspace{workspace("beta")}).ok());
  CHECK(repo->list_workspaces()->size() == 2);
}

TEST_CASE("sqlite: load_key_file takes 32 raw bytes or 64 hex characters") {
  TempDir dir;
  const auto key = random_key();
  const auto write = [&](const std::string& name, const std::string& content) {
    const auto p = dir.file(name);
    std::ofstream(p, std::ios::binary) << content;
    return p;
  };
  const std::string raw(reinterpret_cast<const char*>(key.data()), key.size());

  auto from_raw = iam::load_key_file(write("raw.key", raw));
  REQUIRE(from_raw.ok());
  CHECK(hex_encode(from_raw->span()) == hex_encode(key.span()));
  auto from_hex = iam::load_key_file(write("hex.key", hex_encode(key.span()) + "\n"));
  REQUIRE(from_hex.ok());
  CHECK(hex_encode(from_hex->span()) == hex_encode(key.span()));
  std::string upper = hex_encode(key.span());
  std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
  CHECK(iam::load_key_file(write("upper.key", "  " + upper + "\r\n")).ok());

  for (const auto& [name, content] : std::vector<std::pair<std::string, std::string>>{
           {"short.key", raw.substr(0, 31)},
           {"long.key", raw + "x"},
           {"badhex.key", std::string(63, 'a') + "g"},
           {"hex-short.key", std::string(62, 'a')},
           {"empty.key", ""}}) {
    const auto& name_ = name;  // clang 14 cannot capture a structured binding
    INFO(name_);
    const auto r = iam::load_key_file(write(name, content));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == iam::ErrorCode::invalid_argument);
    CHECK(contains(r.error().message, name));
  }
  const auto missing = iam::load_key_file(dir.file("missing.key"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == iam::ErrorCode::invalid_argument);
}

TEST_CASE("sqlite: make_repository(\"sqlite:PATH\"), with the key file from the environment") {
  TempDir dir;
  const auto path = dir.file("iam.db");
  ::unsetenv(iam::sqlite_key_file_env);
  CHECK(iam::make_repository("sqlite:").error().code == iam::ErrorCode::invalid_argument);
  const auto typo = iam::make_repository("postgre://user:hunter2@db.example");
  CHECK(typo.error().code == iam::ErrorCode::invalid_argument);
  CHECK(typo.error().message.find("hunter2") == std::string::npos);  // never echo a password
  CHECK(typo.error().message.find("postgre") != std::string::npos);
  CHECK(iam::make_repository("sqlite:" + dir.file("missing/iam.db")).error().code == iam::ErrorCode::internal_error);
  if (!iam::postgres_store_available())  // with it, tests/postgres covers "postgres:"
    CHECK(iam::make_repository("postgres:host=x").error().code == iam::ErrorCode::not_supported);

  const auto key = random_key();
  const auto key_path = dir.file("iam.key");
  std::ofstream(key_path) << hex_encode(key.span()) << "\n";
  ::setenv(iam::sqlite_key_file_env, key_path.c_str(), 1);
  auto sk = signing_key("kid-1", 9, 1'800'000'000);
  {
    auto repo = iam::make_repository("sqlite:" + path);
    REQUIRE(repo.ok());
    REQUIRE(apply(**repo, m::InsertSigningKey{sk.copy()}).ok());
  }
  CHECK_FALSE(file_holds(path, sk.secret_key.span()));
  CHECK(hex_encode(open_ok(path, &key)->list_signing_keys()->at(0).secret_key.span()) == hex_encode(sk.secret_key.span()));

  ::setenv(iam::sqlite_key_file_env, dir.file("missing.key").c_str(), 1);
  CHECK(iam::make_repository("sqlite:" + path).error().code == iam::ErrorCode::invalid_argument);
  ::unsetenv(iam::sqlite_key_file_env);
  const auto e = iam::make_repository("sqlite:" + path);
  REQUIRE_FALSE(e.ok());
  CHECK(contains(e.error().message, iam::sqlite_key_file_env));
}
