// regimes/policy/role_policy.h — the role-based policy of contract.md "The roles regime's
// policy", for any regime whose callers hold roles of a RoleTable (internal header).
//
// The policy sees only a holder's roles and home workspace, never where they came from:
// the roles regime passes a stored user's, an identity-provider regime the roles it mapped
// from a token's claims. Whether the holder is enabled at all is the caller's question.
//
// THREAD SAFETY: a RolePolicy is immutable after construction; share it freely.
// OWNERSHIP: it keeps its own copy of the role table and of the logger.
//
// The table stays data: at construction it is compiled for the decision path, every
// capability it names numbered and each role's capabilities a bitset over those numbers,
// so a decision hashes the capability and each role name once and tests a bit (no ordered
// map or set of strings walked per call).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/string_map.h"
#include "core/text.h"
#include "iam/log.h"
#include "iam/role_table.h"
#include "iam/status.h"

namespace iam {

// Who asks: the roles they hold and their home workspace. `id` only names the holder in
// the warning about a role the table does not have.
struct RoleHolder {
  std::string_view id;
  std::span<const std::string> roles;
  std::string_view home_workspace;
};

// A decision and, for a deny, why (the audit event's denial_reason).
struct Verdict {
  bool allow = false;
  const char* reason = "";
};

class RolePolicy {
 public:
  explicit RolePolicy(RoleTable table, Logger logger = {});

  // May `holder` use `capability` in `workspace`? Some one role must grant the capability
  // and reach the workspace: its holder's home, or any workspace for an every-workspace
  // role. An empty workspace is a system-level check (the capability alone decides).
  // capability::in_scope asks only whether some role reaches the workspace (any
  // capability), and has nothing to allow without a workspace. The workspace "*"
  // (every_workspace) is reached only by an every-workspace role. Roles the table does
  // not have grant nothing (and are logged as a warning).
  Verdict allows(const RoleHolder& holder, std::string_view capability, std::string_view workspace) const;

  // Is `workspace` in the holder's scope: their home, or any workspace when some role
  // reaches every workspace? (Where a login may bind its token; what list-my-workspaces
  // shows.) Unlike capability::in_scope, the home counts even without a known role.
  bool scope_covers(const RoleHolder& holder, std::string_view workspace) const;
  // Does one of `roles` reach every workspace?
  bool reaches_every_workspace(std::span<const std::string> roles) const;
  // Does some role grant `capability` in at least one workspace?
  bool grants_somewhere(const RoleHolder& holder, std::string_view capability) const;

  // invalid_argument naming the first role the table does not have (named only when it
  // is short plain text: the message reaches terminals and logs).
  Status validate(std::span<const std::string> roles) const;

  const RoleTable& table() const noexcept { return table_; }

 private:
  // A role of the table, compiled: bit n of `capabilities` is capability number n.
  struct CompiledRole {
    std::vector<std::uint64_t> capabilities;
    bool all_workspaces = false;
    bool grants(std::size_t number) const { return (capabilities[number / 64] >> (number % 64) & 1) != 0; }
  };
  // The compiled form of `role`, or nullptr when the table has none.
  const CompiledRole* compiled(std::string_view role) const;
  // The number of `capability`, or nullptr when no role of the table grants it.
  const std::size_t* number_of(std::string_view capability) const;

  RoleTable table_;
  Logger logger_;
  // FlatStringMap (absl's open addressing and string hash): std::unordered_map's
  // _Hash_bytes and node walk were a third of a decision.
  FlatStringMap<std::size_t> capability_numbers_;
  // The compiled roles: a table of a few roles (the default has three) as a list, since
  // comparing a user's role name with each costs less than hashing it (a profile put the
  // hash at a seventh of an uncached decision); a larger table in a map. One is empty.
  static constexpr std::size_t kListedRoles = 8;
  struct ListedRole {
    std::string name;
    CompiledRole role;
  };
  std::vector<ListedRole> listed_roles_;
  FlatStringMap<CompiledRole> roles_;
};

}  // namespace iam
