// The roles regime's decisions: authorise / authorise_many (one decision function), and
// the in-process re-checks of a management operation's actor (contract.md).
#include "regimes/policy/regime_audit.h"
#include "regimes/roles/roles_regime_impl.h"

namespace iam {
namespace {

Status check_integrity(std::optional<std::string_view> workspace, std::string_view actual) {
  if (workspace && !workspace->empty() && *workspace != actual)
    return Error{ErrorCode::operation_not_permitted, "the target is not in the named workspace"};
  return {};
}

// An actor's record: an unknown actor is a refusal, a store failure internal_error.
Status actor_lookup_error(const Error& e) {
  return e.code == ErrorCode::not_found ? Status(denied()) : Status(storage_error(e));
}

}  // namespace

Verdict RolesRegimeImpl::evaluate(const UserAuthorisationView& user, std::string_view capability,
                                  std::string_view workspace) const {
  if (!user.enabled) return {false, "user-disabled"};
  return policy_.allows(RoleHolder{user.id, user.roles, user.workspace}, capability, workspace);
}

Verdict RolesRegimeImpl::evaluate(const StoredUser& user, std::string_view capability,
                                  std::string_view workspace) const {
  return evaluate(authorisation_view(user), capability, workspace);
}

Decision RolesRegimeImpl::decide(const Identity& identity, const Status& read, Verdict verdict,
                                 std::string_view capability, std::string_view target) {
  const bool store_ok = read.ok() || read.error().code == ErrorCode::not_found;
  if (!read.ok()) verdict = Verdict{false, store_ok ? "user-unknown" : "regime-error"};
  audit_authorise(identity.handle, capability, target, verdict);
  // Errors are not worth caching: deny now, ask again next time.
  return Decision{verdict.allow, store_ok ? cfg_.decision_ttl : std::chrono::seconds(0)};
}

// Both read the user's authorisation record once, straight from the store (nothing
// copied, nothing cached: a disabled user or a revoked role denies at once), decide
// inside the read and audit after it.
Decision RolesRegimeImpl::authorise(const Identity& identity, std::string_view capability, const Resource& resource,
                                    const Parameters& parameters) noexcept {
  try {
    const std::string_view target = target_workspace(resource, parameters);
    Verdict verdict;
    const Status read = repo().read_user_authorisation(
        identity.handle, [&](const UserAuthorisationView& user) { verdict = evaluate(user, capability, target); });
    return decide(identity, read, verdict, capability, target);
  } catch (...) {
    return Decision::denied(std::chrono::seconds(0));
  }
}

std::vector<Decision> RolesRegimeImpl::authorise_many(const Identity& identity,
                                                      std::span<const AuthorisationCheck> checks) noexcept {
  std::vector<Decision> out;
  try {
    std::vector<std::string_view> targets;
    targets.reserve(checks.size());
    for (const auto& check : checks) targets.push_back(target_workspace(check.resource, check.parameters));
    std::vector<Verdict> verdicts(checks.size());
    const Status read = repo().read_user_authorisation(identity.handle, [&](const UserAuthorisationView& user) {
      for (std::size_t i = 0; i < checks.size(); ++i) verdicts[i] = evaluate(user, checks[i].capability, targets[i]);
    });
    out.reserve(checks.size());
    for (std::size_t i = 0; i < checks.size(); ++i)
      out.push_back(decide(identity, read, verdicts[i], checks[i].capability, targets[i]));
    return out;
  } catch (...) {
    out.assign(checks.size(), Decision::denied(std::chrono::seconds(0)));
    return out;
  }
}

Status RolesRegimeImpl::check_actor(const Actor& actor, std::string_view capability,
                                    std::string_view target_workspace) {
  if (!actor) return {};
  auto user = repo().find_user(*actor);
  if (!user) return actor_lookup_error(user.error());
  const Verdict verdict = evaluate(*user, capability, target_workspace);
  audit_authorise(*actor, capability, target_workspace, verdict);
  if (!verdict.allow) return denied();
  return {};
}

Status RolesRegimeImpl::check_role_grant(const Actor& actor, std::string_view capability,
                                         const std::vector<std::string>& roles) {
  if (!actor || !policy_.reaches_every_workspace(roles)) return {};
  auto user = repo().find_user(*actor);
  if (!user) return actor_lookup_error(user.error());
  if (!policy_.allows(holder_of(*user), capability, every_workspace).allow) return denied();
  return {};
}

// A target whose roles reach every workspace is, in effect, in every workspace: changing
// it, or minting its keys or passwords (`guard_privileged`), needs the capability
// everywhere, so a workspace-scoped administrator cannot take over a deployment
// administrator whose home happens to be its workspace.
Result<StoredUser> RolesRegimeImpl::load_target(const Actor& actor, std::string_view user_id,
                                                std::optional<std::string_view> workspace,
                                                std::string_view capability, OperationTarget& target,
                                                bool guard_privileged) {
  if (user_id.empty()) return Error{ErrorCode::invalid_argument, "user_id is required"};
  target.identity = std::string(user_id);
  auto user = checked(repo().find_user(user_id), "user");
  if (!user) {
    // An actor without the capability learns nothing about which ids exist.
    if (user.error().code == ErrorCode::not_found) IAM_RETURN_IF_ERROR(check_actor(actor, capability, workspace.value_or("")));
    return user;
  }
  target.workspace = user->record.workspace;
  IAM_RETURN_IF_ERROR(check_actor(actor, capability, user->record.workspace));
  if (guard_privileged && actor && policy_.reaches_every_workspace(user->record.roles))
    IAM_RETURN_IF_ERROR(check_actor(actor, capability, every_workspace));
  IAM_RETURN_IF_ERROR(check_integrity(workspace, user->record.workspace));
  return user;
}

}  // namespace iam
