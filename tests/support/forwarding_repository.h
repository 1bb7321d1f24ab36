// A Repository that forwards every call to another: the base of the tests' decorators
// (failure injection, temporary stores, signalling stores). Override what you need.
#pragma once

#include <memory>
#include <utility>

#include "iam/repository.h"

namespace test_support {

class ForwardingRepository : public iam::Repository {
 public:
  explicit ForwardingRepository(std::shared_ptr<iam::Repository> inner = nullptr) : inner_(std::move(inner)) {}

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
  void publish(const iam::Invalidation& what) noexcept override { inner_->publish(what); }
  void add_change_listener(iam::InvalidationListener listener) override {
    inner_->add_change_listener(std::move(listener));
  }

 protected:
  // A subclass that owns what the inner store lives in (a temporary directory, a
  // database) resets it first in its destructor, so the store closes before that goes.
  std::shared_ptr<iam::Repository> inner_;
};

}  // namespace test_support
