// The gateway kit's authentication and decision caches: TTL ceilings, expiry, bounds and
// invalidation, with a ManualClock (docs/gateway.md "Authenticating a request" step 4,
// "Then, per request" step 6).
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <thread>

#include "../support/enforcer.h"
#include "crypto/crypto.h"
#include "gateway/caches.h"
#include "gateway_fakes.h"
#include "iam/testing.h"

using namespace gateway_test;
using iam::CredentialSource;
using iam::Invalidation;

namespace {

const std::string key_a = "tg_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const std::string key_b = "tg_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const std::string jwt_a = "header.payload.signature";

iam::Resource ws(const std::string& workspace) { return iam::Resource::workspace(workspace); }

}  // namespace

// ------------------------------------------------------------------ the cache itself

TEST_CASE("ShardedCache: expiry, second-chance eviction and an exact bound") {
  const iam::TimePoint t0{std::chrono::seconds(1000)};
  iam::gateway::ShardedCache<int> cache(2, 1);
  const auto a = iam::gateway::credential_key("a");
  const auto b = iam::gateway::credential_key("b");
  const auto c = iam::gateway::credential_key("c");
  cache.put(a, 1, t0 + 10s, t0, cache.generation());
  cache.put(b, 2, t0 + 10s, t0, cache.generation());
  CHECK(cache.get(a, t0) == 1);  // a is now referenced, b is not
  cache.put(c, 3, t0 + 10s, t0, cache.generation());
  CHECK(cache.size() == 2);
  CHECK_FALSE(cache.get(b, t0).has_value());  // b was not used since it was stored
  CHECK(cache.get(a, t0) == 1);
  CHECK(cache.get(c, t0) == 3);
  CHECK_FALSE(cache.get(a, t0 + 10s).has_value());  // expired at its deadline, and dropped
  CHECK(cache.size() == 1);

  // Already expired, or a generation that moved on: not stored.
  cache.put(a, 1, t0, t0, cache.generation());
  CHECK_FALSE(cache.get(a, t0).has_value());
  const auto seen = cache.generation();
  cache.erase(b);
  cache.put(a, 1, t0 + 10s, t0, seen);
  CHECK_FALSE(cache.get(a, t0).has_value());

  // Capacity is split over the shards so the total never exceeds it.
  iam::gateway::ShardedCache<int> big(10, 4);
  for (int i = 0; i < 1000; ++i)
    big.put(iam::gateway::credential_key(std::to_string(i)), i, t0 + 10s, t0, big.generation());
  CHECK(big.size() <= 10);
  CHECK(big.size() >= 7);  // every shard is used
}

TEST_CASE("ShardedCache: an entry in use survives a flood of new ones") {
  const iam::TimePoint t0{std::chrono::seconds(1000)};
  iam::gateway::ShardedCache<int> cache(4, 1);
  const auto hot = iam::gateway::credential_key("hot");
  cache.put(hot, 7, t0 + 10s, t0, cache.generation());
  for (int i = 0; i < 100; ++i) {
    REQUIRE(cache.get(hot, t0) == 7);
    cache.put(iam::gateway::credential_key("flood" + std::to_string(i)), i, t0 + 10s, t0, cache.generation());
    REQUIRE(cache.size() == std::min<std::size_t>(static_cast<std::size_t>(i) + 2, 4));
  }
  CHECK(cache.get(hot, t0) == 7);
  CHECK(cache.evictions() == 97);
}

TEST_CASE("ShardedCache agrees with a reference map over a long random sequence of operations") {
  // One shard of `capacity` entries. The reference is a plain map; the cache may have
  // evicted an entry only if an eviction happened since that entry was stored, and must
  // otherwise answer exactly as the map does (never a stale, erased or expired value).
  using iam::gateway::ExactKey;
  const iam::TimePoint t0{std::chrono::seconds(1000)};
  constexpr std::size_t capacity = 8;
  iam::gateway::ShardedCache<int, ExactKey, iam::gateway::ExactKeyHash, iam::gateway::ExactKeyEq> cache(capacity, 1);
  struct Entry {
    int value;
    iam::TimePoint expires;
    std::uint64_t evictions_when_stored;
  };
  std::map<std::string, Entry> model;
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<unsigned>(state >> 33);
  };
  iam::TimePoint now = t0;
  for (int step = 0; step < 20000; ++step) {
    const std::string name = "k" + std::to_string(next() % 20);
    const ExactKey key = iam::gateway::workspace_key(name);
    auto found = model.find(name);
    switch (next() % 5) {
      case 0:
      case 1: {  // get
        auto got = cache.get(key, now);
        if (found == model.end() || found->second.expires <= now) {
          REQUIRE_FALSE(got.has_value());
          if (found != model.end()) model.erase(found);
        } else if (!got) {
          REQUIRE(cache.evictions() > found->second.evictions_when_stored);  // only an eviction drops it
          model.erase(found);
        } else {
          REQUIRE(*got == found->second.value);
        }
        break;
      }
      case 2: {  // put
        const int value = static_cast<int>(next() % 1000);
        const iam::TimePoint expires = now + std::chrono::seconds(1 + next() % 30);
        cache.put(key, value, expires, now, cache.generation());
        model.insert_or_assign(name, Entry{value, expires, cache.evictions()});
        break;
      }
      case 3:  // erase, or erase_if on odd values
        if (next() % 2) {
          cache.erase(key);
          if (found != model.end()) model.erase(found);
        } else {
          cache.erase_if([](int v) { return v % 2 == 1; });
          std::erase_if(model, [](const auto& e) { return e.second.value % 2 == 1; });
        }
        break;
      default:
        now += std::chrono::seconds(next() % 3);
    }
    REQUIRE(cache.size() <= capacity);
    REQUIRE(cache.size() <= model.size());
  }
  CHECK(cache.evictions() > 0);  // the sequence did fill the cache
}

TEST_CASE("ShardedCache under concurrent gets, puts, evictions and invalidations") {
  // Four threads over a cache far smaller than their keys: every operation races with
  // evictions in the same shard. Values are key-derived, so a wrong answer shows.
  const iam::TimePoint t0{std::chrono::seconds(1000)};
  iam::gateway::ShardedCache<int> cache(32, 4);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const int k = (i * 7 + t) % 200;
        const auto key = iam::gateway::credential_key(std::to_string(k));
        if (auto got = cache.get(key, t0); got && *got != k) wrong.fetch_add(1);
        cache.put(key, k, t0 + 10s, t0, cache.generation());
        if (i % 97 == 0) cache.erase_if([](int v) { return v % 5 == 0; });
        if (i % 331 == 0) cache.erase(key);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong.load() == 0);
  CHECK(cache.size() <= 32);
  CHECK(cache.hits() + cache.misses() == 4 * 2000);
  CHECK(cache.evictions() > 0);
}

TEST_CASE("cache keys: the credential's SHA-256, and a canonical decision key") {
  const auto key = iam::gateway::credential_key(key_a);
  CHECK(iam::crypto::hex_encode(key) == iam::crypto::sha256_hex(key_a).substr(0, 32));  // a 128-bit prefix
  CHECK(iam::gateway::key_from_hex(iam::crypto::sha256_hex(key_a)) == key);
  CHECK_FALSE(iam::gateway::key_from_hex("abc").has_value());
  CHECK_FALSE(iam::gateway::key_from_hex(std::string(64, 'z')).has_value());
  CHECK_FALSE(iam::gateway::key_from_hex(iam::crypto::sha256_hex(key_a).substr(0, 63) + "z").has_value());
  CHECK_FALSE(iam::gateway::key_from_hex(iam::crypto::sha256_hex(key_a).substr(0, 32)).has_value());

  using iam::gateway::decision_key;
  const iam::Parameters none;
  const iam::Parameters p1{{"workspace", "a"}};
  CHECK(decision_key("u", "c", ws("a"), none) == decision_key("u", "c", ws("a"), none));
  CHECK(decision_key("u", "c", ws("a"), none) != decision_key("u", "c", ws("b"), none));
  CHECK(decision_key("u", "c", ws("a"), none) != decision_key("v", "c", ws("a"), none));
  CHECK(decision_key("u", "c", ws("a"), none) != decision_key("u", "d", ws("a"), none));
  CHECK(decision_key("u", "c", {}, p1) != decision_key("u", "c", ws("a"), none));  // resource vs parameter
  CHECK(decision_key("ab", "c", {}, none) != decision_key("a", "bc", {}, none));   // length-prefixed
  CHECK(decision_key("u", "c", iam::Resource::flow("a", "f"), none) != decision_key("u", "c", ws("a"), none));
}

TEST_CASE("a cached identity gives back exactly the identity stored") {
  const iam::Identity same{"u-1", "default", "u-1", CredentialSource::api_key, std::nullopt};
  const iam::Identity distinct{"h-1", "w", "p-1", CredentialSource::jwt, iam::TimePoint{std::chrono::seconds(5)}};
  const iam::Identity empty_principal{"h-2", "w", "", CredentialSource::anonymous, std::nullopt};
  for (const auto& identity : {same, distinct, empty_principal}) {
    const iam::Identity back = iam::gateway::CachedIdentity::from(identity).to_identity();
    CHECK(back.handle == identity.handle);
    CHECK(back.workspace == identity.workspace);
    CHECK(back.principal_id == identity.principal_id);
    CHECK(back.source == identity.source);
    CHECK(back.expires == identity.expires);
  }
}

TEST_CASE("identity records: one shared record per distinct identity") {
  iam::gateway::IdentityRecords records;
  const iam::Identity alice{"u-1", "default", "u-1", CredentialSource::api_key, std::nullopt};
  auto first = records.intern(alice);
  CHECK(records.intern(alice) == first);  // the same record, not a copy
  CHECK(first->to_identity().handle == "u-1");
  iam::Identity other_workspace = alice;
  other_workspace.workspace = "w";
  iam::Identity expiring = alice;
  expiring.expires = iam::TimePoint{std::chrono::seconds(5)};
  iam::Identity jwt = alice;
  jwt.source = CredentialSource::jwt;
  for (const auto& different : {other_workspace, expiring, jwt}) {
    auto record = records.intern(different);
    CHECK(record != first);
    CHECK(record->to_identity().workspace == different.workspace);
    CHECK(record->to_identity().expires == different.expires);
    CHECK(record->to_identity().source == different.source);
  }
  // A record nobody holds any more is made afresh, also after many others came and went.
  first.reset();
  for (int i = 0; i < 1000; ++i) CHECK(records.intern(iam::Identity{"u-" + std::to_string(i), "w", "", CredentialSource::jwt, std::nullopt}));
  CHECK(records.intern(alice)->to_identity().principal_id == "u-1");
}

// ------------------------------------------------------------------ authentication cache

TEST_CASE("authentication is cached by credential for at most the TTL ceiling") {
  FakeGateway gw([](iam::GatewayConfig& c) { c.authentication_ttl = 30s; });
  gw.regime->credentials.emplace(key_a, identity("alice"));

  REQUIRE(gw.enforcer->authenticate(key_a).ok());
  REQUIRE(gw.enforcer->authenticate(key_a).ok());
  CHECK(gw.regime->authenticate_calls == 1);
  CHECK(gw.enforcer->cached_identities() == 1);

  gw.clock->advance(29s);
  REQUIRE(gw.enforcer->authenticate(key_a).ok());
  CHECK(gw.regime->authenticate_calls == 1);
  gw.clock->advance(1s);  // the ceiling
  REQUIRE(gw.enforcer->authenticate(key_a).ok());
  CHECK(gw.regime->authenticate_calls == 2);
}

TEST_CASE("a cached identity never outlives its expires (a JWT's exp)") {
  FakeGateway gw;
  const auto exp = gw.clock->now() + 10s;
  gw.regime->credentials.emplace(jwt_a, identity("alice", "default", CredentialSource::jwt, exp));
  REQUIRE(gw.enforcer->authenticate(jwt_a).ok());
  gw.clock->advance(9s);
  REQUIRE(gw.enforcer->authenticate(jwt_a).ok());
  CHECK(gw.regime->authenticate_calls == 1);
  gw.clock->advance(1s);  // exp reached: the regime is asked again
  gw.regime->credentials.insert_or_assign(jwt_a, iam::auth_failure());
  CHECK_FALSE(gw.enforcer->authenticate(jwt_a).ok());
  CHECK(gw.regime->authenticate_calls == 2);

  // An identity that is already past expires (the regime's leeway) is answered, not cached.
  gw.regime->credentials.insert_or_assign(jwt_a, identity("alice", "default", CredentialSource::jwt, exp));
  CHECK(gw.enforcer->authenticate(jwt_a).ok());
  CHECK(gw.enforcer->authenticate(jwt_a).ok());
  CHECK(gw.regime->authenticate_calls == 4);
}

// A clock whose coarse time is set apart from its precise time, to show which one the
// caches read.
class SplitClock final : public iam::Clock {
 public:
  iam::TimePoint now() const override { return precise.now(); }
  iam::TimePoint coarse_now() const override { return coarse.now(); }
  iam::ManualClock precise, coarse;
};

TEST_CASE("cache deadlines follow the clock's coarse time, not its precise time") {
  auto clock = std::make_shared<SplitClock>();
  FakeGateway gw([&](iam::GatewayConfig& c) {
    c.clock = clock;
    c.authentication_ttl = 30s;
    c.decision_ttl = 30s;
  });
  gw.regime->credentials.emplace(key_a, identity("alice"));
  REQUIRE(gw.enforcer->authenticate(key_a).ok());
  const auto who = *gw.enforcer->authenticate(key_a);
  REQUIRE(gw.enforcer->authorise(who, "config:read", ws("default"), {}).allow);
  REQUIRE(gw.enforcer->authorise(who, "config:read", ws("default"), {}).allow);
  CHECK(gw.regime->authenticate_calls == 1);
  CHECK(gw.regime->authorise_calls == 1);
  const int decisions_asked = 1;

  clock->precise.advance(1h);  // the precise time alone moves nothing out
  CHECK(gw.enforcer->authenticate(key_a).ok());
  CHECK(gw.enforcer->authorise(who, "config:read", ws("default"), {}).allow);
  CHECK(gw.regime->authenticate_calls == 1);
  CHECK(gw.regime->authorise_calls == decisions_asked);

  clock->coarse.advance(30s);  // the coarse time reaching the deadline expires both
  CHECK(gw.enforcer->authenticate(key_a).ok());
  CHECK(gw.enforcer->authorise(who, "config:read", ws("default"), {}).allow);
  CHECK(gw.regime->authenticate_calls == 2);
  CHECK(gw.regime->authorise_calls == decisions_asked + 1);
}

TEST_CASE("the system clock's coarse time is at most a few milliseconds behind its precise time") {
  const auto clock = iam::system_clock();
  for (int i = 0; i < 1000; ++i) {
    const auto before = clock->now();
    const auto coarse = clock->coarse_now();
    const auto after = clock->now();
    CHECK(coarse <= after);
    CHECK(coarse > before - 100ms);  // one timer tick is 1-10 ms; 100 ms leaves room for a preempted thread
  }
  iam::ManualClock manual;
  CHECK(manual.coarse_now() == manual.now());  // a clock without a coarse time gives its only one
}

TEST_CASE("failures are not cached as identities, and malformed credentials never reach the regime") {
  FakeGateway gw;
  for (int i = 0; i < 3; ++i) CHECK(gw.enforcer->authenticate(key_a).error() == iam::auth_failure());
  CHECK(gw.regime->authenticate_calls == 3);
  CHECK(gw.enforcer->cached_identities() == 0);

  for (const std::string& bad : std::vector<std::string>{"garbage", "a.b", "a.b.c.d", "Basic abc", std::string(20000, 'x') + ".a.b"})
    CHECK(gw.enforcer->authenticate(bad).error() == iam::auth_failure());
  CHECK(gw.regime->authenticate_calls == 3);
  CHECK(gw.regime->anonymous_calls == 0);  // never falls through to anonymous
}

TEST_CASE("an internal error from the regime is not an auth failure and is not cached") {
  FakeGateway gw;
  gw.regime->credentials.emplace(key_a, iam::Error{iam::ErrorCode::internal_error, "storage down"});
  auto r = gw.enforcer->authenticate(key_a);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == iam::ErrorCode::internal_error);
  // Any other error a regime might give is masked as the one auth failure.
  gw.regime->credentials.insert_or_assign(key_a, iam::Error{iam::ErrorCode::not_found, "no such key"});
  CHECK(gw.enforcer->authenticate(key_a).error() == iam::auth_failure());
  CHECK(gw.enforcer->cached_identities() == 0);
}

TEST_CASE("no credential asks authenticate-anonymous every time (not cached)") {
  FakeGateway gw;
  CHECK_FALSE(gw.enforcer->authenticate(std::nullopt).ok());
  gw.regime->anonymous = identity("anonymous", "default", CredentialSource::anonymous);
  CHECK(gw.enforcer->authenticate(std::nullopt)->handle == "anonymous");
  CHECK(gw.enforcer->authenticate(std::string_view{})->handle == "anonymous");  // an empty Bearer
  CHECK(gw.regime->anonymous_calls == 3);
  CHECK(gw.regime->authenticate_calls == 0);
}

TEST_CASE("a flood of random credentials cannot grow the cache past its bound") {
  FakeGateway gw([](iam::GatewayConfig& c) {
    c.authentication_cache_entries = 64;
    c.cache_shards = 4;
  });
  gw.regime->accept_any_api_key = true;
  for (int i = 0; i < 5000; ++i) REQUIRE(gw.enforcer->authenticate("tg_flood_flood_flood_" + std::to_string(i)).ok());
  CHECK(gw.enforcer->cached_identities() <= 64);
  CHECK(gw.enforcer->cached_identities() > 0);

  // Rejected credentials take no room at all.
  gw.regime->accept_any_api_key = false;
  gw.enforcer->clear_caches();
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(gw.enforcer->authenticate("tg_bad_bad_bad_bad_" + std::to_string(i)).ok());
  CHECK(gw.enforcer->cached_identities() == 0);
}

TEST_CASE("least recently used identities go first") {
  FakeGateway gw([](iam::GatewayConfig& c) {
    c.authentication_cache_entries = 2;
    c.cache_shards = 1;
  });
  gw.regime->accept_any_api_key = true;
  REQUIRE(gw.enforcer->authenticate("tg_key_number_1_padded").ok());
  REQUIRE(gw.enforcer->authenticate("tg_key_number_2_padded").ok());
  REQUIRE(gw.enforcer->authenticate("tg_key_number_1_padded").ok());  // hit: tg_1 is now the most recent
  REQUIRE(gw.enforcer->authenticate("tg_key_number_3_padded").ok());  // evicts tg_2
  CHECK(gw.regime->authenticate_calls == 3);
  REQUIRE(gw.enforcer->authenticate("tg_key_number_1_padded").ok());
  CHECK(gw.regime->authenticate_calls == 3);
  REQUIRE(gw.enforcer->authenticate("tg_key_number_2_padded").ok());
  CHECK(gw.regime->authenticate_calls == 4);
}

// ------------------------------------------------------------------ decision cache

TEST_CASE("decisions are cached for the regime's TTL clamped by the ceiling, allows and denies alike") {
  FakeGateway gw([](iam::GatewayConfig& c) { c.decision_ttl = 60s; });
  const auto alice = identity("alice");
  iam::Decision answer = iam::Decision::allowed(5s);
  gw.regime->decide = [&](auto&&...) { return answer; };

  CHECK(gw.enforcer->authorise(alice, "config:read", ws("default"), {}).allow);
  CHECK(gw.enforcer->authorise(alice, "config:read", ws("default"), {}).allow);
  CHECK(gw.regime->authorise_calls == 1);
  gw.clock->advance(5s);  // the regime's TTL
  CHECK(gw.enforcer->authorise(alice, "config:read", ws("default"), {}).allow);
  CHECK(gw.regime->authorise_calls == 2);

  // A long regime TTL is clamped by the gateway's ceiling.
  answer = iam::Decision::denied(3600s);
  CHECK_FALSE(gw.enforcer->authorise(alice, "documents:write", ws("default"), {}).allow);
  gw.clock->advance(59s);
  CHECK_FALSE(gw.enforcer->authorise(alice, "documents:write", ws("default"), {}).allow);  // denies are cached
  CHECK(gw.regime->authorise_calls == 3);
  gw.clock->advance(1s);
  CHECK_FALSE(gw.enforcer->authorise(alice, "documents:write", ws("default"), {}).allow);
  CHECK(gw.regime->authorise_calls == 4);

  // TTL 0 (e.g. a regime error) is never cached.
  answer = iam::Decision::denied(0s);
  CHECK_FALSE(gw.enforcer->authorise(alice, "flows:read", ws("default"), {}).allow);
  CHECK_FALSE(gw.enforcer->authorise(alice, "flows:read", ws("default"), {}).allow);
  CHECK(gw.regime->authorise_calls == 6);

  // Every input is part of the key.
  answer = iam::Decision::allowed(60s);
  (void)gw.enforcer->authorise(alice, "users:read", {}, {{"workspace", "a"}});
  (void)gw.enforcer->authorise(alice, "users:read", {}, {{"workspace", "b"}});
  (void)gw.enforcer->authorise(identity("bob"), "users:read", {}, {{"workspace", "a"}});
  CHECK(gw.regime->authorise_calls == 9);
}

TEST_CASE("the decision cache is bounded") {
  FakeGateway gw([](iam::GatewayConfig& c) {
    c.decision_cache_entries = 32;
    c.cache_shards = 2;
  });
  for (int i = 0; i < 2000; ++i) (void)gw.enforcer->authorise(identity("u"), "c", ws(std::to_string(i)), {});
  CHECK(gw.enforcer->cached_decisions() <= 32);
}

TEST_CASE("zero ceilings disable caching") {
  FakeGateway gw([](iam::GatewayConfig& c) {
    c.authentication_ttl = 0s;
    c.decision_ttl = 0s;
  });
  gw.regime->credentials.emplace(key_a, identity("alice"));
  REQUIRE(gw.enforcer->authenticate(key_a).ok());
  REQUIRE(gw.enforcer->authenticate(key_a).ok());
  (void)gw.enforcer->authorise(identity("alice"), "c", {}, {});
  (void)gw.enforcer->authorise(identity("alice"), "c", {}, {});
  CHECK(gw.regime->authenticate_calls == 2);
  CHECK(gw.regime->authorise_calls == 2);
}

// ------------------------------------------------------------------ invalidation

namespace {
struct Warm {
  FakeGateway gw;
  Warm() {
    gw.regime->credentials.emplace(key_a, identity("alice", "default"));
    gw.regime->credentials.emplace(key_b, identity("bob", "acme"));
    gw.regime->credentials.emplace(jwt_a, identity("alice", "default", CredentialSource::jwt, gw.clock->now() + 1h));
    for (const auto& c : {key_a, key_b, jwt_a}) REQUIRE(gw.enforcer->authenticate(c).ok());
    (void)gw.enforcer->authorise(identity("alice"), "config:read", ws("default"), {});
    (void)gw.enforcer->authorise(identity("bob", "acme"), "config:read", ws("acme"), {});
    REQUIRE(gw.enforcer->cached_identities() == 3);
    REQUIRE(gw.enforcer->cached_decisions() == 2);
  }
};
}  // namespace

TEST_CASE("invalidation: api_key drops exactly that key's identity") {
  Warm w;
  w.gw.regime->fire(Invalidation::Kind::api_key, iam::crypto::sha256_hex(key_a));
  CHECK(w.gw.enforcer->cached_identities() == 2);
  CHECK(w.gw.enforcer->cached_decisions() == 2);
  (void)w.gw.enforcer->authenticate(key_a);
  CHECK(w.gw.regime->authenticate_calls == 4);
}

TEST_CASE("invalidation: user drops that user's identities (keys and JWTs) and decisions") {
  Warm w;
  w.gw.regime->fire(Invalidation::Kind::user, "alice");
  CHECK(w.gw.enforcer->cached_identities() == 1);
  CHECK(w.gw.enforcer->cached_decisions() == 1);
  (void)w.gw.enforcer->authenticate(key_b);
  CHECK(w.gw.regime->authenticate_calls == 3);  // bob is still cached
}

TEST_CASE("invalidation: workspace and everything drop all identities and decisions") {
  SUBCASE("workspace") {
    Warm w;
    w.gw.regime->fire(Invalidation::Kind::workspace, "acme");
    CHECK(w.gw.enforcer->cached_identities() == 0);
    CHECK(w.gw.enforcer->cached_decisions() == 0);
  }
  SUBCASE("everything") {
    Warm w;
    w.gw.regime->fire(Invalidation::Kind::everything);
    CHECK(w.gw.enforcer->cached_identities() == 0);
    CHECK(w.gw.enforcer->cached_decisions() == 0);
  }
  SUBCASE("an api_key id that is not a SHA-256 drops every identity (fail safe)") {
    Warm w;
    w.gw.regime->fire(Invalidation::Kind::api_key, "not-a-hash");
    CHECK(w.gw.enforcer->cached_identities() == 0);
  }
}

TEST_CASE("invalidation: signing_keys drops JWT identities only") {
  Warm w;
  w.gw.regime->fire(Invalidation::Kind::signing_keys);
  CHECK(w.gw.enforcer->cached_identities() == 2);
  CHECK(w.gw.enforcer->cached_decisions() == 2);
}

TEST_CASE("an answer the regime gave before an invalidation is not cached after it") {
  FakeGateway gw;
  gw.regime->credentials.emplace(key_a, identity("alice"));
  // The change lands while the regime is still answering the old way.
  gw.regime->during_authenticate = [&] { gw.regime->fire(Invalidation::Kind::user, "alice"); };
  REQUIRE(gw.enforcer->authenticate(key_a).ok());
  CHECK(gw.enforcer->cached_identities() == 0);
}

TEST_CASE("a regime that outlives its enforcer keeps working") {
  auto regime = std::make_shared<FakeRegime>();
  {
    iam::GatewayConfig config;
    config.regime = regime;
    config.logger = iam::null_logger();
    auto enforcer = iam::make_enforcer(std::move(config));
    REQUIRE(enforcer.ok());
  }
  regime->fire(Invalidation::Kind::everything);  // the listener finds nothing to drop
  CHECK(regime->listeners.size() == 1);
}

TEST_CASE("many threads share the caches safely") {
  FakeGateway gw([](iam::GatewayConfig& c) { c.authentication_cache_entries = 50; });
  gw.regime->accept_any_api_key = true;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string key = "tg_concurrent_key_k" + std::to_string((i * 7 + t) % 100);
        auto r = gw.enforcer->authenticate(key);
        if (!r || r->handle != key) {
          ++failures;
          continue;
        }
        if (!gw.enforcer->authorise(*r, "c", ws("default"), {}).allow) ++failures;
        if (i % 97 == 0) gw.regime->fire(Invalidation::Kind::user, key);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(gw.enforcer->cached_identities() <= 50);
}

// ------------------------------------------------------------------ with the roles regime

TEST_CASE("roles regime: a revoked key, a disabled user and a role change take effect at once") {
  auto t = iam::testing::make_test_iam();
  REQUIRE(t.ok());
  auto alice = t->create_user("alice", "changeme1", {"writer"});
  REQUIRE(alice.ok());
  auto key = t->create_api_key(alice->id);
  REQUIRE(key.ok());
  auto jwt = t->login("alice", "changeme1");
  REQUIRE(jwt.ok());

  const auto shared_enforcer = test_support::enforcer_for(*t);
  auto& enforcer = *shared_enforcer;

  REQUIRE(enforcer.authenticate(*key).ok());
  REQUIRE(enforcer.authenticate(*jwt).ok());
  CHECK(enforcer.authorise(*enforcer.authenticate(*key), "documents:write", ws("default"), {}).allow);
  CHECK(enforcer.cached_identities() == 2);

  SUBCASE("role change") {
    iam::UserInput change;
    change.roles = std::vector<std::string>{"reader"};
    REQUIRE(t->regime->update_user(std::nullopt, alice->id, change, std::nullopt).ok());
    CHECK_FALSE(enforcer.authorise(*enforcer.authenticate(*key), "documents:write", ws("default"), {}).allow);
  }
  SUBCASE("revoke") {
    auto keys = t->regime->list_api_keys(std::nullopt, alice->id, std::nullopt);
    REQUIRE(keys.ok());
    REQUIRE(t->regime->revoke_api_key(std::nullopt, keys->front().id, std::nullopt).ok());
    CHECK(enforcer.authenticate(*key).error() == iam::auth_failure());
    CHECK(enforcer.authenticate(*jwt).ok());  // the JWT is another credential
  }
  SUBCASE("disable") {
    REQUIRE(t->regime->disable_user(std::nullopt, alice->id, std::nullopt).ok());
    CHECK(enforcer.authenticate(*key).error() == iam::auth_failure());
    CHECK(enforcer.authenticate(*jwt).error() == iam::auth_failure());
  }
}
