// The PostgreSQL backend under the conformance suite. It runs under
// tests/postgres/with_postgres.py, which starts a throw-away server; every repository gets
// a database of its own, dropped when the repository goes. Calls alternate between
// plaintext private signing keys and keys encrypted at rest, so the suite covers both.
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "../support/forwarding_repository.h"
#include "backend.h"
#include "iam/postgres_store.h"
#include "tests/postgres/pg_test_support.h"

namespace conformance {

extern const bool backend_persists = true;
namespace {

// The repository the suite sees: the PostgreSQL one, and the database it lives in.
class TempPostgresRepository final : public test_support::ForwardingRepository {
 public:
  TempPostgresRepository(std::shared_ptr<pgtest::TempDatabase> db, std::optional<iam::SecretBytes> key)
      : db_(std::move(db)), key_(std::move(key)) {
    iam::PostgresOptions options;
    options.conninfo = db_->conninfo();
    if (key_) options.private_key_encryption_key = key_->copy();
    auto opened = iam::make_postgres_repository(std::move(options));
    if (!opened.ok()) {
      std::fprintf(stderr, "conformance-postgres: cannot open database %s: %s\n", db_->name().c_str(),
                   opened.error().message.c_str());
      std::abort();
    }
    inner_ = std::move(opened).value();
  }
  ~TempPostgresRepository() override { inner_.reset(); }  // the connections close before the database goes

  // Closes this repository's connections and opens the same database again.
  static std::shared_ptr<iam::Repository> reopen(std::shared_ptr<iam::Repository> repo) {
    auto self = std::dynamic_pointer_cast<TempPostgresRepository>(repo);
    if (!self) return nullptr;
    repo.reset();
    auto db = self->db_;
    std::optional<iam::SecretBytes> key;
    if (self->key_) key = self->key_->copy();
    self.reset();
    return std::make_shared<TempPostgresRepository>(std::move(db), std::move(key));
  }

 private:
  std::shared_ptr<pgtest::TempDatabase> db_;
  std::optional<iam::SecretBytes> key_;
};

}  // namespace

std::shared_ptr<iam::Repository> make_backend_under_test() {
  static int calls = 0;
  std::optional<iam::SecretBytes> key;
  if (calls++ % 2 == 1) {
    if (sodium_init() < 0) std::abort();
    key.emplace(iam::postgres_encryption_key_bytes);
    randombytes_buf(key->data(), key->size());
  }
  return std::make_shared<TempPostgresRepository>(std::make_shared<pgtest::TempDatabase>("iam_conformance"),
                                                  std::move(key));
}

std::shared_ptr<iam::Repository> reopen_backend(std::shared_ptr<iam::Repository> repo) {
  return TempPostgresRepository::reopen(std::move(repo));
}

}  // namespace conformance
