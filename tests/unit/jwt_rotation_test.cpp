// The EdDSA JWT key set (docs/protocol.md "JWT"), part three: rotation with its grace period,
// loading key sets, key export (JWKS, PEM), verification during rotation on other
// threads, and the RFC 8037 appendix A.4 example.
#include <atomic>
#include <memory>
#include <thread>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "jwt_test_support.h"
#include "../support/data_files.h"

using namespace jwt_test;

// ------------------------------------------------------------------ rotation

TEST_CASE("rotation: new tokens carry the new kid, old tokens verify during the grace") {
  Fixture f;
  const auto before = f.keys->sign("user-1", "ws-a");
  REQUIRE(before.ok());
  CHECK(f.keys->active_kid() == "k1");

  f.clock->advance(10min);
  auto k2 = make_key("k2", 2, f.clock->now());
  REQUIRE(f.rotate_to(k2.copy()).ok());
  CHECK(f.keys->active_kid() == "k2");

  const auto after = f.keys->sign("user-2", "ws-b");
  REQUIRE(after.ok());
  CHECK(json::parse(decode_text(split(*after)[0]))["kid"] == "k2");
  CHECK(crypto::ed25519_verify(crypto::as_bytes(split(*after)[0] + '.' + split(*after)[1]),
                               *crypto::base64url_decode(split(*after)[2]), k2.public_key));
  CHECK(f.verify(*before).ok());
  CHECK(f.verify(*after).ok());

  // The pre-rotation token lives its full life (plus leeway), not cut short by rotation.
  f.clock->set(iam::from_unix_seconds(start_s + 3600 + 59));
  CHECK(f.verify(*before).ok());
  f.clock->advance(1s);
  CHECK(rejected(f.verify(*before)));
  CHECK(f.verify(*after).ok());
}

// The kid → public key map of a JWKS document, as a client caches it.
std::map<std::string, iam::PublicKey> cached_jwks(const std::string& document) {
  std::map<std::string, iam::PublicKey> keys;
  const json parsed = json::parse(document);
  for (const auto& jwk : parsed["keys"])
    keys[jwk["kid"].get<std::string>()] = iam::public_key_from_jwk(jwk.dump()).value();
  return keys;
}

// Verifies `token`'s signature as a client holding only `cache` would: by its kid.
bool client_verifies(const std::map<std::string, iam::PublicKey>& cache, const std::string& token) {
  const auto parts = split(token);
  const auto kid = json::parse(decode_text(parts[0]))["kid"].get<std::string>();
  const auto key = cache.find(kid);
  return key != cache.end() && crypto::ed25519_verify(crypto::as_bytes(parts[0] + '.' + parts[1]),
                                                      *crypto::base64url_decode(parts[2]), key->second);
}

TEST_CASE("staged rotation: the next key is published before it signs") {
  Fixture f;
  auto k2 = make_key("k2", 2, f.clock->now());
  REQUIRE(f.keys->publish_next(k2.copy()).ok());
  CHECK(f.keys->next_kid() == "k2");
  CHECK(cached_jwks(f.keys->jwks()).count("k2") == 1);
  // Published, not signing: every token is still k1's.
  for (int i = 0; i < 3; ++i) {
    const auto t = f.keys->sign("u", "w");
    REQUIRE(t.ok());
    CHECK(json::parse(decode_text(split(*t)[0]))["kid"] == "k1");
  }
  // A token under the next key verifies already (a process that has not yet reloaded after
  // another process's rotation still accepts that process's new tokens).
  CHECK(f.verify(sign_input(k2.secret_key, b64(f.header("k2").dump()) + '.' + b64(f.claims().dump()))).ok());

  f.clock->advance(1h);
  REQUIRE(f.keys->rotate(make_key("k3", 3, f.clock->now())).ok());
  CHECK(f.keys->active_kid() == "k2");
  CHECK(f.keys->active_since() == f.clock->now());
  CHECK(f.keys->next_kid() == "k3");
  const auto after = f.keys->sign("u", "w");
  REQUIRE(after.ok());
  CHECK(json::parse(decode_text(split(*after)[0]))["kid"] == "k2");
}

TEST_CASE("staged rotation: a JWKS cached after rotation N verifies every token signed after rotation N+1") {
  Fixture f;
  REQUIRE(f.rotate_to(make_key("k2", 2, f.clock->now())).ok());  // rotation N
  f.clock->advance(10min);
  const auto cache = cached_jwks(f.keys->jwks());  // a client fetches now, and never again
  const auto before = f.keys->sign("u", "w");
  REQUIRE(before.ok());
  CHECK(client_verifies(cache, *before));

  f.clock->advance(1h);
  REQUIRE(f.keys->rotate(make_key("k3", 3, f.clock->now())).ok());  // rotation N+1
  for (int i = 0; i < 3; ++i) {
    f.clock->advance(5min);
    const auto t = f.keys->sign("u", "w");
    REQUIRE(t.ok());
    CHECK(json::parse(decode_text(split(*t)[0]))["kid"] == "k2-next");
    CHECK(client_verifies(cache, *t));
    CHECK(f.verify(*t).ok());
  }
  // The guarantee reaches one rotation: after N+2 the client must have fetched again.
  REQUIRE(f.keys->rotate(make_key("k4", 4, f.clock->now())).ok());
  const auto later = f.keys->sign("u", "w");
  REQUIRE(later.ok());
  CHECK_FALSE(client_verifies(cache, *later));
  CHECK(client_verifies(cached_jwks(f.keys->jwks()), *later));
}

TEST_CASE("rotation: the grace period") {
  // Each old token outlives any grace, so only the grace period can end it.
  const auto long_token = [](const Fixture& f) {
    json c = f.claims();
    c["exp"] = f.now_s() + 30 * 24 * 3600;
    return f.craft_claims(c);
  };
  const auto check_grace = [&](Fixture& f, std::chrono::seconds expected) {
    CHECK(f.config.effective_grace() == expected);
    const std::string old_token = long_token(f);
    f.clock->advance(5min);
    REQUIRE(f.rotate_to(make_key("k2", 2, f.clock->now())).ok());  // retired = now
    const iam::TimePoint retired = f.clock->now();
    f.clock->set(retired + expected - 1s);
    CHECK(f.verify(old_token).ok());
    CHECK(json::parse(f.keys->jwks())["keys"].size() == 3);  // retired, current, next
    f.clock->set(retired + expected);
    CHECK(rejected(f.verify(old_token)));
    CHECK(json::parse(f.keys->jwks())["keys"].size() == 2);
    f.clock->advance(365 * 24h);
    CHECK(rejected(f.verify(old_token)));
  };
  SUBCASE("default: lifetime + leeway") {
    Fixture f;
    check_grace(f, 3660s);
  }
  SUBCASE("a configured grace below lifetime + leeway is raised to it") {
    iam::JwtConfig cfg;
    cfg.grace = 10s;
    Fixture f(cfg);
    check_grace(f, 3660s);
  }
  SUBCASE("the minimum follows a configured lifetime and leeway") {
    iam::JwtConfig cfg;
    cfg.lifetime = 900s;
    cfg.leeway = 30s;
    cfg.grace = 100s;
    Fixture f(cfg);
    check_grace(f, 930s);
  }
  SUBCASE("a larger configured grace is honoured") {
    iam::JwtConfig cfg;
    cfg.grace = 48h;
    Fixture f(cfg);
    check_grace(f, 48h);
  }
}

TEST_CASE("rotation: a retired key never signs again") {
  Fixture f;
  REQUIRE(f.rotate_to(make_key("k2", 2, f.clock->now())).ok());
  for (int i = 0; i < 3; ++i) {
    const auto t = f.keys->sign("u", "w");
    REQUIRE(t.ok());
    CHECK(json::parse(decode_text(split(*t)[0]))["kid"] == "k2");
  }
  SUBCASE("a set holding only a retired key cannot sign, even if it was given the private half") {
    iam::SigningKey retired = f.k1.copy();
    REQUIRE_FALSE(retired.secret_key.empty());
    retired.retired = f.clock->now();
    std::vector<iam::SigningKey> set;
    set.push_back(std::move(retired));
    REQUIRE(f.keys->load(std::move(set)).ok());
    const auto t = f.keys->sign("u", "w");
    REQUIRE_FALSE(t.ok());
    CHECK(code_of(t) == iam::ErrorCode::not_found);
    CHECK_FALSE(f.keys->active_kid().has_value());
    CHECK(code_of(f.keys->active_public_pem()) == iam::ErrorCode::not_found);
    // It still verifies what it signed before retirement.
    CHECK(f.verify(f.craft_claims(f.claims())).ok());
  }
}

TEST_CASE("rotation and load refuse malformed key sets") {
  Fixture f;
  SUBCASE("rotate without a published next key: nothing unpublished ever signs") {
    CHECK(code_of(f.keys->rotate(make_key("k2", 2, f.clock->now()))) == iam::ErrorCode::not_found);
    CHECK(f.keys->active_kid() == "k1");
    CHECK_FALSE(f.keys->next_kid().has_value());
  }
  SUBCASE("publish or rotate in a key whose kid is already in the set") {
    CHECK(code_of(f.keys->publish_next(make_key("k1", 5, f.clock->now()))) == iam::ErrorCode::duplicate);
    REQUIRE(f.keys->publish_next(make_key("k2", 2, f.clock->now())).ok());
    CHECK(code_of(f.keys->rotate(make_key("k1", 5, f.clock->now()))) == iam::ErrorCode::duplicate);
    CHECK(code_of(f.keys->rotate(make_key("k2", 6, f.clock->now()))) == iam::ErrorCode::duplicate);
    CHECK(f.keys->active_kid() == "k1");
    CHECK(f.keys->next_kid() == "k2");
  }
  SUBCASE("publish a second next key") {
    REQUIRE(f.keys->publish_next(make_key("k2", 2, f.clock->now())).ok());
    CHECK(code_of(f.keys->publish_next(make_key("k3", 3, f.clock->now()))) == iam::ErrorCode::duplicate);
    CHECK(f.keys->next_kid() == "k2");
  }
  SUBCASE("publish or rotate in a key without a private half") {
    auto k = make_key("k3", 3, f.clock->now());
    k.secret_key.clear();
    CHECK(code_of(f.keys->publish_next(k.copy())) == iam::ErrorCode::invalid_argument);
    REQUIRE(f.keys->publish_next(make_key("k2", 2, f.clock->now())).ok());
    CHECK(code_of(f.keys->rotate(std::move(k))) == iam::ErrorCode::invalid_argument);
    CHECK(f.keys->active_kid() == "k1");
  }
  SUBCASE("load two next keys") {
    std::vector<iam::SigningKey> set;
    set.push_back(make_key("a", 1, f.clock->now()));
    set.push_back(make_key("b", 2, f.clock->now()));
    set.push_back(make_key("c", 3, f.clock->now()));
    set[1].activated.reset();
    set[2].activated.reset();
    CHECK(code_of(f.keys->load(std::move(set))) == iam::ErrorCode::invalid_argument);
    CHECK(f.keys->active_kid() == "k1");
  }
  SUBCASE("load a next key without its private half") {
    std::vector<iam::SigningKey> set;
    set.push_back(make_key("a", 1, f.clock->now()));
    set.push_back(make_key("b", 2, f.clock->now()));
    set[1].activated.reset();
    set[1].secret_key.clear();
    CHECK(code_of(f.keys->load(std::move(set))) == iam::ErrorCode::invalid_argument);
    CHECK(f.keys->active_kid() == "k1");
  }
  SUBCASE("load two active keys") {
    std::vector<iam::SigningKey> set;
    set.push_back(make_key("a", 1, f.clock->now()));
    set.push_back(make_key("b", 2, f.clock->now()));
    CHECK(code_of(f.keys->load(std::move(set))) == iam::ErrorCode::invalid_argument);
    CHECK(f.keys->active_kid() == "k1");
  }
  SUBCASE("load two keys sharing a kid") {
    // Verification looks a key up by kid; two keys under one kid would make the answer
    // depend on their order (a retired twin could shadow the active key).
    std::vector<iam::SigningKey> set;
    set.push_back(make_key("twin", 1, f.clock->now()));
    set.back().retired = f.clock->now() - 48h;  // long past its grace
    set.push_back(make_key("twin", 2, f.clock->now()));
    CHECK(code_of(f.keys->load(std::move(set))) == iam::ErrorCode::invalid_argument);
    CHECK(f.keys->active_kid() == "k1");
  }
  SUBCASE("load an active key without its private half") {
    std::vector<iam::SigningKey> set;
    set.push_back(make_key("a", 1, f.clock->now()));
    set.back().secret_key.clear();
    CHECK(code_of(f.keys->load(std::move(set))) == iam::ErrorCode::invalid_argument);
  }
  SUBCASE("a key from a bad seed or without kid") {
    const std::array<std::uint8_t, 31> short_seed{};
    CHECK(code_of(iam::SigningKey::from_seed("x", short_seed, f.clock->now())) ==
          iam::ErrorCode::invalid_argument);
    CHECK(code_of(iam::SigningKey::from_seed("", seed_of(1), f.clock->now())) ==
          iam::ErrorCode::invalid_argument);
  }
}

TEST_CASE("from_seed is deterministic and generate makes distinct keys") {
  const auto a = make_key("a", 7, iam::TimePoint{});
  const auto b = make_key("b", 7, iam::TimePoint{});
  CHECK(a.public_key == b.public_key);
  CHECK(a.secret_key.size() == iam::ed25519_secret_key_bytes);
  iam::ManualClock clock;
  auto random = iam::system_random();
  const auto g1 = iam::SigningKey::generate(*random, clock);
  const auto g2 = iam::SigningKey::generate(*random, clock);
  CHECK(g1.kid != g2.kid);
  CHECK(g1.kid.size() == 36);
  CHECK(g1.public_key != g2.public_key);
  CHECK(g1.created == clock.now());
  CHECK_FALSE(g1.retired.has_value());
}

// ------------------------------------------------------------------ key export

TEST_CASE("jwks lists every key still in grace as an RFC 8037 OKP key") {
  Fixture f;
  auto k2 = make_key("k2", 2, f.clock->now());
  REQUIRE(f.keys->publish_next(k2.copy()).ok());
  const json doc = json::parse(f.keys->jwks());
  REQUIRE(doc.is_object());
  REQUIRE(doc.contains("keys"));
  REQUIRE(doc["keys"].size() == 2);
  std::vector<std::string> kids;
  for (const auto& jwk : doc["keys"]) {
    CHECK(jwk["kty"] == "OKP");
    CHECK(jwk["crv"] == "Ed25519");
    CHECK(jwk["use"] == "sig");
    CHECK(jwk["alg"] == "EdDSA");
    CHECK_FALSE(jwk.contains("d"));
    const auto kid = jwk["kid"].get<std::string>();
    kids.push_back(kid);
    const auto& expected = kid == "k1" ? f.k1.public_key : k2.public_key;
    CHECK(jwk["x"] == crypto::base64url_encode(expected));
    const auto parsed = iam::public_key_from_jwk(jwk.dump());
    REQUIRE(parsed.ok());
    CHECK(*parsed == expected);
  }
  std::sort(kids.begin(), kids.end());
  CHECK(kids == std::vector<std::string>{"k1", "k2"});
}

TEST_CASE("active_public_pem is the active key's SubjectPublicKeyInfo") {
  Fixture f;
  const auto pem = f.keys->active_public_pem();
  REQUIRE(pem.ok());
  CHECK(pem->rfind("-----BEGIN PUBLIC KEY-----", 0) == 0);
  const auto parsed = iam::public_key_from_pem(*pem);
  REQUIRE(parsed.ok());
  CHECK(*parsed == f.k1.public_key);
  auto k2 = make_key("k2", 2, f.clock->now());
  REQUIRE(f.keys->publish_next(k2.copy()).ok());
  CHECK(iam::public_key_from_pem(f.keys->active_public_pem().value()).value() == f.k1.public_key);  // not yet
  REQUIRE(f.keys->rotate(make_key("k3", 3, f.clock->now())).ok());
  const auto pem2 = f.keys->active_public_pem();
  REQUIRE(pem2.ok());
  CHECK(iam::public_key_from_pem(*pem2).value() == k2.public_key);
}

// ------------------------------------------------------------------ concurrency

TEST_CASE("verifiers keep working while keys rotate") {
  Fixture f;
  const auto token = f.keys->sign("user-1", "ws-a");
  REQUIRE(token.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (!f.keys->verify(*token).ok()) failures.fetch_add(1);
        const auto fresh = f.keys->sign("u", "w");
        if (!fresh.ok() || !f.keys->verify(*fresh).ok()) failures.fetch_add(1);
      }
    });
  }
  bool rotated = f.keys->publish_next(make_key("first-next", 9, f.clock->now())).ok();
  for (int i = 0; i < 50 && rotated; ++i) {
    // The clock stands still, so every retired key stays within its grace.
    const auto seed = seed_of(static_cast<std::uint8_t>(10 + i));
    auto key = iam::SigningKey::from_seed("r" + std::to_string(i), seed, f.clock->now());
    rotated = key.ok() && f.keys->rotate(std::move(key).value()).ok();
  }
  stop.store(true);
  for (auto& r : readers) r.join();
  CHECK(rotated);
  CHECK(failures.load() == 0);
}

// ------------------------------------------------------------------ RFC 8037 appendix A.4

TEST_CASE("RFC 8037 A.4: the Ed25519 example signature") {
  const json v = test_support::load_json(test_support::fixtures_dir() / "rfc8037_a4.json");
  const auto seed = crypto::hex_decode(v["seed_hex"].get<std::string>());
  const auto pub = crypto::hex_decode(v["public_key_hex"].get<std::string>());
  const auto signature = crypto::base64url_decode(v["signature"].get<std::string>());
  const std::string input = v["signing_input"].get<std::string>();
  REQUIRE(seed.has_value());
  REQUIRE(pub.has_value());
  REQUIRE(signature.has_value());
  // The fixture's hex and JWK spellings agree.
  CHECK(crypto::base64url_decode(v["jwk_private"]["d"].get<std::string>()) == seed);
  CHECK(crypto::base64url_decode(v["jwk_private"]["x"].get<std::string>()) == pub);
  CHECK(input == b64(v["protected_header"].get<std::string>()) + '.' + b64(v["payload"].get<std::string>()));
  CHECK(v["jws"].get<std::string>() == input + '.' + v["signature"].get<std::string>());

  SUBCASE("(a) the A.4 signature verifies over its signing input with the A.1 public key") {
    CHECK(crypto::ed25519_verify(crypto::as_bytes(input), *signature, *pub));
    CHECK_FALSE(crypto::ed25519_verify(crypto::as_bytes(input + "x"), *signature, *pub));
  }
  SUBCASE("(b) signing the same input with the A.1 key gives the identical signature") {
    auto key = iam::SigningKey::from_seed("rfc8037", *seed, iam::TimePoint{});
    REQUIRE(key.ok());
    CHECK(hex_of(key->public_key) == v["public_key_hex"].get<std::string>());
    const auto ours = crypto::ed25519_sign(crypto::as_bytes(input), key->secret_key);
    CHECK(hex_of(ours) == hex_of(*signature));  // Ed25519 is deterministic
  }
  SUBCASE("(c) KeySet::verify rejects the A.4 token as it stands") {
    // The A.4 JWS is a valid EdDSA JWS, but not a token of this protocol: its header has
    // no kid (so it names no key of the set) and its payload is a sentence, not a claims
    // object (no iss, sub, workspace or exp). Our rules are stricter than RFC 8037's, so it
    // must be rejected even by a key set that holds exactly the A.1 key.
    auto clock = std::make_shared<iam::ManualClock>();
    iam::KeySet keys(iam::JwtConfig{}, clock);
    auto key = iam::SigningKey::from_seed("rfc8037", *seed, clock->now());
    REQUIRE(key.ok());
    std::vector<iam::SigningKey> set;
    set.push_back(std::move(key).value());
    REQUIRE(keys.load(std::move(set)).ok());
    std::string reason;
    CHECK(rejected(keys.verify_with_reason(v["jws"].get<std::string>(), &reason)));
    CHECK_FALSE(reason.empty());
    // The same key does sign and verify tokens of the protocol's shape.
    const auto ours = keys.sign("user-1", "ws-a");
    REQUIRE(ours.ok());
    CHECK(keys.verify(*ours).ok());
  }
}
