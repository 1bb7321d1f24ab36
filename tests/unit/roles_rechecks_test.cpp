// The in-process re-checks of contract.md for management requests that name an actor:
// each operation needs its capability in the workspace it really touches.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "iam/memory_store.h"
#include "iam/protocol.h"
#include "iam/roles.h"
#include "iam/testing.h"
#include "regimes/roles/internal.h"
#include "roles_test_support.h"

using namespace std::chrono_literals;
using namespace roles_test;
using iam::ErrorCode;

// ====================================================================== in-process re-checks

TEST_CASE("re-checks: a workspace-scoped helpdesk reaches its own workspace only") {
  iam::testing::TestIamOptions options;
  options.roles = helpdesk_roles();
  auto t = make_iam(options);
  auto& g = *t.regime;
  const auto hd = created_user_id(t.create_user("hd", kPassword, {"helpdesk"}, "ws-a"));
  const auto hdp = created_user_id(t.create_user("hdp", kPassword, {"helpdesk-plus"}, "ws-a"));
  const auto a1 = created_user_id(t.create_user("a1", kPassword, {"reader"}, "ws-a"));
  const auto b1 = created_user_id(t.create_user("b1", kPassword, {"reader"}, "ws-b"));
  auto b1_key = g.create_api_key(kTrusted, key_input(b1), std::nullopt);
  REQUIRE(b1_key.ok());
  const auto no = ErrorCode::operation_not_permitted;
  iam::UserInput rename;
  rename.name = "Renamed";

  SUBCASE("get-user / update-user") {
    CHECK(g.get_user(hd, a1, std::nullopt).ok());
    CHECK(code_of(g.get_user(hd, b1, std::nullopt)) == no);
    CHECK(code_of(g.get_user(hd, b1, "ws-b")) == no);
    CHECK(code_of(g.get_user(hd, b1, "ws-a")) == no);
    CHECK(g.update_user(hd, a1, rename, std::nullopt).ok());
    CHECK(code_of(g.update_user(hd, b1, rename, std::nullopt)) == no);
    CHECK(stored_user(*t.repository, b1).record.name.empty());
  }
  SUBCASE("reset-password / disable / enable / delete need users:admin, in the target's workspace") {
    CHECK(code_of(g.reset_password(hd, a1, std::nullopt)) == no);  // helpdesk lacks users:admin
    CHECK(code_of(g.disable_user(hd, a1, std::nullopt)) == no);
    CHECK(g.reset_password(hdp, a1, std::nullopt).ok());
    CHECK(code_of(g.reset_password(hdp, b1, std::nullopt)) == no);
    CHECK(g.login("b1", kPassword, std::nullopt).ok());
    CHECK(g.disable_user(hdp, a1, std::nullopt).ok());
    CHECK(g.enable_user(hdp, a1, std::nullopt).ok());
    CHECK(code_of(g.disable_user(hdp, b1, std::nullopt)) == no);
    CHECK(code_of(g.enable_user(hdp, b1, std::nullopt)) == no);
    CHECK(code_of(g.delete_user(hdp, b1, std::nullopt)) == no);
    CHECK(stored_user(*t.repository, b1).record.enabled);
    CHECK(g.authenticate(b1_key->plaintext.view()).ok());
    CHECK(g.delete_user(hdp, a1, std::nullopt).ok());
  }
  SUBCASE("create / list / revoke API keys") {
    auto mine = g.create_api_key(hd, key_input(a1), std::nullopt);
    REQUIRE(mine.ok());
    CHECK(g.list_api_keys(hd, a1, std::nullopt).ok());
    CHECK(g.revoke_api_key(hd, mine->record.id, std::nullopt).ok());
    CHECK(code_of(g.create_api_key(hd, key_input(b1), std::nullopt)) == no);
    CHECK(code_of(g.list_api_keys(hd, b1, std::nullopt)) == no);
    CHECK(code_of(g.revoke_api_key(hd, b1_key->record.id, std::nullopt)) == no);
    CHECK(code_of(g.revoke_api_key(hd, b1_key->record.id, "ws-a")) == no);
    CHECK(g.authenticate(b1_key->plaintext.view()).ok());
    CHECK(g.list_api_keys(kTrusted, b1, std::nullopt)->size() == 1);
  }
  SUBCASE("list-users: only the workspaces the users:read grant covers") {
    auto mine = g.list_users(hd, std::nullopt);
    REQUIRE(mine.ok());
    CHECK(usernames(*mine) == std::vector<std::string>{"a1", "hd", "hdp"});
    auto filtered = g.list_users(hd, "ws-a");
    REQUIRE(filtered.ok());
    CHECK(usernames(*filtered) == std::vector<std::string>{"a1", "hd", "hdp"});
    CHECK(code_of(g.list_users(hd, "ws-b")) == no);
    auto everyone = g.list_users(t.admin_user_id, std::nullopt);
    REQUIRE(everyone.ok());
    CHECK(usernames(*everyone) == std::vector<std::string>{"a1", "admin", "b1", "hd", "hdp"});
    CHECK(code_of(g.list_users(a1, std::nullopt)) == no);  // no users:read anywhere: refused
  }
  SUBCASE("create-user: users:admin in the new user's workspace") {
    CHECK(code_of(g.create_user(hd, "ws-a", user_input("new1", kPassword))) == no);
    CHECK(g.create_user(hdp, "ws-a", user_input("new2", kPassword)).ok());
    CHECK(code_of(g.create_user(hdp, "ws-b", user_input("new3", kPassword))) == no);
    CHECK(code_of(g.create_user(hdp, "default", user_input("new4", kPassword))) == no);
  }
  SUBCASE("a helpdesk cannot grant a role that reaches every workspace") {
    iam::UserInput promote;
    promote.roles = std::vector<std::string>{"admin"};
    CHECK(code_of(g.update_user(hd, a1, promote, std::nullopt)) == no);
    CHECK(code_of(g.update_user(hd, hd, promote, std::nullopt)) == no);  // nor to itself
    CHECK(stored_user(*t.repository, a1).record.roles == std::vector<std::string>{"reader"});
    CHECK(stored_user(*t.repository, hd).record.roles == std::vector<std::string>{"helpdesk"});
    CHECK(code_of(g.create_user(hdp, "ws-a", user_input("boss", kPassword, std::vector<std::string>{"admin"}))) ==
          no);
    CHECK(code_of(g.create_user(hdp, "ws-a",
                                user_input("boss", kPassword, std::vector<std::string>{"reader", "admin"}))) == no);
    // own-workspace roles are within its reach
    iam::UserInput writer;
    writer.roles = std::vector<std::string>{"writer"};
    CHECK(g.update_user(hd, a1, writer, std::nullopt).ok());
    // the admin, and a trusted caller, may grant admin
    CHECK(g.update_user(t.admin_user_id, a1, promote, std::nullopt).ok());
    CHECK(g.update_user(kTrusted, b1, promote, std::nullopt).ok());
  }
  SUBCASE("a helpdesk cannot take over an administrator whose home is its workspace") {
    const auto boss = created_user_id(t.create_user("boss", kPassword, {"admin"}, "ws-a"));
    CHECK(g.get_user(hd, boss, std::nullopt).ok());  // reading the record is within users:read
    CHECK(code_of(g.create_api_key(hd, key_input(boss), std::nullopt)) == no);
    CHECK(code_of(g.reset_password(hdp, boss, std::nullopt)) == no);
    CHECK(code_of(g.disable_user(hdp, boss, std::nullopt)) == no);
    CHECK(code_of(g.delete_user(hdp, boss, std::nullopt)) == no);
    iam::UserInput demote;
    demote.roles = std::vector<std::string>{"reader"};
    CHECK(code_of(g.update_user(hd, boss, demote, std::nullopt)) == no);
    CHECK(code_of(g.update_user(hd, boss, rename, std::nullopt)) == no);
    CHECK(g.list_api_keys(kTrusted, boss, std::nullopt)->empty());
    CHECK(stored_user(*t.repository, boss).record.roles == std::vector<std::string>{"admin"});
    CHECK(g.login("boss", kPassword, std::nullopt).ok());
    // the deployment admin can
    CHECK(g.create_api_key(t.admin_user_id, key_input(boss), std::nullopt).ok());
  }
  SUBCASE("unknown or disabled actors are refused") {
    CHECK(code_of(g.get_user(std::string("ghost"), a1, std::nullopt)) == no);
    CHECK(code_of(g.list_users(std::string("ghost"), std::nullopt)) == no);
    REQUIRE(g.disable_user(kTrusted, hd, std::nullopt).ok());
    CHECK(code_of(g.get_user(hd, a1, std::nullopt)) == no);
    CHECK(code_of(g.create_api_key(hd, key_input(a1), std::nullopt)) == no);
  }
  SUBCASE("an absent target tells an unauthorised actor nothing") {
    CHECK(code_of(g.get_user(a1, "no-such-user", std::nullopt)) == no);  // reader: no users:read
    CHECK(code_of(g.get_user(hd, "no-such-user", std::nullopt)) == ErrorCode::not_found);
    CHECK(code_of(g.revoke_api_key(a1, "no-such-key", std::nullopt)) == no);
  }
  SUBCASE("without an actor (trusted internal caller) the checks are skipped") {
    CHECK(g.get_user(kTrusted, b1, std::nullopt).ok());
    CHECK(g.update_user(kTrusted, b1, rename, std::nullopt).ok());
    CHECK(g.reset_password(kTrusted, b1, std::nullopt).ok());
    CHECK(g.list_api_keys(kTrusted, b1, std::nullopt).ok());
    CHECK(g.revoke_api_key(kTrusted, b1_key->record.id, std::nullopt).ok());
    CHECK(g.disable_user(kTrusted, b1, std::nullopt).ok());
    CHECK(g.delete_user(kTrusted, b1, std::nullopt).ok());
  }
  SUBCASE("the same through execute(), with the workspace omitted") {
    iam::OperationRequest req;
    req.operation = "get-user";
    req.actor = hd;
    req.user_id = b1;
    CHECK(code_of(g.execute(req)) == no);
    req.user_id = a1;
    CHECK(g.execute(req).ok());
    req.operation = "list-api-keys";
    req.user_id = b1;
    CHECK(code_of(g.execute(req)) == no);
    req.operation = "revoke-api-key";
    req.user_id.reset();
    req.key_id = b1_key->record.id;
    CHECK(code_of(g.execute(req)) == no);
    req.operation = "list-users";
    req.key_id.reset();
    auto listed = g.execute(req);
    REQUIRE(listed.ok());
    REQUIRE(listed->users.has_value());
    CHECK(usernames(*listed->users) == std::vector<std::string>{"a1", "hd", "hdp"});
  }
}

TEST_CASE("re-checks: workspace and signing-key operations need their capability") {
  auto t = make_iam();
  auto& g = *t.regime;
  const auto w = created_user_id(t.create_user("w", kPassword, {"writer"}, "default"));
  const auto no = ErrorCode::operation_not_permitted;
  CHECK(code_of(g.create_workspace(w, workspace_input("new"))) == no);
  CHECK(t.repository->find_workspace("new").error().code == ErrorCode::not_found);
  CHECK(code_of(g.update_workspace(w, workspace_input("default", std::string("X")))) == no);
  CHECK(code_of(g.disable_workspace(w, "default")) == no);
  CHECK(g.get_workspace("default")->enabled);
  CHECK(code_of(g.rotate_signing_key(w)) == no);
  CHECK(g.create_workspace(t.admin_user_id, workspace_input("new")).ok());
}

