// The roles regime's management operations (protocol.md "Operations"): whoami,
// list-my-workspaces, resolve-api-key, passwords, users, workspaces, API keys, the
// in-process re-checks of contract.md for requests that name an actor, and invalidation.
//
// Time is the ManualClock of make_test_iam; nothing sleeps and nothing is timed.
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

namespace {

const iam::Actor kTrusted = std::nullopt;

bool is_base64url(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::vector<std::string> usernames(const std::vector<iam::UserRecord>& users) {
  std::vector<std::string> out;
  for (const auto& u : users) out.push_back(u.username);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> workspace_ids(const std::vector<iam::WorkspaceRecord>& ws) {
  std::vector<std::string> out;
  for (const auto& w : ws) out.push_back(w.id);
  return out;
}

// A regime on a decorated store, at the test PBKDF2 cost, bootstrapped.
struct Decorated {
  std::shared_ptr<iam::Repository> inner = iam::make_memory_repository();
  std::shared_ptr<DecoratedRepository> repo = std::make_shared<DecoratedRepository>(inner);
  std::shared_ptr<iam::ManualClock> clock = std::make_shared<iam::ManualClock>();
  std::shared_ptr<iam::RolesRegime> regime;
  Decorated() {
    iam::RolesConfig c;
    c.repository = repo;
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    c.read_environment = false;
    c.clock = clock;
    c.logger = iam::null_logger();
    auto r = iam::detail::create_roles_regime_for_testing(std::move(c), 1000);
    REQUIRE(r.ok());
    regime = std::move(r).value();
    REQUIRE(regime->bootstrap().ok());
  }
};

}  // namespace

// ====================================================================== self-service reads

TEST_CASE("whoami: the caller's own record, no users:read needed") {
  auto t = make_iam();
  auto created = t.create_user("alice", kPassword, {"reader"}, "ws-a");
  REQUIRE(created.ok());
  auto me = t.regime->whoami(created->id);
  REQUIRE(me.ok());
  CHECK(me->id == created->id);
  CHECK(me->username == "alice");
  CHECK(me->workspace == "ws-a");
  CHECK(me->roles == std::vector<std::string>{"reader"});
  CHECK(code_of(t.regime->whoami("no-such-id")) == ErrorCode::not_found);
  CHECK(code_of(t.regime->whoami("")) == ErrorCode::invalid_argument);

  iam::OperationRequest req;
  req.operation = "whoami";
  req.actor = created->id;
  req.user_id = t.admin_user_id;  // ignored: whoami acts on the actor
  auto r = t.regime->execute(req);
  REQUIRE(r.ok());
  REQUIRE(r->user.has_value());
  CHECK(r->user->id == created->id);
}

TEST_CASE("list-my-workspaces: the home workspace, or every workspace for an admin") {
  auto t = make_iam();
  const auto reader = created_user_id(t.create_user("r", kPassword, {"reader"}, "ws-b"));
  const auto writer = created_user_id(t.create_user("w", kPassword, {"writer"}, "ws-a"));
  REQUIRE(t.regime->create_workspace(kTrusted, workspace_input("ws-c")).ok());

  auto r = t.regime->list_my_workspaces(reader);
  REQUIRE(r.ok());
  CHECK(workspace_ids(*r) == std::vector<std::string>{"ws-b"});
  auto w = t.regime->list_my_workspaces(writer);
  REQUIRE(w.ok());
  CHECK(workspace_ids(*w) == std::vector<std::string>{"ws-a"});
  auto a = t.regime->list_my_workspaces(t.admin_user_id);
  REQUIRE(a.ok());
  CHECK(workspace_ids(*a) == std::vector<std::string>{"default", "ws-a", "ws-b", "ws-c"});
  CHECK(code_of(t.regime->list_my_workspaces("nobody")) == ErrorCode::not_found);
}

TEST_CASE("resolve-api-key: resolved fields and a coalesced last_used") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader", "writer"}, "ws-a"));
  const auto key = key_plaintext(t.create_api_key(uid));
  auto last_used = [&] {
    auto keys = t.regime->list_api_keys(kTrusted, uid, std::nullopt);
    REQUIRE(keys.ok());
    REQUIRE(keys->size() == 1);
    return keys->front().last_used;
  };
  CHECK_FALSE(last_used().has_value());

  const auto t0 = t.clock->now();
  auto r = t.regime->resolve_api_key(key);
  REQUIRE(r.ok());
  CHECK(r->user_id == uid);
  CHECK(r->workspace == "ws-a");
  CHECK(r->roles == std::vector<std::string>{"reader", "writer"});
  CHECK(last_used() == t0);

  t.clock->advance(30s);
  REQUIRE(t.regime->resolve_api_key(key).ok());
  CHECK(last_used() == t0);  // coalesced
  t.clock->advance(29s);
  REQUIRE(t.regime->resolve_api_key(key).ok());
  CHECK(last_used() == t0);
  t.clock->advance(2s);  // t0 + 61 s
  REQUIRE(t.regime->resolve_api_key(key).ok());
  CHECK(last_used() == t0 + 61s);

  // failures are the opaque auth failure
  CHECK(is_auth_failure(t.regime->resolve_api_key("tg_unknownunknownunknownunknown0000")));
  CHECK(is_auth_failure(t.regime->resolve_api_key("")));
  REQUIRE(t.regime->disable_user(kTrusted, uid, std::nullopt).ok());
  CHECK(is_auth_failure(t.regime->resolve_api_key(key)));

  iam::OperationRequest req;
  req.operation = "resolve-api-key";
  req.api_key = iam::SecretString(std::string_view(t.admin_api_key));
  auto viaexec = t.regime->execute(req);
  REQUIRE(viaexec.ok());
  CHECK(viaexec->resolved_user_id == t.admin_user_id);
  CHECK(viaexec->resolved_workspace == "default");
  CHECK(viaexec->resolved_roles == std::vector<std::string>{"admin"});
}

// ====================================================================== passwords

TEST_CASE("change-password: current password, policy, must_change_password, actor rules") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto other = created_user_id(t.create_user("bob", kPassword, {"reader"}, "ws-a"));
  REQUIRE(t.regime->reset_password(kTrusted, uid, std::nullopt).ok());  // sets must_change_password
  auto temp = t.regime->reset_password(kTrusted, uid, std::nullopt);
  REQUIRE(temp.ok());
  const std::string current(temp->view());
  REQUIRE(stored_user(*t.repository, uid).record.must_change_password);

  CHECK(is_auth_failure(t.regime->change_password(kTrusted, uid, "wrong password", "brand new password")));
  CHECK(code_of(t.regime->change_password(kTrusted, uid, current, "short")) == ErrorCode::weak_password);
  CHECK(code_of(t.regime->change_password(kTrusted, uid, current, "seven77")) == ErrorCode::weak_password);
  CHECK(code_of(t.regime->change_password(kTrusted, uid, current, std::string(1025, 'x'))) ==
        ErrorCode::weak_password);
  CHECK(stored_user(*t.repository, uid).record.must_change_password);

  // with an actor, a different user_id is not permitted (even with the right password)
  CHECK(code_of(t.regime->change_password(uid, other, kPassword, "brand new password")) ==
        ErrorCode::operation_not_permitted);
  CHECK(t.regime->login("bob", kPassword, std::nullopt).ok());

  REQUIRE(t.regime->change_password(uid, uid, current, "brand new password").ok());
  CHECK_FALSE(stored_user(*t.repository, uid).record.must_change_password);
  CHECK(is_auth_failure(t.regime->login("alice", current, std::nullopt)));
  CHECK(t.regime->login("alice", "brand new password", std::nullopt).ok());

  // with an actor and no user_id: the actor's own password
  REQUIRE(t.regime->change_password(uid, "", "brand new password", "another good one").ok());
  CHECK(t.regime->login("alice", "another good one", std::nullopt).ok());
  // without an actor, user_id names the user; unknown user is the same auth failure
  CHECK(is_auth_failure(t.regime->change_password(kTrusted, "nobody", "x", "another good one")));
  CHECK(code_of(t.regime->change_password(kTrusted, "", "x", "another good one")) == ErrorCode::invalid_argument);

  // not the username (any case)
  const auto longname = created_user_id(t.create_user("bartholomew", kPassword, {"reader"}, "ws-a"));
  CHECK(code_of(t.regime->change_password(longname, "", kPassword, "BARTHOLOMEW")) == ErrorCode::weak_password);
  CHECK(t.regime->change_password(longname, "", kPassword, "bartholomew2").ok());

  iam::OperationRequest req;
  req.operation = "change-password";
  req.actor = uid;
  req.user_id = other;
  req.password = iam::SecretString(std::string_view(kPassword));
  req.new_password = iam::SecretString(std::string_view("completely new"));
  CHECK(code_of(t.regime->execute(req)) == ErrorCode::operation_not_permitted);
  req.user_id = uid;
  req.password = iam::SecretString(std::string_view("another good one"));
  CHECK(t.regime->execute(req).ok());
  CHECK(t.regime->login("alice", "completely new", std::nullopt).ok());
}

TEST_CASE("reset-password: a 16-character temporary password and must_change_password") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  auto temp = t.regime->reset_password(kTrusted, uid, std::nullopt);
  REQUIRE(temp.ok());
  CHECK(temp->size() == 16);
  CHECK(is_base64url(temp->view()));
  CHECK(stored_user(*t.repository, uid).record.must_change_password);
  CHECK(is_auth_failure(t.regime->login("alice", kPassword, std::nullopt)));
  CHECK(t.regime->login("alice", temp->view(), std::nullopt).ok());
  auto again = t.regime->reset_password(kTrusted, uid, "ws-a");
  REQUIRE(again.ok());
  CHECK(again->view() != temp->view());
  CHECK(code_of(t.regime->reset_password(kTrusted, "nobody", std::nullopt)) == ErrorCode::not_found);
}

// ====================================================================== users

TEST_CASE("create-user: workspace, username, password, policy and roles") {
  auto t = make_iam();
  auto& g = *t.regime;
  REQUIRE(g.create_workspace(kTrusted, workspace_input("ws-a")).ok());
  REQUIRE(g.create_workspace(kTrusted, workspace_input("ws-off", std::nullopt, false)).ok());

  SUBCASE("defaults and stored values") {
    auto in = user_input("Alice", kPassword);
    in.name = "Alice Liddell";
    in.email = "alice@example.org";
    auto r = g.create_user(kTrusted, "ws-a", in);
    REQUIRE(r.ok());
    CHECK(r->id.size() == 36);
    CHECK(r->username == "Alice");  // stored as given
    CHECK(r->workspace == "ws-a");
    CHECK(r->name == "Alice Liddell");
    CHECK(r->email == "alice@example.org");
    CHECK(r->roles == std::vector<std::string>{"reader"});
    CHECK(r->enabled);
    CHECK_FALSE(r->must_change_password);
    CHECK(r->created == t.clock->now());
    auto got = g.get_user(kTrusted, r->id, std::nullopt);
    REQUIRE(got.ok());
    CHECK(got->username == "Alice");
    // the stored hash is PBKDF2, never the password
    CHECK(stored_user(*t.repository, r->id).password_hash.starts_with("pbkdf2-sha256$1000$"));
  }
  SUBCASE("explicit enabled:false and must_change_password") {
    auto in = user_input("carol", kPassword, std::vector<std::string>{"writer", "reader"});
    in.enabled = false;
    in.must_change_password = true;
    auto r = g.create_user(kTrusted, "ws-a", in);
    REQUIRE(r.ok());
    CHECK_FALSE(r->enabled);
    CHECK(r->must_change_password);
    CHECK(r->roles == std::vector<std::string>{"writer", "reader"});
  }
  SUBCASE("workspace must exist and be enabled") {
    CHECK(code_of(g.create_user(kTrusted, "ws-missing", user_input("a", kPassword))) == ErrorCode::not_found);
    CHECK(code_of(g.create_user(kTrusted, "ws-off", user_input("a", kPassword))) == ErrorCode::not_found);
    CHECK(code_of(g.create_user(kTrusted, "", user_input("a", kPassword))) == ErrorCode::invalid_argument);
    // user.workspace may name it instead, but must not disagree
    auto in = user_input("dora", kPassword);
    in.workspace = "ws-a";
    CHECK(g.create_user(kTrusted, "", in).ok());
    auto bad = user_input("erin", kPassword);
    bad.workspace = "default";
    CHECK(code_of(g.create_user(kTrusted, "ws-a", bad)) == ErrorCode::invalid_argument);
  }
  SUBCASE("username required and unique without regard to ASCII case") {
    iam::UserInput none;
    none.password = iam::SecretString(std::string_view(kPassword));
    CHECK(code_of(g.create_user(kTrusted, "ws-a", none)) == ErrorCode::invalid_argument);
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input("", kPassword))) == ErrorCode::invalid_argument);
    REQUIRE(g.create_user(kTrusted, "ws-a", user_input("alice", kPassword)).ok());
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input("alice", kPassword))) == ErrorCode::duplicate);
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input("ALICE", kPassword))) == ErrorCode::duplicate);
    CHECK(code_of(g.create_user(kTrusted, "default", user_input("Alice", kPassword))) == ErrorCode::duplicate);
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input("Admin", kPassword))) == ErrorCode::duplicate);
  }
  SUBCASE("password required and must meet policy") {
    iam::UserInput none;
    none.username = "nopass";
    CHECK(code_of(g.create_user(kTrusted, "ws-a", none)) == ErrorCode::invalid_argument);
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input("nopass", ""))) == ErrorCode::invalid_argument);
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input("u1", "1234567"))) == ErrorCode::weak_password);
    CHECK(g.create_user(kTrusted, "ws-a", user_input("u2", "12345678")).ok());
    // minimum in characters: 7 two-byte characters are too few, 8 are enough
    std::string seven, eight;
    for (int i = 0; i < 7; ++i) seven += "\xc3\xa9";
    eight = seven + "\xc3\xa9";
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input("u3", seven))) == ErrorCode::weak_password);
    CHECK(g.create_user(kTrusted, "ws-a", user_input("u4", eight)).ok());
    // maximum in bytes
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input("u5", std::string(1025, 'p')))) ==
          ErrorCode::weak_password);
    CHECK(g.create_user(kTrusted, "ws-a", user_input("u6", std::string(1024, 'p'))).ok());
    // not the username
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input("username1", "username1"))) ==
          ErrorCode::weak_password);
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input("username1", "USERNAME1"))) ==
          ErrorCode::weak_password);
    CHECK(code_of(g.get_user(kTrusted, "", std::nullopt)) == ErrorCode::invalid_argument);
  }
  SUBCASE("roles must be known") {
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input("x1", kPassword, std::vector<std::string>{"root"}))) ==
          ErrorCode::invalid_argument);
    CHECK(code_of(g.create_user(kTrusted, "ws-a",
                                user_input("x2", kPassword, std::vector<std::string>{"reader", "Reader"}))) ==
          ErrorCode::invalid_argument);
    CHECK(t.repository->find_user_by_username("x1").error().code == ErrorCode::not_found);
  }
}

TEST_CASE("the optional workspace integrity check on operations naming a target") {
  auto t = make_iam();
  auto& g = *t.regime;
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  REQUIRE(g.create_workspace(kTrusted, workspace_input("ws-b")).ok());
  auto key = g.create_api_key(kTrusted, key_input(uid), std::nullopt);
  REQUIRE(key.ok());
  const std::string key_id = key->record.id;
  const std::string wrong = "ws-b";
  const auto not_permitted = ErrorCode::operation_not_permitted;

  iam::UserInput rename;
  rename.name = "Renamed";
  CHECK(code_of(g.get_user(kTrusted, uid, wrong)) == not_permitted);
  CHECK(code_of(g.update_user(kTrusted, uid, rename, wrong)) == not_permitted);
  CHECK(code_of(g.disable_user(kTrusted, uid, wrong)) == not_permitted);
  CHECK(code_of(g.enable_user(kTrusted, uid, wrong)) == not_permitted);
  CHECK(code_of(g.delete_user(kTrusted, uid, wrong)) == not_permitted);
  CHECK(code_of(g.reset_password(kTrusted, uid, wrong)) == not_permitted);
  CHECK(code_of(g.create_api_key(kTrusted, key_input(uid), wrong)) == not_permitted);
  CHECK(code_of(g.list_api_keys(kTrusted, uid, wrong)) == not_permitted);
  CHECK(code_of(g.revoke_api_key(kTrusted, key_id, wrong)) == not_permitted);

  // nothing happened
  const auto after = stored_user(*t.repository, uid);
  CHECK(after.record.enabled);
  CHECK(after.record.name.empty());
  CHECK_FALSE(after.record.must_change_password);
  CHECK(t.regime->login("alice", kPassword, std::nullopt).ok());
  auto keys = g.list_api_keys(kTrusted, uid, std::nullopt);
  REQUIRE(keys.ok());
  CHECK(keys->size() == 1);

  // the right workspace, or none, passes
  CHECK(g.get_user(kTrusted, uid, "ws-a").ok());
  CHECK(g.get_user(kTrusted, uid, "").ok());
  CHECK(g.update_user(kTrusted, uid, rename, "ws-a").ok());
  CHECK(g.list_api_keys(kTrusted, uid, "ws-a").ok());
  CHECK(g.create_api_key(kTrusted, key_input(uid), "ws-a").ok());
  CHECK(g.revoke_api_key(kTrusted, key_id, "ws-a").ok());
  CHECK(g.disable_user(kTrusted, uid, "ws-a").ok());
  CHECK(g.enable_user(kTrusted, uid, "ws-a").ok());
  CHECK(g.reset_password(kTrusted, uid, "ws-a").ok());
  CHECK(g.delete_user(kTrusted, uid, "ws-a").ok());
}

TEST_CASE("update-user: immutable username, no password, omitted fields keep their value") {
  auto t = make_iam();
  auto& g = *t.regime;
  auto in = user_input("alice", kPassword, std::vector<std::string>{"reader"});
  in.name = "Alice";
  in.email = "alice@example.org";
  REQUIRE(g.create_workspace(kTrusted, workspace_input("ws-a")).ok());
  auto created = g.create_user(kTrusted, "ws-a", in);
  REQUIRE(created.ok());
  const auto uid = created->id;

  iam::UserInput rename;
  rename.username = "alicia";
  CHECK(code_of(g.update_user(kTrusted, uid, rename, std::nullopt)) == ErrorCode::invalid_argument);
  rename.username = "ALICE";  // the same name, another case: not a change
  CHECK(g.update_user(kTrusted, uid, rename, std::nullopt).ok());
  CHECK(stored_user(*t.repository, uid).record.username == "alice");

  iam::UserInput with_password;
  with_password.password = iam::SecretString(std::string_view("a new password"));
  CHECK(code_of(g.update_user(kTrusted, uid, with_password, std::nullopt)) == ErrorCode::invalid_argument);
  CHECK(g.login("alice", kPassword, std::nullopt).ok());

  iam::UserInput roles_only;
  roles_only.roles = std::vector<std::string>{"writer"};
  auto r = g.update_user(kTrusted, uid, roles_only, std::nullopt);
  REQUIRE(r.ok());
  CHECK(r->roles == std::vector<std::string>{"writer"});
  CHECK(r->name == "Alice");
  CHECK(r->email == "alice@example.org");
  CHECK(r->enabled);
  CHECK(r->workspace == "ws-a");
  CHECK(r->created == created->created);
  CHECK(r->id == uid);

  iam::UserInput bad_role;
  bad_role.roles = std::vector<std::string>{"emperor"};
  CHECK(code_of(g.update_user(kTrusted, uid, bad_role, std::nullopt)) == ErrorCode::invalid_argument);
  CHECK(stored_user(*t.repository, uid).record.roles == std::vector<std::string>{"writer"});

  iam::UserInput fields;
  fields.name = "Alice L.";
  fields.email = "al@example.org";
  fields.must_change_password = true;
  r = g.update_user(kTrusted, uid, fields, std::nullopt);
  REQUIRE(r.ok());
  CHECK(r->name == "Alice L.");
  CHECK(r->email == "al@example.org");
  CHECK(r->must_change_password);
  CHECK(r->roles == std::vector<std::string>{"writer"});
  CHECK(stored_user(*t.repository, uid).record.name == "Alice L.");
  CHECK(stored_user(*t.repository, uid).record.must_change_password);

  // an omitted `enabled` never re-enables a disabled user
  REQUIRE(g.disable_user(kTrusted, uid, std::nullopt).ok());
  iam::UserInput name_only;
  name_only.name = "Still disabled";
  r = g.update_user(kTrusted, uid, name_only, std::nullopt);
  REQUIRE(r.ok());
  CHECK_FALSE(r->enabled);
  CHECK_FALSE(stored_user(*t.repository, uid).record.enabled);

  CHECK(code_of(g.update_user(kTrusted, "nobody", name_only, std::nullopt)) == ErrorCode::not_found);
}

TEST_CASE("update-user enabled:false is disable-user (keys revoked); enabled:true is enable-user") {
  auto t = make_iam();
  auto& g = *t.regime;
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto k1 = key_plaintext(t.create_api_key(uid, "one"));
  const auto k2 = key_plaintext(t.create_api_key(uid, "two"));
  const auto jwt = key_plaintext(t.login("alice", kPassword));

  iam::UserInput off;
  off.enabled = false;
  auto r = g.update_user(kTrusted, uid, off, std::nullopt);
  REQUIRE(r.ok());
  CHECK_FALSE(r->enabled);
  CHECK(g.list_api_keys(kTrusted, uid, std::nullopt)->empty());
  CHECK(is_auth_failure(g.authenticate(k1)));
  CHECK(is_auth_failure(g.authenticate(k2)));
  CHECK(is_auth_failure(g.authenticate(jwt)));

  iam::UserInput on;
  on.enabled = true;
  r = g.update_user(kTrusted, uid, on, std::nullopt);
  REQUIRE(r.ok());
  CHECK(r->enabled);
  CHECK(g.list_api_keys(kTrusted, uid, std::nullopt)->empty());  // not restored
  CHECK(is_auth_failure(g.authenticate(k1)));
  CHECK(is_auth_failure(g.authenticate(jwt)));  // the disable advanced the credentials epoch (issue 14)
  CHECK(g.authenticate(key_plaintext(t.login("alice", kPassword))).ok());
}

TEST_CASE("disable-user revokes every key atomically; enable-user restores none") {
  auto t = make_iam();
  auto& g = *t.regime;
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto other = created_user_id(t.create_user("bob", kPassword, {"reader"}, "ws-a"));
  std::vector<std::string> keys;
  for (int i = 0; i < 3; ++i) keys.push_back(key_plaintext(t.create_api_key(uid, "k" + std::to_string(i))));
  const auto bob_key = key_plaintext(t.create_api_key(other));

  REQUIRE(g.disable_user(kTrusted, uid, std::nullopt).ok());
  CHECK_FALSE(stored_user(*t.repository, uid).record.enabled);
  CHECK(g.list_api_keys(kTrusted, uid, std::nullopt)->empty());
  for (const auto& k : keys) CHECK(is_auth_failure(g.authenticate(k)));
  CHECK(g.authenticate(bob_key).ok());  // other users untouched
  CHECK(is_auth_failure(g.login("alice", kPassword, std::nullopt)));

  REQUIRE(g.enable_user(kTrusted, uid, std::nullopt).ok());
  CHECK(stored_user(*t.repository, uid).record.enabled);
  CHECK(g.list_api_keys(kTrusted, uid, std::nullopt)->empty());
  for (const auto& k : keys) CHECK(is_auth_failure(g.authenticate(k)));
  CHECK(g.login("alice", kPassword, std::nullopt).ok());

  CHECK(code_of(g.disable_user(kTrusted, "nobody", std::nullopt)) == ErrorCode::not_found);
  CHECK(code_of(g.enable_user(kTrusted, "nobody", std::nullopt)) == ErrorCode::not_found);
  CHECK(code_of(g.disable_user(kTrusted, "", std::nullopt)) == ErrorCode::invalid_argument);
}

TEST_CASE("disable-user: the flag and the key revocation are one change") {
  Decorated d;
  auto& g = *d.regime;
  REQUIRE(g.create_workspace(kTrusted, workspace_input("ws-a")).ok());
  auto user = g.create_user(kTrusted, "ws-a", user_input("alice", kPassword));
  REQUIRE(user.ok());
  auto key = g.create_api_key(kTrusted, key_input(user->id), std::nullopt);
  REQUIRE(key.ok());
  d.repo->fail_when = [](std::span<const iam::Mutation> change) {
    return contains_mutation<iam::mutation::DeleteApiKeysOfUser>(change);
  };
  CHECK_FALSE(g.disable_user(kTrusted, user->id, std::nullopt).ok());
  CHECK(d.inner->find_user(user->id)->record.enabled);
  CHECK(g.authenticate(key->plaintext.view()).ok());
  d.repo->fail_when = nullptr;
  d.repo->applies = 0;
  REQUIRE(g.disable_user(kTrusted, user->id, std::nullopt).ok());
  CHECK(d.repo->applies == 1);
  CHECK_FALSE(d.inner->find_user(user->id)->record.enabled);
  CHECK(is_auth_failure(g.authenticate(key->plaintext.view())));
}

TEST_CASE("delete-user: removes the user and its keys, and frees the username") {
  auto t = make_iam();
  auto& g = *t.regime;
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  auto key = g.create_api_key(kTrusted, key_input(uid), std::nullopt);
  REQUIRE(key.ok());
  const auto jwt = key_plaintext(t.login("alice", kPassword));

  REQUIRE(g.delete_user(kTrusted, uid, std::nullopt).ok());
  CHECK(code_of(g.get_user(kTrusted, uid, std::nullopt)) == ErrorCode::not_found);
  CHECK(t.repository->find_api_key(key->record.id).error().code == ErrorCode::not_found);
  CHECK(is_auth_failure(g.authenticate(key->plaintext.view())));
  CHECK(is_auth_failure(g.authenticate(jwt)));
  CHECK(is_auth_failure(g.login("alice", kPassword, std::nullopt)));
  CHECK(code_of(g.delete_user(kTrusted, uid, std::nullopt)) == ErrorCode::not_found);

  auto again = t.create_user("ALICE", kPassword, {"writer"}, "ws-a");
  REQUIRE(again.ok());
  CHECK(again->id != uid);
  CHECK(g.login("alice", kPassword, std::nullopt).ok());
  CHECK(is_auth_failure(g.authenticate(jwt)));  // the old subject stays gone
}

TEST_CASE("list-users: filtered by home workspace, or everyone for a trusted caller") {
  auto t = make_iam();
  REQUIRE(t.create_user("a1", kPassword, {"reader"}, "ws-a").ok());
  REQUIRE(t.create_user("a2", kPassword, {"reader"}, "ws-a").ok());
  REQUIRE(t.create_user("b1", kPassword, {"reader"}, "ws-b").ok());
  auto all = t.regime->list_users(kTrusted, std::nullopt);
  REQUIRE(all.ok());
  CHECK(usernames(*all) == std::vector<std::string>{"a1", "a2", "admin", "b1"});
  auto a = t.regime->list_users(kTrusted, "ws-a");
  REQUIRE(a.ok());
  CHECK(usernames(*a) == std::vector<std::string>{"a1", "a2"});
  auto none = t.regime->list_users(kTrusted, "ws-none");
  REQUIRE(none.ok());
  CHECK(none->empty());
}

// ====================================================================== workspaces

TEST_CASE("create-workspace: id rules, reserved ids, idempotence") {
  auto t = make_iam();
  auto& g = *t.regime;
  for (const std::string& bad : std::vector<std::string>{"", "_system", "_", "-x", ".x", "a b", "a/b", "ws:1",
                                                         std::string(65, 'a'), "caf\xc3\xa9"}) {
    CAPTURE(bad);
    CHECK(code_of(g.create_workspace(kTrusted, workspace_input(bad))) == ErrorCode::invalid_argument);
    CHECK(t.repository->find_workspace(bad).error().code == ErrorCode::not_found);
  }
  CHECK(code_of(g.create_workspace(kTrusted, iam::WorkspaceInput{})) == ErrorCode::invalid_argument);
  for (const std::string& good : std::vector<std::string>{"a", "A.b_c-9", "0", std::string(64, 'z')}) {
    CAPTURE(good);
    CHECK(g.create_workspace(kTrusted, workspace_input(good)).ok());
  }

  auto first = g.create_workspace(kTrusted, workspace_input("team", std::string("Team One")));
  REQUIRE(first.ok());
  CHECK(first->id == "team");
  CHECK(first->name == "Team One");
  CHECK(first->enabled);
  CHECK(first->created == t.clock->now());
  t.clock->advance(10s);
  auto again = g.create_workspace(kTrusted, workspace_input("team", std::string("Another Name"), false));
  REQUIRE(again.ok());
  CHECK(again->name == "Team One");
  CHECK(again->enabled);
  CHECK(again->created == first->created);
  auto stored = g.get_workspace("team");
  REQUIRE(stored.ok());
  CHECK(stored->name == "Team One");
  CHECK(stored->enabled);

  auto off = g.create_workspace(kTrusted, workspace_input("dormant", std::nullopt, false));
  REQUIRE(off.ok());
  CHECK_FALSE(off->enabled);
}

TEST_CASE("get-workspace, list-workspaces") {
  auto t = make_iam();
  auto& g = *t.regime;
  CHECK(code_of(g.get_workspace("missing")) == ErrorCode::not_found);
  CHECK(code_of(g.get_workspace("")) == ErrorCode::invalid_argument);
  REQUIRE(g.create_workspace(kTrusted, workspace_input("zeta")).ok());
  REQUIRE(g.create_workspace(kTrusted, workspace_input("alpha")).ok());
  auto all = g.list_workspaces();
  REQUIRE(all.ok());
  CHECK(workspace_ids(*all) == std::vector<std::string>{"alpha", "default", "zeta"});
}

TEST_CASE("update-workspace: name and enabled; enabled:false cascades like disable-workspace") {
  auto t = make_iam();
  auto& g = *t.regime;
  const auto a = created_user_id(t.create_user("a", kPassword, {"reader"}, "ws-a"));
  const auto b = created_user_id(t.create_user("b", kPassword, {"reader"}, "ws-b"));
  const auto ka = key_plaintext(t.create_api_key(a));
  const auto kb = key_plaintext(t.create_api_key(b));
  const auto ja = key_plaintext(t.login("a", kPassword));

  auto renamed = g.update_workspace(kTrusted, workspace_input("ws-a", std::string("Alpha")));
  REQUIRE(renamed.ok());
  CHECK(renamed->name == "Alpha");
  CHECK(renamed->enabled);
  CHECK(g.authenticate(ka).ok());

  auto off = g.update_workspace(kTrusted, workspace_input("ws-a", std::nullopt, false));
  REQUIRE(off.ok());
  CHECK_FALSE(off->enabled);
  CHECK(off->name == "Alpha");
  CHECK_FALSE(stored_user(*t.repository, a).record.enabled);
  CHECK(g.list_api_keys(kTrusted, a, std::nullopt)->empty());
  CHECK(is_auth_failure(g.authenticate(ka)));
  CHECK(is_auth_failure(g.authenticate(ja)));
  CHECK(stored_user(*t.repository, b).record.enabled);  // other workspaces untouched
  CHECK(g.authenticate(kb).ok());

  // again on an already disabled workspace: still exactly the effect of disable-workspace
  REQUIRE(g.enable_user(kTrusted, a, std::nullopt).ok());
  const auto ka2 = key_plaintext(t.create_api_key(a));
  REQUIRE(g.update_workspace(kTrusted, workspace_input("ws-a", std::nullopt, false)).ok());
  CHECK_FALSE(stored_user(*t.repository, a).record.enabled);
  CHECK(g.list_api_keys(kTrusted, a, std::nullopt)->empty());
  CHECK(is_auth_failure(g.authenticate(ka2)));

  auto on = g.update_workspace(kTrusted, workspace_input("ws-a", std::nullopt, true));
  REQUIRE(on.ok());
  CHECK(on->enabled);
  CHECK_FALSE(stored_user(*t.repository, a).record.enabled);  // users are not re-enabled

  CHECK(code_of(g.update_workspace(kTrusted, workspace_input("missing"))) == ErrorCode::not_found);
  CHECK(code_of(g.update_workspace(kTrusted, iam::WorkspaceInput{})) == ErrorCode::invalid_argument);
}

TEST_CASE("disable-workspace: users disabled, keys revoked, JWTs dead; other workspaces untouched") {
  auto t = make_iam();
  auto& g = *t.regime;
  const auto a1 = created_user_id(t.create_user("a1", kPassword, {"reader"}, "ws-a"));
  const auto a2 = created_user_id(t.create_user("a2", kPassword, {"admin"}, "ws-a"));
  const auto b1 = created_user_id(t.create_user("b1", kPassword, {"reader"}, "ws-b"));
  const auto k1 = key_plaintext(t.create_api_key(a1));
  const auto k2 = key_plaintext(t.create_api_key(a2));
  const auto kb = key_plaintext(t.create_api_key(b1));
  const auto j1 = key_plaintext(t.login("a1", kPassword));
  const auto jb = key_plaintext(t.login("b1", kPassword));

  REQUIRE(g.disable_workspace(kTrusted, "ws-a").ok());
  CHECK_FALSE(g.get_workspace("ws-a")->enabled);
  CHECK_FALSE(stored_user(*t.repository, a1).record.enabled);
  CHECK_FALSE(stored_user(*t.repository, a2).record.enabled);
  CHECK(g.list_api_keys(kTrusted, a1, std::nullopt)->empty());
  CHECK(g.list_api_keys(kTrusted, a2, std::nullopt)->empty());
  CHECK(is_auth_failure(g.authenticate(k1)));
  CHECK(is_auth_failure(g.authenticate(k2)));
  CHECK(is_auth_failure(g.authenticate(j1)));
  CHECK(is_auth_failure(g.login("a1", kPassword, std::nullopt)));

  CHECK(stored_user(*t.repository, b1).record.enabled);
  CHECK(g.authenticate(kb).ok());
  CHECK(g.authenticate(jb).ok());
  CHECK(g.authenticate(t.admin_api_key).ok());
  CHECK(g.get_workspace("ws-b")->enabled);

  CHECK(code_of(g.disable_workspace(kTrusted, "missing")) == ErrorCode::not_found);
  CHECK(code_of(g.disable_workspace(kTrusted, "")) == ErrorCode::invalid_argument);
}

// ====================================================================== API keys

TEST_CASE("create-api-key: name, target user, expiry; plaintext format and prefix") {
  auto t = make_iam();
  auto& g = *t.regime;
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));

  CHECK(code_of(g.create_api_key(kTrusted, key_input(uid, std::nullopt), std::nullopt)) ==
        ErrorCode::invalid_argument);
  CHECK(code_of(g.create_api_key(kTrusted, key_input(uid, std::string()), std::nullopt)) ==
        ErrorCode::invalid_argument);
  CHECK(code_of(g.create_api_key(kTrusted, key_input("nobody"), std::nullopt)) == ErrorCode::not_found);
  CHECK(code_of(g.create_api_key(kTrusted, key_input(""), std::nullopt)) == ErrorCode::invalid_argument);
  const auto now = t.clock->now();
  CHECK(code_of(g.create_api_key(kTrusted, key_input(uid, "k", iam::format_rfc3339(now - 1s)), std::nullopt)) ==
        ErrorCode::invalid_argument);
  CHECK(code_of(g.create_api_key(kTrusted, key_input(uid, "k", iam::format_rfc3339(now)), std::nullopt)) ==
        ErrorCode::invalid_argument);
  for (const char* bad : {"tomorrow", "2027-13-01T00:00:00Z", "2027-01-01", "1900000000", " "}) {
    CAPTURE(bad);
    CHECK(code_of(g.create_api_key(kTrusted, key_input(uid, "k", std::string(bad)), std::nullopt)) ==
          ErrorCode::invalid_argument);
  }
  CHECK(g.list_api_keys(kTrusted, uid, std::nullopt)->empty());

  auto created = g.create_api_key(kTrusted, key_input(uid, "ci", std::string()), std::nullopt);  // empty = never
  REQUIRE(created.ok());
  const std::string plain(created->plaintext.view());
  CHECK(plain.size() == 35);
  CHECK(plain.starts_with("tg_"));
  CHECK(is_base64url(std::string_view(plain).substr(3)));
  CHECK(created->record.prefix == plain.substr(0, 7));
  CHECK(created->record.user_id == uid);
  CHECK(created->record.name == "ci");
  CHECK(created->record.id.size() == 36);
  CHECK_FALSE(created->record.expires.has_value());
  CHECK(created->record.created == now);
  CHECK_FALSE(created->record.last_used.has_value());
  CHECK(t.repository->find_api_key(created->record.id)->key_hash == iam::crypto::sha256_hex(plain));

  auto expiring = g.create_api_key(kTrusted, key_input(uid, "temp", iam::format_rfc3339(now + 2h)), std::nullopt);
  REQUIRE(expiring.ok());
  CHECK(expiring->record.expires == now + 2h);
  t.clock->advance(2h);
  CHECK(is_auth_failure(g.authenticate(expiring->plaintext.view())));
  CHECK(g.authenticate(plain).ok());

  REQUIRE(g.disable_user(kTrusted, uid, std::nullopt).ok());
  CHECK(code_of(g.create_api_key(kTrusted, key_input(uid), std::nullopt)) == ErrorCode::disabled);
}

// Issue 15 item 4: tg-create-api-key --expires takes whatever Python's fromisoformat reads.
TEST_CASE("create-api-key: expires in TrustGraph's ISO 8601 forms; garbage and the past are invalid-argument") {
  auto t = make_iam();  // the clock stands at 2027-01-15T08:00:00Z
  auto& g = *t.regime;
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  for (const auto& [given, stored] : {std::pair{"2031-12-31", "2031-12-31T00:00:00Z"},
                                      std::pair{"2031-12-31T23:59", "2031-12-31T23:59:00Z"},
                                      std::pair{"2031-12-31 23:59:58.250", "2031-12-31T23:59:58Z"},
                                      std::pair{"2031-12-31T12:00:00+02:00", "2031-12-31T10:00:00Z"}}) {
    const auto& given_ = given;  // clang 14 cannot capture a structured binding
    CAPTURE(given_);
    auto created = g.create_api_key(kTrusted, key_input(uid, "k", std::string(given)), std::nullopt);
    REQUIRE(created.ok());
    REQUIRE(created->record.expires.has_value());
    CHECK(iam::format_rfc3339(*created->record.expires) == stored);
  }
  for (const char* refused : {"2031-31-12", "next year", "2027-01-15", "2027-01-15T07:59"}) {
    CAPTURE(refused);
    auto result = g.create_api_key(kTrusted, key_input(uid, "k", std::string(refused)), std::nullopt);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::invalid_argument);
    CHECK(result.error().message.find("key.expires") != std::string::npos);
  }
}

TEST_CASE("list-api-keys never shows a hash or plaintext; revoke deletes") {
  auto t = make_iam();
  auto& g = *t.regime;
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto bob = created_user_id(t.create_user("bob", kPassword, {"reader"}, "ws-a"));
  auto k1 = g.create_api_key(kTrusted, key_input(uid, "one"), std::nullopt);
  auto k2 = g.create_api_key(kTrusted, key_input(uid, "two"), std::nullopt);
  auto kb = g.create_api_key(kTrusted, key_input(bob, "bob's"), std::nullopt);
  REQUIRE((k1.ok() && k2.ok() && kb.ok()));
  const std::vector<std::string> secrets = {std::string(k1->plaintext.view()), std::string(k2->plaintext.view()),
                                            iam::crypto::sha256_hex(k1->plaintext.view()),
                                            iam::crypto::sha256_hex(k2->plaintext.view())};

  auto listed = g.list_api_keys(kTrusted, uid, std::nullopt);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  for (const auto& k : *listed) {
    CHECK(k.user_id == uid);
    for (const auto& s : secrets)
      for (const std::string& field : {k.id, k.name, k.prefix, k.user_id}) CHECK(field.find(s) == std::string::npos);
  }
  // and through the wire protocol
  iam::JsonDispatcher dispatcher(t.regime);
  const auto text = dispatcher.handle(json{{"operation", "list-api-keys"}, {"user_id", uid}}.dump());
  CAPTURE(text);
  CHECK(text.find("\"api_keys\"") != std::string::npos);
  for (const auto& s : secrets) CHECK(text.find(s) == std::string::npos);

  REQUIRE(g.revoke_api_key(kTrusted, k1->record.id, std::nullopt).ok());
  listed = g.list_api_keys(kTrusted, uid, std::nullopt);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().id == k2->record.id);
  CHECK(is_auth_failure(g.authenticate(k1->plaintext.view())));
  CHECK(g.authenticate(k2->plaintext.view()).ok());
  CHECK(t.repository->find_api_key(k1->record.id).error().code == ErrorCode::not_found);
  CHECK(code_of(g.revoke_api_key(kTrusted, k1->record.id, std::nullopt)) == ErrorCode::not_found);
  CHECK(code_of(g.revoke_api_key(kTrusted, "no-such-key", std::nullopt)) == ErrorCode::not_found);
  CHECK(code_of(g.revoke_api_key(kTrusted, "", std::nullopt)) == ErrorCode::invalid_argument);
  CHECK(g.list_api_keys(kTrusted, bob, std::nullopt)->size() == 1);
  CHECK(code_of(g.list_api_keys(kTrusted, "nobody", std::nullopt)) == ErrorCode::not_found);
}

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

// ====================================================================== invalidation

TEST_CASE("invalidation: every mutation through the regime notifies listeners at once") {
  auto t = make_iam();
  auto& g = *t.regime;
  std::mutex m;
  std::vector<iam::Invalidation> seen;
  g.add_invalidation_listener([&](const iam::Invalidation& i) {
    std::lock_guard lock(m);
    seen.push_back(i);
  });
  g.add_invalidation_listener([](const iam::Invalidation&) { throw std::runtime_error("bad listener"); });
  auto take = [&] {
    std::lock_guard lock(m);
    auto out = seen;
    seen.clear();
    return out;
  };
  auto single = [&](iam::Invalidation::Kind kind, const std::string& id) {
    const auto got = take();
    REQUIRE(got.size() == 1);
    CHECK(got.front().kind == kind);
    CHECK(got.front().id == id);
  };
  using Kind = iam::Invalidation::Kind;

  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  take();
  auto key = g.create_api_key(kTrusted, key_input(uid), std::nullopt);
  REQUIRE(key.ok());
  take();

  REQUIRE(g.revoke_api_key(kTrusted, key->record.id, std::nullopt).ok());
  single(Kind::api_key, iam::crypto::sha256_hex(key->plaintext.view()));
  CHECK_FALSE(g.revoke_api_key(kTrusted, key->record.id, std::nullopt).ok());
  CHECK(take().empty());  // a failed operation changed nothing

  REQUIRE(g.disable_user(kTrusted, uid, std::nullopt).ok());
  single(Kind::user, uid);
  REQUIRE(g.enable_user(kTrusted, uid, std::nullopt).ok());
  single(Kind::user, uid);
  iam::UserInput change;
  change.roles = std::vector<std::string>{"writer"};
  REQUIRE(g.update_user(kTrusted, uid, change, std::nullopt).ok());
  single(Kind::user, uid);
  REQUIRE(g.reset_password(kTrusted, uid, std::nullopt).ok());
  single(Kind::user, uid);

  REQUIRE(g.disable_workspace(kTrusted, "ws-a").ok());
  single(Kind::workspace, "ws-a");
  REQUIRE(g.update_workspace(kTrusted, workspace_input("ws-a", std::nullopt, true)).ok());
  single(Kind::workspace, "ws-a");

  REQUIRE(g.rotate_signing_key(kTrusted).ok());
  single(Kind::signing_keys, "");

  REQUIRE(g.delete_user(kTrusted, uid, std::nullopt).ok());
  single(Kind::user, uid);

  // reads notify nothing
  CHECK(g.list_users(kTrusted, std::nullopt).ok());
  CHECK(g.list_workspaces().ok());
  CHECK(g.whoami(t.admin_user_id).ok());
  CHECK(g.authorise(iam::Identity{t.admin_user_id, "default", t.admin_user_id, iam::CredentialSource::api_key, {}},
                    "users:read", {}, {})
            .allow);
  CHECK(take().empty());
}
