// Staged and scheduled signing key rotation in the roles regime (protocol.md "Signing key
// rotation"), on the manual clock: the next key is published before it signs, a scheduled
// rotation happens once per interval, and of two processes sharing one store exactly one
// rotates while both sign with and verify the new key after it. Two regimes on one memory
// repository stand in for two processes (tests/postgres and the gateway-rotation-postgres
// integration test do it with real processes and PostgreSQL).
#include <doctest/doctest.h>

#include <chrono>

#include "../support/rotation_race.h"
#include "roles_test_support.h"

using namespace roles_test;
using namespace std::chrono_literals;

namespace {

constexpr auto kInterval = 24h;

std::string kid_of(const std::string& token) { return jwt_header(token)["kid"].get<std::string>(); }

bool jwks_has(iam::RolesRegime& regime, const std::string& kid) {
  const json jwks = json::parse(regime.jwks());
  for (const auto& jwk : jwks["keys"])
    if (jwk["kid"] == kid) return true;
  return false;
}

}  // namespace

TEST_CASE("parse_key_rotation_interval: a whole number and one unit, nothing else") {
  CHECK(iam::parse_key_rotation_interval("30d") == std::chrono::seconds(30 * 86400));
  CHECK(iam::parse_key_rotation_interval("12h") == std::chrono::seconds(12 * 3600));
  CHECK(iam::parse_key_rotation_interval("90m") == std::chrono::seconds(90 * 60));
  CHECK(iam::parse_key_rotation_interval("45s") == std::chrono::seconds(45));
  CHECK(iam::parse_key_rotation_interval("3650d") == std::chrono::seconds(3650LL * 86400));
  for (const char* bad : {"", "d", "30", "0d", "00d", "01d", "-1d", "+1d", "1.5d", "1w", "1 d", " 1d", "1d ", "1D",
                          "1dd", "d1", "3651d", "99999999999999999999999d", "1e3s"})
    CHECK_MESSAGE(!iam::parse_key_rotation_interval(bad).has_value(), bad);
}

TEST_CASE("staged rotation: the next key is in the JWKS before it signs") {
  auto t = make_iam();
  auto& keys = t.regime->key_set();
  const auto first = *keys.active_kid();
  const auto published = keys.next_kid();
  REQUIRE(published.has_value());
  CHECK(*published != first);
  CHECK(jwks_has(*t.regime, *published));
  REQUIRE(t.create_user("alice", kPassword, {"reader"}, "default").ok());
  CHECK(kid_of(key_plaintext(t.login("alice", kPassword))) == first);  // published, not signing

  const auto jwks_before = t.regime->jwks();
  REQUIRE(t.regime->rotate_signing_key(kTrusted).ok());
  const auto token = key_plaintext(t.login("alice", kPassword));
  CHECK(kid_of(token) == *published);
  // A client holding the JWKS from before this rotation has the key that signs now.
  bool cached = false;
  const json cached_jwks = json::parse(jwks_before);
  for (const auto& jwk : cached_jwks["keys"]) cached = cached || jwk["kid"] == kid_of(token);
  CHECK(cached);
  CHECK(jwks_has(*t.regime, *keys.next_kid()));
  CHECK(*keys.next_kid() != *published);
}

TEST_CASE("scheduled rotation: once per interval, never early") {
  auto capture = std::make_shared<CapturingSink>();
  iam::testing::TestIamOptions options;
  options.audit = capture;
  auto t = make_iam(std::move(options));
  auto& keys = t.regime->key_set();
  capture->clear();

  CHECK(code_of(t.regime->rotate_signing_key_if_due(0s)) == iam::ErrorCode::invalid_argument);
  CHECK(code_of(t.regime->rotate_signing_key_if_due(-1s)) == iam::ErrorCode::invalid_argument);

  const auto first = *keys.active_kid();
  const auto published = *keys.next_kid();
  CHECK(t.regime->rotate_signing_key_if_due(kInterval).value() == false);  // the key is new
  t.clock->advance(kInterval - 1s);
  CHECK(t.regime->rotate_signing_key_if_due(kInterval).value() == false);
  CHECK(*keys.active_kid() == first);
  CHECK(capture->named("iam.management").empty());  // nothing happened, nothing audited

  t.clock->advance(1s);
  CHECK(t.regime->rotate_signing_key_if_due(kInterval).value() == true);
  CHECK(*keys.active_kid() == published);
  CHECK(t.regime->rotate_signing_key_if_due(kInterval).value() == false);  // at once again: not due
  const auto events = capture->named("iam.management");
  REQUIRE(events.size() == 1);
  CHECK(*events[0].field("operation") == "rotate-signing-key");
  CHECK(*events[0].field("outcome") == "success");
  CHECK(*events[0].field("actor") == "");

  // Checked every hour for ten intervals: ten rotations, each a whole interval apart.
  int rotations = 0;
  auto last = t.clock->now();
  for (int hour = 1; hour <= 240; ++hour) {
    t.clock->advance(1h);
    if (t.regime->rotate_signing_key_if_due(kInterval).value()) {
      ++rotations;
      CHECK(t.clock->now() - last == kInterval);
      last = t.clock->now();
    }
  }
  CHECK(rotations == 10);
  // Keys past their grace were deleted along the way: retired ones within it, current, next.
  CHECK(t.repository->list_signing_keys()->size() <= 4);
}

TEST_CASE("scheduled rotation: retired keys verify until the grace ends, then not") {
  auto t = make_iam();
  REQUIRE(t.create_user("alice", kPassword, {"reader"}, "default").ok());
  const auto uid = t.repository->find_user_by_username("alice")->record.id;
  const auto t0 = t.clock->now();
  // Outlives any grace, so only the key's retirement can end it.
  const auto long_lived =
      t.regime->key_set().sign(iam::JwtClaims{"trustgraph-iam", uid, "default", t0, t0 + 24h * 30}).value();
  t.clock->advance(kInterval);
  REQUIRE(t.regime->rotate_signing_key_if_due(kInterval).value());
  const auto retired_at = t.clock->now();
  const auto grace = t.regime->key_set().config().effective_grace();
  t.clock->set(retired_at + grace - 1s);
  CHECK(t.regime->authenticate(long_lived).ok());
  t.clock->set(retired_at + grace);
  CHECK(is_auth_failure(t.regime->authenticate(long_lived)));
}

TEST_CASE("scheduled rotation: of two processes on one store exactly one rotates, both sign with the new key") {
  auto t = make_iam();
  auto other = another_process(t);
  auto& here = t.regime->key_set();
  auto& there = other->key_set();
  REQUIRE(here.active_kid() == there.active_kid());
  REQUIRE(here.next_kid() == there.next_kid());
  const auto published = *here.next_kid();

  t.clock->advance(kInterval);
  CHECK(t.regime->rotate_signing_key_if_due(kInterval).value() == true);
  CHECK(*here.active_kid() == published);
  // Before the other process learns of it, it already verifies the new tokens: the key
  // that signs now was its next key.
  const auto fresh = here.sign("u", "default").value();
  CHECK(kid_of(fresh) == published);
  CHECK(there.verify(fresh).ok());
  // Its own attempt, on its stale key set, loses to the store and reloads.
  CHECK(other->rotate_signing_key_if_due(kInterval).value() == false);
  CHECK(*there.active_kid() == published);
  CHECK(there.next_kid() == here.next_kid());
  const auto from_there = there.sign("u", "default").value();
  CHECK(kid_of(from_there) == published);
  CHECK(here.verify(from_there).ok());
  // The store holds one current and one next key.
  const auto stored = t.repository->list_signing_keys();
  REQUIRE(stored.ok());
  const auto states = test_support::count_key_states(*stored);
  CHECK(states.current == 1);
  CHECK(states.next == 1);
}

TEST_CASE("scheduled rotation: two processes racing over many intervals rotate once per interval") {
  auto t = make_iam();
  auto other = another_process(t);
  for (int interval = 1; interval <= 5; ++interval) {
    t.clock->advance(kInterval);
    const auto race = test_support::race_scheduled_rotation(*t.regime, *other, kInterval, 10);
    CHECK(race.rotated == 1);
    CHECK(race.failed == 0);
  }
  CHECK(t.regime->key_set().active_kid() == other->key_set().active_kid());
}

TEST_CASE("a store from before staged rotation gets its next key at the first start") {
  auto store = iam::make_memory_repository();
  auto clock = std::make_shared<iam::ManualClock>();
  iam::SigningKey old = iam::SigningKey::generate(*iam::system_random(), *clock);
  const auto old_kid = old.kid;
  iam::Change change;
  change.emplace_back(iam::mutation::InsertWorkspace{iam::WorkspaceRecord{"default", "Default", true, clock->now()}});
  change.emplace_back(iam::mutation::InsertSigningKey{std::move(old)});
  REQUIRE(store->apply(change).ok());

  iam::testing::TestIam t;
  t.repository = store;
  t.clock = clock;
  auto first = another_process(t);
  auto again = another_process(t);  // a second process starting on it adds nothing more
  CHECK(first->key_set().active_kid() == old_kid);
  REQUIRE(first->key_set().next_kid().has_value());
  CHECK(again->key_set().next_kid() == first->key_set().next_kid());
  CHECK(store->list_signing_keys()->size() == 2);
}

TEST_CASE("scheduled rotation: a store failure is an error, audited, and changes nothing") {
  auto t = make_iam();
  auto decorated = std::make_shared<DecoratedRepository>(t.repository);
  auto on_decorated = t;
  on_decorated.repository = decorated;
  auto capture = std::make_shared<CapturingSink>();
  auto regime = another_process(on_decorated, capture);
  const auto kid = regime->key_set().active_kid();
  decorated->fail_when = contains_mutation<iam::mutation::PromoteNextSigningKey>;

  t.clock->advance(kInterval);
  CHECK(code_of(regime->rotate_signing_key_if_due(kInterval)) == iam::ErrorCode::internal_error);
  CHECK(regime->key_set().active_kid() == kid);
  const auto events = capture->named("iam.management");
  REQUIRE(events.size() == 1);
  CHECK(*events[0].field("operation") == "rotate-signing-key");
  CHECK(*events[0].field("outcome") == "failure");
  CHECK(*events[0].field("error_type") == "internal-error");

  decorated->fail_when = nullptr;  // the store is back: the next check rotates
  CHECK(regime->rotate_signing_key_if_due(kInterval).value() == true);
  CHECK(regime->key_set().active_kid() != kid);
}

TEST_CASE("a process on a store that cannot notify catches up on meeting a token under its next key") {
  // The memory store, like SQLite, tells other processes nothing: only the token shows it.
  auto t = make_iam();
  REQUIRE(t.create_user("alice", kPassword, {"reader"}, "default").ok());
  auto other = another_process(t);
  const auto published = *other->key_set().next_kid();
  REQUIRE(t.regime->rotate_signing_key(kTrusted).ok());
  CHECK(other->key_set().active_kid() != published);  // not told
  t.clock->advance(1s);                                 // (reloads are at most once a second)
  const auto token = key_plaintext(t.login("alice", kPassword));
  REQUIRE(kid_of(token) == published);
  CHECK(other->authenticate(token).ok());
  CHECK(other->key_set().active_kid() == published);
  CHECK(kid_of(other->key_set().sign("u", "default").value()) == published);
}
