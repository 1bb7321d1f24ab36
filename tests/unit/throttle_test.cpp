// Login throttling (iam/throttle.h) with a controllable clock, alone and in the roles regime.
#include <doctest/doctest.h>

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
