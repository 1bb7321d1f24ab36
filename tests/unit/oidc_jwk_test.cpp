// The OIDC regime's key parsing (regimes/oidc/jwk.h): JWKs and JWKS documents written by
// an independent implementation (PyJWT + python3-cryptography, tests/fixtures/oidc), the
// RFC 8037 Ed25519 example, and every way a key is refused.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "crypto/crypto.h"
#include "oidc_fixtures.h"
#include "regimes/oidc/jwk.h"

using iam::oidc::Algorithm;
using iam::oidc::KeyKind;
using iam::oidc::parse_jwk;
using iam::oidc::parse_jwks;
using nlohmann::json;

namespace {

constexpr Algorithm all_algorithms[] = {Algorithm::rs256, Algorithm::rs384, Algorithm::rs512, Algorithm::ps256,
                                        Algorithm::es256, Algorithm::es384, Algorithm::eddsa};

// The message parse_jwk refuses `jwk` with ("" when it accepts it).
std::string refusal(const json& jwk) {
  const auto parsed = parse_jwk(jwk.dump());
  return parsed ? std::string() : parsed.error().message;
}

std::string b64url(const std::vector<std::uint8_t>& bytes) { return iam::crypto::base64url_encode(bytes); }

// `jwk` with one member set to `value`, or without it.
json with(json jwk, const char* member, json value) {
  jwk[member] = std::move(value);
  return jwk;
}
json without(json jwk, const char* member) {
  jwk.erase(member);
  return jwk;
}
// The bytes of a base64url member, one dropped.
std::string shortened(const json& jwk, const char* member) {
  auto bytes = iam::crypto::base64url_decode(jwk.at(member).get<std::string>());
  REQUIRE(bytes.has_value());
  bytes->pop_back();
  return b64url(*bytes);
}

// An RSA JWK with a made-up odd modulus of `bits` bits (parsing checks sizes, not primes).
json synthetic_rsa(std::size_t bits) {
  std::vector<std::uint8_t> n((bits + 7) / 8, 0xff);
  if (bits % 8 != 0) n[0] = static_cast<std::uint8_t>((1u << (bits % 8)) - 1);
  return {{"kty", "RSA"}, {"n", b64url(n)}, {"e", "AQAB"}};
}

// The signing input and signature of a fixture token.
struct Signed {
  std::string signing_input;
  std::vector<std::uint8_t> signature;
};
Signed signed_parts(const std::string& token) {
  const auto dot = token.rfind('.');
  auto signature = iam::crypto::base64url_decode(std::string_view(token).substr(dot + 1));
  REQUIRE(signature.has_value());
  return {token.substr(0, dot), *signature};
}

}  // namespace

TEST_CASE("algorithm names: exactly the seven JOSE names, case-sensitive") {
  for (const Algorithm a : all_algorithms) {
    const auto name = iam::oidc::algorithm_name(a);
    CHECK(iam::oidc::algorithm_from_name(name) == a);
  }
  CHECK(iam::oidc::algorithm_name(Algorithm::eddsa) == "EdDSA");
  CHECK(iam::oidc::algorithm_name(Algorithm::ps256) == "PS256");
  for (const char* other : {"none", "None", "HS256", "HS384", "HS512", "ES512", "PS384", "PS512", "rs256", "", "RS256 "})
    CHECK_FALSE(iam::oidc::algorithm_from_name(other).has_value());
}

TEST_CASE("the provider's JWKS: signing keys kept, encryption and foreign keys left out") {
  const auto keys = parse_jwks(oidc_fixtures::jwks_text());
  REQUIRE(keys.ok());
  std::vector<std::string> kids;
  for (const auto& k : *keys) kids.push_back(k.kid());
  // rsa-enc ("use":"enc"), rsa-oaep ("alg":"RSA-OAEP"), hmac (kty oct) and ec-p521 are skipped.
  CHECK(kids == std::vector<std::string>{"rsa-2048", "rsa-ps256", "ec-p256", "ec-p384", "ed25519"});
  CHECK((*keys)[0].kind() == KeyKind::rsa);
  CHECK_FALSE((*keys)[0].alg().has_value());
  CHECK((*keys)[1].alg() == Algorithm::ps256);
  CHECK((*keys)[2].kind() == KeyKind::ec_p256);
  CHECK((*keys)[3].kind() == KeyKind::ec_p384);
  CHECK((*keys)[4].kind() == KeyKind::ed25519);
}

TEST_CASE("fits: the key kind and the JWK's own alg") {
  const auto rsa = oidc_fixtures::key("rsa-2048");  // no alg: every RSA algorithm
  const auto pss = oidc_fixtures::key("rsa-ps256");  // "alg":"PS256"
  const auto p256 = oidc_fixtures::key("ec-p256");
  const auto p384 = oidc_fixtures::key("ec-p384");
  const auto ed = oidc_fixtures::key("ed25519");
  for (const Algorithm a : all_algorithms) {
    INFO("algorithm " << std::string(iam::oidc::algorithm_name(a)));
    const bool rsa_family = a == Algorithm::rs256 || a == Algorithm::rs384 || a == Algorithm::rs512 || a == Algorithm::ps256;
    CHECK(rsa->fits(a) == rsa_family);
    CHECK(pss->fits(a) == (a == Algorithm::ps256));
    CHECK(p256->fits(a) == (a == Algorithm::es256));
    CHECK(p384->fits(a) == (a == Algorithm::es384));
    CHECK(ed->fits(a) == (a == Algorithm::eddsa));
  }
}

TEST_CASE("verify: PyJWT's signatures for every algorithm, and nothing else") {
  const struct {
    const char* token;
    const char* kid;
    Algorithm alg;
  } cases[] = {{"RS256", "rsa-2048", Algorithm::rs256}, {"RS384", "rsa-2048", Algorithm::rs384},
               {"RS512", "rsa-2048", Algorithm::rs512}, {"PS256", "rsa-ps256", Algorithm::ps256},
               {"ES256", "ec-p256", Algorithm::es256},  {"ES384", "ec-p384", Algorithm::es384},
               {"EdDSA", "ed25519", Algorithm::eddsa}};
  for (const auto& c : cases) {
    INFO("token " << std::string(c.token));
    const auto key = oidc_fixtures::key(c.kid);
    const auto s = signed_parts(oidc_fixtures::token(c.token));
    CHECK(key->verify(c.alg, s.signing_input, s.signature));
    // Another message, a flipped bit, a truncated or lengthened signature: false.
    CHECK_FALSE(key->verify(c.alg, s.signing_input + "x", s.signature));
    auto flipped = s.signature;
    flipped[flipped.size() / 2] ^= 0x01;
    CHECK_FALSE(key->verify(c.alg, s.signing_input, flipped));
    auto shorter = s.signature;
    shorter.pop_back();
    CHECK_FALSE(key->verify(c.alg, s.signing_input, shorter));
    auto longer = s.signature;
    longer.insert(longer.begin(), 0);  // a leading zero: same number for RSA, not for JOSE
    CHECK_FALSE(key->verify(c.alg, s.signing_input, longer));
    CHECK_FALSE(key->verify(c.alg, s.signing_input, {}));
  }
  // The same RSA signature under another hash, and PKCS#1 v1.5 checked as PSS: false.
  const auto rsa = oidc_fixtures::key("rsa-2048");
  const auto rs256 = signed_parts(oidc_fixtures::token("RS256"));
  CHECK_FALSE(rsa->verify(Algorithm::rs384, rs256.signing_input, rs256.signature));
  CHECK_FALSE(rsa->verify(Algorithm::ps256, rs256.signing_input, rs256.signature));
  // A key never verifies an algorithm it does not fit, whatever the bytes.
  CHECK_FALSE(oidc_fixtures::key("ec-p256")->verify(Algorithm::rs256, rs256.signing_input, rs256.signature));
}

TEST_CASE("verify: an ES256 signature in DER form instead of JOSE's r||s is refused") {
  const auto key = oidc_fixtures::key("ec-p256");
  const auto s = signed_parts(oidc_fixtures::token("es256_der_signature"));
  CHECK(s.signature.size() != 64);
  CHECK_FALSE(key->verify(Algorithm::es256, s.signing_input, s.signature));
}

TEST_CASE("RFC 8037 A.4: the Ed25519 example verifies; its private JWK is refused") {
  const json vector = test_support::load_json(test_support::fixtures_dir() / "rfc8037_a4.json");
  json jwk = vector.at("jwk_private");
  CHECK(refusal(jwk) == "JWK is a private key");
  jwk.erase("d");
  const auto key = parse_jwk(jwk.dump());
  REQUIRE(key.ok());
  CHECK(key->kind() == KeyKind::ed25519);
  CHECK(key->kid().empty());
  auto signature = iam::crypto::base64url_decode(vector.at("signature").get<std::string>());
  REQUIRE(signature.has_value());
  const std::string signing_input = vector.at("signing_input");
  CHECK(key->verify(Algorithm::eddsa, signing_input, *signature));
  (*signature)[0] ^= 0x80;
  CHECK_FALSE(key->verify(Algorithm::eddsa, signing_input, *signature));
}

TEST_CASE("parse_jwk: PyJWT's public keys are accepted") {
  for (const char* name : {"rsa_2048", "ec_p256", "ec_p384", "ed25519"}) {
    INFO("JWK " << std::string(name));
    CHECK(refusal(oidc_fixtures::jwk_case(name)).empty());
  }
  CHECK(parse_jwk(oidc_fixtures::jwk_case("rsa_2048").dump())->kid() == "rsa-2048");
}

TEST_CASE("parse_jwk: private keys are refused, whatever their type") {
  for (const char* name : {"rsa_private", "ec_private", "ed25519_private"}) {
    INFO("JWK " << std::string(name));
    CHECK(refusal(oidc_fixtures::jwk_case(name)) == "JWK is a private key");
  }
  const json rsa = oidc_fixtures::jwk_case("rsa_2048");
  for (const char* member : {"p", "q", "dp", "dq", "qi", "oth"}) CHECK(refusal(with(rsa, member, "AQAB")) == "JWK is a private key");
  CHECK(refusal({{"kty", "oct"}, {"k", "c2VjcmV0"}}) == "JWK is a private key");
}

TEST_CASE("parse_jwk: RSA size bounds") {
  CHECK(refusal(oidc_fixtures::jwk_case("rsa_1024")) == "RSA modulus size out of bounds");
  CHECK(refusal(synthetic_rsa(2047)) == "RSA modulus size out of bounds");
  CHECK(refusal(synthetic_rsa(2048)).empty());
  CHECK(refusal(synthetic_rsa(8192)).empty());
  CHECK(refusal(synthetic_rsa(8193)) == "RSA modulus size out of bounds");
  // Leading zero bytes do not make a small modulus large.
  json padded = oidc_fixtures::jwk_case("rsa_1024");
  auto n = iam::crypto::base64url_decode(padded["n"].get<std::string>());
  REQUIRE(n.has_value());
  n->insert(n->begin(), 200, 0);
  padded["n"] = b64url(*n);
  CHECK(refusal(padded) == "RSA modulus size out of bounds");
}

TEST_CASE("parse_jwk: RSA parameters") {
  const json good = oidc_fixtures::jwk_case("rsa_2048");
  auto n = iam::crypto::base64url_decode(good["n"].get<std::string>());
  REQUIRE(n.has_value());
  n->back() &= 0xfe;
  CHECK(refusal(with(good, "n", b64url(*n))) == "RSA modulus is even");
  for (const char* e : {"AQAA" /* 65536 */, "AQ" /* 1 */, "AQEBAQEBAQEBAQ" /* 9 bytes */}) {
    INFO("e " << std::string(e));
    CHECK(refusal(with(good, "e", e)) == "RSA exponent out of bounds");
  }
  CHECK(refusal(with(good, "e", "Aw")).empty());  // e = 3
  CHECK(refusal(without(good, "n")) == "JWK member n missing");
  CHECK(refusal(without(good, "e")) == "JWK member e missing");
  CHECK(refusal(with(good, "n", 12345)) == "JWK member n missing");
  for (const char* bad_text : {"AQAB=", "AQ+B", "AQ/B", "A", "", "AQ B"}) {
    INFO("e " << std::string(bad_text));
    CHECK(refusal(with(good, "e", bad_text)) == "JWK member e is not base64url");
  }
}

TEST_CASE("parse_jwk: EC points and curves") {
  CHECK(refusal(oidc_fixtures::jwk_case("ec_off_curve")) == "EC point is not on the curve");
  CHECK(refusal(oidc_fixtures::jwk_case("ec_p521")) == "unsupported EC curve");
  const json good = oidc_fixtures::jwk_case("ec_p256");
  CHECK(refusal(without(good, "crv")) == "EC JWK without crv");
  CHECK(refusal(with(good, "crv", "secp256k1")) == "unsupported EC curve");
  // A P-256 point presented as P-384: coordinates of the wrong size.
  CHECK(refusal(with(good, "crv", "P-384")) == "EC coordinate of the wrong size");
  CHECK(refusal(with(good, "x", shortened(good, "x"))) == "EC coordinate of the wrong size");
  CHECK(refusal(without(good, "y")) == "JWK member y missing");
  // The point at infinity has no affine coordinates; (0, 0) is not on P-256.
  const std::string zero = b64url(std::vector<std::uint8_t>(32, 0));
  CHECK(refusal(with(with(good, "x", zero), "y", zero)) == "EC point is not on the curve");
}

TEST_CASE("parse_jwk: OKP keys") {
  const json good = oidc_fixtures::jwk_case("ed25519");
  CHECK(refusal(with(good, "crv", "X25519")) == "unsupported OKP curve");
  CHECK(refusal(without(good, "crv")) == "unsupported OKP curve");
  CHECK(refusal(with(good, "x", shortened(good, "x"))) == "Ed25519 key of the wrong size");
  CHECK(refusal(without(good, "x")) == "JWK member x missing");
}

TEST_CASE("parse_jwk: kty, use, key_ops, alg and kid") {
  const json good = oidc_fixtures::jwk_case("rsa_2048");
  const auto with_member = [&](const char* member, const json& value) { return refusal(with(good, member, value)); };
  CHECK(with_member("kty", "oct") == "unsupported kty");
  CHECK(with_member("kty", "rsa") == "unsupported kty");
  CHECK(with_member("kty", 1) == "JWK member kty is not a string");
  CHECK(refusal(without(good, "kty")) == "unsupported kty");
  CHECK(with_member("use", "sig").empty());
  CHECK(with_member("use", "enc") == "JWK use is not sig");
  CHECK(with_member("use", json::array({"sig"})) == "JWK member use is not a string");
  CHECK(with_member("key_ops", json::array({"verify", "sign"})).empty());
  CHECK(with_member("key_ops", json::array({"encrypt"})) == "JWK key_ops lacks verify");
  CHECK(with_member("key_ops", "verify") == "JWK key_ops lacks verify");
  CHECK(with_member("alg", "RS384").empty());
  CHECK(parse_jwk(with(good, "alg", "RS384").dump())->alg() == Algorithm::rs384);
  CHECK(with_member("alg", "RSA-OAEP") == "JWK alg is not a supported signature algorithm");
  CHECK(with_member("alg", "HS256") == "JWK alg is not a supported signature algorithm");
  CHECK(with_member("alg", "none") == "JWK alg is not a supported signature algorithm");
  CHECK(with_member("alg", "ES256") == "JWK alg does not fit its key type");
  CHECK(with_member("alg", 256) == "JWK member alg is not a string");
  CHECK(with_member("kid", 7) == "JWK member kid is not a string");
  CHECK(with_member("kid", "").empty());
}

TEST_CASE("parse_jwk: the text must be one JSON object without duplicate keys") {
  CHECK(parse_jwk("not json").error().message == "JWK is not JSON without duplicate keys");
  CHECK(parse_jwk("[]").error().message == "JWK is not an object");
  const std::string good = oidc_fixtures::jwk_case("ed25519").dump();
  // The same key with "kty" twice: refused even though both say OKP.
  const std::string twice = good.substr(0, good.size() - 1) + R"(,"kty":"OKP"})";
  CHECK(parse_jwk(twice).error().message == "JWK is not JSON without duplicate keys");
  const std::string nested = good.substr(0, good.size() - 1) + R"(,"x5c_meta":{"a":1,"a":2}})";
  CHECK(parse_jwk(nested).error().message == "JWK is not JSON without duplicate keys");
  const std::string huge(iam::oidc::max_jwks_bytes + 1, ' ');
  CHECK(parse_jwk(huge + good).error().message == "JWK is not JSON without duplicate keys");
  // A refusal never repeats the input.
  CHECK(parse_jwk(R"({"kty":"secret-kty-value"})").error().message.find("secret") == std::string::npos);
}

TEST_CASE("parse_jwks: document shape, bounds, duplicates") {
  const json ed = oidc_fixtures::jwk_case("ed25519");
  const auto jwks = [](const json& keys) { return json{{"keys", keys}}.dump(); };
  const auto message = [](const std::string& text) {
    const auto parsed = parse_jwks(text);
    return parsed ? std::string() : parsed.error().message;
  };
  CHECK(parse_jwks(jwks(json::array()))->empty());
  CHECK(message("{") == "JWKS is not JSON without duplicate keys, or too large");
  CHECK(message("[]") == "JWKS is not an object");
  CHECK(message("{}") == "JWKS has no keys array");
  CHECK(message(R"({"keys":{}})") == "JWKS has no keys array");
  CHECK(message(jwks(json::array({ed, 5}))) == "JWKS key is not an object");
  CHECK(message(R"({"keys":[],"keys":[]})") == "JWKS is not JSON without duplicate keys, or too large");
  const std::string dup_inside = R"({"keys":[{"kty":"OKP","kty":"OKP"}]})";
  CHECK(message(dup_inside) == "JWKS is not JSON without duplicate keys, or too large");
  const std::string too_large = std::string(iam::oidc::max_jwks_bytes, ' ') + "{}";
  CHECK(message(too_large) == "JWKS is not JSON without duplicate keys, or too large");

  json many = json::array();
  for (std::size_t i = 0; i < iam::oidc::max_jwks_keys; ++i) {
    json k = ed;
    k["kid"] = "k" + std::to_string(i);
    many.push_back(k);
  }
  CHECK(parse_jwks(jwks(many))->size() == iam::oidc::max_jwks_keys);
  many.push_back(ed);
  CHECK(message(jwks(many)) == "JWKS has too many keys");

  json a = ed;
  a["kid"] = "same";
  json b = oidc_fixtures::jwk_case("ec_p256");
  b["kid"] = "same";
  CHECK(message(jwks(json::array({a, b}))) == "JWKS has two usable keys with one kid");
  json a2 = ed;  // two usable keys without a kid are as ambiguous
  CHECK(message(jwks(json::array({a2, oidc_fixtures::jwk_case("ec_p256")}))) == "JWKS has two usable keys with one kid");
  json enc = b;  // an encryption key may share the kid: it is left out first
  enc["use"] = "enc";
  const auto kept = parse_jwks(jwks(json::array({a, enc})));
  REQUIRE(kept.ok());
  REQUIRE(kept->size() == 1);
  CHECK((*kept)[0].kind() == KeyKind::ed25519);
  // Unusable entries of every kind are skipped, not errors.
  const auto skipped = parse_jwks(jwks(json::array({oidc_fixtures::jwk_case("rsa_1024"), oidc_fixtures::jwk_case("rsa_private"),
                                                    oidc_fixtures::jwk_case("ec_off_curve"), json::object(), ed})));
  REQUIRE(skipped.ok());
  CHECK(skipped->size() == 1);
}

TEST_CASE("parse_json_bounded_unique_keys: duplicate keys at any depth, and the usual bounds") {
  const auto message = [](std::string_view text, iam::JsonLimits limits = {}) {
    const auto parsed = iam::parse_json_bounded_unique_keys(text, limits);
    return parsed ? std::string() : parsed.error().message;
  };
  CHECK(message(R"({"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]})").empty());  // same key in different objects
  CHECK(*iam::parse_json_bounded_unique_keys(R"({"a":[1,{"b":2}]})") == json::parse(R"({"a":[1,{"b":2}]})"));
  CHECK(message(R"({"a":1,"a":1})") == "duplicate JSON key");
  CHECK(message(R"({"x":{"a":1,"b":2,"a":3}})") == "duplicate JSON key");
  CHECK(message(R"([{"a":1},{"b":1,"b":2}])") == "duplicate JSON key");
  CHECK(message(R"({"\u0061":1,"a":2})") == "duplicate JSON key");  // equal after unescaping
  CHECK(message(R"({"a":1,"a":)") == "malformed JSON");
  CHECK(message("[[[]]]", {2, 100}) == "JSON nested too deeply");
  CHECK(message("[]", {64, 1}) == "JSON text too large");
}
