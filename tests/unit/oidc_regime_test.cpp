// The OIDC regime (iam/oidc.h): tokens of a provider played by the test, its roles mapped
// onto the role table, decisions by the shared policy, whoami and list-my-workspaces, and
// every failure masked with its real reason in the audit event.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "iam/operation_table.h"
#include "../support/threads.h"
#include "oidc_test_support.h"
#include "regimes/oidc/oidc_token.h"
#include "regimes/policy/role_policy.h"

using namespace oidc_test;

namespace {

// Function-local so that keys are made inside a test, not during static initialisation.
const Provider& idp() {
  static const Provider provider{"https://idp.example/realms/main", 1};
  return provider;
}
const Provider& other_idp() {
  static const Provider provider{"https://login.other.example", 2};
  return provider;
}

// Every capability some role of the default table grants.
std::set<std::string> all_capabilities() {
  std::set<std::string> out;
  for (const auto& [name, role] : iam::default_role_table()) out.insert(role.capabilities.begin(), role.capabilities.end());
  return out;
}

iam::Result<iam::OperationResponse> execute(iam::OidcRegime& regime, std::string operation,
                                            std::optional<std::string> actor) {
  iam::OperationRequest request;
  request.operation = std::move(operation);
  request.actor = std::move(actor);
  return regime.administration()->execute(request);
}

}  // namespace

TEST_CASE("a mapped writer has exactly a stored writer's capabilities and scope") {
  Fixture f({&idp()});
  json claims = f.claims(idp(), "sub-1", {"idp-writer"});
  claims["tenant"] = "ws-a";
  const iam::Identity writer = f.login(idp(), claims);
  const iam::RolePolicy policy(iam::default_role_table(), iam::null_logger());
  const std::vector<std::string> roles{"writer"};
  const iam::RoleHolder stored_writer{"w", roles, "ws-a"};
  int allowed = 0;
  int denied = 0;
  for (const auto& capability : all_capabilities()) {
    for (const std::string workspace : {"ws-a", "ws-b", "*", ""}) {
      CAPTURE(capability);
      CAPTURE(workspace);
      const bool expected = policy.allows(stored_writer, capability, workspace).allow;
      CHECK(f.regime->authorise(writer, capability, iam::Resource::workspace(workspace), {}).allow == expected);
      (expected ? allowed : denied) += 1;
    }
  }
  CHECK(allowed > 0);
  CHECK(denied > 0);
  CHECK(f.allowed(writer, iam::capability::in_scope, "ws-a"));
  CHECK_FALSE(f.allowed(writer, iam::capability::in_scope, "ws-b"));
  // The workspace parameter counts when the resource names none, as in the roles regime.
  CHECK(f.regime->authorise(writer, "documents:write", iam::Resource::system(), {{"workspace", "ws-a"}}).allow);
  CHECK_FALSE(f.regime->authorise(writer, "documents:write", iam::Resource::system(), {{"workspace", "ws-b"}}).allow);
}

TEST_CASE("readers read and cannot write; admins reach every workspace; unmapped values grant nothing") {
  Fixture f({&idp()});
  const iam::Identity reader = f.login(idp(), f.claims(idp(), "reader", {"idp-reader"}));
  CHECK(f.allowed(reader, "documents:read", "ws-default"));
  CHECK_FALSE(f.allowed(reader, "documents:write", "ws-default"));

  const iam::Identity admin = f.login(idp(), f.claims(idp(), "admin", {"idp-admin"}));
  CHECK(f.allowed(admin, "users:admin", "ws-elsewhere"));
  CHECK(f.allowed(admin, "users:admin", "*"));

  const iam::Identity nobody = f.login(idp(), f.claims(idp(), "nobody", {"writer", "admin", "IDP-ADMIN", "unknown"}));
  for (const auto& capability : all_capabilities()) CHECK_FALSE(f.allowed(nobody, capability, "ws-default"));
  CHECK_FALSE(f.allowed(nobody, iam::capability::in_scope, "ws-default"));
}

TEST_CASE("values mapping to one role give it once; a missing roles claim grants nothing") {
  std::vector<iam::OidcIssuer> issuers{issuer_rules(idp())};
  issuers[0].role_map["editors"] = "writer";
  Fixture f({&idp()}, issuers);
  const iam::Identity both = f.login(idp(), f.claims(idp(), "both", {"idp-writer", "editors", "idp-writer"}));
  auto whoami = execute(*f.regime, "whoami", both.handle);
  REQUIRE(whoami.ok());
  CHECK(whoami->user->roles == std::vector<std::string>{"writer"});

  json claims = f.claims(idp(), "none", {});
  claims.erase("realm_access");
  const iam::Identity none = f.login(idp(), claims);
  CHECK_FALSE(f.allowed(none, "documents:read", "ws-default"));
}

TEST_CASE("the workspace is the workspace claim, else the issuer's default") {
  Fixture f({&idp()});
  json claims = f.claims(idp(), "s", {"idp-writer"});
  CHECK(f.login(idp(), claims).workspace == "ws-default");
  claims["tenant"] = "ws-t";
  const iam::Identity tenant = f.login(idp(), claims);
  CHECK(tenant.workspace == "ws-t");
  CHECK(f.allowed(tenant, "documents:write", "ws-t"));
  CHECK_FALSE(f.allowed(tenant, "documents:write", "ws-default"));

  for (const json& bad : {json(7), json(""), json("line\nbreak"), json::array({"ws"}), json(nullptr)}) {
    CAPTURE(bad.dump());
    claims["tenant"] = bad;
    CHECK(masked_failure(f.regime->authenticate(idp().sign(claims))));
    CHECK(field_of(last_event(*f.audit, "iam.authenticate"), "failure_reason") ==
          "workspace claim is not a workspace name");
  }
}

TEST_CASE("the identity: a handle stable for (issuer, sub), principal issuer#sub, source jwt, expiry exp") {
  Fixture f({&idp(), &other_idp()});
  json first = f.claims(idp(), "user-42", {"idp-reader"});
  json second = f.claims(idp(), "user-42", {"idp-writer"});
  second["preferred_username"] = "renamed";
  second["exp"] = f.now_s() + 900;
  const iam::Identity a = f.login(idp(), first);
  const iam::Identity b = f.login(idp(), second);
  CHECK(a.handle == b.handle);
  CHECK(a.handle == iam::oidc::oidc_handle(idp().issuer, "user-42"));
  CHECK(a.handle.size() == 5 + 43);
  CHECK(a.handle.rfind("oidc:", 0) == 0);
  CHECK(a.principal_id == idp().issuer + "#user-42");
  CHECK(a.source == iam::CredentialSource::jwt);
  CHECK(b.expires == iam::from_unix_seconds(f.now_s() + 900));

  const iam::Identity elsewhere = f.login(other_idp(), f.claims(other_idp(), "user-42", {"idp-reader"}));
  CHECK(elsewhere.handle != a.handle);
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  CHECK(iam::oidc::oidc_handle("ab", "c") != iam::oidc::oidc_handle("a", "bc"));
}

TEST_CASE("the newest token of an identity decides") {
  Fixture f({&idp()});
  const iam::Identity writer = f.login(idp(), f.claims(idp(), "s", {"idp-writer"}));
  CHECK(f.allowed(writer, "documents:write", "ws-default"));
  f.login(idp(), f.claims(idp(), "s", {"idp-reader"}));
  CHECK_FALSE(f.allowed(writer, "documents:write", "ws-default"));
  CHECK(f.allowed(writer, "documents:read", "ws-default"));
}

TEST_CASE("an expired identity and an unknown handle are denied") {
  Fixture f({&idp()});
  const iam::Identity writer = f.login(idp(), f.claims(idp(), "s", {"idp-writer"}));
  CHECK(f.allowed(writer, "documents:read", "ws-default"));
  f.clock->advance(601s);
  CHECK_FALSE(f.allowed(writer, "documents:read", "ws-default"));
  const auto denial = last_event(*f.audit, "iam.authorise");
  CHECK(field_of(denial, "outcome") == "deny");
  CHECK(field_of(denial, "denial_reason") == "identity-unknown-or-expired");
  CHECK_FALSE(execute(*f.regime, "whoami", writer.handle).ok());

  const iam::Identity stranger{"oidc:unknown", "ws-default", "x", iam::CredentialSource::jwt, std::nullopt};
  CHECK_FALSE(f.allowed(stranger, "documents:read", "ws-default"));
  const std::vector<iam::AuthorisationCheck> checks{{"documents:read", iam::Resource::workspace("ws-default"), {}}};
  CHECK(f.regime->authorise_many(stranger, checks) == std::vector<iam::Decision>{iam::Decision::denied(0s)});
}

TEST_CASE("an identity whose own expiry has passed is denied even if a newer token is remembered") {
  Fixture f({&idp()});
  iam::Identity old = f.login(idp(), f.claims(idp(), "s", {"idp-writer"}));
  old.expires = f.clock->now();  // as a cache holding an expired identity would quote it
  CHECK_FALSE(f.allowed(old, "documents:read", "ws-default"));
}

TEST_CASE("authorise_many answers as authorise does, in order") {
  Fixture f({&idp()});
  const iam::Identity writer = f.login(idp(), f.claims(idp(), "s", {"idp-writer"}));
  const std::vector<iam::AuthorisationCheck> checks{
      {"documents:write", iam::Resource::workspace("ws-default"), {}},
      {"users:admin", iam::Resource::workspace("ws-default"), {}},
      {"documents:read", iam::Resource::workspace("ws-other"), {}},
      {"documents:read", iam::Resource::system(), {{"workspace", "ws-default"}}}};
  const auto decisions = f.regime->authorise_many(writer, checks);
  REQUIRE(decisions.size() == checks.size());
  for (std::size_t i = 0; i < checks.size(); ++i)
    CHECK(decisions[i] == f.regime->authorise(writer, checks[i].capability, checks[i].resource, checks[i].parameters));
  CHECK(decisions[0].allow);
  CHECK_FALSE(decisions[1].allow);
  CHECK_FALSE(decisions[2].allow);
  CHECK(decisions[3].allow);
}

TEST_CASE("whoami and list-my-workspaces answer from the claims; every other operation is not supported") {
  Fixture f({&idp()});
  json claims = f.claims(idp(), "sub-w", {"idp-writer", "idp-reader"});
  claims["tenant"] = "ws-t";
  const iam::Identity who = f.login(idp(), claims);

  auto whoami = execute(*f.regime, "whoami", who.handle);
  REQUIRE(whoami.ok());
  REQUIRE(whoami->user.has_value());
  CHECK(whoami->user->id == who.handle);
  CHECK(whoami->user->username == "alice");
  CHECK(whoami->user->workspace == "ws-t");
  CHECK(whoami->user->roles == std::vector<std::string>{"reader", "writer"});

  // A trusted caller (no actor) names the identity by user_id.
  iam::OperationRequest trusted;
  trusted.operation = "whoami";
  trusted.user_id = who.handle;
  CHECK(f.regime->execute(trusted).ok());
  trusted.user_id.reset();
  CHECK(f.regime->execute(trusted).error().code == iam::ErrorCode::invalid_argument);

  auto mine = execute(*f.regime, "list-my-workspaces", who.handle);
  REQUIRE(mine.ok());
  REQUIRE(mine->workspaces.has_value());
  REQUIRE(mine->workspaces->size() == 1);
  CHECK(mine->workspaces->front().id == "ws-t");

  CHECK(execute(*f.regime, "whoami", "oidc:nobody").error().code == iam::ErrorCode::not_found);
  CHECK(execute(*f.regime, "no-such-operation", who.handle).error().code == iam::ErrorCode::invalid_argument);

  for (const auto& row : iam::operation_table()) {
    if (row.name == "whoami" || row.name == "list-my-workspaces") continue;
    CAPTURE(row.name);
    const auto answer = execute(*f.regime, std::string(row.name), who.handle);
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.error().code == iam::ErrorCode::not_supported);
  }
}

TEST_CASE("the username is the username claim, else sub") {
  Fixture f({&idp()});
  json claims = f.claims(idp(), "sub-u", {"idp-reader"});
  claims.erase("preferred_username");
  const iam::Identity who = f.login(idp(), claims);
  CHECK(execute(*f.regime, "whoami", who.handle)->user->username == "sub-u");
  claims["preferred_username"] = 12;
  f.login(idp(), claims);
  CHECK(execute(*f.regime, "whoami", who.handle)->user->username == "sub-u");
}

TEST_CASE("every failure is the masked auth failure, its reason in the audit event") {
  Fixture f({&idp(), &other_idp()});
  const auto reason_of = [&](std::string_view token) {
    const auto result = f.regime->authenticate(token);
    CHECK(masked_failure(result));
    const auto event = last_event(*f.audit, "iam.authenticate");
    CHECK(field_of(event, "outcome") == "failure");
    CHECK(field_of(event, "identity") == "unknown");
    CHECK(field_of(event, "credential_type") == "jwt");
    return field_of(event, "failure_reason");
  };
  CHECK(reason_of("tg_not-a-jwt-at-all-really") == "not a JWT with an issuer");
  CHECK(reason_of(std::string(iam::oidc::max_token_bytes + 1, 'a')) == "token too large");
  const Provider stranger{"https://evil.example", 3};
  CHECK(reason_of(stranger.sign(f.claims(stranger, "s", {"idp-admin"}))) == "untrusted issuer");

  // Signed by the other provider's key while claiming this issuer: verification fails.
  const std::string forged = other_idp().sign(f.claims(idp(), "s", {"idp-admin"}));
  const std::string reason = reason_of(forged);
  CHECK(reason != "<absent>");
  CHECK_FALSE(reason.empty());

  json expired = f.claims(idp(), "s", {"idp-admin"});
  expired["exp"] = f.now_s() - 3600;
  CHECK_FALSE(reason_of(idp().sign(expired)).empty());
  json wrong_audience = f.claims(idp(), "s", {"idp-admin"});
  wrong_audience["aud"] = "someone-else";
  CHECK_FALSE(reason_of(idp().sign(wrong_audience)).empty());

  // And a success is audited too.
  const iam::Identity ok = f.login(idp(), f.claims(idp(), "s", {"idp-reader"}));
  const auto success = last_event(*f.audit, "iam.authenticate");
  CHECK(field_of(success, "outcome") == "success");
  CHECK(field_of(success, "identity") == ok.handle);
}

TEST_CASE("a provider that never answered: its tokens fail, nothing throws, the start-up is logged") {
  const Provider idp_down{"https://down.example", 4};
  auto clock = std::make_shared<iam::ManualClock>();
  auto http = std::make_shared<FakeHttp>();
  http->set_down(true);
  std::vector<std::string> lines;
  iam::OidcConfig config;
  config.issuers = {issuer_rules(idp_down)};
  iam::OidcOptions options;
  options.clock = clock;
  options.logger = [&lines](iam::LogLevel, std::string_view line) { lines.emplace_back(line); };
  auto regime = iam::oidc::make_oidc_regime_with(std::move(config), std::move(options), http);
  REQUIRE(regime.ok());
  CHECK(http->requests() >= 1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("https://down.example") != std::string::npos);
  json claims{{"iss", idp_down.issuer}, {"sub", "s"}, {"aud", "gateway"}, {"exp", iam::unix_seconds(clock->now()) + 60}};
  CHECK(masked_failure((*regime)->authenticate(idp_down.sign(claims))));
}

TEST_CASE("jwks_fetches counts the key requests by outcome") {
  const Provider up{"https://up.example", 5};
  const Provider down{"https://down.example", 6};
  auto http = std::make_shared<FakeHttp>();
  http->serve(up.jwks_uri(), up.jwks());  // nothing served for `down`: a 404
  iam::OidcConfig config;
  config.issuers = {issuer_rules(up), issuer_rules(down)};
  iam::OidcOptions options;
  options.logger = [](iam::LogLevel, std::string_view) {};
  auto regime = iam::oidc::make_oidc_regime_with(std::move(config), std::move(options), http);
  REQUIRE(regime.ok());
  const auto fetches = (*regime)->jwks_fetches();
  CHECK(fetches.succeeded == 1);
  CHECK(fetches.failed == 1);
  CHECK(fetches.succeeded + fetches.failed == http->requests());
}

TEST_CASE("several issuers, each with its own rules") {
  iam::OidcIssuer first = issuer_rules(idp());
  first.roles_claim = "groups";
  first.role_map = {{"editors", "writer"}};
  iam::OidcIssuer second = issuer_rules(other_idp());
  second.roles_claim = "resource_access.app.roles";
  second.role_map = {{"editors", "reader"}};
  second.audiences = {"other-audience"};
  second.workspace_claim.reset();
  second.default_workspace = "ws-second";
  Fixture f({&idp(), &other_idp()}, {first, second});

  json a{{"iss", idp().issuer}, {"sub", "s"}, {"aud", "gateway"}, {"exp", f.now_s() + 60}, {"groups", {"editors"}}};
  const iam::Identity from_first = f.login(idp(), a);
  CHECK(from_first.workspace == "ws-default");
  CHECK(f.allowed(from_first, "documents:write", "ws-default"));

  json b{{"iss", other_idp().issuer},
         {"sub", "s"},
         {"aud", "other-audience"},
         {"exp", f.now_s() + 60},
         {"tenant", "ignored"},
         {"resource_access", {{"app", {{"roles", {"editors"}}}}}}};
  const iam::Identity from_second = f.login(other_idp(), b);
  CHECK(from_second.workspace == "ws-second");
  CHECK(f.allowed(from_second, "documents:read", "ws-second"));
  CHECK_FALSE(f.allowed(from_second, "documents:write", "ws-second"));

  // Each issuer's audience is its own.
  b["aud"] = "gateway";
  CHECK(masked_failure(f.regime->authenticate(other_idp().sign(b))));
}

TEST_CASE("recognises, trusts_issuer_of and issued") {
  Fixture f({&idp()});
  const std::string token = idp().sign(f.claims(idp(), "s", {}));
  CHECK(f.regime->trusts_issuer_of(token));
  CHECK(f.regime->recognises(token));
  const Provider stranger{"https://evil.example", 3};
  CHECK_FALSE(f.regime->recognises(stranger.sign(f.claims(stranger, "s", {}))));
  CHECK_FALSE(f.regime->recognises("tg_abcdefghijklmnopqrstuvwxyz"));
  CHECK_FALSE(f.regime->recognises(""));
  CHECK(f.regime->issued(f.login(idp(), f.claims(idp(), "s", {}))));
  CHECK_FALSE(f.regime->issued(iam::Identity{"0b7a3c1e-uuid", "", "", iam::CredentialSource::jwt, std::nullopt}));
  CHECK(f.regime->name() == "oidc");
}

TEST_CASE("the remembered identities are bounded: the one expiring first makes room") {
  Fixture f({&idp()}, {}, 2);
  json first = f.claims(idp(), "first", {"idp-reader"});
  first["exp"] = f.now_s() + 100;
  const iam::Identity a = f.login(idp(), first);
  const iam::Identity b = f.login(idp(), f.claims(idp(), "second", {"idp-reader"}));
  const iam::Identity c = f.login(idp(), f.claims(idp(), "third", {"idp-reader"}));
  CHECK_FALSE(f.allowed(a, "documents:read", "ws-default"));
  CHECK(f.allowed(b, "documents:read", "ws-default"));
  CHECK(f.allowed(c, "documents:read", "ws-default"));
}

TEST_CASE("a configuration that does not validate is refused by the factory") {
  iam::OidcConfig config;
  config.issuers = {issuer_rules(idp())};
  config.issuers[0].algorithms = {"HS256"};
  auto made = iam::oidc::make_oidc_regime_with(config, {}, std::make_shared<FakeHttp>());
  REQUIRE_FALSE(made.ok());
  CHECK(made.error().code == iam::ErrorCode::invalid_argument);
  CHECK(made.error().message == "issuers[0].algorithms: HS256 is not allowed (RS256, RS384, RS512, PS256, ES256, ES384, EdDSA)");
  CHECK(iam::make_oidc_regime(config).error().code == iam::ErrorCode::invalid_argument);
  CHECK(iam::oidc::make_oidc_regime_with(iam::OidcConfig{{issuer_rules(idp())}}, {}, nullptr).error().code ==
        iam::ErrorCode::invalid_argument);
  CHECK(iam::oidc::make_oidc_regime_with(iam::OidcConfig{{issuer_rules(idp())}}, {}, std::make_shared<FakeHttp>(), 0)
            .error()
            .code == iam::ErrorCode::invalid_argument);
}

TEST_CASE("many threads authenticate and authorise at once") {
  Fixture f({&idp()}, {}, 8);
  constexpr int threads = 8;
  constexpr int rounds = 50;
  std::vector<std::string> tokens;
  for (int t = 0; t < threads; ++t)
    tokens.push_back(idp().sign(f.claims(idp(), "user-" + std::to_string(t), {t % 2 ? "idp-writer" : "idp-reader"})));
  std::atomic<int> wrong{0};
  test_support::run_threads(threads, [&](int t) {
    for (int i = 0; i < rounds; ++i) {
      const auto identity = f.regime->authenticate(tokens[static_cast<std::size_t>(t)]);
      if (!identity) {
        ++wrong;
        continue;
      }
      const bool writes = f.regime->authorise(*identity, "documents:write", iam::Resource::workspace("ws-default"), {}).allow;
      if (writes != (t % 2 == 1)) ++wrong;
    }
  });
  CHECK(wrong == 0);
}
