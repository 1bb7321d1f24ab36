// When a credential stops working (issue 14, items 10 and 11): an API key's own expiry
// bounds how long the gateway caches its identity, and a user's JWTs stop working when
// the user's password is changed or reset or the user is disabled (and stay dead after
// enable-user), through the regime and through the gateway's identity cache, while a
// token from a login right after the change (in the same second) works.
//
// Time is the ManualClock of make_test_iam; nothing sleeps.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>

#include "../support/enforcer.h"
#include "crypto/crypto.h"
#include "iam/gateway.h"
#include "iam/jwt.h"
#include "roles_test_support.h"

using namespace std::chrono_literals;
using namespace roles_test;
using test_support::enforcer_for;

namespace {

constexpr const char* kNewPassword = "a brand new passphrase";

// A key set with one active key whose private half the test keeps, to craft tokens.
struct Keys {
  std::shared_ptr<iam::ManualClock> clock = std::make_shared<iam::ManualClock>();
  iam::KeySet set{iam::JwtConfig{}, clock};
  iam::SigningKey key;

  Keys() {
    std::vector<std::uint8_t> seed(iam::ed25519_seed_bytes, 7);
    auto made = iam::SigningKey::from_seed("k1", seed, clock->now());
    REQUIRE(made.ok());
    key = std::move(*made);
    std::vector<iam::SigningKey> keys;
    keys.push_back(key.copy());
    REQUIRE(set.load(std::move(keys)).ok());
  }
  json claims() const {
    const auto now = iam::unix_seconds(clock->now());
    return json{{"iss", "trustgraph-iam"}, {"sub", "user-1"}, {"workspace", "ws-a"}, {"iat", now}, {"exp", now + 600}};
  }
  std::string craft(const json& claims) const {
    const json header = {{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", "k1"}};
    std::string token = iam::crypto::base64url_encode(iam::crypto::as_bytes(header.dump())) + '.' +
                        iam::crypto::base64url_encode(iam::crypto::as_bytes(claims.dump()));
    const auto signature = iam::crypto::ed25519_sign(iam::crypto::as_bytes(token), key.secret_key);
    return token + '.' + iam::crypto::base64url_encode(signature);
  }
};

}  // namespace

// ====================================================================== item 10: API key expiry

TEST_CASE("authenticate: an API key's identity carries the key's expiry") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const iam::TimePoint expiry = t.clock->now() + 10min;
  auto created = t.regime->create_api_key(std::nullopt, key_input(uid, "short", iam::format_rfc3339(expiry)),
                                          std::nullopt);
  REQUIRE(created.ok());
  auto id = t.regime->authenticate(created->plaintext.view());
  REQUIRE(id.ok());
  REQUIRE(id->expires.has_value());
  CHECK(*id->expires == expiry);
}

TEST_CASE("gateway: an expired API key is refused even while its identity is cached") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  // Expires 10 s from now, well inside the 60 s authentication TTL.
  auto created = t.regime->create_api_key(
      std::nullopt, key_input(uid, "short", iam::format_rfc3339(t.clock->now() + 10s)), std::nullopt);
  REQUIRE(created.ok());
  const std::string key(created->plaintext.view());
  auto enforcer = enforcer_for(t);

  REQUIRE(enforcer->authenticate(key).ok());  // cached now
  CHECK(enforcer->cached_identities() == 1);
  t.clock->advance(9s);
  CHECK(enforcer->authenticate(key).ok());
  t.clock->advance(1s);  // the key's expiry
  CHECK(is_auth_failure(enforcer->authenticate(key)));
  t.clock->advance(30s);
  CHECK(is_auth_failure(enforcer->authenticate(key)));
}

// ====================================================================== item 11: JWTs after a change

TEST_CASE("jwt: the credentials_epoch claim round-trips, is absent at 0, and must be a non-negative integer") {
  Keys k;
  iam::JwtClaims claims{"trustgraph-iam", "user-1", "ws-a", k.clock->now(), k.clock->now() + 600s};
  auto plain = k.set.sign(claims);
  REQUIRE(plain.ok());
  CHECK_FALSE(jwt_claims(*plain).contains("credentials_epoch"));  // tokens of epoch 0 are as before
  CHECK(k.set.verify(*plain)->credentials_epoch == 0);
  for (const std::uint64_t epoch : {std::uint64_t{1}, std::uint64_t{41}, std::uint64_t{1} << 62}) {
    CAPTURE(epoch);
    claims.credentials_epoch = epoch;
    auto token = k.set.sign(claims);
    REQUIRE(token.ok());
    CHECK(jwt_claims(*token)["credentials_epoch"] == epoch);
    auto verified = k.set.verify(*token);
    REQUIRE(verified.ok());
    CHECK(verified->credentials_epoch == epoch);
  }
  json c = k.claims();
  c["credentials_epoch"] = 3;
  CHECK(k.set.verify(k.craft(c))->credentials_epoch == 3);
  c["credentials_epoch"] = 0;
  CHECK(k.set.verify(k.craft(c))->credentials_epoch == 0);
  for (const json& bad : {json(-1), json(1.5), json(2.0), json("3"), json(nullptr), json(true), json::array({3}),
                          json::object({{"e", 3}})}) {
    CAPTURE(bad.dump());
    c["credentials_epoch"] = bad;
    CHECK(is_auth_failure(k.set.verify(k.craft(c))));
  }
}

TEST_CASE("authenticate: a JWT must carry the user's current credentials epoch exactly") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  REQUIRE(t.regime->change_password(uid, uid, kPassword, kNewPassword).ok());
  REQUIRE(stored_user(*t.repository, uid).credentials_epoch == 1);
  const auto jwt = key_plaintext(t.login("alice", kNewPassword));
  CHECK(jwt_claims(jwt)["credentials_epoch"] == 1);
  CHECK(t.regime->authenticate(jwt).ok());
  // Signed with the regime's own key but with another epoch (older or newer): refused.
  for (const std::uint64_t epoch : {std::uint64_t{0}, std::uint64_t{2}}) {
    CAPTURE(epoch);
    iam::JwtClaims claims{"trustgraph-iam", uid, "ws-a", t.clock->now(), t.clock->now() + 600s};
    claims.credentials_epoch = epoch;
    auto token = t.regime->key_set().sign(claims);
    REQUIRE(token.ok());
    CHECK(is_auth_failure(t.regime->authenticate(*token)));
  }
}

TEST_CASE("authenticate: change-password ends the user's JWTs; a login in the same second works") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto old_jwt = key_plaintext(t.login("alice", kPassword));
  REQUIRE(t.regime->authenticate(old_jwt).ok());

  REQUIRE(t.regime->change_password(uid, uid, kPassword, kNewPassword).ok());
  CHECK(is_auth_failure(t.regime->authenticate(old_jwt)));

  // The clock has not moved: same second as the change and as the old token's iat.
  const auto new_jwt = key_plaintext(t.login("alice", kNewPassword));
  auto id = t.regime->authenticate(new_jwt);
  REQUIRE(id.ok());
  CHECK(id->handle == uid);
  CHECK(is_auth_failure(t.regime->authenticate(old_jwt)));

  // Later, still the same answers.
  t.clock->advance(10min);
  CHECK(t.regime->authenticate(new_jwt).ok());
  CHECK(is_auth_failure(t.regime->authenticate(old_jwt)));
}

TEST_CASE("authenticate: reset-password ends the user's JWTs; the temporary password's login works") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto old_jwt = key_plaintext(t.login("alice", kPassword));
  REQUIRE(t.regime->authenticate(old_jwt).ok());

  auto temporary = t.regime->reset_password(t.admin_user_id, uid, std::nullopt);
  REQUIRE(temporary.ok());
  CHECK(is_auth_failure(t.regime->authenticate(old_jwt)));

  const auto new_jwt = key_plaintext(t.login("alice", std::string(temporary->view())));
  CHECK(t.regime->authenticate(new_jwt).ok());
  CHECK(is_auth_failure(t.regime->authenticate(old_jwt)));
}

TEST_CASE("authenticate: a JWT issued before disable-user stays dead after enable-user") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto old_jwt = key_plaintext(t.login("alice", kPassword));
  REQUIRE(t.regime->authenticate(old_jwt).ok());

  SUBCASE("disable-user, enable-user") {
    REQUIRE(t.regime->disable_user(t.admin_user_id, uid, std::nullopt).ok());
    CHECK(is_auth_failure(t.regime->authenticate(old_jwt)));
    REQUIRE(t.regime->enable_user(t.admin_user_id, uid, std::nullopt).ok());
  }
  SUBCASE("update-user enabled:false, then enabled:true") {
    iam::UserInput off;
    off.enabled = false;
    REQUIRE(t.regime->update_user(t.admin_user_id, uid, off, std::nullopt).ok());
    CHECK(is_auth_failure(t.regime->authenticate(old_jwt)));
    iam::UserInput on;
    on.enabled = true;
    REQUIRE(t.regime->update_user(t.admin_user_id, uid, on, std::nullopt).ok());
  }
  SUBCASE("disable-workspace (which disables its users), then re-enable both") {
    REQUIRE(t.regime->disable_workspace(t.admin_user_id, "ws-a").ok());
    CHECK(is_auth_failure(t.regime->authenticate(old_jwt)));
    REQUIRE(t.regime->update_workspace(t.admin_user_id, workspace_input("ws-a", std::nullopt, true)).ok());
    REQUIRE(t.regime->enable_user(t.admin_user_id, uid, std::nullopt).ok());
  }
  CHECK(is_auth_failure(t.regime->authenticate(old_jwt)));
  const auto new_jwt = key_plaintext(t.login("alice", kPassword));  // same second
  CHECK(t.regime->authenticate(new_jwt).ok());
}

TEST_CASE("authenticate: changes that do not touch credentials leave JWTs working") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto jwt = key_plaintext(t.login("alice", kPassword));
  iam::UserInput renamed;
  renamed.name = "Alice A.";
  REQUIRE(t.regime->update_user(t.admin_user_id, uid, renamed, std::nullopt).ok());
  CHECK(t.regime->authenticate(jwt).ok());
  REQUIRE(t.create_api_key(uid).ok());
  CHECK(t.regime->authenticate(jwt).ok());
  // A second login leaves the first token valid.
  REQUIRE(t.login("alice", kPassword).ok());
  CHECK(t.regime->authenticate(jwt).ok());
}

TEST_CASE("gateway: a cached JWT identity is refused at once after change-password, reset and disable") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  auto enforcer = enforcer_for(t);
  const auto old_jwt = key_plaintext(t.login("alice", kPassword));
  REQUIRE(enforcer->authenticate(old_jwt).ok());  // cached for 60 s

  std::string password = kPassword;
  SUBCASE("change-password") {
    REQUIRE(t.regime->change_password(uid, uid, kPassword, kNewPassword).ok());
    password = kNewPassword;
  }
  SUBCASE("reset-password") {
    auto temporary = t.regime->reset_password(t.admin_user_id, uid, std::nullopt);
    REQUIRE(temporary.ok());
    password = std::string(temporary->view());
  }
  SUBCASE("disable-user, enable-user") {
    REQUIRE(t.regime->disable_user(t.admin_user_id, uid, std::nullopt).ok());
    CHECK(is_auth_failure(enforcer->authenticate(old_jwt)));
    REQUIRE(t.regime->enable_user(t.admin_user_id, uid, std::nullopt).ok());
  }
  CHECK(is_auth_failure(enforcer->authenticate(old_jwt)));
  const auto new_jwt = key_plaintext(t.login("alice", password));  // the same second
  CHECK(enforcer->authenticate(new_jwt).ok());
  CHECK(is_auth_failure(enforcer->authenticate(old_jwt)));   // and not cached as good since
}

TEST_CASE("authenticate: another regime on the same store refuses the old JWT too") {
  // Two "processes" sharing one store: the second has its own regime and gateway cache.
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  auto other = another_process(t);
  const auto old_jwt = key_plaintext(t.login("alice", kPassword));
  REQUIRE(other->authenticate(old_jwt).ok());
  REQUIRE(t.regime->change_password(uid, uid, kPassword, kNewPassword).ok());
  CHECK(is_auth_failure(other->authenticate(old_jwt)));
  CHECK(other->authenticate(key_plaintext(t.login("alice", kNewPassword))).ok());
}
