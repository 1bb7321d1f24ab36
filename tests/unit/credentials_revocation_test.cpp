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

#include "iam/gateway.h"
#include "iam/jwt.h"
#include "regimes/roles/internal.h"
#include "roles_test_support.h"

using namespace std::chrono_literals;
using namespace roles_test;

namespace {

// An Enforcer over the test regime, on the test's ManualClock, caching identities for 60 s.
std::shared_ptr<iam::Enforcer> enforcer_for(const iam::testing::TestIam& t) {
  iam::GatewayConfig config;
  config.regime = t.regime;
  config.clock = t.clock;
  config.authentication_ttl = 60s;
  config.logger = iam::null_logger();
  auto enforcer = iam::Enforcer::create(std::move(config));
  REQUIRE(enforcer.ok());
  return *enforcer;
}

constexpr const char* kNewPassword = "a brand new passphrase";

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
  iam::RolesConfig config;
  config.repository = t.repository;
  config.clock = t.clock;
  config.bootstrap_mode = iam::BootstrapMode::bootstrap;
  config.read_environment = false;
  config.logger = iam::null_logger();
  auto other = iam::detail::create_roles_regime_for_testing(std::move(config), 1000);
  REQUIRE(other.ok());
  const auto old_jwt = key_plaintext(t.login("alice", kPassword));
  REQUIRE((*other)->authenticate(old_jwt).ok());
  REQUIRE(t.regime->change_password(uid, uid, kPassword, kNewPassword).ok());
  CHECK(is_auth_failure((*other)->authenticate(old_jwt)));
  CHECK((*other)->authenticate(key_plaintext(t.login("alice", kNewPassword))).ok());
}
