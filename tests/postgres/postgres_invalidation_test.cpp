// The PostgreSQL store's cross-process invalidation (NOTIFY / LISTEN), and two roles
// regimes with their gateways sharing one database end to end.
#include "tests/postgres/store_test_support.h"
#include "tests/support/rotation_race.h"

using namespace pgstore;

// =====================================================================================
// Cross-process invalidation (NOTIFY / LISTEN)
// =====================================================================================

namespace {

using Kind = iam::Invalidation::Kind;
using namespace std::chrono_literals;

// What a repository's change listener received. Must outlive the repository.
class Received {
 public:
  iam::InvalidationListener listener() {
    return [this](const iam::Invalidation& what) {
      {
        const std::lock_guard lock(mutex_);
        seen_.push_back(what);
      }
      changed_.notify_all();
    };
  }
  // Waits until pred(received so far) holds, at most `limit`.
  template <class P>
  bool wait_until(std::chrono::milliseconds limit, P pred) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return pred(seen_); });
  }
  bool wait_for_count(std::chrono::milliseconds limit, std::size_t n) {
    return wait_until(limit, [&](const auto& seen) { return seen.size() >= n; });
  }
  std::vector<iam::Invalidation> snapshot() {
    const std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<iam::Invalidation> seen_;
};

std::size_t count_everything(const std::vector<iam::Invalidation>& seen) {
  std::size_t n = 0;
  for (const auto& s : seen) n += s.kind == Kind::everything;
  return n;
}

long long ms(Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

std::shared_ptr<iam::RolesRegime> roles_on(std::shared_ptr<iam::Repository> repository,
                                           std::shared_ptr<iam::Clock> clock = nullptr) {
  iam::RolesConfig config;
  config.repository = std::move(repository);
  config.clock = std::move(clock);
  config.bootstrap_mode = iam::BootstrapMode::bootstrap;
  config.read_environment = false;
  config.logger = iam::null_logger();
  auto regime = iam::make_roles_regime(std::move(config));
  if (!regime.ok()) FAIL("make_roles_regime: " << regime.error().message);
  return *regime;
}

}  // namespace

TEST_CASE("postgres: a published invalidation reaches the other repositories within a second, not the publisher") {
  pgtest::TempDatabase db;
  Received at_a;
  Received at_b;
  auto a = open_ok(db);
  auto b = open_ok(db);  // a second pool, as another process would have
  a->add_change_listener(at_a.listener());
  b->add_change_listener(at_b.listener());

  const std::vector<iam::Invalidation> sent = {{Kind::user, "u-1"},
                                               {Kind::api_key, std::string(64, 'a')},
                                               {Kind::workspace, "acme west"},  // ids may hold spaces
                                               {Kind::signing_keys, ""},
                                               {Kind::everything, ""}};
  for (std::size_t i = 0; i < sent.size(); ++i) {
    const auto started = Clock::now();
    a->publish(sent[i]);
    REQUIRE(at_b.wait_for_count(1000ms, i + 1));
    const auto latency = Clock::now() - started;
    MESSAGE("notification " << i << " reached the other repository in " << ms(latency) << " ms");
    CHECK(latency < 1s);
    const auto got = at_b.snapshot().at(i);
    CHECK(got.kind == sent[i].kind);
    CHECK(got.id == sent[i].id);
  }
  // And the other way round.
  b->publish({Kind::user, "u-2"});
  REQUIRE(at_a.wait_for_count(1000ms, 1));
  CHECK(at_a.snapshot().at(0).id == "u-2");

  // A payload of another writer on the channel is taken as "everything".
  CHECK(pgtest::exec(db.name(), "SELECT pg_notify('iam_invalidation', 'garbage')").empty());
  REQUIRE(at_b.wait_for_count(1000ms, sent.size() + 1));
  CHECK(at_b.snapshot().back().kind == Kind::everything);

  std::this_thread::sleep_for(300ms);
  CHECK(at_a.snapshot().size() == 2);  // u-2 and garbage: never its own
  CHECK(at_b.snapshot().size() == sent.size() + 1);  // never its own u-2
}

TEST_CASE("postgres: listening connection lost: listeners get everything; after a restart notifications flow again") {
  pgtest::TempDatabase db;
  ServerBack server;
  Received at_b;
  auto a = open_ok(db);
  auto b = open_ok(db);
  b->add_change_listener(at_b.listener());
  a->publish({Kind::user, "u-1"});
  REQUIRE(at_b.wait_for_count(1000ms, 1));

  REQUIRE(server.stop());
  CHECK(at_b.wait_until(5000ms, [](const auto& seen) { return count_everything(seen) >= 1; }));
  const auto started = Clock::now();
  a->publish({Kind::user, "u-lost"});  // dropped, without an exception or a long wait
  CHECK(Clock::now() - started < 5s);

  REQUIRE(server.start());
  const auto restarted = Clock::now();
  // Listening again: "everything" once more, since what was sent meanwhile is unknown.
  REQUIRE(at_b.wait_until(10000ms, [](const auto& seen) { return count_everything(seen) >= 2; }));
  MESSAGE("listening again " << ms(Clock::now() - restarted) << " ms after the server was back");
  const auto count = at_b.snapshot().size();
  const auto sent = Clock::now();
  a->publish({Kind::api_key, "after-restart"});  // A's pooled connections are dead: renewed
  REQUIRE(at_b.wait_for_count(3000ms, count + 1));
  MESSAGE("first notification after the restart arrived in " << ms(Clock::now() - sent) << " ms");
  CHECK(at_b.snapshot().back().id == "after-restart");
  for (const auto& s : at_b.snapshot()) CHECK(s.id != "u-lost");
}

TEST_CASE("postgres: destroying a repository stops its listener promptly; no callback afterwards") {
  pgtest::TempDatabase db;
  ServerBack server;
  Received at_b;
  Received at_c;
  auto a = open_ok(db);
  auto b = open_ok(db);
  b->add_change_listener(at_b.listener());
  a->publish({Kind::user, "u-1"});
  REQUIRE(at_b.wait_for_count(1000ms, 1));

  auto started = Clock::now();
  b.reset();
  auto took = Clock::now() - started;
  MESSAGE("repository with a listening thread destroyed in " << ms(took) << " ms");
  CHECK(took < 500ms);
  a->publish({Kind::user, "u-2"});
  std::this_thread::sleep_for(300ms);
  CHECK(at_b.snapshot().size() == 1);

  // Also while the server is gone (the thread waiting to reconnect).
  auto c = open_ok(db);
  c->add_change_listener(at_c.listener());
  REQUIRE(server.stop());
  REQUIRE(at_c.wait_until(5000ms, [](const auto& seen) { return count_everything(seen) >= 1; }));
  std::this_thread::sleep_for(500ms);  // into the backoff
  started = Clock::now();
  c.reset();
  took = Clock::now() - started;
  MESSAGE("repository with a reconnecting thread destroyed in " << ms(took) << " ms");
  CHECK(took < 500ms);
  const auto count = at_c.snapshot().size();
  REQUIRE(server.start());
  std::this_thread::sleep_for(300ms);
  CHECK(at_c.snapshot().size() == count);
}

TEST_CASE("postgres: end to end: a key revoked and a key rotated through one regime take effect at another's gateway") {
  pgtest::TempDatabase db;
  auto regime_a = roles_on(open_ok(db));
  auto admin = regime_a->bootstrap();
  REQUIRE(admin.ok());
  auto regime_b = roles_on(open_ok(db));  // "another process" on the same database

  iam::GatewayConfig config;
  config.regime = regime_b;
  config.authentication_ttl = 60s;
  config.logger = iam::null_logger();
  auto created = iam::make_enforcer(std::move(config));
  REQUIRE(created.ok());
  const auto enforcer = std::move(*created);

  iam::KeyInput input;
  input.user_id = admin->admin_user_id;
  input.name = "laptop";
  auto key = regime_a->create_api_key(std::nullopt, input, std::nullopt);
  REQUIRE(key.ok());
  const std::string plaintext(key->plaintext.view());
  REQUIRE(enforcer->authenticate(plaintext).ok());
  REQUIRE(enforcer->cached_identities() == 1);  // now cached for 60 s

  REQUIRE(regime_a->revoke_api_key(std::nullopt, key->record.id, std::nullopt).ok());
  auto started = Clock::now();
  bool refused = false;
  while (Clock::now() - started < 1s) {
    if (!enforcer->authenticate(plaintext).ok()) {
      refused = true;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  MESSAGE("revoked key refused by the other gateway after " << ms(Clock::now() - started) << " ms");
  CHECK(refused);

  const auto old_kid = regime_b->key_set().active_kid();
  REQUIRE(regime_a->rotate_signing_key(std::nullopt).ok());
  const auto new_kid = regime_a->key_set().active_kid();
  REQUIRE(new_kid.has_value());
  CHECK(new_kid != old_kid);
  started = Clock::now();
  bool rotated = false;
  while (Clock::now() - started < 1s) {
    if (regime_b->key_set().active_kid() == new_kid) {
      rotated = true;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  MESSAGE("rotation seen by the other regime after " << ms(Clock::now() - started) << " ms");
  CHECK(rotated);
}

TEST_CASE("postgres: end to end: change-password and disable-user through one regime end the user's JWTs at another's gateway") {
  pgtest::TempDatabase db;
  auto regime_a = roles_on(open_ok(db));
  auto admin = regime_a->bootstrap();
  REQUIRE(admin.ok());
  auto regime_b = roles_on(open_ok(db));  // "another process" on the same database
  iam::GatewayConfig config;
  config.regime = regime_b;
  config.authentication_ttl = 60s;
  config.logger = iam::null_logger();
  auto created = iam::make_enforcer(std::move(config));
  REQUIRE(created.ok());
  const auto enforcer = std::move(*created);

  iam::UserInput input;
  input.username = "alice";
  input.password = iam::SecretString(std::string_view("correct horse battery"));
  auto alice = regime_a->create_user(admin->admin_user_id, "default", input);
  REQUIRE(alice.ok());
  auto login = [&](std::string_view password) {
    auto r = regime_a->login("alice", password, std::nullopt);
    REQUIRE(r.ok());
    return std::string(r->jwt.view());
  };
  // Refused by the other gateway within a second (the NOTIFY path), or never.
  auto refused_within_a_second = [&](const std::string& jwt) {
    const auto started = Clock::now();
    while (Clock::now() - started < 1s) {
      if (!enforcer->authenticate(jwt).ok()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  };

  const auto first = login("correct horse battery");
  REQUIRE(enforcer->authenticate(first).ok());  // cached for 60 s
  REQUIRE(regime_a->change_password(alice->id, alice->id, "correct horse battery", "a brand new passphrase").ok());
  CHECK(refused_within_a_second(first));
  const auto second = login("a brand new passphrase");
  CHECK(enforcer->authenticate(second).ok());

  REQUIRE(regime_a->disable_user(admin->admin_user_id, alice->id, std::nullopt).ok());
  CHECK(refused_within_a_second(second));
  REQUIRE(regime_a->enable_user(admin->admin_user_id, alice->id, std::nullopt).ok());
  CHECK_FALSE(enforcer->authenticate(second).ok());  // stays dead after enable-user
  CHECK(enforcer->authenticate(login("a brand new passphrase")).ok());
}


TEST_CASE("postgres: scheduled rotation: regimes on separate connections racing rotate once per interval") {
  pgtest::TempDatabase db;
  auto clock = std::make_shared<iam::ManualClock>();
  auto regime_a = roles_on(open_ok(db), clock);
  REQUIRE(regime_a->bootstrap().ok());
  auto regime_b = roles_on(open_ok(db), clock);  // "another process" on the same database
  constexpr auto interval = 24h;
  for (int round = 1; round <= 3; ++round) {
    const auto published = regime_a->key_set().next_kid();
    REQUIRE(published.has_value());
    clock->advance(interval);
    const auto race = test_support::race_scheduled_rotation(*regime_a, *regime_b, interval, 5);
    CHECK(race.rotated == 1);
    CHECK(race.failed == 0);
    // Both now sign with the key published before the rotation (the one that did not
    // rotate learnt of it by losing, or by NOTIFY), and accept each other's tokens.
    const auto started = Clock::now();
    while (regime_b->key_set().active_kid() != published && Clock::now() - started < 2s)
      std::this_thread::sleep_for(20ms);
    CHECK(regime_a->key_set().active_kid() == published);
    CHECK(regime_b->key_set().active_kid() == published);
    const auto from_a = regime_a->key_set().sign("u", "default");
    const auto from_b = regime_b->key_set().sign("u", "default");
    REQUIRE(from_a.ok());
    REQUIRE(from_b.ok());
    CHECK(regime_b->key_set().verify(*from_a).ok());
    CHECK(regime_a->key_set().verify(*from_b).ok());
  }
  const auto stored = open_ok(db)->list_signing_keys();
  REQUIRE(stored.ok());
  const auto states = test_support::count_key_states(*stored);
  CHECK(states.current == 1);
  CHECK(states.next == 1);
  // the key retired by the last rotation (within its grace; the earlier ones were past
  // theirs and deleted), the current and the next key
  CHECK(stored->size() == 3);
}
