// The role-based policy (contract.md "The roles regime's policy").
#include "regimes/policy/role_policy.h"

#include <algorithm>

#include "core/text.h"
#include "iam/regime.h"

namespace iam {
namespace {
constexpr std::size_t kMaxEchoedRoleBytes = 64;  // longer is never a configured role: not echoed
}  // namespace

RolePolicy::RolePolicy(RoleTable table, Logger logger) : table_(std::move(table)), logger_(std::move(logger)) {
  for (const auto& [name, role] : table_)
    for (const auto& capability : role.capabilities) capability_numbers_.try_emplace(capability, capability_numbers_.size());
  const std::size_t words = (capability_numbers_.size() + 63) / 64;
  for (const auto& [name, role] : table_) {
    CompiledRole& out = roles_[name];
    out.capabilities.assign(words, 0);
    out.all_workspaces = role.all_workspaces;
    for (const auto& capability : role.capabilities) {
      const std::size_t n = capability_numbers_.at(capability);
      out.capabilities[n / 64] |= std::uint64_t{1} << (n % 64);
    }
  }
  if (roles_.size() <= kListedRoles) {
    for (auto& [name, role] : roles_) listed_roles_.push_back({name, std::move(role)});
    roles_.clear();
  }
}

const RolePolicy::CompiledRole* RolePolicy::compiled(std::string_view role) const {
  for (const auto& listed : listed_roles_)
    if (text::equal(listed.name, role)) return &listed.role;
  if (roles_.empty()) return nullptr;  // a listed table (a lookup would still hash)
  const auto it = roles_.find(role);
  return it == roles_.end() ? nullptr : &it->second;
}

const std::size_t* RolePolicy::number_of(std::string_view capability) const {
  const auto it = capability_numbers_.find(capability);
  return it == capability_numbers_.end() ? nullptr : &it->second;
}

Verdict RolePolicy::allows(const RoleHolder& holder, std::string_view capability, std::string_view workspace) const {
  // IN-SCOPE is a question about a workspace: without one there is nothing to allow.
  const bool in_scope_question = capability == capability::in_scope;
  if (in_scope_question && workspace.empty()) return {false, "no-workspace"};
  const std::size_t* number = in_scope_question ? nullptr : number_of(capability);
  bool granted = false;
  for (const auto& role_name : holder.roles) {
    const CompiledRole* role = compiled(role_name);
    if (!role) {
      try {
        if (logger_)
          logger_(LogLevel::warning,
                  "user " + std::string(holder.id) + " has unknown role '" + role_name + "': it grants nothing");
      } catch (...) {
        // A failing logger must not change the decision.
      }
      continue;
    }
    if (!in_scope_question && !(number && role->grants(*number))) continue;
    granted = true;
    // "*" is never a workspace id, so only an every-workspace role reaches it.
    if (workspace.empty() || role->all_workspaces || text::equal(workspace, holder.home_workspace)) return {true, ""};
  }
  return {false, granted ? "workspace-out-of-scope" : "capability-not-in-role"};
}

bool RolePolicy::scope_covers(const RoleHolder& holder, std::string_view workspace) const {
  return workspace == holder.home_workspace || reaches_every_workspace(holder.roles);
}

bool RolePolicy::reaches_every_workspace(std::span<const std::string> roles) const {
  return std::any_of(roles.begin(), roles.end(), [&](const std::string& name) {
    const CompiledRole* role = compiled(name);
    return role && role->all_workspaces;
  });
}

bool RolePolicy::grants_somewhere(const RoleHolder& holder, std::string_view capability) const {
  const std::size_t* number = number_of(capability);
  return number && std::any_of(holder.roles.begin(), holder.roles.end(), [&](const std::string& name) {
    const CompiledRole* role = compiled(name);
    return role && role->grants(*number);
  });
}

Status RolePolicy::validate(std::span<const std::string> roles) const {
  for (const auto& role : roles) {
    if (compiled(role)) continue;
    if (role.size() > kMaxEchoedRoleBytes || !text::is_plain(role))
      return Error{ErrorCode::invalid_argument, "unknown role"};
    return Error{ErrorCode::invalid_argument, "unknown role '" + role + "'"};
  }
  return {};
}

}  // namespace iam
