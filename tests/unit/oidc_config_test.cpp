// The OIDC configuration file (iam/oidc.h parse_oidc_config, OidcConfig::validate): every
// field read under its JSON name, and every error naming the field it is about.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "iam/oidc.h"

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json minimal_issuer() {
  return json{{"issuer", "https://idp.example/realms/main"},
              {"audiences", {"gateway"}},
              {"algorithms", {"RS256"}},
              {"roles_claim", "realm_access.roles"}};
}

json with_issuer(const json& issuer) { return json{{"issuers", {issuer}}}; }

// The error message parsing `text` gives; fails the test when it parses.
std::string text_error(const std::string& text, const iam::RoleTable& roles = iam::default_role_table()) {
  const auto parsed = iam::parse_oidc_config(text, roles);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == iam::ErrorCode::invalid_argument);
  return parsed.error().message;
}
std::string error_of(const json& document) { return text_error(document.dump()); }

// The error of the minimal document with the issuer's `key` set to `value`.
std::string issuer_error(const std::string& key, const json& value) {
  json issuer = minimal_issuer();
  issuer[key] = value;
  return error_of(with_issuer(issuer));
}

}  // namespace

TEST_CASE("every field is read under its JSON name") {
  const json document{
      {"issuers",
       {{{"issuer", "https://idp.example/realms/main"},
         {"jwks_uri", "https://idp.example/realms/main/certs"},
         {"audiences", {"gateway", "account"}},
         {"algorithms", {"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}},
         {"username_claim", "email"},
         {"roles_claim", "realm_access.roles"},
         {"role_map", {{"kc-admin", "admin"}, {"kc-writer", "writer"}}},
         {"workspace_claim", "tenant"},
         {"default_workspace", "main"}},
        minimal_issuer() /* a second issuer needs a different URL */}},
      {"leeway_seconds", 10},
      {"jwks_min_refresh_seconds", 60}};
  json two = document;
  two["issuers"][1]["issuer"] = "http://dex.internal:5556/dex";
  const auto parsed = iam::parse_oidc_config(two.dump());
  REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? "" : parsed.error().message));
  const iam::OidcConfig& config = *parsed;
  REQUIRE(config.issuers.size() == 2);
  const iam::OidcIssuer& first = config.issuers[0];
  CHECK(first.issuer == "https://idp.example/realms/main");
  CHECK(first.jwks_uri == "https://idp.example/realms/main/certs");
  CHECK(first.audiences == std::vector<std::string>{"gateway", "account"});
  CHECK(first.algorithms.size() == 7);
  CHECK(first.username_claim == "email");
  CHECK(first.roles_claim == "realm_access.roles");
  CHECK(first.role_map == std::map<std::string, std::string>{{"kc-admin", "admin"}, {"kc-writer", "writer"}});
  CHECK(first.workspace_claim == "tenant");
  CHECK(first.default_workspace == "main");
  CHECK(config.leeway == 10s);
  CHECK(config.jwks_min_refresh == 60s);

  // Defaults of the optional fields.
  const iam::OidcIssuer& second = config.issuers[1];
  CHECK_FALSE(second.jwks_uri.has_value());
  CHECK(second.username_claim == "preferred_username");
  CHECK(second.role_map.empty());
  CHECK_FALSE(second.workspace_claim.has_value());
  CHECK(second.default_workspace == "default");
  const auto defaults = iam::parse_oidc_config(with_issuer(minimal_issuer()).dump());
  REQUIRE(defaults.ok());
  CHECK(defaults->leeway == 30s);
  CHECK(defaults->jwks_min_refresh == 30s);
}

TEST_CASE("not JSON, not an object, too deep, duplicate keys") {
  CHECK(text_error("{") == "OIDC configuration: malformed JSON");
  CHECK(text_error("[]") == "OIDC configuration: must be a JSON object");
  CHECK(text_error(R"({"issuers":[[[[[[[[[[]]]]]]]]]]})") == "OIDC configuration: JSON nested too deeply");
  CHECK(text_error(std::string(2u << 20, ' ')) == "OIDC configuration: JSON text too large");
  CHECK(text_error(R"({"leeway_seconds":1,"leeway_seconds":2,"issuers":[]})") ==
        "OIDC configuration: duplicate JSON key");
  const std::string nested = with_issuer(minimal_issuer()).dump();
  const std::string doubled = nested.substr(0, nested.find("\"audiences\"")) + R"("roles_claim":"x",)" +
                              nested.substr(nested.find("\"audiences\""));
  CHECK(text_error(doubled) == "OIDC configuration: duplicate JSON key");
}

TEST_CASE("an unknown key anywhere is an error naming it") {
  json top = with_issuer(minimal_issuer());
  top["leeway"] = 3;
  CHECK(error_of(top) == "leeway: unknown key");
  json issuer = minimal_issuer();
  issuer["role_mapp"] = json::object();
  CHECK(error_of(with_issuer(issuer)) == "issuers[0].role_mapp: unknown key");
  json second = json{{"issuers", {minimal_issuer(), minimal_issuer()}}};
  second["issuers"][1]["issuer"] = "https://other.example";
  second["issuers"][1]["Audiences"] = json::array();
  CHECK(error_of(second) == "issuers[1].Audiences: unknown key");
  issuer = minimal_issuer();
  issuer["bad\x1bkey"] = 1;
  CHECK(error_of(with_issuer(issuer)) == "issuers[0].bad\\ekey: unknown key");
}

TEST_CASE("missing and mistyped fields are named") {
  CHECK(error_of(json::object()) == "issuers: is required");
  CHECK(error_of(json{{"issuers", "https://idp.example"}}) == "issuers: must be an array of objects");
  CHECK(error_of(json{{"issuers", json::array()}}) == "issuers: at least one issuer is required");
  CHECK(error_of(json{{"issuers", {"https://idp.example"}}}) == "issuers[0]: must be an object");
  for (const char* required : {"issuer", "audiences", "algorithms", "roles_claim"}) {
    json issuer = minimal_issuer();
    issuer.erase(required);
    CHECK(error_of(with_issuer(issuer)) == std::string("issuers[0].") + required + ": is required");
  }
  CHECK(issuer_error("issuer", 5) == "issuers[0].issuer: must be a string");
  CHECK(issuer_error("jwks_uri", nullptr) == "issuers[0].jwks_uri: must be a string");
  CHECK(issuer_error("audiences", "gateway") == "issuers[0].audiences: must be an array of strings");
  CHECK(issuer_error("audiences", {"gateway", 7}) == "issuers[0].audiences[1]: must be a string");
  CHECK(issuer_error("algorithms", "RS256") == "issuers[0].algorithms: must be an array of strings");
  CHECK(issuer_error("username_claim", true) == "issuers[0].username_claim: must be a string");
  CHECK(issuer_error("roles_claim", json::array()) == "issuers[0].roles_claim: must be a string");
  CHECK(issuer_error("role_map", {"admin"}) == "issuers[0].role_map: must be an object of strings");
  CHECK(issuer_error("role_map", {{"kc-admin", 1}}) == "issuers[0].role_map.kc-admin: must be a string");
  CHECK(issuer_error("workspace_claim", 1) == "issuers[0].workspace_claim: must be a string");
  CHECK(issuer_error("default_workspace", json::object()) == "issuers[0].default_workspace: must be a string");
  json top = with_issuer(minimal_issuer());
  top["leeway_seconds"] = "30";
  CHECK(error_of(top) == "leeway_seconds: must be an integer number of seconds");
  top["leeway_seconds"] = 1.5;
  CHECK(error_of(top) == "leeway_seconds: must be an integer number of seconds");
  top["leeway_seconds"] = 30;
  top["jwks_min_refresh_seconds"] = nullptr;
  CHECK(error_of(top) == "jwks_min_refresh_seconds: must be an integer number of seconds");
  top["jwks_min_refresh_seconds"] = 18446744073709551615u;
  CHECK(error_of(top) == "jwks_min_refresh_seconds: out of range");
}

TEST_CASE("only the seven asymmetric algorithms are allowed, the refused one named") {
  for (const char* refused : {"none", "HS256", "HS384", "HS512", "ES512", "rs256", "PS512", ""}) {
    CAPTURE(refused);
    CHECK(issuer_error("algorithms", {"RS256", refused}) ==
          std::string("issuers[0].algorithms: ") + refused +
              " is not allowed (RS256, RS384, RS512, PS256, ES256, ES384, EdDSA)");
  }
  CHECK(issuer_error("algorithms", json::array()) == "issuers[0].algorithms: at least one algorithm is required");
}

TEST_CASE("audiences, URLs, claim paths, role map and workspace are checked") {
  CHECK(issuer_error("audiences", json::array()) == "issuers[0].audiences: at least one audience is required");
  CHECK(issuer_error("audiences", {"gateway", ""}) == "issuers[0].audiences[1]: must be non-empty plain text");
  for (const char* bad : {"idp.example", "ftp://idp.example", "https://", "https:///path", "https://a b", "",
                          "javascript:alert(1)"}) {
    CAPTURE(bad);
    CHECK(issuer_error("issuer", bad) == "issuers[0].issuer: must be an http or https URL");
    CHECK(issuer_error("jwks_uri", bad) == "issuers[0].jwks_uri: must be an http or https URL");
  }
  CHECK(issuer_error("issuer", "https://" + std::string(3000, 'a')) == "issuers[0].issuer: must be an http or https URL");
  for (const char* bad : {"", ".roles", "roles.", "realm_access..roles", "a\nb"}) {
    CAPTURE(bad);
    CHECK(issuer_error("roles_claim", bad) == "issuers[0].roles_claim: must be a claim name or dotted path");
    CHECK(issuer_error("username_claim", bad) == "issuers[0].username_claim: must be a claim name or dotted path");
    CHECK(issuer_error("workspace_claim", bad) == "issuers[0].workspace_claim: must be a claim name or dotted path");
  }
  CHECK(issuer_error("role_map", {{"kc-super", "superuser"}}) ==
        "issuers[0].role_map.kc-super: superuser is not a role of the role table");
  CHECK(issuer_error("role_map", {{"", "reader"}}) == "issuers[0].role_map: a provider value must not be empty");
  CHECK(issuer_error("default_workspace", "") == "issuers[0].default_workspace: must be non-empty plain text");
  CHECK(issuer_error("default_workspace", "a\tb") == "issuers[0].default_workspace: must be non-empty plain text");
}

TEST_CASE("role_map values are checked against the application's role table") {
  json issuer = minimal_issuer();
  issuer["role_map"] = {{"helpdesk-group", "helpdesk"}};
  const std::string text = with_issuer(issuer).dump();
  CHECK(text_error(text) == "issuers[0].role_map.helpdesk-group: helpdesk is not a role of the role table");
  iam::RoleTable roles = iam::default_role_table();
  roles["helpdesk"] = iam::RoleDefinition{{"users:read"}, false};
  CHECK(iam::parse_oidc_config(text, roles).ok());
}

TEST_CASE("issuers are distinct") {
  json document{{"issuers", {minimal_issuer(), minimal_issuer()}}};
  CHECK(error_of(document) == "issuers[1].issuer: the same issuer as issuers[0]");
}

TEST_CASE("leeway and the minimum refresh interval are bounded") {
  struct Bound {
    std::string field;
    int min, max;
  };
  for (const Bound& bound : {Bound{"leeway_seconds", 0, 300}, Bound{"jwks_min_refresh_seconds", 1, 86400}}) {
    CAPTURE(bound.field);
    json document = with_issuer(minimal_issuer());
    const std::string message = bound.field + ": must be between " + std::to_string(bound.min) + " and " +
                                std::to_string(bound.max);
    document[bound.field] = bound.min - 1;
    CHECK(error_of(document) == message);
    document[bound.field] = bound.max + 1;
    CHECK(error_of(document) == message);
    document[bound.field] = bound.max;
    CHECK(iam::parse_oidc_config(document.dump()).ok());
    document[bound.field] = bound.min;
    CHECK(iam::parse_oidc_config(document.dump()).ok());
  }
}

TEST_CASE("validate checks a configuration built in code the same way") {
  iam::OidcConfig config;
  CHECK(config.validate().error().message == "issuers: at least one issuer is required");
  iam::OidcIssuer issuer;
  issuer.issuer = "https://idp.example";
  issuer.audiences = {"gateway"};
  issuer.algorithms = {"ES256"};
  issuer.roles_claim = "groups";
  config.issuers = {issuer};
  CHECK(config.validate().ok());
  config.leeway = -1s;
  CHECK(config.validate().error().message == "leeway_seconds: must be between 0 and 300");
  config.leeway = 0s;
  config.issuers[0].roles_claim.clear();
  CHECK(config.validate().error().message == "issuers[0].roles_claim: must be a claim name or dotted path");
}
