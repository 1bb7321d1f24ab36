// The roles regime's authentication (contract.md, protocol.md): authenticate (API keys,
// JWTs, malformed credentials, anonymous), login, and the signing key lifecycle.
// Authorisation is roles_authorise_test.cpp; bootstrap and configuration
// roles_bootstrap_test.cpp.
//
// Time is the ManualClock of make_test_iam; nothing sleeps and nothing is timed.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "iam/jwt.h"
#include "iam/memory_store.h"
#include "iam/protocol.h"
#include "iam/roles.h"
#include "iam/testing.h"
#include "regimes/roles/internal.h"
#include "roles_test_support.h"

using namespace std::chrono_literals;
using namespace roles_test;
using iam::ErrorCode;
using iam::Resource;

// ====================================================================== authenticate

TEST_CASE("authenticate: an API key resolves to its user's identity") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto key = key_plaintext(t.create_api_key(uid));
  auto id = t.regime->authenticate(key);
  REQUIRE(id.ok());
  CHECK(id->handle == uid);
  CHECK(id->principal_id == uid);
  CHECK(id->workspace == "ws-a");
  CHECK(id->source == iam::CredentialSource::api_key);
  CHECK_FALSE(id->expires.has_value());
}

TEST_CASE("authenticate: every API key failure is exactly the opaque auth failure") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  auto& repo = *t.repository;

  SUBCASE("unknown key (hash lookup misses)") {
    CHECK(is_auth_failure(t.regime->authenticate("tg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")));
    const auto key = key_plaintext(t.create_api_key(uid));
    std::string altered = key;
    altered.back() = altered.back() == 'A' ? 'B' : 'A';
    CHECK(is_auth_failure(t.regime->authenticate(altered)));
    CHECK(t.regime->authenticate(key).ok());
  }
  SUBCASE("expired key, by the ManualClock") {
    const auto expires = iam::format_rfc3339(t.clock->now() + 1h);
    auto created = t.regime->create_api_key(std::nullopt, key_input(uid, "short", expires), std::nullopt);
    REQUIRE(created.ok());
    const std::string key(created->plaintext.view());
    t.clock->advance(1h - 1s);
    CHECK(t.regime->authenticate(key).ok());
    t.clock->advance(1s);
    CHECK(is_auth_failure(t.regime->authenticate(key)));
    t.clock->advance(24h);
    CHECK(is_auth_failure(t.regime->authenticate(key)));
  }
  SUBCASE("user disabled (with the key still stored)") {
    const auto key = key_plaintext(t.create_api_key(uid));
    auto u = stored_user(repo, uid);
    u.record.enabled = false;
    store_user(repo, u);
    CHECK(is_auth_failure(t.regime->authenticate(key)));
    u.record.enabled = true;
    store_user(repo, u);
    CHECK(t.regime->authenticate(key).ok());
  }
  SUBCASE("home workspace disabled (user still enabled)") {
    const auto key = key_plaintext(t.create_api_key(uid));
    store_workspace_enabled(repo, "ws-a", false);
    CHECK(is_auth_failure(t.regime->authenticate(key)));
    store_workspace_enabled(repo, "ws-a", true);
    CHECK(t.regime->authenticate(key).ok());
  }
  SUBCASE("revoked key") {
    auto created = t.regime->create_api_key(std::nullopt, key_input(uid), std::nullopt);
    REQUIRE(created.ok());
    REQUIRE(t.regime->revoke_api_key(std::nullopt, created->record.id, std::nullopt).ok());
    CHECK(is_auth_failure(t.regime->authenticate(created->plaintext.view())));
  }
}

TEST_CASE("authenticate: a JWT verifies locally, then user and both workspaces must be enabled") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  auto& repo = *t.repository;
  const auto jwt = key_plaintext(t.login("alice", kPassword));

  auto id = t.regime->authenticate(jwt);
  REQUIRE(id.ok());
  CHECK(id->handle == uid);
  CHECK(id->workspace == "ws-a");
  CHECK(id->source == iam::CredentialSource::jwt);
  REQUIRE(id->expires.has_value());
  CHECK(*id->expires == t.clock->now() + 3600s);

  SUBCASE("bad signature") {
    std::string tampered = jwt;
    const std::size_t sig = tampered.rfind('.') + 5;
    tampered[sig] = tampered[sig] == 'A' ? 'B' : 'A';
    CHECK(is_auth_failure(t.regime->authenticate(tampered)));
  }
  SUBCASE("expired (past exp + leeway)") {
    t.clock->advance(3600s + 60s + 1s);
    CHECK(is_auth_failure(t.regime->authenticate(jwt)));
  }
  SUBCASE("unknown kid") {
    iam::KeySet other(iam::JwtConfig{}, t.clock);
    std::array<std::uint8_t, iam::ed25519_seed_bytes> seed{};
    seed.fill(7);
    auto key = iam::SigningKey::from_seed("not-a-known-kid", seed, t.clock->now());
    REQUIRE(key.ok());
    std::vector<iam::SigningKey> keys;
    keys.push_back(std::move(key).value());
    REQUIRE(other.load(std::move(keys)).ok());
    auto forged = other.sign(uid, "ws-a");
    REQUIRE(forged.ok());
    CHECK(is_auth_failure(t.regime->authenticate(*forged)));
  }
  SUBCASE("wrong issuer, signed with the real active key") {
    auto stored = repo.list_signing_keys();
    REQUIRE(stored.ok());
    std::vector<iam::SigningKey> keys;
    for (const auto& k : *stored) keys.push_back(k.copy());
    iam::JwtConfig cfg;
    cfg.issuer = "someone-else";
    iam::KeySet other(cfg, t.clock);
    REQUIRE(other.load(std::move(keys)).ok());
    auto forged = other.sign(uid, "ws-a");
    REQUIRE(forged.ok());
    CHECK(is_auth_failure(t.regime->authenticate(*forged)));
  }
  SUBCASE("user disabled") {
    auto u = stored_user(repo, uid);
    u.record.enabled = false;
    store_user(repo, u);
    CHECK(is_auth_failure(t.regime->authenticate(jwt)));
  }
  SUBCASE("user deleted") {
    REQUIRE(t.regime->delete_user(std::nullopt, uid, std::nullopt).ok());
    CHECK(is_auth_failure(t.regime->authenticate(jwt)));
  }
  SUBCASE("home workspace disabled") {
    store_workspace_enabled(repo, "ws-a", false);
    CHECK(is_auth_failure(t.regime->authenticate(jwt)));
  }
  SUBCASE("bound workspace disabled while the home workspace is enabled") {
    REQUIRE(t.regime->create_workspace(std::nullopt, workspace_input("ws-b")).ok());
    auto admin_jwt = t.regime->login("admin", "", std::nullopt);  // unusable password: refused
    CHECK(is_auth_failure(admin_jwt));
    // An admin (scope *) with a JWT bound to ws-b; home stays `default`.
    REQUIRE(t.create_user("root", kPassword, {"admin"}, "default").ok());
    auto bound = t.regime->login("root", kPassword, "ws-b");
    REQUIRE(bound.ok());
    CHECK(jwt_claims(bound->jwt.view())["workspace"] == "ws-b");
    auto ok = t.regime->authenticate(bound->jwt.view());
    REQUIRE(ok.ok());
    CHECK(ok->workspace == "ws-b");
    store_workspace_enabled(repo, "ws-b", false);
    CHECK(is_auth_failure(t.regime->authenticate(bound->jwt.view())));
    auto home = t.login("root", kPassword);
    REQUIRE(home.ok());
    CHECK(t.regime->authenticate(*home).ok());
  }
  SUBCASE("bound workspace deleted from under the token is refused too") {
    // A token bound to a workspace the store does not know (signed with the real key).
    auto forged = t.regime->key_set().sign(uid, "nowhere");
    REQUIRE(forged.ok());
    CHECK(is_auth_failure(t.regime->authenticate(*forged)));
  }
}

TEST_CASE("authenticate: malformed credentials are the same opaque failure") {
  auto t = make_iam();
  CHECK(iam::auth_failure() == iam::Error{ErrorCode::auth_failed, "auth failure"});
  for (std::string_view bad : {"", "garbage", "tg_", "tg_short", "a.b.c", "..", "Bearer x", "a.b", "a.b.c.d",
                               "eyJhbGciOiJFZERTQSJ9.e30.AAAA"}) {
    CAPTURE(bad);
    CHECK(is_auth_failure(t.regime->authenticate(bad)));
  }
  CHECK(is_auth_failure(t.regime->authenticate(std::string(20000, 'x'))));
  CHECK(is_auth_failure(t.regime->authenticate("tg_" + std::string(20000, 'x'))));
}

TEST_CASE("authenticate-anonymous: the roles regime always refuses, mentioning anonymous") {
  auto t = make_iam();
  auto r = t.regime->authenticate_anonymous();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::auth_failed);
  CHECK(r.error().message.find("anonymous") != std::string::npos);
  iam::OperationRequest req;
  req.operation = "authenticate-anonymous";
  auto viaexec = t.regime->execute(req);
  REQUIRE_FALSE(viaexec.ok());
  CHECK(viaexec.error().code == ErrorCode::auth_failed);
  CHECK(viaexec.error().message.find("anonymous") != std::string::npos);
}

// ====================================================================== login

TEST_CASE("login: a JWT with the configured issuer and lifetime, bound to the home workspace") {
  iam::testing::TestIamOptions options;
  options.jwt.issuer = "example-issuer";
  options.jwt.lifetime = 900s;
  auto t = make_iam(options);
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto t0 = t.clock->now();

  auto r = t.regime->login("alice", kPassword, std::nullopt);
  REQUIRE(r.ok());
  CHECK(r->expires == t0 + 900s);
  const std::string jwt(r->jwt.view());
  const auto header = jwt_header(jwt);
  CHECK(header["alg"] == "EdDSA");
  CHECK(header["typ"] == "JWT");
  CHECK(header["kid"] == *t.regime->key_set().active_kid());
  const auto claims = jwt_claims(jwt);
  CHECK(claims["iss"] == "example-issuer");
  CHECK(claims["sub"] == uid);
  CHECK(claims["workspace"] == "ws-a");
  CHECK(claims["default_workspace"] == "ws-a");
  CHECK(claims["iat"] == iam::unix_seconds(t0));
  CHECK(claims["exp"] == iam::unix_seconds(t0) + 900);
  auto id = t.regime->authenticate(jwt);
  REQUIRE(id.ok());
  CHECK(id->handle == uid);

  // username lookup ignores ASCII case
  CHECK(t.regime->login("ALICE", kPassword, std::nullopt).ok());
  // the override may name the home workspace itself
  auto own = t.regime->login("alice", kPassword, "ws-a");
  REQUIRE(own.ok());
  CHECK(jwt_claims(own->jwt.view())["workspace"] == "ws-a");
  auto empty_override = t.regime->login("alice", kPassword, "");
  REQUIRE(empty_override.ok());
  CHECK(jwt_claims(empty_override->jwt.view())["workspace"] == "ws-a");
}

TEST_CASE("login: a workspace override must exist, be enabled and be in the user's scope") {
  auto t = make_iam();
  REQUIRE(t.create_user("reader", kPassword, {"reader"}, "ws-a").ok());
  REQUIRE(t.create_user("root", kPassword, {"admin"}, "ws-a").ok());
  REQUIRE(t.regime->create_workspace(std::nullopt, workspace_input("ws-b")).ok());
  REQUIRE(t.regime->create_workspace(std::nullopt, workspace_input("ws-off", std::nullopt, false)).ok());

  auto admin_b = t.regime->login("root", kPassword, "ws-b");
  REQUIRE(admin_b.ok());
  CHECK(jwt_claims(admin_b->jwt.view())["workspace"] == "ws-b");
  CHECK(jwt_claims(admin_b->jwt.view())["default_workspace"] == "ws-b");

  CHECK(is_auth_failure(t.regime->login("reader", kPassword, "ws-b")));     // out of scope
  CHECK(is_auth_failure(t.regime->login("root", kPassword, "ws-missing")));  // unknown
  CHECK(is_auth_failure(t.regime->login("root", kPassword, "ws-off")));      // disabled
  CHECK(is_auth_failure(t.regime->login("reader", kPassword, "ws-missing")));
}

TEST_CASE("login: unknown user, disabled user and wrong password are the same failure") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  CHECK(is_auth_failure(t.regime->login("nobody", kPassword, std::nullopt)));
  CHECK(is_auth_failure(t.regime->login("alice", "wrong password", std::nullopt)));
  CHECK(is_auth_failure(t.regime->login("alice", "", std::nullopt)));
  CHECK(is_auth_failure(t.regime->login("", kPassword, std::nullopt)));
  CHECK(is_auth_failure(t.regime->login("alice", std::string(5000, 'p'), std::nullopt)));
  REQUIRE(t.regime->disable_user(std::nullopt, uid, std::nullopt).ok());
  CHECK(is_auth_failure(t.regime->login("alice", kPassword, std::nullopt)));
  CHECK(is_auth_failure(t.regime->login("alice", "wrong password", std::nullopt)));
  REQUIRE(t.regime->enable_user(std::nullopt, uid, std::nullopt).ok());
  CHECK(t.regime->login("alice", kPassword, std::nullopt).ok());
  // home workspace disabled: the user may be enabled again, still no login
  REQUIRE(t.regime->disable_workspace(std::nullopt, "ws-a").ok());
  REQUIRE(t.regime->enable_user(std::nullopt, uid, std::nullopt).ok());
  CHECK(is_auth_failure(t.regime->login("alice", kPassword, std::nullopt)));
}

TEST_CASE("login: a temporary password from reset-password logs in") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  auto temp = t.regime->reset_password(std::nullopt, uid, std::nullopt);
  REQUIRE(temp.ok());
  CHECK(is_auth_failure(t.regime->login("alice", kPassword, std::nullopt)));
  auto r = t.regime->login("alice", temp->view(), std::nullopt);
  REQUIRE(r.ok());
  CHECK(t.regime->authenticate(r->jwt.view()).ok());
  CHECK(stored_user(*t.repository, uid).record.must_change_password);
}

TEST_CASE("login: a hash below the configured cost is re-hashed on success") {
  auto t = make_iam();  // 1000 iterations
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto before = stored_user(*t.repository, uid).password_hash;
  CHECK(before.starts_with("pbkdf2-sha256$1000$"));
  // a login at the same cost does not touch the hash
  REQUIRE(t.regime->login("alice", kPassword, std::nullopt).ok());
  CHECK(stored_user(*t.repository, uid).password_hash == before);

  auto open = [&](std::uint32_t iterations) {
    iam::RolesConfig c;
    c.repository = t.repository;
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    c.read_environment = false;
    c.clock = t.clock;
    c.logger = iam::null_logger();
    auto r = iam::detail::create_roles_regime_for_testing(std::move(c), iterations);
    REQUIRE(r.ok());
    return std::move(r).value();
  };
  auto stronger = open(2000);
  // a failed login changes nothing
  CHECK(is_auth_failure(stronger->login("alice", "wrong password", std::nullopt)));
  CHECK(stored_user(*t.repository, uid).password_hash == before);

  REQUIRE(stronger->login("alice", kPassword, std::nullopt).ok());
  const auto after = stored_user(*t.repository, uid).password_hash;
  CHECK(after.starts_with("pbkdf2-sha256$2000$"));
  CHECK(after != before);
  // both regimes still accept the password; the cheaper one never downgrades it
  REQUIRE(t.regime->login("alice", kPassword, std::nullopt).ok());
  CHECK(stored_user(*t.repository, uid).password_hash == after);
  CHECK(stronger->login("alice", kPassword, std::nullopt).ok());
}

// ====================================================================== signing keys

TEST_CASE("get-signing-key-public: the active key as PEM") {
  auto t = make_iam();
  auto pem = t.regime->signing_key_public();
  REQUIRE(pem.ok());
  CHECK(pem->starts_with("-----BEGIN PUBLIC KEY-----"));
  auto parsed = iam::public_key_from_pem(*pem);
  REQUIRE(parsed.ok());
  auto stored = t.repository->list_signing_keys();
  REQUIRE(stored.ok());
  REQUIRE(stored->size() == 2);  // the current key and the next one
  CHECK(stored->front().is_current());
  CHECK(stored->back().is_next());
  CHECK(*parsed == stored->front().public_key);
}

TEST_CASE("rotate-signing-key: old tokens verify through the grace period, then fail") {
  auto t = make_iam();
  REQUIRE(t.create_user("alice", kPassword, {"reader"}, "ws-a").ok());
  const auto uid = t.repository->find_user_by_username("alice")->record.id;
  const auto t0 = t.clock->now();
  const auto old_kid = *t.regime->key_set().active_kid();
  const auto published_kid = *t.regime->key_set().next_kid();
  const auto old_pem = *t.regime->signing_key_public();
  const auto old_jwt = key_plaintext(t.login("alice", kPassword));
  // a token that outlives the grace period, so only the key's retirement can end it
  auto long_lived = t.regime->key_set().sign(
      iam::JwtClaims{"trustgraph-iam", uid, "ws-a", t0, t0 + std::chrono::hours(24 * 30)});
  REQUIRE(long_lived.ok());

  REQUIRE(t.regime->rotate_signing_key(std::nullopt).ok());
  const auto new_kid = *t.regime->key_set().active_kid();
  CHECK(new_kid != old_kid);
  CHECK(new_kid == published_kid);  // the key published before the rotation
  const auto next_kid = *t.regime->key_set().next_kid();
  CHECK(*t.regime->signing_key_public() != old_pem);
  const auto new_jwt = key_plaintext(t.login("alice", kPassword));
  CHECK(jwt_header(new_jwt)["kid"] == new_kid);
  CHECK(jwt_header(old_jwt)["kid"] == old_kid);
  CHECK(t.regime->authenticate(new_jwt).ok());
  CHECK(t.regime->authenticate(old_jwt).ok());
  CHECK(t.regime->authenticate(*long_lived).ok());
  const auto jwks = json::parse(t.regime->jwks());
  CHECK(jwks["keys"].size() == 3);  // retired, current, next

  // the retired key's private half is gone from storage
  auto stored = t.repository->list_signing_keys();
  REQUIRE(stored.ok());
  REQUIRE(stored->size() == 3);
  for (const auto& k : *stored) {
    if (k.kid == old_kid) {
      CHECK(k.retired.has_value());
      CHECK(k.secret_key.empty());
    } else {
      CHECK((k.kid == new_kid ? k.is_current() : k.kid == next_kid && k.is_next()));
      CHECK(k.secret_key.size() == iam::ed25519_secret_key_bytes);
    }
  }

  // grace = lifetime + leeway = 3660 s by default
  t.clock->advance(3600s);
  CHECK(t.regime->authenticate(old_jwt).ok());
  CHECK(t.regime->authenticate(*long_lived).ok());
  t.clock->advance(59s);
  CHECK(t.regime->authenticate(*long_lived).ok());
  t.clock->advance(1s);  // retired + grace
  CHECK(is_auth_failure(t.regime->authenticate(*long_lived)));
  CHECK(is_auth_failure(t.regime->authenticate(old_jwt)));
  CHECK(json::parse(t.regime->jwks())["keys"].size() == 2);
  const auto fresh = key_plaintext(t.login("alice", kPassword));
  CHECK(t.regime->authenticate(fresh).ok());

  // a later rotation drops keys past their grace from storage
  t.clock->advance(1s);
  REQUIRE(t.regime->rotate_signing_key(std::nullopt).ok());
  auto after = t.repository->list_signing_keys();
  REQUIRE(after.ok());
  for (const auto& k : *after) CHECK(k.kid != old_kid);
  CHECK(t.regime->authenticate(fresh).ok());
}

TEST_CASE("rotate-signing-key: needs iam:admin when an actor is named") {
  auto t = make_iam();
  const auto w = created_user_id(t.create_user("w", kPassword, {"writer"}, "default"));
  const auto kid = *t.regime->key_set().active_kid();
  CHECK(code_of(t.regime->rotate_signing_key(w)) == ErrorCode::operation_not_permitted);
  CHECK(*t.regime->key_set().active_kid() == kid);
  CHECK(t.regime->rotate_signing_key(t.admin_user_id).ok());
  CHECK(*t.regime->key_set().active_kid() != kid);
}

TEST_CASE("list-signing-keys: after rotations one next, one current, and the retired keys with their grace end") {
  auto t = make_iam();
  const auto t0 = t.clock->now();
  const auto first = *t.regime->key_set().active_kid();
  REQUIRE(t.regime->rotate_signing_key(std::nullopt).ok());
  t.clock->advance(10s);
  const auto second = *t.regime->key_set().active_kid();
  REQUIRE(t.regime->rotate_signing_key(t.admin_user_id).ok());
  const auto current = *t.regime->key_set().active_kid();
  const auto next = *t.regime->key_set().next_kid();

  auto listed = t.regime->list_signing_keys(t.admin_user_id);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 4);
  std::map<std::string, iam::SigningKeyRecord> by_kid;
  for (const auto& key : *listed) by_kid.emplace(key.kid, key);
  REQUIRE(by_kid.size() == 4);
  const auto grace = 3660s;  // lifetime + leeway, the defaults
  const auto& a = by_kid.at(first);
  CHECK(a.status == iam::SigningKeyStatus::retired);
  CHECK(a.retired == t0);
  CHECK(a.grace_ends == t0 + grace);
  const auto& b = by_kid.at(second);
  CHECK(b.status == iam::SigningKeyStatus::retired);
  CHECK(b.activated == t0);
  CHECK(b.retired == t0 + 10s);
  CHECK(b.grace_ends == t0 + 10s + grace);
  const auto& c = by_kid.at(current);
  CHECK(c.status == iam::SigningKeyStatus::current);
  CHECK(c.activated == t0 + 10s);
  CHECK_FALSE(c.retired.has_value());
  CHECK_FALSE(c.grace_ends.has_value());
  const auto& n = by_kid.at(next);
  CHECK(n.status == iam::SigningKeyStatus::next);
  CHECK_FALSE(n.activated.has_value());
  CHECK_FALSE(n.retired.has_value());
  CHECK_FALSE(n.grace_ends.has_value());
}

TEST_CASE("list-signing-keys: needs iam:admin when an actor is named") {
  auto t = make_iam();
  const auto w = created_user_id(t.create_user("w", kPassword, {"writer"}, "default"));
  const auto r = created_user_id(t.create_user("r", kPassword, {"reader"}, "default"));
  CHECK(code_of(t.regime->list_signing_keys(w)) == ErrorCode::operation_not_permitted);
  CHECK(code_of(t.regime->list_signing_keys(r)) == ErrorCode::operation_not_permitted);
  CHECK(code_of(t.regime->list_signing_keys(std::string("no-such-user"))) == ErrorCode::operation_not_permitted);
  CHECK(t.regime->list_signing_keys(std::nullopt).ok());  // a trusted internal caller
}

TEST_CASE("list-signing-keys on the wire: key states and times, never key material") {
  auto t = make_iam();
  REQUIRE(t.regime->rotate_signing_key(std::nullopt).ok());
  iam::JsonDispatcher dispatcher(t.regime);
  const json answer = json::parse(dispatcher.handle(
      json{{"operation", "list-signing-keys"}, {"actor", t.admin_user_id}}.dump()));
  CAPTURE(answer.dump());
  REQUIRE(answer.contains("signing_keys"));
  REQUIRE(answer["signing_keys"].size() == 3);
  std::multiset<std::string> statuses;
  for (const json& key : answer["signing_keys"]) {
    statuses.insert(key["status"].get<std::string>());
    std::set<std::string> fields;
    for (const auto& item : key.items()) fields.insert(item.key());
    CHECK(fields == std::set<std::string>{"kid", "status", "created", "activated", "retired", "grace_ends"});
    CHECK((key["status"] == "retired") == !key["grace_ends"].get<std::string>().empty());
  }
  CHECK(statuses == std::multiset<std::string>{"current", "next", "retired"});
  // Neither half of any key, in any encoding the store or the JWKS uses, is in the answer.
  const std::string text = answer.dump();
  const auto stored = t.repository->list_signing_keys();
  REQUIRE(stored.ok());
  for (const auto& key : *stored) {
    CHECK(text.find(iam::crypto::base64url_encode(key.public_key)) == std::string::npos);
    CHECK(text.find(iam::crypto::base64_encode(key.public_key)) == std::string::npos);
    if (key.secret_key.empty()) continue;  // retired: destroyed
    CHECK(text.find(iam::crypto::base64url_encode(key.secret_key.span())) == std::string::npos);
    CHECK(text.find(iam::crypto::base64_encode(key.secret_key.span())) == std::string::npos);
  }

  const json refused = json::parse(dispatcher.handle(
      json{{"operation", "list-signing-keys"}, {"actor", created_user_id(t.create_user("w", kPassword, {"writer"}, "default"))}}
          .dump()));
  CHECK(refused["error"]["type"] == "operation-not-permitted");
}

TEST_CASE("rotate-signing-key: concurrent rotations leave memory agreeing with storage") {
  auto t = make_iam();
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 25; ++j) CHECK(t.regime->rotate_signing_key(std::nullopt).ok());
    });
  for (auto& th : threads) th.join();
  auto stored = t.repository->list_signing_keys();
  REQUIRE(stored.ok());
  std::vector<std::string> active;
  int next = 0;
  for (const auto& k : *stored) {
    if (k.is_current()) active.push_back(k.kid);
    if (k.is_next()) ++next;
  }
  REQUIRE(active.size() == 1);
  CHECK(next == 1);
  CHECK(*t.regime->key_set().active_kid() == active.front());
  // and what this process signs, the store still has a private key for
  REQUIRE(t.create_user("alice", kPassword, {"reader"}, "ws-a").ok());
  const auto jwt = key_plaintext(t.login("alice", kPassword));
  CHECK(jwt_header(jwt)["kid"] == active.front());
}

// ====================================================================== concurrency

TEST_CASE("concurrency: authenticate and authorise while keys rotate and API keys are revoked") {
  auto t = make_iam();
  auto& g = *t.regime;
  const auto reader = created_user_id(t.create_user("reader", kPassword, {"reader"}, "ws-a"));
  const auto victim = created_user_id(t.create_user("victim", kPassword, {"reader"}, "ws-a"));
  const auto stable_key = key_plaintext(t.create_api_key(reader));
  const auto stable_jwt = key_plaintext(t.login("reader", kPassword));
  struct Doomed {
    std::string id;
    std::string plaintext;
  };
  std::vector<Doomed> doomed;
  for (int i = 0; i < 40; ++i) {
    auto k = g.create_api_key(kTrusted, key_input(victim, "k" + std::to_string(i)), std::nullopt);
    REQUIRE(k.ok());
    doomed.push_back({k->record.id, std::string(k->plaintext.view())});
  }

  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::atomic<int> revoked_but_accepted{0};
  std::atomic<int> rotation_failures{0};
  std::atomic<long> work{0};
  const std::vector<iam::AuthorisationCheck> checks = {
      {"graph:read", Resource::workspace("ws-a"), {}},
      {"graph:write", Resource::workspace("ws-a"), {}},
      {"graph:read", Resource::workspace("ws-b"), {}}};

  std::vector<std::thread> workers;
  for (int w = 0; w < 6; ++w)
    workers.emplace_back([&, w] {
      int i = 0;
      while (!stop.load() || i < 50) {
        ++i;
        auto a = g.authenticate(stable_key);
        if (!a.ok() || a->handle != reader) ++wrong;
        auto j = g.authenticate(stable_jwt);
        if (!j.ok() || j->handle != reader || j->workspace != "ws-a") ++wrong;
        const auto& d = doomed[static_cast<std::size_t>(i + w) % doomed.size()];
        auto v = g.authenticate(d.plaintext);
        if (!v.ok() && !(v.error() == iam::auth_failure())) ++wrong;
        if (v.ok() && v->handle != victim) ++wrong;
        const auto id = iam::Identity{reader, "ws-a", reader, iam::CredentialSource::api_key, std::nullopt};
        if (!g.authorise(id, "graph:read", Resource::workspace("ws-a"), {}).allow) ++wrong;
        if (g.authorise(id, "graph:write", Resource::workspace("ws-a"), {}).allow) ++wrong;
        const auto many = g.authorise_many(id, checks);
        if (many.size() != 3 || !many[0].allow || many[1].allow || many[2].allow) ++wrong;
        if (i % 10 == 0) {
          auto fresh = g.login("reader", kPassword, std::nullopt);
          if (!fresh.ok() || !g.authenticate(fresh->jwt.view()).ok()) ++wrong;
        }
        ++work;
      }
    });
  std::thread rotator([&] {
    for (int i = 0; i < 30; ++i)
      if (!g.rotate_signing_key(kTrusted).ok()) ++rotation_failures;
  });
  std::thread revoker([&] {
    for (const auto& d : doomed) {
      if (!g.revoke_api_key(kTrusted, d.id, std::nullopt).ok()) ++wrong;
      if (g.authenticate(d.plaintext).ok()) ++revoked_but_accepted;
    }
  });
  rotator.join();
  revoker.join();
  stop = true;
  for (auto& th : workers) th.join();

  CHECK(wrong.load() == 0);
  CHECK(revoked_but_accepted.load() == 0);
  CHECK(rotation_failures.load() == 0);
  CHECK(work.load() > 0);
  for (const auto& d : doomed) CHECK(is_auth_failure(g.authenticate(d.plaintext)));
  CHECK(g.list_api_keys(kTrusted, victim, std::nullopt)->empty());
  CHECK(g.authenticate(stable_jwt).ok());
  auto stored = t.repository->list_signing_keys();
  REQUIRE(stored.ok());
  int active = 0;
  for (const auto& k : *stored)
    if (k.is_current()) {
      ++active;
      CHECK(*g.key_set().active_kid() == k.kid);
    } else if (k.is_next()) {
      CHECK(*g.key_set().next_kid() == k.kid);
    }
  CHECK(active == 1);
}
