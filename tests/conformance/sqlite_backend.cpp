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

#include "backend.h"
#include "iam/sqlite_store.h"

namespace conformance {
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
class TempSqliteRepository final : public iam::Repository {
 public:
  TempSqliteRepository(std::shared_ptr<TempDir> dir, std::optional<iam::SecretBytes> key)
      : dir_(std::move(dir)), key_(std::move(key)) {
    iam::SqliteOptions options;
    options.path = dir_->path() + "/iam.db";
    if (key_) options.private_key_encryption_key = key_->copy();
    auto opened = iam::open_sqlite_repository(std::move(options));
    if (!opened.ok()) {
      std::fprintf(stderr, "conformance-sqlite: cannot open %s/iam.db: %s\n", dir_->path().c_str(),
                   opened.error().message.c_str());
      std::abort();
    }
    inner_ = std::move(opened).value();
  }

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

  iam::Result<iam::WorkspaceRecord> find_workspace(std::string_view id) override { return inner_->find_workspace(id); }
  iam::Result<std::vector<iam::WorkspaceRecord>> list_workspaces() override { return inner_->list_workspaces(); }
  iam::Result<iam::StoredUser> find_user(std::string_view id) override { return inner_->find_user(id); }
  iam::Result<iam::StoredUser> find_user_by_username(std::string_view username) override {
    return inner_->find_user_by_username(username);
  }
  iam::Result<std::vector<iam::StoredUser>> list_users(std::optional<std::string_view> workspace) override {
    return inner_->list_users(workspace);
  }
  iam::Result<iam::StoredApiKey> find_api_key(std::string_view id) override { return inner_->find_api_key(id); }
  iam::Result<iam::StoredApiKey> find_api_key_by_hash(std::string_view key_hash) override {
    return inner_->find_api_key_by_hash(key_hash);
  }
  iam::Result<std::vector<iam::StoredApiKey>> list_api_keys(std::string_view user_id) override {
    return inner_->list_api_keys(user_id);
  }
  iam::Result<std::vector<iam::SigningKey>> list_signing_keys() override { return inner_->list_signing_keys(); }
  iam::Result<bool> is_empty() override { return inner_->is_empty(); }
  iam::Status apply(std::span<const iam::Mutation> change) override { return inner_->apply(change); }

 private:
  std::shared_ptr<TempDir> dir_;  // declared first: removed after the repository closes
  std::optional<iam::SecretBytes> key_;
  std::shared_ptr<iam::Repository> inner_;
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
