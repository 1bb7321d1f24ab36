// Writes iam::default_role_table() — the table iam-gateway's roles regime decides with — as
// the console's role-table.json: {"roles": {name: {"capabilities": [...],
// "all_workspaces": bool}}}. Run at build time, so the console never drifts from the table
// (docs/decisions.md).
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "iam/role_table.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: role-table-json OUTPUT\n";
    return 2;
  }
  nlohmann::json roles = nlohmann::json::object();
  for (const auto& [name, definition] : iam::default_role_table())
    roles[name] = {{"capabilities", definition.capabilities}, {"all_workspaces", definition.all_workspaces}};
  std::ofstream out(argv[1]);
  out << nlohmann::json{{"roles", roles}}.dump(1) << '\n';
  out.close();
  if (!out) {
    std::cerr << "role-table-json: cannot write " << argv[1] << '\n';
    return 1;
  }
  return 0;
}
