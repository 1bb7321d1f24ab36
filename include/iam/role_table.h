// iam/role_table.h — roles as data: the capabilities each role grants and where
// (contract.md "The roles regime's policy"). Shared by every regime that maps its users
// onto roles (the roles regime's stored roles, an identity provider's mapped roles).
//
// THREAD SAFETY: plain values. OWNERSHIP: values own their contents. ERRORS: none.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include "iam/export.h"

namespace iam {

// A role: the capabilities it grants and where. Scope is the holder's home workspace, or
// every workspace.
struct RoleDefinition {
  std::set<std::string, std::less<>> capabilities;
  bool all_workspaces = false;
};
using RoleTable = std::map<std::string, RoleDefinition, std::less<>>;
// reader / writer / admin with TrustGraph's capability names (contract.md).
IAM_EXPORT RoleTable default_role_table();

}  // namespace iam
