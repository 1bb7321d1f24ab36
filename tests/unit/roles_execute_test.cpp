// RolesRegime::execute: every operation name of protocol.md reaches its method; unknown
// names are invalid-argument, enterprise operations not-supported.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "iam/operation_table.h"
#include "iam/protocol.h"
#include "iam/roles.h"
#include "iam/testing.h"
#include "roles_test_support.h"

using namespace std::chrono_literals;
using namespace roles_test;
using iam::ErrorCode;
using iam::Resource;

namespace {

// protocol.md's operations: the table's, but for the group/grant ones of enterprise regimes.
std::vector<std::string> all_operation_names() {
  std::vector<std::string> names;
  for (const iam::OperationInfo& row : iam::operation_table())
    if (!row.group) names.emplace_back(row.name);
  return names;
}


}  // namespace

// ====================================================================== execute()

TEST_CASE("execute: every operation of protocol.md reaches its method") {
  iam::testing::TestIamOptions options;
  options.bootstrap = false;
  auto t = make_iam(options);
  auto& g = *t.regime;
  iam::JsonDispatcher dispatcher(t.regime);
  std::set<std::string> covered;
  auto call = [&](const iam::OperationRequest& req) {
    covered.insert(req.operation);
    return g.execute(req);
  };
  auto op = [](std::string name) {
    iam::OperationRequest r;
    r.operation = std::move(name);
    return r;
  };
  auto ok = [](const iam::Result<iam::OperationResponse>& r) {
    CHECK_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return r.ok();
  };

  auto status = call(op("bootstrap-status"));
  REQUIRE(ok(status));
  CHECK(status->bootstrap_available == true);
  CHECK(code_of(call(op("get-signing-key-public"))) == ErrorCode::not_found);
  auto boot = call(op("bootstrap"));
  REQUIRE(ok(boot));
  REQUIRE(boot->bootstrap_admin_user_id.has_value());
  REQUIRE(boot->bootstrap_admin_api_key.has_value());
  const std::string admin = *boot->bootstrap_admin_user_id;
  CHECK(g.authenticate(boot->bootstrap_admin_api_key->view()).ok());
  CHECK(call(op("bootstrap-status"))->bootstrap_available == false);
  auto pem = call(op("get-signing-key-public"));
  REQUIRE(ok(pem));
  CHECK(pem->signing_key_public->starts_with("-----BEGIN PUBLIC KEY-----"));

  auto req = op("create-workspace");
  req.workspace_record = workspace_input("ws-a", std::string("A"));
  auto ws = call(req);
  REQUIRE(ok(ws));
  CHECK(ws->workspace->id == "ws-a");
  req = op("get-workspace");
  req.workspace_record = workspace_input("ws-a");
  CHECK(call(req)->workspace->name == "A");
  auto listed_ws = call(op("list-workspaces"));
  REQUIRE(ok(listed_ws));
  CHECK(listed_ws->workspaces->size() == 2);
  req = op("update-workspace");
  req.workspace_record = workspace_input("ws-a", std::string("Alpha"));
  CHECK(call(req)->workspace->name == "Alpha");

  req = op("create-user");
  req.workspace = "ws-a";
  req.user = user_input("alice", kPassword, std::vector<std::string>{"reader"});
  auto user = call(req);
  REQUIRE(ok(user));
  const std::string uid = user->user->id;
  CHECK(user->user->username == "alice");
  req = op("create-user");  // no `user` object
  req.workspace = "ws-a";
  CHECK(code_of(call(req)) == ErrorCode::invalid_argument);

  req = op("get-user");
  req.user_id = uid;
  CHECK(call(req)->user->id == uid);
  auto users = call(op("list-users"));
  REQUIRE(ok(users));
  CHECK(users->users->size() == 2);
  req = op("list-users");
  req.workspace = "ws-a";
  CHECK(call(req)->users->size() == 1);
  req = op("update-user");
  req.user_id = uid;
  req.user = iam::UserInput{};
  req.user->email = "alice@example.org";
  CHECK(call(req)->user->email == "alice@example.org");

  req = op("whoami");
  req.actor = uid;
  CHECK(call(req)->user->id == uid);
  req = op("list-my-workspaces");
  req.actor = uid;
  auto mine = call(req);
  REQUIRE(ok(mine));
  REQUIRE(mine->workspaces->size() == 1);
  CHECK(mine->workspaces->front().id == "ws-a");

  req = op("login");
  req.username = "alice";
  req.password = iam::SecretString(std::string_view(kPassword));
  auto login = call(req);
  REQUIRE(ok(login));
  CHECK(g.authenticate(login->jwt->view()).ok());
  CHECK(login->jwt_expires == t.clock->now() + 3600s);

  req = op("create-api-key");
  req.key = key_input(uid, "ci");
  auto key = call(req);
  REQUIRE(ok(key));
  REQUIRE(key->api_key_plaintext.has_value());
  CHECK(key->api_key->name == "ci");
  req = op("create-api-key");  // no `key` object
  CHECK(code_of(call(req)) == ErrorCode::invalid_argument);
  req = op("list-api-keys");
  req.user_id = uid;
  CHECK(call(req)->api_keys->size() == 1);
  req = op("resolve-api-key");
  req.api_key = key->api_key_plaintext->copy();
  auto resolved = call(req);
  REQUIRE(ok(resolved));
  CHECK(resolved->resolved_user_id == uid);
  CHECK(resolved->resolved_workspace == "ws-a");
  CHECK(resolved->resolved_roles == std::vector<std::string>{"reader"});
  CHECK(code_of(call(op("authenticate-anonymous"))) == ErrorCode::auth_failed);

  req = op("reset-password");
  req.user_id = uid;
  auto reset = call(req);
  REQUIRE(ok(reset));
  REQUIRE(reset->temporary_password.has_value());
  req = op("change-password");
  req.user_id = uid;
  req.password = reset->temporary_password->copy();
  req.new_password = iam::SecretString(std::string_view("a changed password"));
  CHECK(ok(call(req)));
  CHECK(g.login("alice", "a changed password", std::nullopt).ok());

  req = op("revoke-api-key");
  req.key_id = key->api_key->id;
  CHECK(ok(call(req)));
  CHECK(is_auth_failure(g.authenticate(key->api_key_plaintext->view())));

  req = op("disable-user");
  req.user_id = uid;
  CHECK(ok(call(req)));
  CHECK_FALSE(g.get_user(kTrusted, uid, std::nullopt)->enabled);
  req.operation = "enable-user";
  covered.insert(req.operation);
  CHECK(ok(g.execute(req)));
  CHECK(g.get_user(kTrusted, uid, std::nullopt)->enabled);

  const auto kid = *g.key_set().active_kid();
  CHECK(ok(call(op("rotate-signing-key"))));
  CHECK(*g.key_set().active_kid() != kid);
  const auto listed = call(op("list-signing-keys"));
  REQUIRE(ok(listed));
  REQUIRE(listed->signing_keys.has_value());
  CHECK(listed->signing_keys->size() == 3);  // retired, current, next

  req = op("disable-workspace");
  req.workspace_record = workspace_input("ws-a");
  CHECK(ok(call(req)));
  CHECK_FALSE(g.get_workspace("ws-a")->enabled);
  req = op("delete-user");
  req.user_id = uid;
  CHECK(ok(call(req)));
  CHECK(code_of(g.get_user(kTrusted, uid, std::nullopt)) == ErrorCode::not_found);

  // authorise and authorise-many are answered by Regime::authorise / authorise_many: the
  // dispatcher calls them with the same typed request.
  req = op("authorise");
  req.user_id = admin;
  req.check = iam::AuthorisationCheck{"users:admin", iam::Resource::system(), {{"workspace", "anywhere"}}};
  covered.insert(req.operation);
  auto decision = dispatcher.handle(req);
  REQUIRE(ok(decision));
  CHECK(decision->decision == iam::Decision::allowed(std::chrono::seconds(60)));
  req = op("authorise-many");
  req.user_id = admin;
  req.checks = std::vector<iam::AuthorisationCheck>{{"graph:read", iam::Resource::workspace("w"), {}}, {"nope", {}, {}}};
  covered.insert(req.operation);
  auto decisions = dispatcher.handle(req);
  REQUIRE(ok(decisions));
  REQUIRE(decisions->decisions.has_value());
  REQUIRE(decisions->decisions->size() == 2);
  CHECK((*decisions->decisions)[0].allow == true);
  CHECK((*decisions->decisions)[1].allow == false);

  const auto names = all_operation_names();
  CHECK(covered == std::set<std::string>(names.begin(), names.end()));
}

TEST_CASE("execute: unknown operations are invalid-argument; group and grant operations not-supported") {
  auto t = make_iam();
  auto& g = *t.regime;
  for (const char* name : {"", "frobnicate", "LOGIN", "create_user", "login ", "delete-everything"}) {
    CAPTURE(name);
    iam::OperationRequest r;
    r.operation = name;
    CHECK(code_of(g.execute(r)) == ErrorCode::invalid_argument);
  }
  for (const char* name : {"create-group", "get-group", "list-groups", "update-group", "delete-group",
                           "add-group-member", "remove-group-member", "list-group-members", "add-group-grant",
                           "remove-group-grant", "list-group-grants", "add-user-grant", "remove-user-grant",
                           "list-user-grants", "resolve-effective-permissions"}) {
    CAPTURE(name);
    iam::OperationRequest r;
    r.operation = name;
    r.actor = t.admin_user_id;
    CHECK(code_of(g.execute(r)) == ErrorCode::not_supported);
  }
}

