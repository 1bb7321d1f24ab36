// Login throttling (iam/throttle.h) with a controllable clock, alone and in the roles regime.
#include <doctest/doctest.h>

#include <malloc.h>

#include <string>

#include "iam/testing.h"
#include "iam/throttle.h"

namespace {

using namespace std::chrono_literals;

struct Fixture {
  std::shared_ptr<iam::ManualClock> clock = std::make_shared<iam::ManualClock>();
  iam::ThrottleConfig config;
  Fixture() {
    config.free_failures = 3;
    config.first_delay = 2s;
    config.max_delay = 16s;
  }
};

}  // namespace

TEST_CASE("free failures pass, then the lock grows by doubling up to the cap") {
  Fixture f;
  iam::Throttle throttle(f.config, f.clock);
  for (int i = 0; i < 3; ++i) {
    CHECK(throttle.allowed("alice"));
    throttle.failed("alice");
  }
  CHECK(throttle.allowed("alice"));  // three failures are free
  throttle.failed("alice");          // the fourth locks for first_delay
  CHECK_FALSE(throttle.allowed("alice"));
  CHECK(throttle.locked_for("alice") == 2s);
  CHECK(throttle.allowed("bob"));  // keys are independent

  f.clock->advance(2s);
  CHECK(throttle.allowed("alice"));
  throttle.failed("alice");
  CHECK(throttle.locked_for("alice") == 4s);
  f.clock->advance(4s);
  throttle.failed("alice");
  CHECK(throttle.locked_for("alice") == 8s);
  f.clock->advance(8s);
  throttle.failed("alice");
  CHECK(throttle.locked_for("alice") == 16s);
  f.clock->advance(16s);
  throttle.failed("alice");
  CHECK(throttle.locked_for("alice") == 16s);  // capped
}

TEST_CASE("never locked forever: the lock ends after the cap, refused attempts do not extend it") {
  Fixture f;
  iam::Throttle throttle(f.config, f.clock);
  for (int i = 0; i < 20; ++i) {
    throttle.failed("alice");
    f.clock->advance(throttle.locked_for("alice"));  // let each lock run out, no longer
  }
  throttle.failed("alice");
  // While locked, callers only ask allowed() (a refused attempt is not a failure).
  for (int i = 0; i < 100; ++i) CHECK_FALSE(throttle.allowed("alice"));
  f.clock->advance(f.config.max_delay);
  CHECK(throttle.allowed("alice"));
}

TEST_CASE("a success resets; a long quiet spell forgives old failures") {
  Fixture f;
  iam::Throttle throttle(f.config, f.clock);
  for (int i = 0; i < 3; ++i) throttle.failed("alice");
  throttle.succeeded("alice");
  throttle.failed("alice");
  CHECK(throttle.allowed("alice"));  // counting started again
  CHECK(throttle.tracked() == 1);
  throttle.succeeded("alice");
  CHECK(throttle.tracked() == 0);

  for (int i = 0; i < 3; ++i) throttle.failed("carol");
  f.clock->advance(f.config.max_delay);  // quiet for a whole cap period
  throttle.failed("carol");
  CHECK(throttle.allowed("carol"));  // one failure, not four
}

TEST_CASE("memory stays bounded: the least recently failed key is dropped first") {
  Fixture f;
  f.config.max_entries = 100;
  iam::Throttle throttle(f.config, f.clock);
  for (int i = 0; i < 4; ++i) throttle.failed("target");
  CHECK_FALSE(throttle.allowed("target"));
  for (int i = 0; i < 1000; ++i) throttle.failed("random-" + std::to_string(i));
  CHECK(throttle.tracked() == 100);
  CHECK(throttle.allowed("target"));  // evicted: the bound wins over the lock
}

TEST_CASE("memory stays bounded in bytes: long keys cost no more than short ones") {
  Fixture f;
  f.config.max_bytes = 8 * 1024;
  iam::Throttle throttle(f.config, f.clock);
  const std::size_t heap_before = mallinfo2().uordblks;
  for (int i = 0; i < 200; ++i) {
    const std::string key = std::to_string(i) + std::string(64 * 1024, 'k');
    for (int n = 0; n < 4; ++n) throttle.failed(key);
  }
  const std::size_t heap_after = mallinfo2().uordblks;
  CHECK(throttle.memory_bytes() <= f.config.max_bytes);
  CHECK(throttle.tracked() >= 1);
  CHECK(throttle.tracked() < 200);  // the byte bound, not max_entries, decided
  // The bound is real: 200 keys of 64 KiB would take 12.5 MiB if the keys were kept.
  CHECK(heap_after < heap_before + f.config.max_bytes + 64 * 1024);
  // The most recent long key is still tracked, and locked.
  CHECK_FALSE(throttle.allowed(std::to_string(199) + std::string(64 * 1024, 'k')));
  CHECK(throttle.allowed(std::to_string(198) + std::string(64 * 1024, 'K')));  // keys still differ by every byte
}

TEST_CASE("disabled: nothing is tracked or refused") {
  Fixture f;
  f.config.enabled = false;
  iam::Throttle throttle(f.config, f.clock);
  for (int i = 0; i < 50; ++i) throttle.failed("alice");
  CHECK(throttle.allowed("alice"));
  CHECK(throttle.tracked() == 0);
}

TEST_CASE("roles regime: repeated wrong passwords throttle the username with the same auth failure") {
  iam::testing::TestIamOptions options;
  options.login_throttle.free_failures = 2;
  options.login_throttle.first_delay = 10s;
  auto t = iam::testing::make_test_iam(options);
  REQUIRE(t.ok());
  REQUIRE(t->create_user("alice", "right-password", {"writer"}).ok());

  const auto wrong = t->regime->login("alice", "wrong-password", std::nullopt);
  REQUIRE_FALSE(wrong.ok());
  CHECK_FALSE(t->regime->login("alice", "wrong-password", std::nullopt).ok());
  CHECK_FALSE(t->regime->login("alice", "wrong-password", std::nullopt).ok());  // third: now locked

  // Locked: even the right password is refused, exactly like any other failure.
  const auto refused = t->regime->login("alice", "right-password", std::nullopt);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == wrong.error().code);
  CHECK(refused.error().message == wrong.error().message);

  // Unknown usernames are throttled the same way (a refusal reveals nothing about existence).
  for (int i = 0; i < 3; ++i) CHECK_FALSE(t->regime->login("nobody", "whatever-1", std::nullopt).ok());
  const auto unknown = t->regime->login("nobody", "whatever-1", std::nullopt);
  CHECK(unknown.error().message == wrong.error().message);

  // Other users are unaffected; after the lock, the right password works and resets it.
  REQUIRE(t->create_user("bob", "bobs-password", {"reader"}).ok());
  CHECK(t->regime->login("bob", "bobs-password", std::nullopt).ok());
  t->clock->advance(10s);
  CHECK(t->regime->login("alice", "right-password", std::nullopt).ok());
  CHECK(t->regime->login("alice", "wrong-password", std::nullopt).error().code == iam::ErrorCode::auth_failed);
  CHECK(t->regime->login("alice", "right-password", std::nullopt).ok());  // one failure after a reset: free
}

TEST_CASE("roles regime: the throttle keys on the username as looked up, whatever its case") {
  iam::testing::TestIamOptions options;
  options.login_throttle.free_failures = 2;
  options.login_throttle.first_delay = 10s;
  auto t = iam::testing::make_test_iam(options);
  REQUIRE(t.ok());
  REQUIRE(t->create_user("wri", "right-password", {"writer"}).ok());
  CHECK(t->regime->login("Wri", "right-password", std::nullopt).ok());  // lookup ignores case

  const auto wrong = t->regime->login("wri", "wrong-password", std::nullopt);
  REQUIRE_FALSE(wrong.ok());
  CHECK_FALSE(t->regime->login("WRI", "wrong-password", std::nullopt).ok());
  CHECK_FALSE(t->regime->login("wRi", "wrong-password", std::nullopt).ok());  // third: locked

  // Every spelling of the name is the same locked account, refused like a wrong password.
  for (const char* spelling : {"wri", "Wri", "WRI", "wrI"}) {
    const auto refused = t->regime->login(spelling, "right-password", std::nullopt);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == wrong.error().code);
    CHECK(refused.error().message == wrong.error().message);
  }
  t->clock->advance(10s);
  CHECK(t->regime->login("WRI", "right-password", std::nullopt).ok());
}

TEST_CASE("roles regime: an over-long username is refused before the throttle stores anything") {
  iam::testing::TestIamOptions options;
  options.login_throttle.free_failures = 2;
  options.login_throttle.first_delay = 10s;
  options.login_throttle.max_entries = 2;  // anything stored for a bad login would evict alice
  auto t = iam::testing::make_test_iam(options);
  REQUIRE(t.ok());
  REQUIRE(t->create_user("alice", "right-password", {"writer"}).ok());
  for (int i = 0; i < 3; ++i) CHECK_FALSE(t->regime->login("alice", "wrong-password", std::nullopt).ok());
  REQUIRE_FALSE(t->regime->login("alice", "right-password", std::nullopt).ok());  // locked

  const auto wrong = t->regime->login("alice", "wrong-password", std::nullopt);
  for (std::size_t size : {257, 300, 4096, 1 << 20}) {
    for (char c : {'a', 'b', 'c'}) {
      const auto refused = t->regime->login(std::string(size, c), "whatever-1", std::nullopt);
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error().message == wrong.error().message);
    }
  }
  // alice's lock survived: nothing for the over-long names took a place in the table.
  CHECK_FALSE(t->regime->login("alice", "right-password", std::nullopt).ok());
  t->clock->advance(10s);
  CHECK(t->regime->login("alice", "right-password", std::nullopt).ok());
}

TEST_CASE("roles regime: change-password is throttled with the account's login budget") {
  iam::testing::TestIamOptions options;
  options.login_throttle.free_failures = 2;
  options.login_throttle.first_delay = 10s;
  auto t = iam::testing::make_test_iam(options);
  REQUIRE(t.ok());
  auto alice = t->create_user("alice", "right-password", {"writer"});
  REQUIRE(alice.ok());
  const iam::Actor actor = alice->id;

  const auto wrong = t->regime->change_password(actor, "", "wrong-password", "new-password-1");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().code == iam::ErrorCode::auth_failed);
  CHECK_FALSE(t->regime->change_password(actor, "", "wrong-password", "new-password-1").ok());
  CHECK_FALSE(t->regime->change_password(actor, "", "wrong-password", "new-password-1").ok());  // third: locked

  // A stolen token guesses no further: the right current password is refused like a wrong one,
  const auto refused = t->regime->change_password(actor, "", "right-password", "new-password-1");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == wrong.error().code);
  CHECK(refused.error().message == wrong.error().message);
  // and the guesses spent the same budget as logins for the account.
  CHECK_FALSE(t->regime->login("Alice", "right-password", std::nullopt).ok());

  t->clock->advance(10s);
  CHECK(t->regime->change_password(actor, "", "right-password", "new-password-1").ok());
  CHECK(t->regime->login("alice", "new-password-1", std::nullopt).ok());

  // Login failures count for change-password too (one budget per account).
  for (int i = 0; i < 3; ++i) CHECK_FALSE(t->regime->login("ALICE", "wrong-password", std::nullopt).ok());
  CHECK_FALSE(t->regime->change_password(actor, "", "new-password-1", "new-password-2").ok());
}
