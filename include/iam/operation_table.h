// iam/operation_table.h — the one table of IAM operations (protocol.md "Operations").
//
// Every IAM operation is declared once, here, as an Operation and one row of
// operation_table(): its wire name, who answers it, and the rule a gateway authorises it
// by. Everything else derives from the table: the JSON dispatcher's set of known
// operations, the roles regime's and the noauth regime's handlers (keyed by Operation,
// so a switch without default names every operation), and the IAM entries of the gateway
// registry (gateway_operation_specs(), which OperationRegistry::with_defaults joins to the
// services' operations of src/gateway/service_operations.json). Adding an operation: a
// value of Operation, its row (with a gateway rule when a gateway serves it), and its
// handler.
//
// THREAD SAFETY: immutable data. ERRORS: lookups never fail; an unknown name is nullopt.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "iam/export.h"
#include "iam/operation_registry.h"

namespace iam {

enum class Operation {
  bootstrap,
  bootstrap_status,
  login,
  whoami,
  authenticate_anonymous,
  resolve_api_key,
  get_signing_key_public,
  rotate_signing_key,
  list_signing_keys,  // an extension: TrustGraph has no such operation
  change_password,
  reset_password,
  create_user,
  list_users,
  get_user,
  update_user,
  disable_user,
  enable_user,
  delete_user,
  create_workspace,
  list_workspaces,
  list_my_workspaces,
  get_workspace,
  update_workspace,
  disable_workspace,
  create_api_key,
  list_api_keys,
  revoke_api_key,
  authorise,
  authorise_many,
  // Groups and grants, for enterprise regimes (the shipped regimes answer not-supported).
  create_group,
  get_group,
  list_groups,
  update_group,
  delete_group,
  add_group_member,
  remove_group_member,
  list_group_members,
  add_group_grant,
  remove_group_grant,
  list_group_grants,
  add_user_grant,
  remove_user_grant,
  list_user_grants,
  resolve_effective_permissions,
};

// Who answers an operation.
enum class OperationAnswer {
  administration,  // Regime::administration()->execute
  decision,        // the dispatcher itself, from Regime::authorise / authorise_many
};

// What a gateway requires of the caller. IAM operations are system-level: the resource is
// always {} (empty extractor); the workspace a policy reads comes from the parameters.
struct GatewayRule {
  std::string_view capability;  // a capability, or PUBLIC / AUTHENTICATED
  ParametersExtractor parameters = ParametersExtractor::none;
  bool all_workspaces = false;  // authorised against the workspace "*" (OperationSpec)
};

struct OperationInfo {
  Operation operation;
  std::string_view name;  // the wire name, e.g. "create-user"
  OperationAnswer answer = OperationAnswer::administration;
  bool group = false;  // a group/grant operation of enterprise regimes
  // The gateway's rule; nullopt for operations only trusted callers send (they are not in
  // the gateway registry: authenticate-anonymous, resolve-api-key, authorise, authorise-many).
  std::optional<GatewayRule> gateway;
};

// Every operation, in protocol.md's order, the row of Operation `o` at index `o`.
IAM_EXPORT std::span<const OperationInfo> operation_table() noexcept;
IAM_EXPORT const OperationInfo& operation_info(Operation operation) noexcept;
IAM_EXPORT std::string_view operation_name(Operation operation) noexcept;
// The operation with this exact wire name, or nullopt.
IAM_EXPORT std::optional<Operation> find_operation(std::string_view name) noexcept;

// The gateway rules of the table as registry entries (system level, empty resource), in
// table order.
IAM_EXPORT std::vector<OperationSpec> gateway_operation_specs();

}  // namespace iam
