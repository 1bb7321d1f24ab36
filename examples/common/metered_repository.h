// A Repository in front of another that counts the calls reaching storage, so an operator
// (and the flood test) can see what requests cost the store. Everything else is forwarded
// by iam::ForwardingRepository, publish and change listeners included.
//
// THREAD SAFETY: as safe as the inner repository; the counters are relaxed atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "iam/forwarding_repository.h"

namespace examples {

struct StoreMeter {
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::uint64_t> writes{0};  // apply() calls, one per change
  // Calls the store could not answer (internal_error); not_found, duplicate and the like
  // are answers, not errors.
  std::atomic<std::uint64_t> read_errors{0};
  std::atomic<std::uint64_t> write_errors{0};
};

class MeteredRepository final : public iam::ForwardingRepository {
 public:
  MeteredRepository(std::shared_ptr<iam::Repository> inner, std::shared_ptr<StoreMeter> meter)
      : ForwardingRepository(std::move(inner)), meter_(std::move(meter)) {}

  iam::Result<iam::WorkspaceRecord> find_workspace(std::string_view id) override {
    return counted_read([&](iam::Repository& r) { return r.find_workspace(id); });
  }
  iam::Result<std::vector<iam::WorkspaceRecord>> list_workspaces() override { return counted_read([&](iam::Repository& r) { return r.list_workspaces(); }); }
  iam::Result<iam::StoredUser> find_user(std::string_view id) override { return counted_read([&](iam::Repository& r) { return r.find_user(id); }); }
  iam::Status read_user_authorisation(std::string_view id,
                                      iam::FunctionRef<void(const iam::UserAuthorisationView&)> read) override {
    return counted_read([&](iam::Repository& r) { return r.read_user_authorisation(id, read); });
  }
  iam::Result<iam::StoredUser> find_user_by_username(std::string_view username) override {
    return counted_read([&](iam::Repository& r) { return r.find_user_by_username(username); });
  }
  iam::Result<std::vector<iam::StoredUser>> list_users(std::optional<std::string_view> workspace) override {
    return counted_read([&](iam::Repository& r) { return r.list_users(workspace); });
  }
  iam::Result<iam::StoredApiKey> find_api_key(std::string_view id) override { return counted_read([&](iam::Repository& r) { return r.find_api_key(id); }); }
  iam::Result<iam::StoredApiKey> find_api_key_by_hash(std::string_view key_hash) override {
    return counted_read([&](iam::Repository& r) { return r.find_api_key_by_hash(key_hash); });
  }
  iam::Result<std::vector<iam::StoredApiKey>> list_api_keys(std::string_view user_id) override {
    return counted_read([&](iam::Repository& r) { return r.list_api_keys(user_id); });
  }
  iam::Result<std::vector<iam::SigningKey>> list_signing_keys() override { return counted_read([&](iam::Repository& r) { return r.list_signing_keys(); }); }
  iam::Result<bool> is_empty() override { return counted_read([&](iam::Repository& r) { return r.is_empty(); }); }
  iam::Status apply(std::span<const iam::Mutation> change) override {
    meter_->writes.fetch_add(1, std::memory_order_relaxed);
    return counted(meter_->write_errors, inner_->apply(change));
  }

 private:
  template <class Call>
  std::invoke_result_t<Call, iam::Repository&> counted_read(Call call) {
    meter_->reads.fetch_add(1, std::memory_order_relaxed);
    return counted(meter_->read_errors, call(*inner_));
  }
  template <class Answer>
  static Answer counted(std::atomic<std::uint64_t>& errors, Answer answer) {
    if (!answer.ok() && answer.error().code == iam::ErrorCode::internal_error) errors.fetch_add(1, std::memory_order_relaxed);
    return answer;
  }

  std::shared_ptr<StoreMeter> meter_;
};

}  // namespace examples
