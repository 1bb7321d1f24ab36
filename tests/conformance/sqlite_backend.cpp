// The SQLite backend under the conformance suite. Every repository lives in a database file
// of its own, in a fresh directory under $TMPDIR (or /tmp) that is removed when the
// repository goes. Calls alternate between a plaintext database and one whose private
// signing keys are encrypted at rest, so the suite covers both ways of storing them.
#include <sodium.h>
#include <stdlib.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "../support/forwarding_repository.h"
#include "backend.h"
#include "iam/sqlite_store.h"

namespace conformance {

extern const bool backend_persists = true;
namespace {

// A temporary directory, removed with everything in it when the last owner lets go.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/iam-conformance-sqlite-XXXXXX";
    if (!::mkdtemp(pattern.data())) {
      std::perror("conformance-sqlite: mkdtemp");
      std::abort();
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The repository the suite sees: the SQLite one, and the directory its file lives in.
class TempSqliteRepository final : public test_support::ForwardingRepository {
 public:
  TempSqliteRepository(std::shared_ptr<TempDir> dir, std::optional<iam::SecretBytes> key)
      : dir_(std::move(dir)), key_(std::move(key)) {
    iam::SqliteOptions options;
    options.path = dir_->path() + "/iam.db";
    if (key_) options.private_key_encryption_key = key_->copy();
    auto opened = iam::make_sqlite_repository(std::move(options));
    if (!opened.ok()) {
      std::fprintf(stderr, "conformance-sqlite: cannot open %s/iam.db: %s\n", dir_->path().c_str(),
                   opened.error().message.c_str());
      std::abort();
    }
    inner_ = std::move(opened).value();
  }
  ~TempSqliteRepository() override { inner_.reset(); }  // the store closes before its directory goes

  // Closes this repository and opens the same file again, as a restarted process would.
  static std::shared_ptr<iam::Repository> reopen(std::shared_ptr<iam::Repository> repo) {
    auto self = std::dynamic_pointer_cast<TempSqliteRepository>(repo);
    if (!self) return nullptr;
    repo.reset();
    auto dir = self->dir_;
    std::optional<iam::SecretBytes> key;
    if (self->key_) key = self->key_->copy();
    self.reset();  // closes every connection before the file is opened again
    return std::make_shared<TempSqliteRepository>(std::move(dir), std::move(key));
  }

 private:
  std::shared_ptr<TempDir> dir_;
  std::optional<iam::SecretBytes> key_;
};

}  // namespace

std::shared_ptr<iam::Repository> make_backend_under_test() {
  static int calls = 0;
  std::optional<iam::SecretBytes> key;
  if (calls++ % 2 == 1) {
    if (sodium_init() < 0) std::abort();
    key.emplace(iam::sqlite_encryption_key_bytes);
    randombytes_buf(key->data(), key->size());
  }
  return std::make_shared<TempSqliteRepository>(std::make_shared<TempDir>(), std::move(key));
}

std::shared_ptr<iam::Repository> reopen_backend(std::shared_ptr<iam::Repository> repo) {
  return TempSqliteRepository::reopen(std::move(repo));
}

}  // namespace conformance
