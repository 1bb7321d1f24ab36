// iam/forwarding_repository.h — a Repository that forwards every call to another: the base
// for decorators an application puts in front of a store (metrics, tracing, fault
// injection in tests). Derive from it and override only what you need; everything else,
// publish and change listeners included, reaches the inner repository unchanged.
//
// THREAD SAFETY: as safe as the inner repository (every Repository is safe to share); a
// subclass that adds state must keep it so (atomics or its own lock).
// OWNERSHIP: shares ownership of the inner repository.
// ERRORS: whatever the inner repository returns, unchanged. A null inner repository is a
// programming error (every call would dereference it).
#pragma once

#include <memory>
#include <utility>

#include "iam/export.h"
#include "iam/repository.h"

namespace iam {

class IAM_EXPORT ForwardingRepository : public Repository {
 public:
  explicit ForwardingRepository(std::shared_ptr<Repository> inner = nullptr) : inner_(std::move(inner)) {}

  Result<WorkspaceRecord> find_workspace(std::string_view id) override { return inner_->find_workspace(id); }
  Result<std::vector<WorkspaceRecord>> list_workspaces() override { return inner_->list_workspaces(); }
  Result<StoredUser> find_user(std::string_view id) override { return inner_->find_user(id); }
  Status read_user_authorisation(std::string_view id, FunctionRef<void(const UserAuthorisationView&)> read) override {
    return inner_->read_user_authorisation(id, read);
  }
  Result<StoredUser> find_user_by_username(std::string_view username) override {
    return inner_->find_user_by_username(username);
  }
  Result<std::vector<StoredUser>> list_users(std::optional<std::string_view> workspace) override {
    return inner_->list_users(workspace);
  }
  Result<StoredApiKey> find_api_key(std::string_view id) override { return inner_->find_api_key(id); }
  Result<StoredApiKey> find_api_key_by_hash(std::string_view key_hash) override {
    return inner_->find_api_key_by_hash(key_hash);
  }
  Result<std::vector<StoredApiKey>> list_api_keys(std::string_view user_id) override {
    return inner_->list_api_keys(user_id);
  }
  Result<std::vector<SigningKey>> list_signing_keys() override { return inner_->list_signing_keys(); }
  Result<bool> is_empty() override { return inner_->is_empty(); }
  Status apply(std::span<const Mutation> change) override { return inner_->apply(change); }
  void publish(const Invalidation& what) noexcept override { inner_->publish(what); }
  void add_change_listener(InvalidationListener listener) override {
    inner_->add_change_listener(std::move(listener));
  }

 protected:
  // A subclass that owns what the inner store lives in (a temporary directory, a
  // database) resets it first in its destructor, so the store closes before that goes.
  std::shared_ptr<Repository> inner_;
};

}  // namespace iam
