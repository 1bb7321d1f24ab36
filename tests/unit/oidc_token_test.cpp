// Verifying an identity provider's tokens (regimes/oidc/oidc_token.h): tokens minted by an
// independent implementation (PyJWT + python3-cryptography, tests/fixtures/oidc) verify for
// every algorithm; every forgery and every broken claim is refused with its reason.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/crypto.h"
#include "oidc_fixtures.h"
#include "regimes/oidc/oidc_token.h"
#include "tests/support/threads.h"

using iam::oidc::Algorithm;
using iam::oidc::TokenRules;
using iam::oidc::verify_token;
using nlohmann::json;

namespace {

TokenRules rules() {
  const json doc = oidc_fixtures::tokens_doc();
  TokenRules r;
  r.issuer = doc.at("issuer");
  r.audiences = {"api://elsewhere", doc.at("audience").get<std::string>()};
  r.algorithms = {Algorithm::rs256, Algorithm::rs384, Algorithm::rs512, Algorithm::ps256,
                  Algorithm::es256, Algorithm::es384, Algorithm::eddsa};
  r.leeway = std::chrono::seconds(30);
  return r;
}

// Looks kids up in the fixture JWKS and remembers what it was asked.
struct Lookup {
  std::vector<std::shared_ptr<const iam::oidc::PublicJwk>> keys = oidc_fixtures::keys();
  std::vector<std::string> asked;
  iam::oidc::KeyLookup function() {
    return [this](std::string_view kid) -> std::shared_ptr<const iam::oidc::PublicJwk> {
      asked.emplace_back(kid);
      for (const auto& k : keys)
        if (k->kid() == kid) return k;
      return nullptr;
    };
  }
};

// The reason verify_token refuses `token` with at `now` ("" when it accepts it); also
// checks that a refusal is exactly the one masked auth_failure().
std::string refusal(std::string_view token, const TokenRules& r, iam::TimePoint now) {
  Lookup lookup;
  std::string reason;
  const auto verified = verify_token(token, r, lookup.function(), now, &reason);
  if (verified) return {};
  CHECK(verified.error() == iam::auth_failure());
  CHECK_FALSE(reason.empty());
  return reason;
}
std::string refusal(std::string_view token) { return refusal(token, rules(), oidc_fixtures::now()); }

std::string b64url(std::string_view text) { return iam::crypto::base64url_encode(iam::crypto::as_bytes(text)); }

struct Parts {
  std::string header, payload, signature;  // still encoded
};
Parts split(const std::string& token) {
  const auto dot1 = token.find('.');
  const auto dot2 = token.find('.', dot1 + 1);
  return {token.substr(0, dot1), token.substr(dot1 + 1, dot2 - dot1 - 1), token.substr(dot2 + 1)};
}

}  // namespace

TEST_CASE("every algorithm: a token PyJWT minted verifies") {
  const std::int64_t now_s = iam::unix_seconds(oidc_fixtures::now());
  for (const char* name : {"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}) {
    INFO("token " << std::string(name));
    Lookup lookup;
    std::string reason = "unchanged";
    const auto verified = verify_token(oidc_fixtures::token(name), rules(), lookup.function(), oidc_fixtures::now(), &reason);
    REQUIRE_MESSAGE(verified.ok(), reason);
    CHECK(reason == "unchanged");  // written only on failure
    CHECK(verified->issuer == rules().issuer);
    CHECK(verified->subject == "user-1234");
    CHECK(iam::unix_seconds(verified->expires) == now_s + 3600);
    CHECK(verified->claims.at("preferred_username") == "alice");
    CHECK(lookup.asked.size() == 1);
  }
}

TEST_CASE("accepted shapes: aud array naming ours, no kid, fractional dates, no nbf or iat") {
  CHECK(refusal(oidc_fixtures::token("aud_array_with_ours")).empty());
  CHECK(refusal(oidc_fixtures::token("no_nbf_no_iat")).empty());
  Lookup lookup;
  const auto dates = verify_token(oidc_fixtures::token("float_dates"), rules(), lookup.function(), oidc_fixtures::now());
  REQUIRE(dates.ok());
  CHECK(iam::unix_seconds(dates->expires) == iam::unix_seconds(oidc_fixtures::now()));  // exp = now + 0.5, floored

  // A header without kid asks the lookup for the empty kid.
  std::vector<std::string> asked;
  const auto rsa = oidc_fixtures::key("rsa-2048");
  const iam::oidc::KeyLookup any_kid = [&](std::string_view kid) {
    asked.emplace_back(kid);
    return rsa;
  };
  CHECK(verify_token(oidc_fixtures::token("no_kid"), rules(), any_kid, oidc_fixtures::now()).ok());
  CHECK(asked == std::vector<std::string>{""});
}

TEST_CASE("forgeries and broken claims are refused with their reason") {
  const struct {
    const char* token;
    const char* reason;
  } cases[] = {
      {"alg_none", "alg not supported"},
      {"hs256_with_rsa_public_key", "alg not supported"},
      {"kid_of_other_key_type", "key does not fit alg"},
      {"rs256_with_ps256_key", "key does not fit alg"},
      {"es256_der_signature", "bad signature"},
      {"crit_header", "crit header present"},
      {"kid_not_string", "kid is not a string"},
      {"alg_missing", "alg missing"},
      {"duplicate_header_key", "header is not a JSON object without duplicate keys"},
      {"duplicate_payload_key", "payload is not a JSON object without duplicate keys"},
      {"duplicate_nested_payload_key", "payload is not a JSON object without duplicate keys"},
      {"payload_not_object", "payload is not a JSON object without duplicate keys"},
      {"wrong_iss", "wrong issuer"},
      {"iss_missing", "wrong issuer"},
      {"wrong_aud", "wrong audience"},
      {"aud_array_without_ours", "wrong audience"},
      {"aud_missing", "aud missing"},
      {"expired", "expired"},
      {"exp_missing", "exp missing"},
      {"exp_not_number", "exp is not a number"},
      {"not_yet_valid", "not yet valid"},
      {"nbf_not_number", "nbf is not a number"},
      {"iat_in_future", "issued in the future"},
      {"iat_not_number", "iat is not a number"},
      {"sub_missing", "sub missing"},
      {"sub_empty", "sub missing"},
      {"sub_not_string", "sub missing"},
  };
  for (const auto& c : cases) {
    INFO("token " << std::string(c.token));
    CHECK(refusal(oidc_fixtures::token(c.token)) == c.reason);
  }
}

TEST_CASE("none and HMAC are refused even when the lookup would hand over a key") {
  // Whatever key the lookup returns, no Algorithm value exists for them.
  for (const char* name : {"alg_none", "hs256_with_rsa_public_key"}) {
    bool asked = false;
    const auto rsa = oidc_fixtures::key("rsa-2048");
    const iam::oidc::KeyLookup keys = [&](std::string_view) {
      asked = true;
      return rsa;
    };
    std::string reason;
    CHECK_FALSE(verify_token(oidc_fixtures::token(name), rules(), keys, oidc_fixtures::now(), &reason).ok());
    CHECK(reason == "alg not supported");
    CHECK_FALSE(asked);
  }
}

TEST_CASE("an algorithm outside the issuer's allow-list is refused") {
  TokenRules only_rs256 = rules();
  only_rs256.algorithms = {Algorithm::rs256};
  CHECK(refusal(oidc_fixtures::token("RS256"), only_rs256, oidc_fixtures::now()).empty());
  for (const char* name : {"RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}) {
    INFO("token " << std::string(name));
    CHECK(refusal(oidc_fixtures::token(name), only_rs256, oidc_fixtures::now()) == "alg not allowed for this issuer");
  }
  TokenRules none_allowed = rules();
  none_allowed.algorithms.clear();
  CHECK(refusal(oidc_fixtures::token("RS256"), none_allowed, oidc_fixtures::now()) == "alg not allowed for this issuer");
}

TEST_CASE("tampered payload or signature: bad signature, for every algorithm") {
  for (const char* name : {"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}) {
    INFO("token " << std::string(name));
    const Parts p = split(oidc_fixtures::token(name));
    auto claims = json::parse(iam::crypto::as_text(*iam::crypto::base64url_decode(p.payload)));
    claims["sub"] = "admin";
    CHECK(refusal(p.header + "." + b64url(claims.dump()) + "." + p.signature) == "bad signature");
    std::string signature = p.signature;
    signature[4] = signature[4] == 'A' ? 'B' : 'A';
    CHECK(refusal(p.header + "." + p.payload + "." + signature) == "bad signature");
    CHECK(refusal(p.header + "." + p.payload + ".") == "bad signature");
    // Another token's signature on this one's input.
    const Parts other = split(oidc_fixtures::token("aud_array_with_ours"));
    CHECK(refusal(p.header + "." + p.payload + "." + other.signature) == "bad signature");
  }
}

TEST_CASE("the key lookup: unknown kid, no lookup at all") {
  const Parts p = split(oidc_fixtures::token("RS256"));
  const std::string unknown_kid = b64url(R"({"alg":"RS256","kid":"nobody"})") + "." + p.payload + "." + p.signature;
  CHECK(refusal(unknown_kid) == "no key for kid");
  std::string reason;
  CHECK_FALSE(verify_token(oidc_fixtures::token("RS256"), rules(), iam::oidc::KeyLookup(), oidc_fixtures::now(), &reason).ok());
  CHECK(reason == "no key for kid");
}

TEST_CASE("shape: size bound first, three segments, strict base64url, JSON header") {
  const std::string good = oidc_fixtures::token("RS256");
  const Parts p = split(good);
  // Over the bound: refused before anything is decoded, even if the rest is a good token.
  std::string large = good;
  large.insert(0, iam::oidc::max_token_bytes + 1 - large.size(), 'A');
  CHECK(large.size() == iam::oidc::max_token_bytes + 1);
  CHECK(refusal(large) == "token too large");
  CHECK(refusal(std::string(iam::oidc::max_token_bytes, '.')) == "not three segments");
  CHECK(refusal(good + std::string(iam::oidc::max_token_bytes - good.size(), 'A')) != "token too large");
  for (const std::string& token : {std::string(), std::string("abc"), p.header + "." + p.payload,
                                   good + ".", good + ".x", std::string("..."), std::string("a.b.c.d")}) {
    INFO("token " << std::string(token));
    CHECK(refusal(token) == "not three segments");
  }
  for (const std::string& token : {p.header + "=." + p.payload + "." + p.signature, p.header + "." + p.payload + "==." + p.signature,
                                   "+" + p.header + "." + p.payload + "." + p.signature,
                                   p.header + "." + p.payload + "." + p.signature + "/", p.header + " ." + p.payload + "." + p.signature,
                                   std::string("A.B.C")}) {
    INFO("token " << std::string(token));
    CHECK(refusal(token) == "segment is not canonical base64url");
  }
  CHECK(refusal(b64url("not json") + "." + p.payload + "." + p.signature) == "header is not a JSON object without duplicate keys");
  CHECK(refusal(b64url("[\"RS256\"]") + "." + p.payload + "." + p.signature) == "header is not a JSON object without duplicate keys");
  CHECK(refusal("." + p.payload + "." + p.signature) == "header is not a JSON object without duplicate keys");
  CHECK(refusal(b64url(R"({"alg":"RS256","x":{"y":1,"y":1}})") + "." + p.payload + "." + p.signature) ==
        "header is not a JSON object without duplicate keys");
  CHECK(refusal(b64url(R"({"alg":5})") + "." + p.payload + "." + p.signature) == "alg missing");
  CHECK(refusal(b64url(R"({"alg":"rs256"})") + "." + p.payload + "." + p.signature) == "alg not supported");
  CHECK(refusal(b64url(R"({"alg":"RS256","crit":[]})") + "." + p.payload + "." + p.signature) == "crit header present");
}

TEST_CASE("time rules: exp, nbf and iat each with the leeway, at their edges") {
  using std::chrono::seconds;
  const auto now = oidc_fixtures::now();  // the RS256 token: exp = now + 3600, iat = nbf = now - 60
  const std::string token = oidc_fixtures::token("RS256");
  CHECK(refusal(token, rules(), now + seconds(3600 + 29)).empty());
  CHECK(refusal(token, rules(), now + seconds(3600 + 30)) == "expired");
  const std::string early = oidc_fixtures::token("not_yet_valid");  // nbf = now + 600
  CHECK(refusal(early, rules(), now + seconds(570)).empty());
  CHECK(refusal(early, rules(), now + seconds(569)) == "not yet valid");
  const std::string future = oidc_fixtures::token("iat_in_future");  // iat = now + 600, no nbf
  CHECK(refusal(future, rules(), now + seconds(570)).empty());
  CHECK(refusal(future, rules(), now + seconds(569)) == "issued in the future");
  TokenRules strict = rules();
  strict.leeway = seconds(0);
  CHECK(refusal(token, strict, now + seconds(3599)).empty());
  CHECK(refusal(token, strict, now + seconds(3600)) == "expired");
}

TEST_CASE("a refusal without a reason pointer is still the masked failure") {
  Lookup lookup;
  const auto verified = verify_token(oidc_fixtures::token("expired"), rules(), lookup.function(), oidc_fixtures::now());
  REQUIRE_FALSE(verified.ok());
  CHECK(verified.error() == iam::auth_failure());
}

TEST_CASE("peek_issuer reads iss without verifying, and only from a JWS-shaped token") {
  const std::string issuer = rules().issuer;
  CHECK(iam::oidc::peek_issuer(oidc_fixtures::token("RS256")) == issuer);
  CHECK(iam::oidc::peek_issuer(oidc_fixtures::token("alg_none")) == issuer);  // shape only: nothing verified
  CHECK(iam::oidc::peek_issuer(oidc_fixtures::token("wrong_iss")) == issuer + "/other");
  CHECK_FALSE(iam::oidc::peek_issuer(oidc_fixtures::token("iss_missing")).has_value());
  CHECK_FALSE(iam::oidc::peek_issuer(oidc_fixtures::token("payload_not_object")).has_value());
  CHECK_FALSE(iam::oidc::peek_issuer(oidc_fixtures::token("duplicate_payload_key")).has_value());
  CHECK_FALSE(iam::oidc::peek_issuer("tg_0123456789abcdef").has_value());
  CHECK_FALSE(iam::oidc::peek_issuer("a.b").has_value());
  const Parts p = split(oidc_fixtures::token("RS256"));
  CHECK_FALSE(iam::oidc::peek_issuer(p.header + "." + b64url(R"({"iss":7})") + ".AAAA").has_value());
  CHECK(iam::oidc::peek_issuer(p.header + "." + b64url(R"({"iss":"me"})") + ".").value_or("") == "me");
  std::string large = oidc_fixtures::token("RS256");
  large += std::string(iam::oidc::max_token_bytes, 'A');
  CHECK_FALSE(iam::oidc::peek_issuer(large).has_value());
}

TEST_CASE("find_claim and claim_strings: dotted paths through objects") {
  Lookup lookup;
  const auto verified = verify_token(oidc_fixtures::token("RS256"), rules(), lookup.function(), oidc_fixtures::now());
  REQUIRE(verified.ok());
  const json& claims = verified->claims;
  using iam::oidc::claim_strings;
  using iam::oidc::find_claim;
  REQUIRE(find_claim(claims, "realm_access.roles") != nullptr);
  CHECK(*find_claim(claims, "realm_access.roles") == json::array({"writer", "offline_access"}));
  CHECK(*find_claim(claims, "preferred_username") == "alice");
  CHECK(find_claim(claims, "realm_access")->is_object());
  for (const char* absent : {"", ".", "realm_access.", ".realm_access", "realm_access..roles", "realm_access.missing",
                             "groups.0", "realm_access.roles.writer", "nothing", "preferred_username.x", "REALM_ACCESS"}) {
    INFO("path " << std::string(absent));
    CHECK(find_claim(claims, absent) == nullptr);
  }
  CHECK(claim_strings(claims, "realm_access.roles") == std::vector<std::string>{"writer", "offline_access"});
  CHECK(claim_strings(claims, "groups") == std::vector<std::string>{"g1", "g2"});  // the number 2 is ignored
  CHECK(claim_strings(claims, "preferred_username") == std::vector<std::string>{"alice"});
  CHECK(claim_strings(claims, "exp").empty());
  CHECK(claim_strings(claims, "realm_access").empty());
  CHECK(claim_strings(claims, "nothing").empty());
  const json deep = json::parse(R"({"resource_access":{"app":{"roles":["admin"]},"app.x":{"roles":["no"]}}})");
  CHECK(claim_strings(deep, "resource_access.app.roles") == std::vector<std::string>{"admin"});
  CHECK(find_claim(json::array({1}), "a") == nullptr);
}

TEST_CASE("shared keys verify from many threads at once") {
  // PublicJwk::verify is const and thread-safe: one parsed key set, four threads, every
  // algorithm, good and tampered tokens (CI runs this under ThreadSanitizer too).
  const auto keys = oidc_fixtures::keys();
  const iam::oidc::KeyLookup shared = [&keys](std::string_view kid) -> std::shared_ptr<const iam::oidc::PublicJwk> {
    for (const auto& k : keys)
      if (k->kid() == kid) return k;
    return nullptr;
  };
  std::vector<std::string> good;
  for (const char* name : {"RS256", "PS256", "ES256", "ES384", "EdDSA"}) good.push_back(oidc_fixtures::token(name));
  const std::string bad = oidc_fixtures::token("es256_der_signature");
  const TokenRules r = rules();
  const auto now = oidc_fixtures::now();
  std::atomic<int> wrong{0};
  test_support::run_threads(4, [&](int) {
    for (int i = 0; i < 20; ++i) {
      for (const auto& token : good)
        if (!verify_token(token, r, shared, now).ok()) ++wrong;
      if (verify_token(bad, r, shared, now).ok()) ++wrong;
    }
  });
  CHECK(wrong.load() == 0);
}
