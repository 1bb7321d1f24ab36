// The roles regime's audit events (protocol.md "Audit events"). execute() dispatch is
// roles_execute_test.cpp.
//
// Time is the ManualClock of make_test_iam; nothing sleeps and nothing is timed.
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
#include "iam/protocol.h"
#include "iam/roles.h"
#include "iam/testing.h"
#include "roles_test_support.h"

using namespace std::chrono_literals;
using namespace roles_test;
using iam::ErrorCode;
using iam::Resource;

namespace {

std::vector<std::string> field_names(const iam::AuditEvent& e) {
  std::vector<std::string> out;
  for (const auto& [k, v] : e.fields) out.push_back(k);
  return out;
}

std::string field(const iam::AuditEvent& e, std::string_view key) {
  const std::string* v = e.field(key);
  return v ? *v : std::string("<absent>");
}

struct Audited {
  std::shared_ptr<CapturingSink> sink = std::make_shared<CapturingSink>();
  iam::testing::TestIam t;
  explicit Audited(iam::testing::TestIamOptions options = {}) {
    options.audit = sink;
    t = make_iam(std::move(options));
    sink->clear();
  }
};

}  // namespace

// ====================================================================== iam.authenticate

TEST_CASE("audit: iam.authenticate for authenticate, login, resolve-api-key, anonymous") {
  Audited a;
  auto& g = *a.t.regime;
  const auto uid = created_user_id(a.t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto key = key_plaintext(a.t.create_api_key(uid));
  a.sink->clear();

  auto expect = [&](std::string_view type, bool ok, const std::string& identity) {
    const auto events = a.sink->named("iam.authenticate");
    REQUIRE(events.size() == 1);
    const auto& e = events.front();
    CHECK(field(e, "credential_type") == type);
    CHECK(field(e, "outcome") == (ok ? "success" : "failure"));
    CHECK(field(e, "identity") == (ok ? identity : "unknown"));
    if (ok) {
      CHECK(field_names(e) == std::vector<std::string>{"credential_type", "outcome", "identity"});
    } else {
      CHECK(field_names(e) == std::vector<std::string>{"credential_type", "outcome", "identity", "failure_reason"});
      CHECK_FALSE(field(e, "failure_reason").empty());
    }
    CHECK(a.sink->named("iam.management").empty());
    a.sink->clear();
  };

  REQUIRE(g.authenticate(key).ok());
  expect("api-key", true, uid);
  REQUIRE_FALSE(g.authenticate("tg_nopenopenopenopenopenopenopenope0").ok());
  expect("api-key", false, "");

  auto jwt = g.login("alice", kPassword, std::nullopt);
  REQUIRE(jwt.ok());
  expect("login-password", true, uid);
  REQUIRE_FALSE(g.login("alice", "Not-The-Password-42", std::nullopt).ok());
  expect("login-password", false, "");
  REQUIRE_FALSE(g.login("nobody", kPassword, std::nullopt).ok());
  expect("login-password", false, "");

  REQUIRE(g.authenticate(jwt->jwt.view()).ok());
  expect("jwt", true, uid);
  std::string tampered(jwt->jwt.view());
  char& changed = tampered[tampered.rfind('.') + 3];
  changed = changed == 'A' ? 'B' : 'A';  // another base64url character: still JWT-shaped
  REQUIRE_FALSE(g.authenticate(tampered).ok());
  expect("jwt", false, "");

  REQUIRE(g.resolve_api_key(key).ok());
  expect("api-key", true, uid);
  REQUIRE_FALSE(g.resolve_api_key("tg_nopenopenopenopenopenopenopenope0").ok());
  expect("api-key", false, "");

  REQUIRE_FALSE(g.authenticate_anonymous().ok());
  expect("anonymous", false, "");
  iam::OperationRequest anon;
  anon.operation = "authenticate-anonymous";
  REQUIRE_FALSE(g.execute(anon).ok());
  expect("anonymous", false, "");

  // a disabled user's key: the reason goes to the event, never to the caller
  auto u = stored_user(*a.t.repository, uid);
  u.record.enabled = false;
  store_user(*a.t.repository, u);
  auto refused = g.authenticate(key);
  CHECK(is_auth_failure(refused));
  const auto events = a.sink->named("iam.authenticate");
  REQUIRE(events.size() == 1);
  CHECK(field(events.front(), "failure_reason").find("disabled") != std::string::npos);
}

// ====================================================================== iam.authorise

TEST_CASE("audit: iam.authorise for each decision and each check of authorise_many") {
  Audited a;
  auto& g = *a.t.regime;
  const auto uid = created_user_id(a.t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  a.sink->clear();

  CHECK(g.authorise(identity_of(uid), "graph:read", Resource::workspace("ws-a"), {}).allow);
  auto ev = a.sink->named("iam.authorise");
  REQUIRE(ev.size() == 1);
  CHECK(field_names(ev[0]) == std::vector<std::string>{"identity", "capability", "workspace", "outcome"});
  CHECK(field(ev[0], "identity") == uid);
  CHECK(field(ev[0], "capability") == "graph:read");
  CHECK(field(ev[0], "workspace") == "ws-a");
  CHECK(field(ev[0], "outcome") == "allow");
  a.sink->clear();

  CHECK_FALSE(g.authorise(identity_of(uid), "graph:write", {}, {}).allow);
  ev = a.sink->named("iam.authorise");
  REQUIRE(ev.size() == 1);
  CHECK(field_names(ev[0]) == std::vector<std::string>{"identity", "capability", "outcome", "denial_reason"});
  CHECK(field(ev[0], "outcome") == "deny");
  CHECK(field(ev[0], "denial_reason") == "capability-not-in-role");
  a.sink->clear();

  CHECK_FALSE(g.authorise(identity_of(uid), "graph:read", Resource::workspace("ws-b"), {}).allow);
  ev = a.sink->named("iam.authorise");
  REQUIRE(ev.size() == 1);
  CHECK(field(ev[0], "workspace") == "ws-b");
  CHECK(field(ev[0], "denial_reason") == "workspace-out-of-scope");
  a.sink->clear();

  std::vector<iam::AuthorisationCheck> checks = {{"graph:read", Resource::workspace("ws-a"), {}},
                                                 {"users:admin", {}, {}},
                                                 {"llm", Resource::flow("ws-c", "f"), {}}};
  auto answers = g.authorise_many(identity_of(uid), checks);
  REQUIRE(answers.size() == 3);
  ev = a.sink->named("iam.authorise");
  REQUIRE(ev.size() == 3);
  CHECK(field(ev[0], "capability") == "graph:read");
  CHECK(field(ev[0], "outcome") == "allow");
  CHECK(field(ev[1], "capability") == "users:admin");
  CHECK(field(ev[1], "outcome") == "deny");
  CHECK(ev[1].field("workspace") == nullptr);
  CHECK(field(ev[2], "capability") == "llm");
  CHECK(field(ev[2], "workspace") == "ws-c");
  CHECK(field(ev[2], "denial_reason") == "workspace-out-of-scope");
  a.sink->clear();

  REQUIRE(g.disable_user(kTrusted, uid, std::nullopt).ok());
  a.sink->clear();
  CHECK_FALSE(g.authorise(identity_of(uid), "graph:read", Resource::workspace("ws-a"), {}).allow);
  ev = a.sink->named("iam.authorise");
  REQUIRE(ev.size() == 1);
  CHECK(field(ev[0], "denial_reason") == "user-disabled");
  a.sink->clear();

  CHECK_FALSE(g.authorise(identity_of("ghost"), "graph:read", {}, {}).allow);
  ev = a.sink->named("iam.authorise");
  REQUIRE(ev.size() == 1);
  CHECK(field(ev[0], "identity") == "ghost");
  CHECK(field(ev[0], "outcome") == "deny");
  CHECK_FALSE(field(ev[0], "denial_reason").empty());
}

// ====================================================================== iam.management

TEST_CASE("audit: iam.management fields, success and failure") {
  Audited a;
  auto& g = *a.t.regime;
  const auto uid = created_user_id(a.t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  a.sink->clear();

  REQUIRE(g.disable_user(a.t.admin_user_id, uid, std::nullopt).ok());
  auto ev = a.sink->named("iam.management");
  REQUIRE(ev.size() == 1);
  CHECK(field_names(ev[0]) ==
        std::vector<std::string>{"actor", "operation", "outcome", "target_identity", "target_workspace"});
  CHECK(field(ev[0], "actor") == a.t.admin_user_id);
  CHECK(field(ev[0], "operation") == "disable-user");
  CHECK(field(ev[0], "outcome") == "success");
  CHECK(field(ev[0], "target_identity") == uid);
  CHECK(field(ev[0], "target_workspace") == "ws-a");
  a.sink->clear();

  CHECK_FALSE(g.create_user(a.t.admin_user_id, "ws-a", user_input("ALICE", kPassword)).ok());
  ev = a.sink->named("iam.management");
  REQUIRE(ev.size() == 1);
  CHECK(field(ev[0], "operation") == "create-user");
  CHECK(field(ev[0], "outcome") == "failure");
  CHECK(field(ev[0], "error_type") == "duplicate");
  CHECK(field(ev[0], "target_workspace") == "ws-a");
  a.sink->clear();

  CHECK_FALSE(g.disable_user(a.t.admin_user_id, "no-such-user", std::nullopt).ok());
  ev = a.sink->named("iam.management");
  REQUIRE(ev.size() == 1);
  CHECK(field(ev[0], "error_type") == "not-found");
  CHECK(ev[0].field("target_workspace") == nullptr);  // unknown: omitted
  a.sink->clear();

  REQUIRE(g.rotate_signing_key(a.t.admin_user_id).ok());
  ev = a.sink->named("iam.management");
  REQUIRE(ev.size() == 1);
  CHECK(field_names(ev[0]) == std::vector<std::string>{"actor", "operation", "outcome"});
  CHECK(field(ev[0], "operation") == "rotate-signing-key");
  a.sink->clear();

  REQUIRE(g.create_workspace(kTrusted, workspace_input("ws-new")).ok());
  ev = a.sink->named("iam.management");
  REQUIRE(ev.size() == 1);
  CHECK(field(ev[0], "operation") == "create-workspace");
  CHECK(field(ev[0], "target_workspace") == "ws-new");
  CHECK(ev[0].field("target_identity") == nullptr);
  a.sink->clear();

  // a denied re-check is a failed management operation
  const auto reader = created_user_id(a.t.create_user("bob", kPassword, {"reader"}, "ws-a"));
  a.sink->clear();
  CHECK_FALSE(g.delete_user(reader, uid, std::nullopt).ok());
  ev = a.sink->named("iam.management");
  REQUIRE(ev.size() == 1);
  CHECK(field(ev[0], "actor") == reader);
  CHECK(field(ev[0], "error_type") == "operation-not-permitted");
}

TEST_CASE("audit: one management event per state-changing operation, none for reads") {
  iam::testing::TestIamOptions options;
  options.bootstrap = false;
  Audited a(options);
  auto& g = *a.t.regime;

  std::string admin, uid, key_id;
  auto run = [&](const iam::OperationRequest& req, bool mutating) {
    CAPTURE(req.operation);
    a.sink->clear();
    auto r = g.execute(req);
    CHECK_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    const auto events = a.sink->named("iam.management");
    if (mutating) {
      REQUIRE(events.size() == 1);
      CHECK(field(events[0], "operation") == req.operation);
      CHECK(field(events[0], "outcome") == "success");
    } else {
      CHECK(events.empty());
    }
    return r;
  };
  auto op = [](std::string name) {
    iam::OperationRequest r;
    r.operation = std::move(name);
    return r;
  };

  (void)run(op("bootstrap-status"), false);
  auto boot = run(op("bootstrap"), true);
  REQUIRE(boot.ok());
  admin = *boot->bootstrap_admin_user_id;
  (void)run(op("get-signing-key-public"), false);
  (void)run(op("bootstrap-status"), false);

  auto ws = op("create-workspace");
  ws.actor = admin;
  ws.workspace_record = workspace_input("ws-a");
  (void)run(ws, true);
  auto getws = op("get-workspace");
  getws.actor = admin;
  getws.workspace_record = workspace_input("ws-a");
  (void)run(getws, false);
  auto listws = op("list-workspaces");
  listws.actor = admin;
  (void)run(listws, false);
  auto upws = op("update-workspace");
  upws.actor = admin;
  upws.workspace_record = workspace_input("ws-a", std::string("Alpha"));
  (void)run(upws, true);

  auto cu = op("create-user");
  cu.actor = admin;
  cu.workspace = "ws-a";
  cu.user = user_input("alice", kPassword);
  auto created = run(cu, true);
  REQUIRE(created.ok());
  uid = created->user->id;

  auto byuser = [&](std::string name) {
    auto r = op(std::move(name));
    r.actor = admin;
    r.user_id = uid;
    return r;
  };
  (void)run(byuser("get-user"), false);
  auto lu = op("list-users");
  lu.actor = admin;
  (void)run(lu, false);
  auto uu = byuser("update-user");
  uu.user = iam::UserInput{};
  uu.user->name = "Alice";
  (void)run(uu, true);
  auto who = op("whoami");
  who.actor = uid;
  (void)run(who, false);
  auto mine = op("list-my-workspaces");
  mine.actor = uid;
  (void)run(mine, false);

  auto ck = op("create-api-key");
  ck.actor = admin;
  ck.key = key_input(uid);
  auto key = run(ck, true);
  REQUIRE(key.ok());
  key_id = key->api_key->id;
  (void)run(byuser("list-api-keys"), false);

  auto rp = run(byuser("reset-password"), true);
  REQUIRE(rp.ok());
  auto cp = op("change-password");
  cp.actor = uid;
  cp.password = rp->temporary_password->copy();
  cp.new_password = iam::SecretString(std::string_view("a fresh password"));
  (void)run(cp, true);

  auto rk = op("revoke-api-key");
  rk.actor = admin;
  rk.key_id = key_id;
  (void)run(rk, true);
  (void)run(byuser("disable-user"), true);
  (void)run(byuser("enable-user"), true);
  auto rot = op("rotate-signing-key");
  rot.actor = admin;
  (void)run(rot, true);
  auto dw = op("disable-workspace");
  dw.actor = admin;
  dw.workspace_record = workspace_input("ws-a");
  (void)run(dw, true);
  (void)run(byuser("delete-user"), true);
}

// ====================================================================== secrets and time

TEST_CASE("audit: no event ever carries a secret, and every event has an RFC 3339 time") {
  iam::testing::TestIamOptions options;
  options.bootstrap = false;
  Audited a(options);
  auto& g = *a.t.regime;
  std::vector<std::string> secrets;
  auto remember = [&](std::string_view s) { secrets.emplace_back(s); };

  auto boot = g.bootstrap();
  REQUIRE(boot.ok());
  remember(boot->admin_api_key.view());
  remember(iam::crypto::sha256_hex(boot->admin_api_key.view()));
  const auto admin = boot->admin_user_id;
  const auto first_keys = a.t.repository->list_signing_keys();
  REQUIRE(first_keys.ok());
  for (const auto& k : *first_keys) {
    remember(iam::crypto::hex_encode(k.secret_key.span()));
    remember(iam::crypto::base64url_encode(k.secret_key.span()));
    remember(iam::crypto::base64_encode(k.secret_key.span()));
  }
  const auto first_users = a.t.repository->list_users(std::nullopt);
  REQUIRE(first_users.ok());
  for (const auto& u : *first_users) remember(u.password_hash);

  const std::string pw1 = "first-Secret-Passw0rd";
  const std::string pw2 = "second-Secret-Passw0rd";
  const std::string wrong = "Not-The-Password-42";
  const std::string bogus_key = "tg_bogusBogusBogusBogusBogusBogus000";
  remember(pw1);
  remember(pw2);
  remember(wrong);
  remember(bogus_key);

  REQUIRE(g.create_workspace(admin, workspace_input("ws-a")).ok());
  auto alice = g.create_user(admin, "ws-a", user_input("alice", pw1, std::vector<std::string>{"writer"}));
  REQUIRE(alice.ok());
  remember(stored_user(*a.t.repository, alice->id).password_hash);
  CHECK_FALSE(g.create_user(admin, "ws-a", user_input("weak", "weakpw7")).ok());  // weak password
  remember("weakpw7");

  auto key = g.create_api_key(admin, key_input(alice->id), std::nullopt);
  REQUIRE(key.ok());
  remember(key->plaintext.view());
  remember(iam::crypto::sha256_hex(key->plaintext.view()));
  CHECK(g.authenticate(key->plaintext.view()).ok());
  CHECK(g.resolve_api_key(key->plaintext.view()).ok());
  CHECK_FALSE(g.authenticate(bogus_key).ok());
  CHECK_FALSE(g.resolve_api_key(bogus_key).ok());

  auto login = g.login("alice", pw1, std::nullopt);
  REQUIRE(login.ok());
  const std::string jwt(login->jwt.view());
  remember(jwt);
  remember(jwt.substr(jwt.rfind('.') + 1));  // the signature alone
  CHECK(g.authenticate(jwt).ok());
  CHECK_FALSE(g.login("alice", wrong, std::nullopt).ok());
  CHECK_FALSE(g.login("nobody", wrong, std::nullopt).ok());
  std::string tampered = jwt;
  char& changed = tampered[tampered.rfind('.') + 3];
  changed = changed == 'A' ? 'B' : 'A';  // another base64url character: still JWT-shaped
  remember(tampered.substr(tampered.rfind('.') + 1));
  CHECK_FALSE(g.authenticate(tampered).ok());

  CHECK(g.authorise(identity_of(alice->id), "graph:write", Resource::workspace("ws-a"), {}).allow);
  CHECK_FALSE(g.change_password(alice->id, alice->id, wrong, pw2).ok());
  REQUIRE(g.change_password(alice->id, alice->id, pw1, pw2).ok());
  remember(stored_user(*a.t.repository, alice->id).password_hash);
  auto temp = g.reset_password(admin, alice->id, std::nullopt);
  REQUIRE(temp.ok());
  remember(temp->view());
  remember(stored_user(*a.t.repository, alice->id).password_hash);
  auto temp_login = g.login("alice", temp->view(), std::nullopt);
  REQUIRE(temp_login.ok());
  remember(temp_login->jwt.view());
  REQUIRE(g.revoke_api_key(admin, key->record.id, std::nullopt).ok());
  CHECK_FALSE(g.authenticate(key->plaintext.view()).ok());
  REQUIRE(g.rotate_signing_key(admin).ok());
  const auto rotated_keys = a.t.repository->list_signing_keys();
  REQUIRE(rotated_keys.ok());
  for (const auto& k : *rotated_keys)
    if (!k.secret_key.empty()) remember(iam::crypto::hex_encode(k.secret_key.span()));
  REQUIRE(g.disable_user(admin, alice->id, std::nullopt).ok());
  REQUIRE(g.delete_user(admin, alice->id, std::nullopt).ok());
  CHECK_FALSE(g.authenticate_anonymous().ok());

  const auto events = a.sink->all();
  CHECK(events.size() > 25);
  std::set<std::string> names;
  const std::regex rfc3339(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$)");
  for (const auto& e : events) {
    names.insert(e.name);
    const std::string text = e.to_json();
    CAPTURE(text);
    for (const auto& s : secrets) {
      REQUIRE(s.size() >= 7);
      CHECK(text.find(s) == std::string::npos);
    }
    const auto parsed = json::parse(text);
    CHECK(parsed["event"] == e.name);
    REQUIRE(parsed["time"].is_string());
    const std::string time = parsed["time"];
    CHECK(std::regex_match(time, rfc3339));
    CHECK(iam::parse_rfc3339(time) == a.t.clock->now());
    CHECK(e.time == a.t.clock->now());
  }
  CHECK(names == std::set<std::string>{"iam.authenticate", "iam.authorise", "iam.management"});

  // the time follows the ManualClock
  a.sink->clear();
  a.t.clock->advance(90s);
  CHECK_FALSE(g.authenticate_anonymous().ok());
  const auto later = a.sink->all();
  REQUIRE(later.size() == 1);
  CHECK(json::parse(later[0].to_json())["time"] == iam::format_rfc3339(a.t.clock->now()));
}

TEST_CASE("audit: a throwing sink changes no decision and no operation result") {
  iam::testing::TestIamOptions options;
  options.audit = std::make_shared<ThrowingSink>();
  auto t = make_iam(options);  // bootstrap itself ran with the throwing sink
  auto& g = *t.regime;
  CHECK(g.authenticate(t.admin_api_key).ok());
  CHECK(is_auth_failure(g.authenticate("tg_nopenopenopenopenopenopenopenope0")));
  auto alice = t.create_user("alice", kPassword, {"reader"}, "ws-a");
  REQUIRE(alice.ok());
  CHECK(code_of(t.create_user("ALICE", kPassword, {"reader"}, "ws-a")) == ErrorCode::duplicate);
  auto jwt = t.login("alice", kPassword);
  REQUIRE(jwt.ok());
  CHECK(g.authenticate(*jwt).ok());
  CHECK(is_auth_failure(g.login("alice", "Not-The-Password-42", std::nullopt)));
  CHECK(g.authorise(identity_of(alice->id), "graph:read", Resource::workspace("ws-a"), {}).allow);
  CHECK_FALSE(g.authorise(identity_of(alice->id), "graph:write", Resource::workspace("ws-a"), {}).allow);
  auto many = g.authorise_many(identity_of(alice->id),
                               std::vector<iam::AuthorisationCheck>{{"graph:read", {}, {}}, {"graph:write", {}, {}}});
  REQUIRE(many.size() == 2);
  CHECK(many[0].allow);
  CHECK_FALSE(many[1].allow);
  auto key = g.create_api_key(t.admin_user_id, key_input(alice->id), std::nullopt);
  REQUIRE(key.ok());
  CHECK(g.resolve_api_key(key->plaintext.view()).ok());
  CHECK(g.revoke_api_key(t.admin_user_id, key->record.id, std::nullopt).ok());
  CHECK(code_of(g.get_user(alice->id, t.admin_user_id, std::nullopt)) == ErrorCode::operation_not_permitted);
  CHECK(g.rotate_signing_key(t.admin_user_id).ok());
  CHECK(g.disable_workspace(t.admin_user_id, "ws-a").ok());
  CHECK(is_auth_failure(g.authenticate(*jwt)));
  CHECK(g.authenticate_anonymous().error().code == ErrorCode::auth_failed);
}

