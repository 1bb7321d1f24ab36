#include "storage/preconditions.h"

#include <type_traits>

namespace iam::storage_detail {
namespace {

Error workspace_not_found() { return Error{ErrorCode::not_found, "workspace not found"}; }
Error user_not_found() { return Error{ErrorCode::not_found, "user not found"}; }

}  // namespace

Error not_due() {
  return Error{ErrorCode::duplicate, "the current signing key is younger than the rotation interval"};
}

Status check_preconditions(const Mutation& m, StoreFacts& facts) {
  return std::visit(
      [&](const auto& step) -> Status {
        using T = std::decay_t<decltype(step)>;
        if constexpr (std::is_same_v<T, mutation::RequireEmpty>) {
          if (facts.has_workspaces_or_users()) return Error{ErrorCode::duplicate, "the store is not empty"};
        } else if constexpr (std::is_same_v<T, mutation::InsertWorkspace>) {
          if (facts.workspace_exists(step.workspace.id)) return Error{ErrorCode::duplicate, "workspace exists"};
        } else if constexpr (std::is_same_v<T, mutation::UpdateWorkspace>) {
          if (!facts.workspace_exists(step.workspace.id)) return workspace_not_found();
        } else if constexpr (std::is_same_v<T, mutation::InsertUser>) {
          const auto& u = step.user.record;
          if (facts.user_exists(u.id)) return Error{ErrorCode::duplicate, "user id exists"};
          const auto key = username_key(u.username);
          if (!key) return Error{ErrorCode::invalid_argument, "the username has no key (not UTF-8, or empty)"};
          if (facts.username_key_taken(*key)) return Error{ErrorCode::duplicate, "username exists"};
          if (!facts.workspace_exists(u.workspace)) return workspace_not_found();
        } else if constexpr (std::is_same_v<T, mutation::UpdateUser>) {
          if (!facts.user_exists(step.user.record.id)) return user_not_found();
          if (!facts.workspace_exists(step.user.record.workspace)) return workspace_not_found();
        } else if constexpr (std::is_same_v<T, mutation::DeleteUser> ||
                             std::is_same_v<T, mutation::AdvanceCredentialsEpoch>) {
          if (!facts.user_exists(step.user_id)) return user_not_found();
        } else if constexpr (std::is_same_v<T, mutation::InsertApiKey>) {
          if (facts.api_key_exists(step.key.record.id)) return Error{ErrorCode::duplicate, "API key id exists"};
          if (facts.api_key_hash_taken(step.key.key_hash)) return Error{ErrorCode::duplicate, "API key exists"};
          if (!facts.user_exists(step.key.record.user_id)) return user_not_found();
        } else if constexpr (std::is_same_v<T, mutation::DeleteApiKey>) {
          if (!facts.api_key_exists(step.key_id)) return Error{ErrorCode::not_found, "API key not found"};
        } else if constexpr (std::is_same_v<T, mutation::InsertSigningKey>) {
          if (facts.signing_key_exists(step.key.kid)) return Error{ErrorCode::duplicate, "signing key exists"};
          if (step.key.is_current() && facts.current_signing_key_activated())
            return Error{ErrorCode::duplicate, "a current signing key exists"};
          if (step.key.is_next() && facts.next_signing_key_exists())
            return Error{ErrorCode::duplicate, "a next signing key exists"};
        } else if constexpr (std::is_same_v<T, mutation::PromoteNextSigningKey>) {
          if (step.only_if_current_activated_by) {
            const auto activated = facts.current_signing_key_activated();
            if (!activated || *activated > *step.only_if_current_activated_by)
              return not_due();
          }
          if (!facts.next_signing_key_exists()) return Error{ErrorCode::not_found, "no next signing key"};
        }
        return {};
      },
      m);
}

}  // namespace iam::storage_detail
