// The roles regime's workspace operations (protocol.md "Operations"). Disabling a
// workspace disables its users and revokes their API keys in the same change.
#include <algorithm>

#include "regimes/roles/roles_regime_impl.h"

namespace iam {
namespace {

bool valid_workspace_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(id[0])) return false;
  return std::all_of(id.begin() + 1, id.end(), [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

Status check_workspace_name(const WorkspaceInput& input) {
  if (input.name) return check_text("workspace_record.name", *input.name, kMaxNameBytes);
  return {};
}

Change disable_workspace_change(WorkspaceRecord record) {
  record.enabled = false;
  const std::string id = record.id;
  Change change = single_change(mutation::UpdateWorkspace{std::move(record)});
  change.emplace_back(mutation::DisableUsersInWorkspace{id});
  change.emplace_back(mutation::DeleteApiKeysInWorkspace{id});
  return change;
}

}  // namespace

Result<WorkspaceRecord> RolesRegimeImpl::create_workspace(const Actor& actor, const WorkspaceInput& input) {
  return manage(actor, "create-workspace", std::nullopt, [&](OperationTarget& target) -> Result<WorkspaceRecord> {
    const std::string id = input.id.value_or("");
    target.workspace = id;
    if (id.empty()) return Error{ErrorCode::invalid_argument, "workspace_record.id is required"};
    if (id[0] == '_') return Error{ErrorCode::invalid_argument, "workspace ids starting with '_' are reserved"};
    if (!valid_workspace_id(id))
      return Error{ErrorCode::invalid_argument, "workspace id must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}"};
    IAM_RETURN_IF_ERROR(check_workspace_name(input));
    IAM_RETURN_IF_ERROR(check_actor(actor, kWorkspacesAdmin, id));
    if (auto existing = repo().find_workspace(id); existing) return existing;  // idempotent
    WorkspaceRecord record{id, input.name.value_or(id), input.enabled.value_or(true),
                           std::chrono::floor<std::chrono::seconds>(now())};
    if (auto s = apply(single_change(mutation::InsertWorkspace{record})); !s.ok()) {
      if (s.error().code != ErrorCode::duplicate) return std::move(s).error();
      return checked(repo().find_workspace(id), "workspace");  // lost a race: same answer
    }
    return record;
  });
}

Result<std::vector<WorkspaceRecord>> RolesRegimeImpl::list_workspaces() {
  auto all = repo().list_workspaces();
  if (!all) return storage_error(all.error());
  return all;
}

Result<std::vector<WorkspaceRecord>> RolesRegimeImpl::list_my_workspaces(std::string_view user_id) {
  if (user_id.empty()) return Error{ErrorCode::invalid_argument, "list-my-workspaces needs an actor"};
  IAM_ASSIGN_OR_RETURN(const StoredUser user, checked(repo().find_user(user_id), "user"));
  IAM_ASSIGN_OR_RETURN(std::vector<WorkspaceRecord> all, list_workspaces());
  std::vector<WorkspaceRecord> out;
  for (auto& w : all)
    if (policy_.scope_covers(holder_of(user), w.id)) out.push_back(std::move(w));
  return out;
}

Result<WorkspaceRecord> RolesRegimeImpl::get_workspace(std::string_view id) {
  if (id.empty()) return Error{ErrorCode::invalid_argument, "workspace_record.id is required"};
  return checked(repo().find_workspace(id), "workspace");
}

Result<WorkspaceRecord> RolesRegimeImpl::update_workspace(const Actor& actor, const WorkspaceInput& input) {
  return manage(actor, "update-workspace", Invalidation::Kind::workspace,
                [&](OperationTarget& target) -> Result<WorkspaceRecord> {
                  const std::string id = input.id.value_or("");
                  target.workspace = id;
                  if (id.empty()) return Error{ErrorCode::invalid_argument, "workspace_record.id is required"};
                  IAM_RETURN_IF_ERROR(check_workspace_name(input));
                  IAM_RETURN_IF_ERROR(check_actor(actor, kWorkspacesAdmin, id));
                  IAM_ASSIGN_OR_RETURN(WorkspaceRecord next, checked(repo().find_workspace(id), "workspace"));
                  if (input.name && !input.name->empty()) next.name = *input.name;
                  if (input.enabled) next.enabled = *input.enabled;
                  // enabled:false is exactly disable-workspace, also on an already disabled
                  // workspace (users enabled since then are disabled again, their keys revoked).
                  const bool disables = input.enabled && !*input.enabled;
                  IAM_RETURN_IF_ERROR(apply(disables ? disable_workspace_change(next)
                                                     : single_change(mutation::UpdateWorkspace{next})));
                  return next;
                });
}

Status RolesRegimeImpl::disable_workspace(const Actor& actor, std::string_view id) {
  return manage(actor, "disable-workspace", Invalidation::Kind::workspace, [&](OperationTarget& target) -> Status {
    target.workspace = std::string(id);
    if (id.empty()) return Error{ErrorCode::invalid_argument, "workspace_record.id is required"};
    IAM_RETURN_IF_ERROR(check_actor(actor, kWorkspacesAdmin, id));
    IAM_ASSIGN_OR_RETURN(WorkspaceRecord current, checked(repo().find_workspace(id), "workspace"));
    return apply(disable_workspace_change(std::move(current)));
  });
}

}  // namespace iam
