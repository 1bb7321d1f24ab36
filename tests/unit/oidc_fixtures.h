// The OIDC fixtures of tests/fixtures/oidc (made by make_fixtures.py there with PyJWT and
// python3-cryptography): the provider's JWKS, tokens minted at a fixed time, single JWKs.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iam/clock.h"
#include "regimes/oidc/jwk.h"
#include "tests/support/data_files.h"

namespace oidc_fixtures {

inline std::filesystem::path dir() { return test_support::fixtures_dir() / "oidc"; }
inline std::string jwks_text() { return test_support::read_file(dir() / "jwks.json"); }
inline nlohmann::json tokens_doc() { return test_support::load_json(dir() / "tokens.json"); }

// The minted token called `name`; a missing one fails the test.
inline std::string token(const std::string& name) {
  const nlohmann::json doc = tokens_doc();
  INFO("token " << name);
  REQUIRE(doc.at("tokens").contains(name));
  return doc["tokens"][name].get<std::string>();
}

// The time every fixture token was minted for.
inline iam::TimePoint now() { return iam::from_unix_seconds(tokens_doc().at("now").get<std::int64_t>()); }

// The single JWK called `name` in jwk_cases.json, as JSON (so a test can alter it).
inline nlohmann::json jwk_case(const std::string& name) {
  const nlohmann::json doc = test_support::load_json(dir() / "jwk_cases.json");
  INFO("JWK case " << name);
  REQUIRE(doc.contains(name));
  return doc[name];
}

// The fixture JWKS's usable keys.
inline std::vector<std::shared_ptr<const iam::oidc::PublicJwk>> keys() {
  auto parsed = iam::oidc::parse_jwks(jwks_text());
  REQUIRE(parsed.ok());
  std::vector<std::shared_ptr<const iam::oidc::PublicJwk>> out;
  for (auto& key : *parsed) out.push_back(std::make_shared<const iam::oidc::PublicJwk>(std::move(key)));
  return out;
}

inline std::shared_ptr<const iam::oidc::PublicJwk> key(std::string_view kid) {
  for (auto& k : keys())
    if (k->kid() == kid) return k;
  FAIL("no fixture key " << std::string(kid));
  return nullptr;
}

}  // namespace oidc_fixtures
