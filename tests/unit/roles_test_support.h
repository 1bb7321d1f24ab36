// Shared helpers for the roles regime's unit tests (roles_*_test.cpp): a ready TestIam,
// record builders and readers,
// capturing / throwing audit sinks, an environment guard, a repository decorator that can
// fail or count apply() calls, and JWT decoding.
#pragma once

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/forwarding_repository.h"
#include "crypto/crypto.h"
#include "iam/audit.h"
#include "iam/memory_store.h"
#include "iam/repository.h"
#include "iam/roles.h"
#include "iam/testing.h"

namespace roles_test {

using nlohmann::json;

inline constexpr const char* kPassword = "correct horse battery";

// The trusted internal caller (no actor): skips the in-process re-checks.
inline const iam::Actor kTrusted = std::nullopt;

// An identity for `user_id` as authenticate would give it for an API key.
inline iam::Identity identity_of(const std::string& user_id) {
  return iam::Identity{user_id, "", user_id, iam::CredentialSource::api_key, std::nullopt};
}

inline bool is_base64url(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// The usernames of `users`, sorted.
inline std::vector<std::string> usernames(const std::vector<iam::UserRecord>& users) {
  std::vector<std::string> out;
  for (const auto& u : users) out.push_back(u.username);
  std::sort(out.begin(), out.end());
  return out;
}

// The ids of `workspaces`, in their order.
inline std::vector<std::string> workspace_ids(const std::vector<iam::WorkspaceRecord>& workspaces) {
  std::vector<std::string> out;
  for (const auto& w : workspaces) out.push_back(w.id);
  return out;
}

// make_test_iam or fail the test.
inline iam::testing::TestIam make_iam(iam::testing::TestIamOptions options = {}) {
  auto t = iam::testing::make_test_iam(std::move(options));
  REQUIRE_MESSAGE(t.ok(), (t.ok() ? "" : t.error().message));
  return std::move(t).value();
}

// Another "process" on `t`'s store and clock: a regime with its own key set and caches.
// (Production password cost: log in through `t`, not through it.)
inline std::shared_ptr<iam::RolesRegime> another_process(const iam::testing::TestIam& t,
                                                         std::shared_ptr<iam::AuditSink> audit = nullptr) {
  iam::RolesConfig config;
  config.repository = t.repository;
  config.clock = t.clock;
  config.bootstrap_mode = iam::BootstrapMode::bootstrap;
  config.read_environment = false;
  config.logger = iam::null_logger();
  config.audit = std::move(audit);
  auto regime = iam::make_roles_regime(std::move(config));
  REQUIRE_MESSAGE(regime.ok(), (regime.ok() ? "" : regime.error().message));
  return std::move(regime).value();
}

// The default role table plus an application-defined, own-workspace `helpdesk` role
// (contract.md's example) and `helpdesk-plus`, the same with users:admin.
inline iam::RoleTable helpdesk_roles() {
  iam::RoleTable roles = iam::default_role_table();
  roles["helpdesk"] = iam::RoleDefinition{{"users:read", "users:write", "keys:admin"}, false};
  roles["helpdesk-plus"] = iam::RoleDefinition{{"users:read", "users:write", "users:admin", "keys:admin"}, false};
  return roles;
}

inline iam::UserInput user_input(std::string username, std::string_view password,
                                 std::optional<std::vector<std::string>> roles = std::nullopt) {
  iam::UserInput u;
  u.username = std::move(username);
  u.password = iam::SecretString(password);
  u.roles = std::move(roles);
  return u;
}

inline iam::WorkspaceInput workspace_input(std::string id, std::optional<std::string> name = std::nullopt,
                                           std::optional<bool> enabled = std::nullopt) {
  iam::WorkspaceInput w;
  w.id = std::move(id);
  w.name = std::move(name);
  w.enabled = enabled;
  return w;
}

inline iam::KeyInput key_input(std::string user_id, std::optional<std::string> name = std::string("k"),
                               std::optional<std::string> expires = std::nullopt) {
  iam::KeyInput k;
  k.user_id = std::move(user_id);
  k.name = std::move(name);
  k.expires = std::move(expires);
  return k;
}

// Exactly the opaque failure of contract.md "AuthFailure".
template <class R>
bool is_auth_failure(const R& result) {
  return !result.ok() && result.error() == iam::auth_failure();
}

template <class R>
std::optional<iam::ErrorCode> code_of(const R& result) {
  if (result.ok()) return std::nullopt;
  return result.error().code;
}

// Records every audit event; safe for many threads.
class CapturingSink final : public iam::AuditSink {
 public:
  void record(const iam::AuditEvent& event) override {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
  }
  std::vector<iam::AuditEvent> all() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::vector<iam::AuditEvent> named(std::string_view name) const {
    std::lock_guard lock(mutex_);
    std::vector<iam::AuditEvent> out;
    for (const auto& e : events_)
      if (e.name == name) out.push_back(e);
    return out;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    events_.clear();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<iam::AuditEvent> events_;
};

class ThrowingSink final : public iam::AuditSink {
 public:
  void record(const iam::AuditEvent&) override { throw std::runtime_error("sink down"); }
};

// Unsets IAM_BOOTSTRAP_MODE / IAM_BOOTSTRAP_TOKEN for the test and restores them after.
class EnvGuard {
 public:
  EnvGuard() {
    for (const char* name : {"IAM_BOOTSTRAP_MODE", "IAM_BOOTSTRAP_TOKEN"}) {
      const char* v = std::getenv(name);
      saved_.emplace_back(name, v ? std::optional<std::string>(v) : std::nullopt);
      ::unsetenv(name);
    }
  }
  ~EnvGuard() {
    for (const auto& [name, value] : saved_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;
  static void set(const char* name, const char* value) { ::setenv(name, value, 1); }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// A Repository in front of another that counts apply() calls and can be told to fail
// any change matching a predicate (without touching the inner store).
class DecoratedRepository final : public test_support::ForwardingRepository {
 public:
  using ForwardingRepository::ForwardingRepository;

  std::function<bool(std::span<const iam::Mutation>)> fail_when;
  int applies = 0;
  std::vector<std::size_t> change_sizes;

  iam::Status apply(std::span<const iam::Mutation> change) override {
    ++applies;
    change_sizes.push_back(change.size());
    if (fail_when && fail_when(change)) return iam::Error{iam::ErrorCode::internal_error, "injected failure"};
    return inner_->apply(change);
  }
};

template <class M>
bool contains_mutation(std::span<const iam::Mutation> change) {
  for (const auto& m : change)
    if (std::holds_alternative<M>(m)) return true;
  return false;
}

// The decoded header / payload of a compact JWS.
inline json jwt_part(std::string_view token, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) start = token.find('.', start) + 1;
  const std::size_t end = token.find('.', start);
  const auto bytes = iam::crypto::base64url_decode(token.substr(start, end - start));
  REQUIRE(bytes.has_value());
  return json::parse(iam::crypto::as_text(*bytes));
}
inline json jwt_header(std::string_view token) { return jwt_part(token, 0); }
inline json jwt_claims(std::string_view token) { return jwt_part(token, 1); }

// The stored form of a user (hash included), straight from the repository.
inline iam::StoredUser stored_user(iam::Repository& repo, std::string_view id) {
  auto u = repo.find_user(id);
  REQUIRE(u.ok());
  return std::move(u).value();
}

// Changes a stored record behind the regime's back, to isolate one rule at a time.
inline void store_user(iam::Repository& repo, iam::StoredUser user) {
  iam::Change change;
  change.emplace_back(iam::mutation::UpdateUser{std::move(user)});
  REQUIRE(repo.apply(change).ok());
}
inline void store_workspace_enabled(iam::Repository& repo, const std::string& id, bool enabled) {
  auto w = repo.find_workspace(id);
  REQUIRE(w.ok());
  w->enabled = enabled;
  iam::Change change;
  change.emplace_back(iam::mutation::UpdateWorkspace{*w});
  REQUIRE(repo.apply(change).ok());
}

inline std::string created_user_id(iam::Result<iam::UserRecord> r) {
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  return r->id;
}

inline std::string key_plaintext(iam::Result<std::string> r) {
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  return std::move(r).value();
}

}  // namespace roles_test
