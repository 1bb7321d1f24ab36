// The roles regime's workspace and API-key operations (protocol.md "Operations").
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

