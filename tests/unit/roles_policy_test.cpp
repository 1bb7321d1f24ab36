// RolePolicy (regimes/policy/role_policy.h) on its own: roles and a home workspace in,
// a verdict out, with no store and no regime, as a regime that maps an identity
// provider's roles would use it.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "iam/regime.h"
#include "regimes/policy/role_policy.h"

namespace {

using iam::RoleHolder;
using iam::RolePolicy;

iam::RoleTable table() {
  iam::RoleTable roles;
  roles["reader"] = iam::RoleDefinition{{"graph:read"}, false};
  roles["editor"] = iam::RoleDefinition{{"graph:read", "graph:write"}, false};
  roles["operator"] = iam::RoleDefinition{{"metrics:read"}, true};
  return roles;
}

}  // namespace

TEST_CASE("role policy: a capability needs one role that grants it and reaches the workspace") {
  const RolePolicy policy(table());
  const std::vector<std::string> roles{"reader"};
  const RoleHolder holder{"u1", roles, "home"};
  CHECK(policy.allows(holder, "graph:read", "home").allow);
  CHECK(policy.allows(holder, "graph:read", "").allow);  // system level: the capability alone

  const auto elsewhere = policy.allows(holder, "graph:read", "other");
  CHECK_FALSE(elsewhere.allow);
  CHECK(std::string(elsewhere.reason) == "workspace-out-of-scope");
  const auto ungranted = policy.allows(holder, "graph:write", "home");
  CHECK_FALSE(ungranted.allow);
  CHECK(std::string(ungranted.reason) == "capability-not-in-role");
  // "*" is never anyone's home: only an every-workspace role reaches it.
  CHECK_FALSE(policy.allows(holder, "graph:read", iam::every_workspace).allow);
}

TEST_CASE("role policy: an every-workspace role reaches every workspace and '*', for its own capabilities") {
  const RolePolicy policy(table());
  const std::vector<std::string> roles{"reader", "operator"};
  const RoleHolder holder{"u1", roles, "home"};
  CHECK(policy.allows(holder, "metrics:read", "other").allow);
  CHECK(policy.allows(holder, "metrics:read", iam::every_workspace).allow);
  // the reader role's grant stays in the home workspace
  CHECK(policy.allows(holder, "graph:read", "home").allow);
  CHECK_FALSE(policy.allows(holder, "graph:read", "other").allow);
}

TEST_CASE("role policy: IN-SCOPE asks whether some role reaches the workspace, and needs one") {
  const RolePolicy policy(table());
  const std::vector<std::string> reader{"reader"};
  const std::vector<std::string> op{"operator"};
  const std::vector<std::string> none{};
  CHECK(policy.allows({"u1", reader, "home"}, iam::capability::in_scope, "home").allow);
  CHECK_FALSE(policy.allows({"u1", reader, "home"}, iam::capability::in_scope, "other").allow);
  CHECK(policy.allows({"u2", op, "home"}, iam::capability::in_scope, "other").allow);
  // no known role reaches even the home workspace
  CHECK_FALSE(policy.allows({"u3", none, "home"}, iam::capability::in_scope, "home").allow);
  const auto no_workspace = policy.allows({"u1", reader, "home"}, iam::capability::in_scope, "");
  CHECK_FALSE(no_workspace.allow);
  CHECK(std::string(no_workspace.reason) == "no-workspace");
}

TEST_CASE("role policy: a role the table does not have grants nothing and is logged") {
  std::vector<std::string> logged;
  const RolePolicy policy(table(), [&](iam::LogLevel, std::string_view m) { logged.emplace_back(m); });
  const std::vector<std::string> roles{"superuser"};
  const auto verdict = policy.allows({"u9", roles, "home"}, "graph:read", "home");
  CHECK_FALSE(verdict.allow);
  CHECK(std::string(verdict.reason) == "capability-not-in-role");
  REQUIRE(logged.size() == 1);
  CHECK(logged.front() == "user u9 has unknown role 'superuser': it grants nothing");
  CHECK_FALSE(policy.grants_somewhere({"u9", roles, "home"}, "graph:read"));
  CHECK_FALSE(policy.reaches_every_workspace(roles));

  // a throwing logger changes no decision
  const RolePolicy throwing(table(), [](iam::LogLevel, std::string_view) { throw std::runtime_error("down"); });
  const std::vector<std::string> mixed{"superuser", "reader"};
  CHECK(throwing.allows({"u9", mixed, "home"}, "graph:read", "home").allow);
}

TEST_CASE("role policy: scope, every-workspace roles, grants anywhere") {
  const RolePolicy policy(table());
  const std::vector<std::string> reader{"reader"};
  const std::vector<std::string> op{"reader", "operator"};
  const std::vector<std::string> none{};
  // the home counts even without a known role (where a login binds, list-my-workspaces)
  CHECK(policy.scope_covers({"u", none, "home"}, "home"));
  CHECK_FALSE(policy.scope_covers({"u", reader, "home"}, "other"));
  CHECK(policy.scope_covers({"u", op, "home"}, "other"));

  CHECK_FALSE(policy.reaches_every_workspace(reader));
  CHECK(policy.reaches_every_workspace(op));

  CHECK(policy.grants_somewhere({"u", reader, "home"}, "graph:read"));
  CHECK_FALSE(policy.grants_somewhere({"u", reader, "home"}, "graph:write"));
}

TEST_CASE("role policy: validate names the first unknown role only when it is short plain text") {
  const RolePolicy policy(table());
  CHECK(policy.validate(std::vector<std::string>{"reader", "operator"}).ok());
  const auto unknown = policy.validate(std::vector<std::string>{"reader", "root"});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error() == iam::Error{iam::ErrorCode::invalid_argument, "unknown role 'root'"});
  const auto hostile = policy.validate(std::vector<std::string>{"x\n\x1b[2J"});
  REQUIRE_FALSE(hostile.ok());
  CHECK(hostile.error() == iam::Error{iam::ErrorCode::invalid_argument, "unknown role"});
  const auto long_name = policy.validate(std::vector<std::string>{std::string(65, 'r')});
  REQUIRE_FALSE(long_name.ok());
  CHECK(long_name.error().message == "unknown role");
  CHECK(policy.table().size() == 3);
}

TEST_CASE("role policy: a table of more than 64 capabilities decides each one by its own grant") {
  // The compiled table numbers capabilities across several 64-bit words: every one of
  // 150 must be granted exactly by the roles that list it.
  iam::RoleTable roles;
  std::vector<std::string> names;
  for (int i = 0; i < 150; ++i) names.push_back("cap:" + std::to_string(i));
  for (int i = 0; i < 150; ++i) {
    if (i % 2 == 0) roles["even"].capabilities.insert(names[i]);
    if (i % 3 == 0) roles["third"].capabilities.insert(names[i]);
  }
  const RolePolicy policy(roles);
  const std::vector<std::string> even{"even"};
  const std::vector<std::string> third{"third"};
  const std::vector<std::string> both{"third", "even"};
  for (int i = 0; i < 150; ++i) {
    CAPTURE(i);
    CHECK(policy.allows(RoleHolder{"u", even, "home"}, names[i], "home").allow == (i % 2 == 0));
    CHECK(policy.allows(RoleHolder{"u", third, "home"}, names[i], "home").allow == (i % 3 == 0));
    CHECK(policy.allows(RoleHolder{"u", both, "home"}, names[i], "home").allow == (i % 2 == 0 || i % 3 == 0));
    CHECK(policy.grants_somewhere(RoleHolder{"u", third, "home"}, names[i]) == (i % 3 == 0));
  }
  CHECK_FALSE(policy.allows(RoleHolder{"u", both, "home"}, "cap:150", "home").allow);  // in no role
  CHECK_FALSE(policy.grants_somewhere(RoleHolder{"u", both, "home"}, "cap:150"));
}

TEST_CASE("role policy: an empty table grants nothing") {
  const RolePolicy policy(iam::RoleTable{});
  const std::vector<std::string> roles{"reader"};
  const auto verdict = policy.allows(RoleHolder{"u", roles, "home"}, "graph:read", "home");
  CHECK_FALSE(verdict.allow);
  CHECK(std::string(verdict.reason) == "capability-not-in-role");
  CHECK_FALSE(policy.allows(RoleHolder{"u", roles, "home"}, iam::capability::in_scope, "home").allow);
}

TEST_CASE("role policy: a table of a few roles and one of many decide alike, copies too") {
  // Up to eight roles are found by comparing names, more by hashing them: the same roles
  // (and names that differ only in length or in one byte) must decide the same either way.
  for (const int extra : {0, 20}) {
    CAPTURE(extra);
    iam::RoleTable roles = table();
    for (int i = 0; i < extra; ++i) roles["filler-" + std::to_string(i)] = iam::RoleDefinition{{"filler:use"}, false};
    const RolePolicy built(roles);
    const RolePolicy policy = built;  // a copy decides as the original
    struct Case {
      std::string role, capability, workspace;
      bool allow;
    };
    for (const Case& c : std::vector<Case>{{"reader", "graph:read", "home", true},
                                           {"reader", "graph:write", "home", false},
                                           {"editor", "graph:write", "home", true},
                                           {"editor", "graph:write", "elsewhere", false},
                                           {"operator", "metrics:read", "elsewhere", true},
                                           {"reade", "graph:read", "home", false},    // a prefix of a role
                                           {"readers", "graph:read", "home", false},  // one byte longer
                                           {"Reader", "graph:read", "home", false},   // same length, one byte differs
                                           {"", "graph:read", "home", false}}) {
      CAPTURE(c.role);
      const std::vector<std::string> held{c.role};
      CHECK(policy.allows(RoleHolder{"u", held, "home"}, c.capability, c.workspace).allow == c.allow);
      CHECK(built.allows(RoleHolder{"u", held, "home"}, c.capability, c.workspace).allow == c.allow);
    }
    const std::vector<std::string> filler{"filler-3"};
    CHECK(policy.allows(RoleHolder{"u", filler, "home"}, "filler:use", "home").allow == (extra > 3));
  }
}
