// The roles regime's user operations (protocol.md "Operations"): whoami,
// list-my-workspaces, resolve-api-key, passwords and users. Workspaces and API keys are
// roles_workspaces_keys_test.cpp; the in-process re-checks roles_rechecks_test.cpp.
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

