// The EdDSA JWT key set (docs/protocol.md "JWT"), part two: the time claims (exp, nbf, iat),
// the identity claims (iss, sub, workspace), the JSON shape of header and payload, size
// limits, and the reasons given to the operator.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "jwt_test_support.h"

using namespace jwt_test;

// ------------------------------------------------------------------ time claims

TEST_CASE("exp: required, and in the future within the leeway") {
  Fixture f;  // lifetime 3600 s, leeway 60 s
  const auto token = f.keys->sign("user-1", "ws-a");
  REQUIRE(token.ok());
  SUBCASE("just before expiry") {
    f.clock->advance(3599s);
    CHECK(f.verify(*token).ok());
  }
  SUBCASE("expired but within the leeway is accepted") {
    f.clock->advance(3600s + 30s);
    CHECK(f.verify(*token).ok());
    f.clock->advance(29s);  // exp + 59 s
    CHECK(f.verify(*token).ok());
  }
  SUBCASE("expired beyond the leeway is rejected") {
    f.clock->advance(3600s + 60s);
    CHECK(rejected(f.verify(*token)));
    f.clock->advance(24h);
    CHECK(rejected(f.verify(*token)));
  }
  SUBCASE("exp in the past when crafted") {
    json c = f.claims();
    c["exp"] = f.now_s() - 61;
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["exp"] = f.now_s() - 59;
    CHECK(f.verify(f.craft_claims(c)).ok());
  }
  SUBCASE("exp missing or not a number") {
    json c = f.claims();
    c.erase("exp");
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["exp"] = std::to_string(f.now_s() + 3600);
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["exp"] = nullptr;
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["exp"] = true;
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["exp"] = json::array({f.now_s() + 3600});
    CHECK(rejected(f.verify(f.craft_claims(c))));
  }
  SUBCASE("a fractional NumericDate is a number of seconds") {
    json c = f.claims();
    c["exp"] = static_cast<double>(f.now_s()) + 100.5;
    const auto claims = f.verify(f.craft_claims(c));
    REQUIRE(claims.ok());
    CHECK(claims->expires_at == iam::from_unix_seconds(f.now_s() + 100));
  }
  SUBCASE("exp and iat beyond TimePoint's range saturate (found by fuzz/jwt_verify)") {
    json c = f.claims();
    c["exp"] = 18'000'036'000;  // overflowed nanoseconds in from_unix_seconds before the fix
    c["iat"] = -1e300;
    auto claims = f.verify(f.craft_claims(c));
    REQUIRE(claims.ok());
    CHECK(claims->expires_at == iam::TimePoint::max());
    CHECK(claims->issued_at == iam::TimePoint::min());
    c["exp"] = std::numeric_limits<std::uint64_t>::max();
    c["iat"] = std::numeric_limits<std::int64_t>::min();
    claims = f.verify(f.craft_claims(c));
    REQUIRE(claims.ok());
    CHECK(claims->expires_at == iam::TimePoint::max());
    CHECK(claims->issued_at == iam::TimePoint::min());
  }
  SUBCASE("a leeway of zero") {
    iam::JwtConfig cfg;
    cfg.leeway = 0s;
    Fixture g(cfg);
    const auto t = g.keys->sign("u", "w");
    REQUIRE(t.ok());
    g.clock->advance(3599s);
    CHECK(g.verify(*t).ok());
    g.clock->advance(1s);
    CHECK(rejected(g.verify(*t)));
  }
}

TEST_CASE("nbf and iat: not in the future beyond the leeway") {
  Fixture f;
  for (const char* name : {"nbf", "iat"}) {
    CAPTURE(name);
    json c = f.claims();
    c[name] = f.now_s() + 61;
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c[name] = f.now_s() + 3000;
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c[name] = f.now_s() + 60;  // within the leeway
    CHECK(f.verify(f.craft_claims(c)).ok());
    c[name] = f.now_s() - 1000;
    CHECK(f.verify(f.craft_claims(c)).ok());
    c[name] = "soon";
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c[name] = nullptr;
    CHECK(rejected(f.verify(f.craft_claims(c))));
  }
  SUBCASE("absent nbf and iat are fine") {
    json c = f.claims();
    c.erase("iat");
    CHECK_FALSE(c.contains("nbf"));
    CHECK(f.verify(f.craft_claims(c)).ok());
  }
  SUBCASE("a token whose nbf is ahead becomes valid once the clock catches up") {
    json c = f.claims();
    c["nbf"] = f.now_s() + 600;
    const std::string t = f.craft_claims(c);
    CHECK(rejected(f.verify(t)));
    f.clock->advance(600s - 60s);
    CHECK(f.verify(t).ok());
  }
}

// ------------------------------------------------------------------ identity claims

TEST_CASE("iss must match the configured issuer") {
  Fixture f;
  json c = f.claims();
  c["iss"] = "someone-else";
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["iss"] = "trustgraph-iam ";
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["iss"] = "";
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["iss"] = json::array({"trustgraph-iam"});
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c.erase("iss");
  CHECK(rejected(f.verify(f.craft_claims(c))));
  // A token from a key set with another issuer, same key.
  iam::JwtConfig other;
  other.issuer = "other-issuer";
  iam::KeySet foreign(other, f.clock);
  std::vector<iam::SigningKey> set;
  set.push_back(f.k1.copy());
  REQUIRE(foreign.load(std::move(set)).ok());
  const auto t = foreign.sign("user-1", "ws-a");
  REQUIRE(t.ok());
  CHECK(foreign.verify(*t).ok());
  CHECK(rejected(f.verify(*t)));
}

TEST_CASE("sub must be a non-empty string") {
  Fixture f;
  json c = f.claims();
  c.erase("sub");
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["sub"] = "";
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["sub"] = 42;
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["sub"] = nullptr;
  CHECK(rejected(f.verify(f.craft_claims(c))));
}

TEST_CASE("workspace claims: at least one, and both agree") {
  Fixture f;
  SUBCASE("both missing") {
    json c = f.claims();
    c.erase("workspace");
    c.erase("default_workspace");
    CHECK(rejected(f.verify(f.craft_claims(c))));
  }
  SUBCASE("both present and different") {
    json c = f.claims();
    c["default_workspace"] = "ws-b";
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["default_workspace"] = "WS-A";
    CHECK(rejected(f.verify(f.craft_claims(c))));
  }
  SUBCASE("only workspace present is accepted") {
    json c = f.claims();
    c.erase("default_workspace");
    const auto claims = f.verify(f.craft_claims(c));
    REQUIRE(claims.ok());
    CHECK(claims->workspace == "ws-a");
  }
  SUBCASE("only default_workspace present is accepted") {
    json c = f.claims();
    c.erase("workspace");
    c["default_workspace"] = "ws-legacy";
    const auto claims = f.verify(f.craft_claims(c));
    REQUIRE(claims.ok());
    CHECK(claims->workspace == "ws-legacy");
  }
  SUBCASE("empty or non-string workspace claims") {
    for (const char* name : {"workspace", "default_workspace"}) {
      CAPTURE(name);
      json c = f.claims();
      c[name] = "";
      CHECK(rejected(f.verify(f.craft_claims(c))));
      c[name] = 7;
      CHECK(rejected(f.verify(f.craft_claims(c))));
      c[name] = nullptr;
      CHECK(rejected(f.verify(f.craft_claims(c))));
      json only = f.claims();
      only.erase(std::string(name) == "workspace" ? "default_workspace" : "workspace");
      only[name] = "";
      CHECK(rejected(f.verify(f.craft_claims(only))));
    }
  }
}

// ------------------------------------------------------------------ JSON shape

TEST_CASE("header and payload must be JSON objects") {
  Fixture f;
  const std::string good_header = f.header().dump();
  const std::string good_payload = f.claims().dump();
  for (const std::string& not_object :
       {std::string("[") + good_header + "]", std::string("\"EdDSA\""), std::string("42"), std::string("null"),
        std::string("true"), std::string(""), std::string("{"), std::string("{\"alg\":\"EdDSA\",}"),
        good_header + " x", std::string("[") + good_payload + "]"}) {
    CAPTURE(not_object);
    CHECK(rejected(f.verify(f.craft(not_object, good_payload))));
  }
  for (const std::string& not_object :
       {std::string("[") + good_payload + "]", std::string("\"user-1\""), std::string("0"), std::string("null"),
        std::string(""), good_payload + "{}", std::string("not json at all")}) {
    CAPTURE(not_object);
    CHECK(rejected(f.verify(f.craft(good_header, not_object))));
  }
}

TEST_CASE("JSON nested deeper than the depth bound is rejected, header and payload alike") {
  // The bound is core/bounded_json.h's default_max_json_depth (64 levels, the root object
  // counting as one). The token size limit is raised so that the nesting, not the size,
  // is what the verifier refuses; it must answer, not overflow its stack.
  iam::JwtConfig roomy;
  roomy.max_token_bytes = 64 * 1024;
  Fixture f(roomy);
  const auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  const auto with_member = [](std::string object, const std::string& value) {
    object.insert(object.size() - 1, R"(,"x":)" + value);
    return object;
  };
  const auto reason_of = [&](const std::string& token) {
    std::string reason;
    CHECK(rejected(f.keys->verify_with_reason(token, &reason)));
    return reason;
  };
  const std::string bad_header = "header is not a JSON object without duplicate keys";
  const std::string bad_payload = "payload is not a JSON object without duplicate keys";

  SUBCASE("63 levels inside the root object parse; 64 do not") {
    CHECK(f.verify(f.craft(with_member(f.header().dump(), nested(63)), f.claims().dump())).ok());
    CHECK(f.verify(f.craft(f.header().dump(), with_member(f.claims().dump(), nested(63)))).ok());
    CHECK(reason_of(f.craft(with_member(f.header().dump(), nested(64)), f.claims().dump())) == bad_header);
    CHECK(reason_of(f.craft(f.header().dump(), with_member(f.claims().dump(), nested(64)))) == bad_payload);
  }
  SUBCASE("3000 levels, in the header, as the header, and in the payload") {
    CHECK(reason_of(f.craft(with_member(f.header().dump(), nested(3000)), f.claims().dump())) == bad_header);
    CHECK(reason_of(f.craft(std::string(3000, '['), f.claims().dump())) == bad_header);
    CHECK(reason_of(f.craft(f.header().dump(), with_member(f.claims().dump(), nested(3000)))) == bad_payload);
  }
  SUBCASE("under the default size limit, the same tokens are refused for their size first") {
    Fixture strict;
    std::string reason;
    CHECK(rejected(strict.keys->verify_with_reason(
        strict.craft(strict.header().dump(), with_member(strict.claims().dump(), nested(3000))), &reason)));
    CHECK(reason == "token too large");
  }
}

TEST_CASE("duplicate JSON keys are rejected") {
  Fixture f;
  const std::string payload = f.claims().dump();
  const std::string exp = std::to_string(f.now_s() + 3600);
  const std::string iat = std::to_string(f.now_s());
  SUBCASE("in the header") {
    CHECK(rejected(f.verify(f.craft(R"({"alg":"none","alg":"EdDSA","typ":"JWT","kid":"k1"})", payload))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":"k1","alg":"EdDSA"})", payload))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":"k2","kid":"k1"})", payload))));
    // The same key spelled with an escape is the same key.
    CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":"k1","\u006bid":"k1"})", payload))));
  }
  SUBCASE("in the payload") {
    const std::string base =
        R"("iss":"trustgraph-iam","workspace":"ws-a","default_workspace":"ws-a","iat":)" + iat + R"(,"exp":)" + exp;
    CHECK(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"user-1"})")).ok());  // control
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"admin","sub":"user-1"})"))));
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"user-1","sub":"user-1"})"))));
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"user-1","exp":1})"))));
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"user-1","iss":"x"})"))));
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"user-1","workspace":"ws-a"})"))));
  }
  SUBCASE("in a nested object of the payload") {
    const std::string base =
        R"("iss":"trustgraph-iam","sub":"user-1","workspace":"ws-a","iat":)" + iat + R"(,"exp":)" + exp;
    CHECK(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"extra":{"a":1,"b":2}})")).ok());  // control
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"extra":{"a":1,"a":2}})"))));
  }
  SUBCASE("equal keys in different objects are not duplicates") {
    const std::string base =
        R"("iss":"trustgraph-iam","sub":"user-1","workspace":"ws-a","iat":)" + iat + R"(,"exp":)" + exp;
    CHECK(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"x":{"sub":"y"},"y":[{"sub":1},{"sub":2}]})")).ok());
  }
}

TEST_CASE("oversized tokens are rejected") {
  // Pads the payload with a claim of `n` bytes: a valid token of growing size.
  const auto padded = [](const Fixture& f, std::size_t n) {
    json c = f.claims();
    c["pad"] = std::string(n, 'x');
    return f.craft_claims(c);
  };
  // The largest padded token not above `limit` is accepted; the next one, above it, is not.
  const auto check_boundary = [&](const Fixture& f, std::size_t limit) {
    std::size_t n = 0;
    while (padded(f, n + 1).size() <= limit) ++n;
    const std::string at_limit = padded(f, n);
    const std::string over = padded(f, n + 1);
    CAPTURE(at_limit.size());
    CAPTURE(over.size());
    CHECK(at_limit.size() <= limit);
    CHECK(at_limit.size() + 3 > limit);
    CHECK(over.size() > limit);
    CHECK(f.verify(at_limit).ok());
    CHECK(rejected(f.verify(over)));
  };
  SUBCASE("default limit: 8 KiB") {
    Fixture f;
    CHECK(f.config.max_token_bytes == 8192);
    check_boundary(f, 8192);
    CHECK(rejected(f.verify(padded(f, 1 << 20))));
  }
  SUBCASE("a configured smaller limit") {
    iam::JwtConfig cfg;
    cfg.max_token_bytes = 512;
    Fixture f(cfg);
    const auto normal = f.keys->sign("user-1", "ws-a");
    REQUIRE(normal.ok());
    REQUIRE(normal->size() < 512);
    CHECK(f.verify(*normal).ok());
    check_boundary(f, 512);
    CHECK(rejected(f.verify(padded(f, 1000))));
  }
}

// ------------------------------------------------------------------ reasons

TEST_CASE("verify_with_reason tells the operator why, the caller still sees the opaque failure") {
  Fixture f;
  json c = f.claims();
  c["iss"] = "someone-else";
  const std::vector<std::string> bad = {"", "a.b", f.craft(R"({"alg":"none","kid":"k1"})", f.claims().dump()),
                                        f.craft_j(f.header("nope"), f.claims()), f.craft_claims(c)};
  for (const auto& token : bad) {
    CAPTURE(token);
    std::string reason;
    const auto result = f.keys->verify_with_reason(token, &reason);
    CHECK(rejected(result));
    CHECK_FALSE(reason.empty());
    CHECK(result.error().message.find(reason) == std::string::npos);
  }
  std::string reason;
  CHECK(f.keys->verify_with_reason(f.craft_claims(f.claims()), &reason).ok());
  CHECK(rejected(f.keys->verify_with_reason("x.y.z", nullptr)));  // no reason wanted
}

