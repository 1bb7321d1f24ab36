// make_repository (iam/store.h, storage/open_store.cpp) in every build: a backend this build
// lacks answers not_supported with a message that says how to build it, whatever the
// environment holds; one it has opens. (The backends' own tests cover their specifications
// in depth: tests/unit/sqlite_store_test.cpp, tests/postgres.)
#include <doctest/doctest.h>
#include <stdlib.h>

#include <string>

#include "iam/key_at_rest.h"
#include "iam/postgres_store.h"
#include "iam/sqlite_store.h"
#include "iam/store.h"

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Sets IAM_KEY_ENCRYPTION_KEY_FILE to a file that does not exist, for one test case.
class MissingKeyFile {
 public:
  MissingKeyFile() { ::setenv(iam::key_encryption_key_file_env, "/nonexistent/iam-test.key", 1); }
  ~MissingKeyFile() { ::unsetenv(iam::key_encryption_key_file_env); }
  MissingKeyFile(const MissingKeyFile&) = delete;
  MissingKeyFile& operator=(const MissingKeyFile&) = delete;
};

}  // namespace

TEST_CASE("make_repository: memory always opens") {
  auto repo = iam::make_repository("memory");
  REQUIRE(repo.ok());
  CHECK(repo.value()->is_empty().value());
}

TEST_CASE("make_repository: a backend this build lacks is not_supported, named, whatever the environment") {
  MissingKeyFile env;  // a build with the backend would answer invalid_argument (the key file)
  const auto sqlite = iam::make_repository("sqlite:/tmp/iam-open-store-test.db");
  const auto postgres = iam::make_repository("postgres:host=nowhere.invalid");
  REQUIRE_FALSE(sqlite.ok());
  REQUIRE_FALSE(postgres.ok());
  if (iam::sqlite_store_available()) {
    CHECK(sqlite.error().code == iam::ErrorCode::invalid_argument);
    CHECK(contains(sqlite.error().message, "encryption key file"));
  } else {
    CHECK(sqlite.error().code == iam::ErrorCode::not_supported);
    CHECK(contains(sqlite.error().message, "-Dsqlite=enabled"));
  }
  if (iam::postgres_store_available()) {
    CHECK(postgres.error().code == iam::ErrorCode::invalid_argument);
  } else {
    CHECK(postgres.error().code == iam::ErrorCode::not_supported);
    CHECK(contains(postgres.error().message, "-Dpostgres=enabled"));
  }
}

TEST_CASE("make_repository: an unknown kind is invalid_argument and names the kinds") {
  const auto r = iam::make_repository("mysql:host=db");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == iam::ErrorCode::invalid_argument);
  CHECK(contains(r.error().message, "'mysql'"));
  CHECK(contains(r.error().message, "sqlite:PATH"));
}
