#include "iam/operation_table.h"

#include <array>
#include <string>

#include "iam/regime.h"

namespace iam {

namespace {

using enum Operation;
constexpr auto administration = OperationAnswer::administration;
constexpr auto decision = OperationAnswer::decision;
constexpr auto workspace_parameter = ParametersExtractor::workspace_parameter;
constexpr auto no_parameters = ParametersExtractor::none;
constexpr std::string_view PUBLIC = capability::public_access;
constexpr std::string_view AUTHENTICATED = capability::authenticated;

// One row per operation; protocol.md's table first, then the group/grant operations.
constexpr std::array table = {
    OperationInfo{bootstrap, "bootstrap", administration, false, GatewayRule{PUBLIC}},
    OperationInfo{bootstrap_status, "bootstrap-status", administration, false, GatewayRule{PUBLIC}},
    OperationInfo{login, "login", administration, false, GatewayRule{PUBLIC}},
    OperationInfo{whoami, "whoami", administration, false, GatewayRule{AUTHENTICATED}},
    OperationInfo{authenticate_anonymous, "authenticate-anonymous", administration, false, std::nullopt},
    OperationInfo{resolve_api_key, "resolve-api-key", administration, false, std::nullopt},
    OperationInfo{get_signing_key_public, "get-signing-key-public", administration, false, GatewayRule{PUBLIC}},
    OperationInfo{rotate_signing_key, "rotate-signing-key", administration, false,
                  GatewayRule{"iam:admin", no_parameters, true}},
    OperationInfo{list_signing_keys, "list-signing-keys", administration, false,
                  GatewayRule{"iam:admin", no_parameters, true}},
    OperationInfo{change_password, "change-password", administration, false, GatewayRule{AUTHENTICATED}},
    OperationInfo{reset_password, "reset-password", administration, false, GatewayRule{"users:admin", workspace_parameter}},
    OperationInfo{create_user, "create-user", administration, false, GatewayRule{"users:admin", workspace_parameter}},
    OperationInfo{list_users, "list-users", administration, false, GatewayRule{"users:read", workspace_parameter}},
    OperationInfo{get_user, "get-user", administration, false, GatewayRule{"users:read", workspace_parameter}},
    OperationInfo{update_user, "update-user", administration, false, GatewayRule{"users:write", workspace_parameter}},
    OperationInfo{disable_user, "disable-user", administration, false, GatewayRule{"users:admin", workspace_parameter}},
    OperationInfo{enable_user, "enable-user", administration, false, GatewayRule{"users:admin", workspace_parameter}},
    OperationInfo{delete_user, "delete-user", administration, false, GatewayRule{"users:admin", workspace_parameter}},
    OperationInfo{create_workspace, "create-workspace", administration, false, GatewayRule{"workspaces:admin"}},
    OperationInfo{list_workspaces, "list-workspaces", administration, false,
                  GatewayRule{"workspaces:admin", no_parameters, true}},
    OperationInfo{list_my_workspaces, "list-my-workspaces", administration, false, GatewayRule{AUTHENTICATED}},
    OperationInfo{get_workspace, "get-workspace", administration, false, GatewayRule{"workspaces:admin"}},
    OperationInfo{update_workspace, "update-workspace", administration, false, GatewayRule{"workspaces:admin"}},
    OperationInfo{disable_workspace, "disable-workspace", administration, false, GatewayRule{"workspaces:admin"}},
    OperationInfo{create_api_key, "create-api-key", administration, false, GatewayRule{"keys:admin", workspace_parameter}},
    OperationInfo{list_api_keys, "list-api-keys", administration, false, GatewayRule{"keys:admin", workspace_parameter}},
    OperationInfo{revoke_api_key, "revoke-api-key", administration, false, GatewayRule{"keys:admin", workspace_parameter}},
    OperationInfo{authorise, "authorise", decision, false, std::nullopt},
    OperationInfo{authorise_many, "authorise-many", decision, false, std::nullopt},
    OperationInfo{create_group, "create-group", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{get_group, "get-group", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{list_groups, "list-groups", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{update_group, "update-group", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{delete_group, "delete-group", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{add_group_member, "add-group-member", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{remove_group_member, "remove-group-member", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{list_group_members, "list-group-members", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{add_group_grant, "add-group-grant", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{remove_group_grant, "remove-group-grant", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{list_group_grants, "list-group-grants", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{add_user_grant, "add-user-grant", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{remove_user_grant, "remove-user-grant", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{list_user_grants, "list-user-grants", administration, true, GatewayRule{"iam:admin"}},
    OperationInfo{resolve_effective_permissions, "resolve-effective-permissions", administration, true,
                  GatewayRule{"iam:admin"}},
};

// operation_info indexes the table by the enum's value: every row must sit at its index,
// and the last enumerator must have a row.
constexpr bool rows_in_enum_order() {
  for (std::size_t i = 0; i < table.size(); ++i)
    if (static_cast<std::size_t>(table[i].operation) != i) return false;
  return true;
}
static_assert(rows_in_enum_order(), "operation_table rows must follow the order of enum Operation");
static_assert(static_cast<std::size_t>(resolve_effective_permissions) + 1 == table.size(),
              "every Operation needs its row in operation_table");

}  // namespace

std::span<const OperationInfo> operation_table() noexcept { return table; }

const OperationInfo& operation_info(Operation operation) noexcept { return table[static_cast<std::size_t>(operation)]; }

std::string_view operation_name(Operation operation) noexcept { return operation_info(operation).name; }

std::optional<Operation> find_operation(std::string_view name) noexcept {
  for (const OperationInfo& row : table)
    if (row.name == name) return row.operation;
  return std::nullopt;
}

std::vector<OperationSpec> gateway_operation_specs() {
  std::vector<OperationSpec> specs;
  for (const OperationInfo& row : table) {
    if (!row.gateway) continue;
    specs.push_back(OperationSpec{std::string(row.name), std::string(row.gateway->capability), ResourceLevel::system,
                                  ResourceExtractor::empty, row.gateway->parameters, row.gateway->all_workspaces});
  }
  return specs;
}

}  // namespace iam
