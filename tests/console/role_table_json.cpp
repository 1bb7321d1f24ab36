// Prints iam::default_role_table() — the table iam-gateway's roles regime decides with — as
// JSON, {"roles": {name: {"capabilities": [...], "all_workspaces": bool}}}, so the
// console-role-table test can check the console's copy (console/roles.js) against it.
#include <iostream>
#include <nlohmann/json.hpp>

#include "iam/role_table.h"

int main() {
  nlohmann::json roles = nlohmann::json::object();
  for (const auto& [name, definition] : iam::default_role_table())
    roles[name] = {{"capabilities", definition.capabilities}, {"all_workspaces", definition.all_workspaces}};
  std::cout << nlohmann::json{{"roles", roles}}.dump(1) << '\n';
  return std::cout ? 0 : 1;
}
