// The roles regime's configuration and bootstrap modes (protocol.md "Bootstrap modes"):
// a required mode, its validation and environment variables, token-mode seeding and the
// bootstrap operation.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "iam/jwt.h"
#include "iam/memory_store.h"
#include "iam/roles.h"
#include "iam/testing.h"
#include "regimes/roles/internal.h"
#include "roles_test_support.h"

using namespace std::chrono_literals;
using namespace roles_test;
using iam::ErrorCode;
using iam::Resource;

namespace {

constexpr const char* kOperatorToken = "tg_operatorTokenForTheUnitTests_0123";

iam::RolesConfig base_config(std::shared_ptr<iam::Repository> repo = iam::make_memory_repository()) {
  iam::RolesConfig c;
  c.repository = std::move(repo);
  c.clock = std::make_shared<iam::ManualClock>();
  c.logger = iam::null_logger();
  return c;
}

// A token-mode regime at the test PBKDF2 cost (create() would hash at 600,000).
iam::Result<std::shared_ptr<iam::RolesRegime>> token_regime(std::shared_ptr<iam::Repository> repo,
                                                            const char* token = kOperatorToken) {
  auto c = base_config(std::move(repo));
  c.bootstrap_mode = iam::BootstrapMode::token;
  c.bootstrap_token = iam::SecretString(std::string_view(token));
  c.read_environment = false;
  return iam::detail::create_roles_regime_for_testing(std::move(c), 1000);
}

// What the seed of either mode must contain (protocol.md "bootstrap").
void check_seeded_store(iam::Repository& repo, iam::RolesRegime& regime, const std::string& admin_key) {
  auto workspaces = repo.list_workspaces();
  REQUIRE(workspaces.ok());
  REQUIRE(workspaces->size() == 1);
  CHECK(workspaces->front().id == "default");
  CHECK(workspaces->front().enabled);
  auto users = repo.list_users(std::nullopt);
  REQUIRE(users.ok());
  REQUIRE(users->size() == 1);
  const auto& admin = users->front().record;
  CHECK(admin.username == "admin");
  CHECK(admin.workspace == "default");
  CHECK(admin.roles == std::vector<std::string>{"admin"});
  CHECK(admin.enabled);
  CHECK(admin.must_change_password);
  auto identity = regime.authenticate(admin_key);
  REQUIRE(identity.ok());
  CHECK(identity->handle == admin.id);
  auto keys = regime.list_api_keys(std::nullopt, admin.id, std::nullopt);
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 1);
  CHECK(keys->front().name == "bootstrap");
  CHECK(keys->front().prefix == admin_key.substr(0, 7));
  auto signing = repo.list_signing_keys();
  REQUIRE(signing.ok());
  REQUIRE(signing->size() == 2);  // the current key, and the next one published behind it
  CHECK(signing->front().is_current());
  CHECK(signing->back().is_next());
  CHECK(regime.signing_key_public().ok());
}

}  // namespace

// ====================================================================== configuration

TEST_CASE("configuration: a bootstrap mode is required and there is no default") {
  EnvGuard env;
  auto c = base_config();
  c.password_iterations = iam::minimum_password_iterations;
  auto r = iam::make_roles_regime(std::move(c));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(r.error().message.find("bootstrap") != std::string::npos);

  auto without_env = base_config();
  without_env.read_environment = false;
  EnvGuard::set("IAM_BOOTSTRAP_MODE", "bootstrap");  // ignored when read_environment is off
  auto r2 = iam::make_roles_regime(std::move(without_env));
  CHECK(code_of(r2) == ErrorCode::invalid_argument);
}

TEST_CASE("configuration: explicit modes and their validation") {
  EnvGuard env;
  SUBCASE("bootstrap mode starts and seeds nothing") {
    auto c = base_config();
    auto repo = c.repository;
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    auto r = iam::make_roles_regime(std::move(c));
    REQUIRE(r.ok());
    CHECK((*r)->name() == "roles");
    CHECK(*repo->is_empty());
    CHECK((*r)->bootstrap_available());
  }
  SUBCASE("bootstrap mode given a token refuses to start") {
    auto c = base_config();
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    c.bootstrap_token = iam::SecretString(std::string_view(kOperatorToken));
    CHECK(code_of(iam::make_roles_regime(std::move(c))) == ErrorCode::invalid_argument);
  }
  SUBCASE("token mode without a token refuses to start") {
    auto c = base_config();
    c.bootstrap_mode = iam::BootstrapMode::token;
    CHECK(code_of(iam::make_roles_regime(std::move(c))) == ErrorCode::invalid_argument);
    auto empty = base_config();
    empty.bootstrap_mode = iam::BootstrapMode::token;
    empty.bootstrap_token = iam::SecretString();
    CHECK(code_of(iam::make_roles_regime(std::move(empty))) == ErrorCode::invalid_argument);
  }
  SUBCASE("token mode with a malformed token refuses to start") {
    for (const char* bad : {"not-a-tg-token-at-all-000", "tg_short", "tg_has a space in it 00000"}) {
      CAPTURE(bad);
      auto c = base_config();
      c.bootstrap_mode = iam::BootstrapMode::token;
      c.bootstrap_token = iam::SecretString(std::string_view(bad));
      CHECK(code_of(iam::make_roles_regime(std::move(c))) == ErrorCode::invalid_argument);
    }
  }
  SUBCASE("no repository") {
    iam::RolesConfig c;
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    c.logger = iam::null_logger();
    CHECK(code_of(iam::make_roles_regime(std::move(c))) == ErrorCode::invalid_argument);
  }
  SUBCASE("PBKDF2 cost below the production minimum") {
    auto c = base_config();
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    c.password_iterations = iam::minimum_password_iterations - 1;
    CHECK(code_of(iam::make_roles_regime(std::move(c))) == ErrorCode::invalid_argument);
    auto higher = base_config();
    higher.bootstrap_mode = iam::BootstrapMode::bootstrap;
    higher.password_iterations = iam::minimum_password_iterations + 1;
    CHECK(iam::make_roles_regime(std::move(higher)).ok());
  }
  SUBCASE("bad JWT settings") {
    auto c = base_config();
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    c.jwt.issuer = "";
    CHECK(code_of(iam::make_roles_regime(std::move(c))) == ErrorCode::invalid_argument);
    auto d = base_config();
    d.bootstrap_mode = iam::BootstrapMode::bootstrap;
    d.jwt.lifetime = 0s;
    CHECK(code_of(iam::make_roles_regime(std::move(d))) == ErrorCode::invalid_argument);
  }
  SUBCASE("parse_bootstrap_mode") {
    CHECK(iam::parse_bootstrap_mode("token") == iam::BootstrapMode::token);
    CHECK(iam::parse_bootstrap_mode("bootstrap") == iam::BootstrapMode::bootstrap);
    CHECK_FALSE(iam::parse_bootstrap_mode("").has_value());
    CHECK_FALSE(iam::parse_bootstrap_mode("Token").has_value());
    CHECK_FALSE(iam::parse_bootstrap_mode("none").has_value());
  }
}

TEST_CASE("configuration: IAM_BOOTSTRAP_MODE / IAM_BOOTSTRAP_TOKEN when not configured") {
  EnvGuard env;
  SUBCASE("mode bootstrap from the environment") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "bootstrap");
    auto c = base_config();
    auto r = iam::make_roles_regime(std::move(c));
    REQUIRE(r.ok());
    CHECK((*r)->bootstrap_available());
  }
  SUBCASE("an invalid mode in the environment refuses to start") {
    for (const char* bad : {"tokens", "BOOTSTRAP", "noauth", " token"}) {
      CAPTURE(bad);
      EnvGuard::set("IAM_BOOTSTRAP_MODE", bad);
      auto r = iam::make_roles_regime(base_config());
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == ErrorCode::invalid_argument);
      CHECK(r.error().message.find("IAM_BOOTSTRAP_MODE") != std::string::npos);
    }
  }
  SUBCASE("token mode and token both from the environment") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "token");
    EnvGuard::set("IAM_BOOTSTRAP_TOKEN", kOperatorToken);
    auto c = base_config();
    auto repo = c.repository;
    auto r = iam::detail::create_roles_regime_for_testing(std::move(c), 1000);
    REQUIRE(r.ok());
    check_seeded_store(*repo, **r, kOperatorToken);
  }
  SUBCASE("token mode from the environment without a token refuses") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "token");
    CHECK(code_of(iam::make_roles_regime(base_config())) == ErrorCode::invalid_argument);
  }
  SUBCASE("bootstrap mode from the environment with a token in it refuses") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "bootstrap");
    EnvGuard::set("IAM_BOOTSTRAP_TOKEN", kOperatorToken);
    CHECK(code_of(iam::make_roles_regime(base_config())) == ErrorCode::invalid_argument);
  }
  SUBCASE("explicit mode wins over the environment") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "token");  // would refuse: no token anywhere
    auto c = base_config();
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    auto r = iam::make_roles_regime(std::move(c));
    REQUIRE(r.ok());
    CHECK((*r)->bootstrap_available());
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "garbage");  // not even parsed
    auto c2 = base_config();
    c2.bootstrap_mode = iam::BootstrapMode::bootstrap;
    CHECK(iam::make_roles_regime(std::move(c2)).ok());
  }
  SUBCASE("explicit token wins over the environment's token") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "token");
    EnvGuard::set("IAM_BOOTSTRAP_TOKEN", "tg_environmentTokenIsNotUsed_000000");
    auto c = base_config();
    auto repo = c.repository;
    c.bootstrap_token = iam::SecretString(std::string_view(kOperatorToken));
    auto r = iam::detail::create_roles_regime_for_testing(std::move(c), 1000);
    REQUIRE(r.ok());
    check_seeded_store(*repo, **r, kOperatorToken);
    CHECK(is_auth_failure((*r)->authenticate("tg_environmentTokenIsNotUsed_000000")));
  }
}

// ====================================================================== bootstrap

TEST_CASE("token mode: seeds an empty store, is a no-op later, and refuses the bootstrap operation") {
  auto repo = iam::make_memory_repository();
  auto r = token_regime(repo);
  REQUIRE(r.ok());
  auto& g = **r;
  check_seeded_store(*repo, g, kOperatorToken);
  CHECK_FALSE(g.bootstrap_available());

  auto refused = g.bootstrap();
  CHECK(is_auth_failure(refused));
  iam::OperationRequest req;
  req.operation = "bootstrap";
  auto refused2 = g.execute(req);
  CHECK(is_auth_failure(refused2));
  iam::OperationRequest status;
  status.operation = "bootstrap-status";
  auto st = g.execute(status);
  REQUIRE(st.ok());
  CHECK(st->bootstrap_available == false);

  // A second start (same store, another token): nothing new is seeded.
  auto again = token_regime(repo, "tg_aDifferentOperatorToken_00000000");
  REQUIRE(again.ok());
  CHECK(is_auth_failure((*again)->authenticate("tg_aDifferentOperatorToken_00000000")));
  CHECK((*again)->authenticate(kOperatorToken).ok());
  check_seeded_store(*repo, **again, kOperatorToken);
}

TEST_CASE("token mode: a store that is not empty is left alone") {
  auto t = make_iam();
  auto r = token_regime(t.repository);
  REQUIRE(r.ok());
  CHECK(is_auth_failure((*r)->authenticate(kOperatorToken)));
  auto users = t.repository->list_users(std::nullopt);
  REQUIRE(users.ok());
  CHECK(users->size() == 1);
  CHECK((*r)->authenticate(t.admin_api_key).ok());
}

TEST_CASE("token mode: seeding is atomic") {
  auto inner = iam::make_memory_repository();
  auto repo = std::make_shared<DecoratedRepository>(inner);
  repo->fail_when = [](std::span<const iam::Mutation> change) {
    return contains_mutation<iam::mutation::InsertSigningKey>(change);
  };
  auto r = token_regime(repo);
  CHECK_FALSE(r.ok());
  CHECK(*inner->is_empty());
  auto keys = inner->list_signing_keys();
  REQUIRE(keys.ok());
  CHECK(keys->empty());
  repo->fail_when = nullptr;
  auto ok = token_regime(repo);
  REQUIRE(ok.ok());
  check_seeded_store(*inner, **ok, kOperatorToken);
}

TEST_CASE("bootstrap mode: status, then bootstrap succeeds once, then refuses (masked)") {
  iam::testing::TestIamOptions options;
  options.bootstrap = false;
  auto t = make_iam(options);
  auto& g = *t.regime;

  // status has no side effects
  CHECK(g.bootstrap_available());
  CHECK(g.bootstrap_available());
  CHECK(*t.repository->is_empty());
  // no signing key yet
  auto pem = g.signing_key_public();
  REQUIRE_FALSE(pem.ok());
  CHECK(pem.error().code == ErrorCode::not_found);
  iam::OperationRequest pub;
  pub.operation = "get-signing-key-public";
  CHECK(code_of(g.execute(pub)) == ErrorCode::not_found);

  auto first = g.bootstrap();
  REQUIRE(first.ok());
  const std::string key(first->admin_api_key.view());
  CHECK(key.size() == 35);
  CHECK(key.starts_with("tg_"));
  check_seeded_store(*t.repository, g, key);
  CHECK(stored_user(*t.repository, first->admin_user_id).record.username == "admin");
  CHECK_FALSE(g.bootstrap_available());
  // the unusable password cannot be guessed as empty or as the username
  CHECK(is_auth_failure(g.login("admin", "", std::nullopt)));
  CHECK(is_auth_failure(g.login("admin", "admin", std::nullopt)));

  auto second = g.bootstrap();
  CHECK(is_auth_failure(second));
  // identical to the token-mode refusal
  auto token_mode = token_regime(iam::make_memory_repository());
  REQUIRE(token_mode.ok());
  auto token_refusal = (*token_mode)->bootstrap();
  REQUIRE_FALSE(token_refusal.ok());
  CHECK(second.error() == token_refusal.error());
  CHECK(second.error().message == "auth failure");
}

TEST_CASE("bootstrap mode: refused once the store has anything in it") {
  iam::testing::TestIamOptions options;
  options.bootstrap = false;
  auto t = make_iam(options);
  REQUIRE(t.regime->create_workspace(std::nullopt, workspace_input("early")).ok());
  CHECK_FALSE(t.regime->bootstrap_available());
  CHECK(is_auth_failure(t.regime->bootstrap()));
}

TEST_CASE("bootstrap mode: seeding is one atomic change") {
  auto inner = iam::make_memory_repository();
  auto repo = std::make_shared<DecoratedRepository>(inner);
  auto c = base_config(repo);
  c.bootstrap_mode = iam::BootstrapMode::bootstrap;
  c.read_environment = false;
  auto r = iam::detail::create_roles_regime_for_testing(std::move(c), 1000);
  REQUIRE(r.ok());
  auto& g = **r;

  repo->fail_when = [](std::span<const iam::Mutation> change) {
    return contains_mutation<iam::mutation::InsertSigningKey>(change);
  };
  CHECK_FALSE(g.bootstrap().ok());
  CHECK(*inner->is_empty());
  CHECK(inner->list_signing_keys()->empty());
  CHECK(g.bootstrap_available());

  repo->fail_when = nullptr;
  repo->applies = 0;
  repo->change_sizes.clear();
  auto ok = g.bootstrap();
  REQUIRE(ok.ok());
  CHECK(repo->applies == 1);  // workspace, user, key and signing key in one change
  check_seeded_store(*inner, g, std::string(ok->admin_api_key.view()));
}

TEST_CASE("bootstrap mode: concurrent bootstraps, exactly one wins") {
  iam::testing::TestIamOptions options;
  options.bootstrap = false;
  auto t = make_iam(options);
  std::atomic<int> wins{0};
  std::atomic<int> masked{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto r = t.regime->bootstrap();
      if (r.ok()) ++wins;
      else if (r.error() == iam::auth_failure()) ++masked;
    });
  for (auto& th : threads) th.join();
  CHECK(wins.load() == 1);
  CHECK(masked.load() == 7);
  auto users = t.repository->list_users(std::nullopt);
  REQUIRE(users.ok());
  CHECK(users->size() == 1);
}
