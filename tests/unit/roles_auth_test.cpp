// The roles regime's authentication and authorisation rules (contract.md, protocol.md):
// authenticate (API keys, JWTs, malformed credentials, anonymous), authorise and
// authorise_many with the role table and scope rules, bootstrap modes and configuration,
// login, and the signing key lifecycle.
//
// Time is the ManualClock of make_test_iam; nothing sleeps and nothing is timed.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "iam/jwt.h"
#include "iam/memory_store.h"
#include "iam/roles.h"
#include "iam/testing.h"
#include "regimes/roles/internal.h"
#include "roles_test_support.h"

using namespace std::chrono_literals;
using namespace roles_test;
using iam::ErrorCode;
using iam::Resource;

namespace {

constexpr const char* kOperatorToken = "tg_operatorTokenForTheUnitTests_0123";

// The whole capability vocabulary of contract.md.
const std::vector<std::string> kVocabulary = {
    "agent", "graph:read", "graph:write", "triples:read", "triples:write", "sparql:read", "graph-rag:read",
    "graph-embeddings:read", "graph-embeddings:write", "documents:read", "documents:write", "document-rag:read",
    "document-embeddings:read", "document-embeddings:write", "entity-contexts:read", "entity-contexts:write",
    "rows:read", "rows:write", "nlp-query:read", "structured-query:read", "row-embeddings:read", "llm",
    "embeddings", "reranker", "image-to-text", "mcp", "collections:read", "collections:write", "knowledge:read",
    "knowledge:write", "config:read", "config:write", "flows:read", "flows:write", "users:read", "users:write",
    "users:admin", "keys:self", "keys:admin", "workspaces:admin", "iam:admin", "metrics:read"};

// contract.md "The roles regime's policy", written out independently of the library.
const std::set<std::string> kReader = {
    "graph:read", "triples:read", "sparql:read", "graph-rag:read", "graph-embeddings:read", "documents:read",
    "document-rag:read", "document-embeddings:read", "entity-contexts:read", "rows:read", "nlp-query:read",
    "structured-query:read", "row-embeddings:read", "collections:read", "knowledge:read", "agent", "llm",
    "embeddings", "reranker", "image-to-text", "mcp", "config:read", "flows:read", "keys:self"};
std::set<std::string> writer_set() {
  auto s = kReader;
  for (const char* c : {"graph:write", "triples:write", "graph-embeddings:write", "document-embeddings:write",
                        "entity-contexts:write", "documents:write", "rows:write", "collections:write",
                        "knowledge:write"})
    s.insert(c);
  return s;
}
std::set<std::string> admin_set() {
  auto s = writer_set();
  for (const char* c : {"config:write", "flows:write", "users:read", "users:write", "users:admin", "keys:admin",
                        "workspaces:admin", "iam:admin", "metrics:read"})
    s.insert(c);
  return s;
}

iam::Identity identity_of(const std::string& user_id) {
  iam::Identity id;
  id.handle = user_id;
  id.principal_id = user_id;
  id.source = iam::CredentialSource::api_key;
  return id;
}

bool allows(iam::RolesRegime& regime, const std::string& user_id, std::string_view capability,
            const Resource& resource = {}, const iam::Parameters& parameters = {}) {
  return regime.authorise(identity_of(user_id), capability, resource, parameters).allow;
}

iam::RolesConfig base_config(std::shared_ptr<iam::Repository> repo = iam::make_memory_repository()) {
  iam::RolesConfig c;
  c.repository = std::move(repo);
  c.clock = std::make_shared<iam::ManualClock>();
  c.logger = iam::null_logger();
  return c;
}

// A token-mode regime at the test PBKDF2 cost (create() would hash at 600,000).
iam::Result<std::shared_ptr<iam::RolesRegime>> token_regime(std::shared_ptr<iam::Repository> repo,
                                                            const char* token = kOperatorToken) {
  auto c = base_config(std::move(repo));
  c.bootstrap_mode = iam::BootstrapMode::token;
  c.bootstrap_token = iam::SecretString(std::string_view(token));
  c.read_environment = false;
  return iam::detail::create_roles_regime_for_testing(std::move(c), 1000);
}

// What the seed of either mode must contain (protocol.md "bootstrap").
void check_seeded_store(iam::Repository& repo, iam::RolesRegime& regime, const std::string& admin_key) {
  auto workspaces = repo.list_workspaces();
  REQUIRE(workspaces.ok());
  REQUIRE(workspaces->size() == 1);
  CHECK(workspaces->front().id == "default");
  CHECK(workspaces->front().enabled);
  auto users = repo.list_users(std::nullopt);
  REQUIRE(users.ok());
  REQUIRE(users->size() == 1);
  const auto& admin = users->front().record;
  CHECK(admin.username == "admin");
  CHECK(admin.workspace == "default");
  CHECK(admin.roles == std::vector<std::string>{"admin"});
  CHECK(admin.enabled);
  CHECK(admin.must_change_password);
  auto identity = regime.authenticate(admin_key);
  REQUIRE(identity.ok());
  CHECK(identity->handle == admin.id);
  auto keys = regime.list_api_keys(std::nullopt, admin.id, std::nullopt);
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 1);
  CHECK(keys->front().name == "bootstrap");
  CHECK(keys->front().prefix == admin_key.substr(0, 7));
  auto signing = repo.list_signing_keys();
  REQUIRE(signing.ok());
  REQUIRE(signing->size() == 1);
  CHECK_FALSE(signing->front().retired.has_value());
  CHECK(regime.signing_key_public().ok());
}

}  // namespace

// ====================================================================== authenticate

TEST_CASE("authenticate: an API key resolves to its user's identity") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto key = key_plaintext(t.create_api_key(uid));
  auto id = t.regime->authenticate(key);
  REQUIRE(id.ok());
  CHECK(id->handle == uid);
  CHECK(id->principal_id == uid);
  CHECK(id->workspace == "ws-a");
  CHECK(id->source == iam::CredentialSource::api_key);
  CHECK_FALSE(id->expires.has_value());
}

TEST_CASE("authenticate: every API key failure is exactly the opaque auth failure") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  auto& repo = *t.repository;

  SUBCASE("unknown key (hash lookup misses)") {
    CHECK(is_auth_failure(t.regime->authenticate("tg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")));
    const auto key = key_plaintext(t.create_api_key(uid));
    std::string altered = key;
    altered.back() = altered.back() == 'A' ? 'B' : 'A';
    CHECK(is_auth_failure(t.regime->authenticate(altered)));
    CHECK(t.regime->authenticate(key).ok());
  }
  SUBCASE("expired key, by the ManualClock") {
    const auto expires = iam::format_rfc3339(t.clock->now() + 1h);
    auto created = t.regime->create_api_key(std::nullopt, key_input(uid, "short", expires), std::nullopt);
    REQUIRE(created.ok());
    const std::string key(created->plaintext.view());
    t.clock->advance(1h - 1s);
    CHECK(t.regime->authenticate(key).ok());
    t.clock->advance(1s);
    CHECK(is_auth_failure(t.regime->authenticate(key)));
    t.clock->advance(24h);
    CHECK(is_auth_failure(t.regime->authenticate(key)));
  }
  SUBCASE("user disabled (with the key still stored)") {
    const auto key = key_plaintext(t.create_api_key(uid));
    auto u = stored_user(repo, uid);
    u.record.enabled = false;
    store_user(repo, u);
    CHECK(is_auth_failure(t.regime->authenticate(key)));
    u.record.enabled = true;
    store_user(repo, u);
    CHECK(t.regime->authenticate(key).ok());
  }
  SUBCASE("home workspace disabled (user still enabled)") {
    const auto key = key_plaintext(t.create_api_key(uid));
    store_workspace_enabled(repo, "ws-a", false);
    CHECK(is_auth_failure(t.regime->authenticate(key)));
    store_workspace_enabled(repo, "ws-a", true);
    CHECK(t.regime->authenticate(key).ok());
  }
  SUBCASE("revoked key") {
    auto created = t.regime->create_api_key(std::nullopt, key_input(uid), std::nullopt);
    REQUIRE(created.ok());
    REQUIRE(t.regime->revoke_api_key(std::nullopt, created->record.id, std::nullopt).ok());
    CHECK(is_auth_failure(t.regime->authenticate(created->plaintext.view())));
  }
}

TEST_CASE("authenticate: a JWT verifies locally, then user and both workspaces must be enabled") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  auto& repo = *t.repository;
  const auto jwt = key_plaintext(t.login("alice", kPassword));

  auto id = t.regime->authenticate(jwt);
  REQUIRE(id.ok());
  CHECK(id->handle == uid);
  CHECK(id->workspace == "ws-a");
  CHECK(id->source == iam::CredentialSource::jwt);
  REQUIRE(id->expires.has_value());
  CHECK(*id->expires == t.clock->now() + 3600s);

  SUBCASE("bad signature") {
    std::string tampered = jwt;
    const std::size_t sig = tampered.rfind('.') + 5;
    tampered[sig] = tampered[sig] == 'A' ? 'B' : 'A';
    CHECK(is_auth_failure(t.regime->authenticate(tampered)));
  }
  SUBCASE("expired (past exp + leeway)") {
    t.clock->advance(3600s + 60s + 1s);
    CHECK(is_auth_failure(t.regime->authenticate(jwt)));
  }
  SUBCASE("unknown kid") {
    iam::KeySet other(iam::JwtConfig{}, t.clock);
    std::array<std::uint8_t, iam::ed25519_seed_bytes> seed{};
    seed.fill(7);
    auto key = iam::SigningKey::from_seed("not-a-known-kid", seed, t.clock->now());
    REQUIRE(key.ok());
    std::vector<iam::SigningKey> keys;
    keys.push_back(std::move(key).value());
    REQUIRE(other.load(std::move(keys)).ok());
    auto forged = other.sign(uid, "ws-a");
    REQUIRE(forged.ok());
    CHECK(is_auth_failure(t.regime->authenticate(*forged)));
  }
  SUBCASE("wrong issuer, signed with the real active key") {
    auto stored = repo.list_signing_keys();
    REQUIRE(stored.ok());
    std::vector<iam::SigningKey> keys;
    for (const auto& k : *stored) keys.push_back(k.copy());
    iam::JwtConfig cfg;
    cfg.issuer = "someone-else";
    iam::KeySet other(cfg, t.clock);
    REQUIRE(other.load(std::move(keys)).ok());
    auto forged = other.sign(uid, "ws-a");
    REQUIRE(forged.ok());
    CHECK(is_auth_failure(t.regime->authenticate(*forged)));
  }
  SUBCASE("user disabled") {
    auto u = stored_user(repo, uid);
    u.record.enabled = false;
    store_user(repo, u);
    CHECK(is_auth_failure(t.regime->authenticate(jwt)));
  }
  SUBCASE("user deleted") {
    REQUIRE(t.regime->delete_user(std::nullopt, uid, std::nullopt).ok());
    CHECK(is_auth_failure(t.regime->authenticate(jwt)));
  }
  SUBCASE("home workspace disabled") {
    store_workspace_enabled(repo, "ws-a", false);
    CHECK(is_auth_failure(t.regime->authenticate(jwt)));
  }
  SUBCASE("bound workspace disabled while the home workspace is enabled") {
    REQUIRE(t.regime->create_workspace(std::nullopt, workspace_input("ws-b")).ok());
    auto admin_jwt = t.regime->login("admin", "", std::nullopt);  // unusable password: refused
    CHECK(is_auth_failure(admin_jwt));
    // An admin (scope *) with a JWT bound to ws-b; home stays `default`.
    REQUIRE(t.create_user("root", kPassword, {"admin"}, "default").ok());
    auto bound = t.regime->login("root", kPassword, "ws-b");
    REQUIRE(bound.ok());
    CHECK(jwt_claims(bound->jwt.view())["workspace"] == "ws-b");
    auto ok = t.regime->authenticate(bound->jwt.view());
    REQUIRE(ok.ok());
    CHECK(ok->workspace == "ws-b");
    store_workspace_enabled(repo, "ws-b", false);
    CHECK(is_auth_failure(t.regime->authenticate(bound->jwt.view())));
    auto home = t.login("root", kPassword);
    REQUIRE(home.ok());
    CHECK(t.regime->authenticate(*home).ok());
  }
  SUBCASE("bound workspace deleted from under the token is refused too") {
    // A token bound to a workspace the store does not know (signed with the real key).
    auto forged = t.regime->key_set().sign(uid, "nowhere");
    REQUIRE(forged.ok());
    CHECK(is_auth_failure(t.regime->authenticate(*forged)));
  }
}

TEST_CASE("authenticate: malformed credentials are the same opaque failure") {
  auto t = make_iam();
  CHECK(iam::auth_failure() == iam::Error{ErrorCode::auth_failed, "auth failure"});
  for (std::string_view bad : {"", "garbage", "tg_", "tg_short", "a.b.c", "..", "Bearer x", "a.b", "a.b.c.d",
                               "eyJhbGciOiJFZERTQSJ9.e30.AAAA"}) {
    CAPTURE(bad);
    CHECK(is_auth_failure(t.regime->authenticate(bad)));
  }
  CHECK(is_auth_failure(t.regime->authenticate(std::string(20000, 'x'))));
  CHECK(is_auth_failure(t.regime->authenticate("tg_" + std::string(20000, 'x'))));
}

TEST_CASE("authenticate-anonymous: the roles regime always refuses, mentioning anonymous") {
  auto t = make_iam();
  auto r = t.regime->authenticate_anonymous();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::auth_failed);
  CHECK(r.error().message.find("anonymous") != std::string::npos);
  iam::OperationRequest req;
  req.operation = "authenticate-anonymous";
  auto viaexec = t.regime->execute(req);
  REQUIRE_FALSE(viaexec.ok());
  CHECK(viaexec.error().code == ErrorCode::auth_failed);
  CHECK(viaexec.error().message.find("anonymous") != std::string::npos);
}

// ====================================================================== authorise

TEST_CASE("authorise: the default role table grants exactly contract.md's capabilities") {
  auto t = make_iam();
  const auto reader = created_user_id(t.create_user("r", kPassword, {"reader"}, "ws-a"));
  const auto writer = created_user_id(t.create_user("w", kPassword, {"writer"}, "ws-a"));
  const auto admin = created_user_id(t.create_user("ad", kPassword, {"admin"}, "ws-a"));
  const auto ws = Resource::workspace("ws-a");
  const auto writers = writer_set();
  const auto admins = admin_set();
  for (const auto& c : kVocabulary) {
    CAPTURE(c);
    CHECK(allows(*t.regime, reader, c, ws) == (kReader.count(c) == 1));
    CHECK(allows(*t.regime, writer, c, ws) == (writers.count(c) == 1));
    CHECK(allows(*t.regime, admin, c, ws) == (admins.count(c) == 1));
  }
  // The samples the issue names explicitly.
  CHECK(allows(*t.regime, reader, "graph:read", ws));
  CHECK_FALSE(allows(*t.regime, reader, "graph:write", ws));
  CHECK(allows(*t.regime, writer, "graph:write", ws));
  CHECK_FALSE(allows(*t.regime, writer, "users:read", ws));
  CHECK(allows(*t.regime, admin, "users:read", ws));
  // And the data itself.
  const auto table = iam::default_role_table();
  REQUIRE(table.size() == 3);
  CHECK(std::set<std::string>(table.at("reader").capabilities.begin(), table.at("reader").capabilities.end()) ==
        kReader);
  CHECK(std::set<std::string>(table.at("writer").capabilities.begin(), table.at("writer").capabilities.end()) ==
        writers);
  CHECK(std::set<std::string>(table.at("admin").capabilities.begin(), table.at("admin").capabilities.end()) ==
        admins);
  CHECK_FALSE(table.at("reader").all_workspaces);
  CHECK_FALSE(table.at("writer").all_workspaces);
  CHECK(table.at("admin").all_workspaces);
}

TEST_CASE("authorise: target = resource.workspace, else parameters.workspace, else none") {
  auto t = make_iam();
  const auto reader = created_user_id(t.create_user("r", kPassword, {"reader"}, "ws-a"));
  const auto admin = created_user_id(t.create_user("ad", kPassword, {"admin"}, "ws-a"));
  REQUIRE(t.regime->create_workspace(std::nullopt, workspace_input("ws-b")).ok());
  auto& g = *t.regime;

  // own-workspace scope
  CHECK(allows(g, reader, "graph:read", Resource::workspace("ws-a")));
  CHECK(allows(g, reader, "graph:read", Resource::flow("ws-a", "f1")));
  CHECK_FALSE(allows(g, reader, "graph:read", Resource::workspace("ws-b")));
  CHECK_FALSE(allows(g, reader, "graph:read", Resource::flow("ws-b", "f1")));
  // no resource workspace: the parameter decides
  CHECK(allows(g, reader, "graph:read", {}, {{"workspace", "ws-a"}}));
  CHECK_FALSE(allows(g, reader, "graph:read", {}, {{"workspace", "ws-b"}}));
  // the resource wins over the parameter, both ways
  CHECK(allows(g, reader, "graph:read", Resource::workspace("ws-a"), {{"workspace", "ws-b"}}));
  CHECK_FALSE(allows(g, reader, "graph:read", Resource::workspace("ws-b"), {{"workspace", "ws-a"}}));
  // no target at all: the capability alone decides
  CHECK(allows(g, reader, "graph:read"));
  CHECK_FALSE(allows(g, reader, "graph:write"));
  // other parameters and unknown components are ignored
  CHECK(allows(g, reader, "graph:read", {}, {{"flow", "x"}, {"user", "y"}}));
  Resource odd = Resource::workspace("ws-a");
  odd.set("colour", "blue");
  CHECK(allows(g, reader, "graph:read", odd));
  // admin scope: every workspace, even one that does not exist
  CHECK(allows(g, admin, "graph:read", Resource::workspace("ws-b")));
  CHECK(allows(g, admin, "users:admin", {}, {{"workspace", "ws-b"}}));
  CHECK(allows(g, admin, "config:write", Resource::workspace("anything")));
}

TEST_CASE("authorise: any one role granting capability and scope is enough; unknown roles grant nothing") {
  std::vector<std::string> warnings;
  std::mutex m;
  iam::testing::TestIamOptions options;
  options.logger = [&](iam::LogLevel level, std::string_view msg) {
    std::lock_guard lock(m);
    if (level == iam::LogLevel::warning) warnings.emplace_back(msg);
  };
  auto t = make_iam(options);
  auto& repo = *t.repository;
  const auto uid = created_user_id(t.create_user("u", kPassword, {"reader"}, "ws-a"));

  auto u = stored_user(repo, uid);
  u.record.roles = {"ghost"};  // not in the table (e.g. removed from it after assignment)
  store_user(repo, u);
  for (const auto& c : kVocabulary) CHECK_FALSE(allows(*t.regime, uid, c));
  CHECK_FALSE(allows(*t.regime, uid, "graph:read", Resource::workspace("ws-a")));
  {
    std::lock_guard lock(m);
    CHECK(std::any_of(warnings.begin(), warnings.end(),
                      [](const std::string& w) { return w.find("ghost") != std::string::npos; }));
  }

  u.record.roles = {"ghost", "reader"};
  store_user(repo, u);
  CHECK(allows(*t.regime, uid, "graph:read", Resource::workspace("ws-a")));
  CHECK_FALSE(allows(*t.regime, uid, "graph:write", Resource::workspace("ws-a")));

  // reader + admin: no hierarchy, no order; admin's scope covers ws-b
  u.record.roles = {"reader", "admin"};
  store_user(repo, u);
  CHECK(allows(*t.regime, uid, "graph:read", Resource::workspace("ws-b")));
  u.record.roles = {"admin", "reader"};
  store_user(repo, u);
  CHECK(allows(*t.regime, uid, "graph:read", Resource::workspace("ws-b")));

  u.record.roles = {};
  store_user(repo, u);
  CHECK_FALSE(allows(*t.regime, uid, "graph:read"));
}

TEST_CASE("authorise: unknown capability, disabled user and unknown handle deny; TTL is 60 s") {
  auto t = make_iam();
  const auto admin = t.admin_user_id;
  const auto uid = created_user_id(t.create_user("u", kPassword, {"writer"}, "ws-a"));
  auto& g = *t.regime;

  auto allow = g.authorise(identity_of(uid), "graph:read", Resource::workspace("ws-a"), {});
  CHECK(allow.allow);
  CHECK(allow.ttl == 60s);
  auto deny = g.authorise(identity_of(uid), "users:admin", Resource::workspace("ws-a"), {});
  CHECK_FALSE(deny.allow);
  CHECK(deny.ttl == 60s);

  for (std::string_view c : {"bogus", "graph:delete", "", "PUBLIC", "AUTHENTICATED", "*", "graph:*"}) {
    CAPTURE(c);
    auto d = g.authorise(identity_of(admin), c, {}, {});
    CHECK_FALSE(d.allow);
  }

  auto unknown = g.authorise(identity_of("no-such-user"), "graph:read", {}, {});
  CHECK_FALSE(unknown.allow);
  CHECK(unknown.ttl == 60s);
  CHECK_FALSE(g.authorise(identity_of(""), "graph:read", {}, {}).allow);

  REQUIRE(g.disable_user(std::nullopt, uid, std::nullopt).ok());
  auto disabled = g.authorise(identity_of(uid), "graph:read", Resource::workspace("ws-a"), {});
  CHECK_FALSE(disabled.allow);
  CHECK(disabled.ttl == 60s);
  REQUIRE(g.enable_user(std::nullopt, uid, std::nullopt).ok());
  CHECK(g.authorise(identity_of(uid), "graph:read", Resource::workspace("ws-a"), {}).allow);

  // Roles are read from storage at decision time, not from the identity.
  iam::Identity stale = identity_of(uid);
  stale.workspace = "ws-b";  // the credential's workspace is never policy input
  CHECK(g.authorise(stale, "graph:read", Resource::workspace("ws-a"), {}).allow);
  CHECK_FALSE(g.authorise(stale, "graph:read", Resource::workspace("ws-b"), {}).allow);
}

TEST_CASE("authorise_many: one answer per check, in request order") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("u", kPassword, {"reader"}, "ws-a"));
  std::vector<iam::AuthorisationCheck> checks = {
      {"graph:read", Resource::workspace("ws-a"), {}},   // allow
      {"graph:write", Resource::workspace("ws-a"), {}},  // deny: capability
      {"graph:read", Resource::workspace("ws-b"), {}},   // deny: scope
      {"llm", Resource::flow("ws-a", "f"), {}},          // allow
      {"unknown:cap", {}, {}},                           // deny
      {"config:read", {}, {{"workspace", "ws-a"}}},      // allow
      {"config:read", {}, {{"workspace", "ws-c"}}},      // deny
  };
  auto answers = t.regime->authorise_many(identity_of(uid), checks);
  REQUIRE(answers.size() == checks.size());
  const std::vector<bool> expected = {true, false, false, true, false, true, false};
  for (std::size_t i = 0; i < checks.size(); ++i) {
    CAPTURE(i);
    CHECK(answers[i].allow == expected[i]);
    CHECK(answers[i].ttl == 60s);
    // the same as one authorise each
    CHECK(answers[i] == t.regime->authorise(identity_of(uid), checks[i].capability, checks[i].resource,
                                            checks[i].parameters));
  }
  CHECK(t.regime->authorise_many(identity_of(uid), {}).empty());
  auto unknown = t.regime->authorise_many(identity_of("nobody"), checks);
  REQUIRE(unknown.size() == checks.size());
  for (const auto& d : unknown) CHECK_FALSE(d.allow);
  REQUIRE(t.regime->disable_user(std::nullopt, uid, std::nullopt).ok());
  for (const auto& d : t.regime->authorise_many(identity_of(uid), checks)) CHECK_FALSE(d.allow);
}

TEST_CASE("authorise: the role table is data (an application-defined helpdesk role)") {
  iam::testing::TestIamOptions options;
  options.roles = helpdesk_roles();
  auto t = make_iam(options);
  const auto hd = created_user_id(t.create_user("hd", kPassword, {"helpdesk"}, "ws-a"));
  auto& g = *t.regime;
  CHECK(t.regime->role_table().count("helpdesk") == 1);
  for (std::string_view c : {"users:read", "users:write", "keys:admin"}) {
    CAPTURE(c);
    CHECK(allows(g, hd, c, {}, {{"workspace", "ws-a"}}));
    CHECK(allows(g, hd, c));
    CHECK_FALSE(allows(g, hd, c, {}, {{"workspace", "ws-b"}}));
    CHECK_FALSE(allows(g, hd, c, Resource::workspace("ws-b")));
  }
  for (std::string_view c : {"users:admin", "graph:read", "keys:self", "workspaces:admin", "iam:admin"}) {
    CAPTURE(c);
    CHECK_FALSE(allows(g, hd, c, {}, {{"workspace", "ws-a"}}));
  }
  // create-user accepts the new role name; an unknown name is still refused
  CHECK(t.create_user("hd2", kPassword, {"helpdesk"}, "ws-a").ok());
  CHECK(code_of(t.create_user("hd3", kPassword, {"superhero"}, "ws-a")) == ErrorCode::invalid_argument);
}

// ====================================================================== configuration

TEST_CASE("configuration: a bootstrap mode is required and there is no default") {
  EnvGuard env;
  auto c = base_config();
  c.password_iterations = iam::minimum_password_iterations;
  auto r = iam::RolesRegime::create(std::move(c));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(r.error().message.find("bootstrap") != std::string::npos);

  auto without_env = base_config();
  without_env.read_environment = false;
  EnvGuard::set("IAM_BOOTSTRAP_MODE", "bootstrap");  // ignored when read_environment is off
  auto r2 = iam::RolesRegime::create(std::move(without_env));
  CHECK(code_of(r2) == ErrorCode::invalid_argument);
}

TEST_CASE("configuration: explicit modes and their validation") {
  EnvGuard env;
  SUBCASE("bootstrap mode starts and seeds nothing") {
    auto c = base_config();
    auto repo = c.repository;
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    auto r = iam::RolesRegime::create(std::move(c));
    REQUIRE(r.ok());
    CHECK((*r)->name() == "roles");
    CHECK(*repo->is_empty());
    CHECK((*r)->bootstrap_available());
  }
  SUBCASE("bootstrap mode given a token refuses to start") {
    auto c = base_config();
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    c.bootstrap_token = iam::SecretString(std::string_view(kOperatorToken));
    CHECK(code_of(iam::RolesRegime::create(std::move(c))) == ErrorCode::invalid_argument);
  }
  SUBCASE("token mode without a token refuses to start") {
    auto c = base_config();
    c.bootstrap_mode = iam::BootstrapMode::token;
    CHECK(code_of(iam::RolesRegime::create(std::move(c))) == ErrorCode::invalid_argument);
    auto empty = base_config();
    empty.bootstrap_mode = iam::BootstrapMode::token;
    empty.bootstrap_token = iam::SecretString();
    CHECK(code_of(iam::RolesRegime::create(std::move(empty))) == ErrorCode::invalid_argument);
  }
  SUBCASE("token mode with a malformed token refuses to start") {
    for (const char* bad : {"not-a-tg-token-at-all-000", "tg_short", "tg_has a space in it 00000"}) {
      CAPTURE(bad);
      auto c = base_config();
      c.bootstrap_mode = iam::BootstrapMode::token;
      c.bootstrap_token = iam::SecretString(std::string_view(bad));
      CHECK(code_of(iam::RolesRegime::create(std::move(c))) == ErrorCode::invalid_argument);
    }
  }
  SUBCASE("no repository") {
    iam::RolesConfig c;
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    c.logger = iam::null_logger();
    CHECK(code_of(iam::RolesRegime::create(std::move(c))) == ErrorCode::invalid_argument);
  }
  SUBCASE("PBKDF2 cost below the production minimum") {
    auto c = base_config();
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    c.password_iterations = iam::minimum_password_iterations - 1;
    CHECK(code_of(iam::RolesRegime::create(std::move(c))) == ErrorCode::invalid_argument);
    auto higher = base_config();
    higher.bootstrap_mode = iam::BootstrapMode::bootstrap;
    higher.password_iterations = iam::minimum_password_iterations + 1;
    CHECK(iam::RolesRegime::create(std::move(higher)).ok());
  }
  SUBCASE("bad JWT settings") {
    auto c = base_config();
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    c.jwt.issuer = "";
    CHECK(code_of(iam::RolesRegime::create(std::move(c))) == ErrorCode::invalid_argument);
    auto d = base_config();
    d.bootstrap_mode = iam::BootstrapMode::bootstrap;
    d.jwt.lifetime = 0s;
    CHECK(code_of(iam::RolesRegime::create(std::move(d))) == ErrorCode::invalid_argument);
  }
  SUBCASE("parse_bootstrap_mode") {
    CHECK(iam::parse_bootstrap_mode("token") == iam::BootstrapMode::token);
    CHECK(iam::parse_bootstrap_mode("bootstrap") == iam::BootstrapMode::bootstrap);
    CHECK_FALSE(iam::parse_bootstrap_mode("").has_value());
    CHECK_FALSE(iam::parse_bootstrap_mode("Token").has_value());
    CHECK_FALSE(iam::parse_bootstrap_mode("none").has_value());
  }
}

TEST_CASE("configuration: IAM_BOOTSTRAP_MODE / IAM_BOOTSTRAP_TOKEN when not configured") {
  EnvGuard env;
  SUBCASE("mode bootstrap from the environment") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "bootstrap");
    auto c = base_config();
    auto r = iam::RolesRegime::create(std::move(c));
    REQUIRE(r.ok());
    CHECK((*r)->bootstrap_available());
  }
  SUBCASE("an invalid mode in the environment refuses to start") {
    for (const char* bad : {"tokens", "BOOTSTRAP", "noauth", " token"}) {
      CAPTURE(bad);
      EnvGuard::set("IAM_BOOTSTRAP_MODE", bad);
      auto r = iam::RolesRegime::create(base_config());
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == ErrorCode::invalid_argument);
      CHECK(r.error().message.find("IAM_BOOTSTRAP_MODE") != std::string::npos);
    }
  }
  SUBCASE("token mode and token both from the environment") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "token");
    EnvGuard::set("IAM_BOOTSTRAP_TOKEN", kOperatorToken);
    auto c = base_config();
    auto repo = c.repository;
    auto r = iam::detail::create_roles_regime_for_testing(std::move(c), 1000);
    REQUIRE(r.ok());
    check_seeded_store(*repo, **r, kOperatorToken);
  }
  SUBCASE("token mode from the environment without a token refuses") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "token");
    CHECK(code_of(iam::RolesRegime::create(base_config())) == ErrorCode::invalid_argument);
  }
  SUBCASE("bootstrap mode from the environment with a token in it refuses") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "bootstrap");
    EnvGuard::set("IAM_BOOTSTRAP_TOKEN", kOperatorToken);
    CHECK(code_of(iam::RolesRegime::create(base_config())) == ErrorCode::invalid_argument);
  }
  SUBCASE("explicit mode wins over the environment") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "token");  // would refuse: no token anywhere
    auto c = base_config();
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    auto r = iam::RolesRegime::create(std::move(c));
    REQUIRE(r.ok());
    CHECK((*r)->bootstrap_available());
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "garbage");  // not even parsed
    auto c2 = base_config();
    c2.bootstrap_mode = iam::BootstrapMode::bootstrap;
    CHECK(iam::RolesRegime::create(std::move(c2)).ok());
  }
  SUBCASE("explicit token wins over the environment's token") {
    EnvGuard::set("IAM_BOOTSTRAP_MODE", "token");
    EnvGuard::set("IAM_BOOTSTRAP_TOKEN", "tg_environmentTokenIsNotUsed_000000");
    auto c = base_config();
    auto repo = c.repository;
    c.bootstrap_token = iam::SecretString(std::string_view(kOperatorToken));
    auto r = iam::detail::create_roles_regime_for_testing(std::move(c), 1000);
    REQUIRE(r.ok());
    check_seeded_store(*repo, **r, kOperatorToken);
    CHECK(is_auth_failure((*r)->authenticate("tg_environmentTokenIsNotUsed_000000")));
  }
}

// ====================================================================== bootstrap

TEST_CASE("token mode: seeds an empty store, is a no-op later, and refuses the bootstrap operation") {
  auto repo = iam::make_memory_repository();
  auto r = token_regime(repo);
  REQUIRE(r.ok());
  auto& g = **r;
  check_seeded_store(*repo, g, kOperatorToken);
  CHECK_FALSE(g.bootstrap_available());

  auto refused = g.bootstrap();
  CHECK(is_auth_failure(refused));
  iam::OperationRequest req;
  req.operation = "bootstrap";
  auto refused2 = g.execute(req);
  CHECK(is_auth_failure(refused2));
  iam::OperationRequest status;
  status.operation = "bootstrap-status";
  auto st = g.execute(status);
  REQUIRE(st.ok());
  CHECK(st->bootstrap_available == false);

  // A second start (same store, another token): nothing new is seeded.
  auto again = token_regime(repo, "tg_aDifferentOperatorToken_00000000");
  REQUIRE(again.ok());
  CHECK(is_auth_failure((*again)->authenticate("tg_aDifferentOperatorToken_00000000")));
  CHECK((*again)->authenticate(kOperatorToken).ok());
  check_seeded_store(*repo, **again, kOperatorToken);
}

TEST_CASE("token mode: a store that is not empty is left alone") {
  auto t = make_iam();
  auto r = token_regime(t.repository);
  REQUIRE(r.ok());
  CHECK(is_auth_failure((*r)->authenticate(kOperatorToken)));
  auto users = t.repository->list_users(std::nullopt);
  REQUIRE(users.ok());
  CHECK(users->size() == 1);
  CHECK((*r)->authenticate(t.admin_api_key).ok());
}

TEST_CASE("token mode: seeding is atomic") {
  auto inner = iam::make_memory_repository();
  auto repo = std::make_shared<DecoratedRepository>(inner);
  repo->fail_when = [](std::span<const iam::Mutation> change) {
    return contains_mutation<iam::mutation::InsertSigningKey>(change);
  };
  auto r = token_regime(repo);
  CHECK_FALSE(r.ok());
  CHECK(*inner->is_empty());
  auto keys = inner->list_signing_keys();
  REQUIRE(keys.ok());
  CHECK(keys->empty());
  repo->fail_when = nullptr;
  auto ok = token_regime(repo);
  REQUIRE(ok.ok());
  check_seeded_store(*inner, **ok, kOperatorToken);
}

TEST_CASE("bootstrap mode: status, then bootstrap succeeds once, then refuses (masked)") {
  iam::testing::TestIamOptions options;
  options.bootstrap = false;
  auto t = make_iam(options);
  auto& g = *t.regime;

  // status has no side effects
  CHECK(g.bootstrap_available());
  CHECK(g.bootstrap_available());
  CHECK(*t.repository->is_empty());
  // no signing key yet
  auto pem = g.signing_key_public();
  REQUIRE_FALSE(pem.ok());
  CHECK(pem.error().code == ErrorCode::not_found);
  iam::OperationRequest pub;
  pub.operation = "get-signing-key-public";
  CHECK(code_of(g.execute(pub)) == ErrorCode::not_found);

  auto first = g.bootstrap();
  REQUIRE(first.ok());
  const std::string key(first->admin_api_key.view());
  CHECK(key.size() == 35);
  CHECK(key.starts_with("tg_"));
  check_seeded_store(*t.repository, g, key);
  CHECK(stored_user(*t.repository, first->admin_user_id).record.username == "admin");
  CHECK_FALSE(g.bootstrap_available());
  // the unusable password cannot be guessed as empty or as the username
  CHECK(is_auth_failure(g.login("admin", "", std::nullopt)));
  CHECK(is_auth_failure(g.login("admin", "admin", std::nullopt)));

  auto second = g.bootstrap();
  CHECK(is_auth_failure(second));
  // identical to the token-mode refusal
  auto token_mode = token_regime(iam::make_memory_repository());
  REQUIRE(token_mode.ok());
  auto token_refusal = (*token_mode)->bootstrap();
  REQUIRE_FALSE(token_refusal.ok());
  CHECK(second.error() == token_refusal.error());
  CHECK(second.error().message == "auth failure");
}

TEST_CASE("bootstrap mode: refused once the store has anything in it") {
  iam::testing::TestIamOptions options;
  options.bootstrap = false;
  auto t = make_iam(options);
  REQUIRE(t.regime->create_workspace(std::nullopt, workspace_input("early")).ok());
  CHECK_FALSE(t.regime->bootstrap_available());
  CHECK(is_auth_failure(t.regime->bootstrap()));
}

TEST_CASE("bootstrap mode: seeding is one atomic change") {
  auto inner = iam::make_memory_repository();
  auto repo = std::make_shared<DecoratedRepository>(inner);
  auto c = base_config(repo);
  c.bootstrap_mode = iam::BootstrapMode::bootstrap;
  c.read_environment = false;
  auto r = iam::detail::create_roles_regime_for_testing(std::move(c), 1000);
  REQUIRE(r.ok());
  auto& g = **r;

  repo->fail_when = [](std::span<const iam::Mutation> change) {
    return contains_mutation<iam::mutation::InsertSigningKey>(change);
  };
  CHECK_FALSE(g.bootstrap().ok());
  CHECK(*inner->is_empty());
  CHECK(inner->list_signing_keys()->empty());
  CHECK(g.bootstrap_available());

  repo->fail_when = nullptr;
  repo->applies = 0;
  repo->change_sizes.clear();
  auto ok = g.bootstrap();
  REQUIRE(ok.ok());
  CHECK(repo->applies == 1);  // workspace, user, key and signing key in one change
  check_seeded_store(*inner, g, std::string(ok->admin_api_key.view()));
}

TEST_CASE("bootstrap mode: concurrent bootstraps, exactly one wins") {
  iam::testing::TestIamOptions options;
  options.bootstrap = false;
  auto t = make_iam(options);
  std::atomic<int> wins{0};
  std::atomic<int> masked{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto r = t.regime->bootstrap();
      if (r.ok()) ++wins;
      else if (r.error() == iam::auth_failure()) ++masked;
    });
  for (auto& th : threads) th.join();
  CHECK(wins.load() == 1);
  CHECK(masked.load() == 7);
  auto users = t.repository->list_users(std::nullopt);
  REQUIRE(users.ok());
  CHECK(users->size() == 1);
}

// ====================================================================== login

TEST_CASE("login: a JWT with the configured issuer and lifetime, bound to the home workspace") {
  iam::testing::TestIamOptions options;
  options.jwt.issuer = "example-issuer";
  options.jwt.lifetime = 900s;
  auto t = make_iam(options);
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto t0 = t.clock->now();

  auto r = t.regime->login("alice", kPassword, std::nullopt);
  REQUIRE(r.ok());
  CHECK(r->expires == t0 + 900s);
  const std::string jwt(r->jwt.view());
  const auto header = jwt_header(jwt);
  CHECK(header["alg"] == "EdDSA");
  CHECK(header["typ"] == "JWT");
  CHECK(header["kid"] == *t.regime->key_set().active_kid());
  const auto claims = jwt_claims(jwt);
  CHECK(claims["iss"] == "example-issuer");
  CHECK(claims["sub"] == uid);
  CHECK(claims["workspace"] == "ws-a");
  CHECK(claims["default_workspace"] == "ws-a");
  CHECK(claims["iat"] == iam::unix_seconds(t0));
  CHECK(claims["exp"] == iam::unix_seconds(t0) + 900);
  auto id = t.regime->authenticate(jwt);
  REQUIRE(id.ok());
  CHECK(id->handle == uid);

  // username lookup ignores ASCII case
  CHECK(t.regime->login("ALICE", kPassword, std::nullopt).ok());
  // the override may name the home workspace itself
  auto own = t.regime->login("alice", kPassword, "ws-a");
  REQUIRE(own.ok());
  CHECK(jwt_claims(own->jwt.view())["workspace"] == "ws-a");
  auto empty_override = t.regime->login("alice", kPassword, "");
  REQUIRE(empty_override.ok());
  CHECK(jwt_claims(empty_override->jwt.view())["workspace"] == "ws-a");
}

TEST_CASE("login: a workspace override must exist, be enabled and be in the user's scope") {
  auto t = make_iam();
  REQUIRE(t.create_user("reader", kPassword, {"reader"}, "ws-a").ok());
  REQUIRE(t.create_user("root", kPassword, {"admin"}, "ws-a").ok());
  REQUIRE(t.regime->create_workspace(std::nullopt, workspace_input("ws-b")).ok());
  REQUIRE(t.regime->create_workspace(std::nullopt, workspace_input("ws-off", std::nullopt, false)).ok());

  auto admin_b = t.regime->login("root", kPassword, "ws-b");
  REQUIRE(admin_b.ok());
  CHECK(jwt_claims(admin_b->jwt.view())["workspace"] == "ws-b");
  CHECK(jwt_claims(admin_b->jwt.view())["default_workspace"] == "ws-b");

  CHECK(is_auth_failure(t.regime->login("reader", kPassword, "ws-b")));     // out of scope
  CHECK(is_auth_failure(t.regime->login("root", kPassword, "ws-missing")));  // unknown
  CHECK(is_auth_failure(t.regime->login("root", kPassword, "ws-off")));      // disabled
  CHECK(is_auth_failure(t.regime->login("reader", kPassword, "ws-missing")));
}

TEST_CASE("login: unknown user, disabled user and wrong password are the same failure") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  CHECK(is_auth_failure(t.regime->login("nobody", kPassword, std::nullopt)));
  CHECK(is_auth_failure(t.regime->login("alice", "wrong password", std::nullopt)));
  CHECK(is_auth_failure(t.regime->login("alice", "", std::nullopt)));
  CHECK(is_auth_failure(t.regime->login("", kPassword, std::nullopt)));
  CHECK(is_auth_failure(t.regime->login("alice", std::string(5000, 'p'), std::nullopt)));
  REQUIRE(t.regime->disable_user(std::nullopt, uid, std::nullopt).ok());
  CHECK(is_auth_failure(t.regime->login("alice", kPassword, std::nullopt)));
  CHECK(is_auth_failure(t.regime->login("alice", "wrong password", std::nullopt)));
  REQUIRE(t.regime->enable_user(std::nullopt, uid, std::nullopt).ok());
  CHECK(t.regime->login("alice", kPassword, std::nullopt).ok());
  // home workspace disabled: the user may be enabled again, still no login
  REQUIRE(t.regime->disable_workspace(std::nullopt, "ws-a").ok());
  REQUIRE(t.regime->enable_user(std::nullopt, uid, std::nullopt).ok());
  CHECK(is_auth_failure(t.regime->login("alice", kPassword, std::nullopt)));
}

TEST_CASE("login: a temporary password from reset-password logs in") {
  auto t = make_iam();
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  auto temp = t.regime->reset_password(std::nullopt, uid, std::nullopt);
  REQUIRE(temp.ok());
  CHECK(is_auth_failure(t.regime->login("alice", kPassword, std::nullopt)));
  auto r = t.regime->login("alice", temp->view(), std::nullopt);
  REQUIRE(r.ok());
  CHECK(t.regime->authenticate(r->jwt.view()).ok());
  CHECK(stored_user(*t.repository, uid).record.must_change_password);
}

TEST_CASE("login: a hash below the configured cost is re-hashed on success") {
  auto t = make_iam();  // 1000 iterations
  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  const auto before = stored_user(*t.repository, uid).password_hash;
  CHECK(before.starts_with("pbkdf2-sha256$1000$"));
  // a login at the same cost does not touch the hash
  REQUIRE(t.regime->login("alice", kPassword, std::nullopt).ok());
  CHECK(stored_user(*t.repository, uid).password_hash == before);

  auto open = [&](std::uint32_t iterations) {
    iam::RolesConfig c;
    c.repository = t.repository;
    c.bootstrap_mode = iam::BootstrapMode::bootstrap;
    c.read_environment = false;
    c.clock = t.clock;
    c.logger = iam::null_logger();
    auto r = iam::detail::create_roles_regime_for_testing(std::move(c), iterations);
    REQUIRE(r.ok());
    return std::move(r).value();
  };
  auto stronger = open(2000);
  // a failed login changes nothing
  CHECK(is_auth_failure(stronger->login("alice", "wrong password", std::nullopt)));
  CHECK(stored_user(*t.repository, uid).password_hash == before);

  REQUIRE(stronger->login("alice", kPassword, std::nullopt).ok());
  const auto after = stored_user(*t.repository, uid).password_hash;
  CHECK(after.starts_with("pbkdf2-sha256$2000$"));
  CHECK(after != before);
  // both regimes still accept the password; the cheaper one never downgrades it
  REQUIRE(t.regime->login("alice", kPassword, std::nullopt).ok());
  CHECK(stored_user(*t.repository, uid).password_hash == after);
  CHECK(stronger->login("alice", kPassword, std::nullopt).ok());
}

// ====================================================================== signing keys

TEST_CASE("get-signing-key-public: the active key as PEM") {
  auto t = make_iam();
  auto pem = t.regime->signing_key_public();
  REQUIRE(pem.ok());
  CHECK(pem->starts_with("-----BEGIN PUBLIC KEY-----"));
  auto parsed = iam::public_key_from_pem(*pem);
  REQUIRE(parsed.ok());
  auto stored = t.repository->list_signing_keys();
  REQUIRE(stored.ok());
  REQUIRE(stored->size() == 1);
  CHECK(*parsed == stored->front().public_key);
}

TEST_CASE("rotate-signing-key: old tokens verify through the grace period, then fail") {
  auto t = make_iam();
  REQUIRE(t.create_user("alice", kPassword, {"reader"}, "ws-a").ok());
  const auto uid = t.repository->find_user_by_username("alice")->record.id;
  const auto t0 = t.clock->now();
  const auto old_kid = *t.regime->key_set().active_kid();
  const auto old_pem = *t.regime->signing_key_public();
  const auto old_jwt = key_plaintext(t.login("alice", kPassword));
  // a token that outlives the grace period, so only the key's retirement can end it
  auto long_lived = t.regime->key_set().sign(
      iam::JwtClaims{"trustgraph-iam", uid, "ws-a", t0, t0 + std::chrono::hours(24 * 30)});
  REQUIRE(long_lived.ok());

  REQUIRE(t.regime->rotate_signing_key(std::nullopt).ok());
  const auto new_kid = *t.regime->key_set().active_kid();
  CHECK(new_kid != old_kid);
  CHECK(*t.regime->signing_key_public() != old_pem);
  const auto new_jwt = key_plaintext(t.login("alice", kPassword));
  CHECK(jwt_header(new_jwt)["kid"] == new_kid);
  CHECK(jwt_header(old_jwt)["kid"] == old_kid);
  CHECK(t.regime->authenticate(new_jwt).ok());
  CHECK(t.regime->authenticate(old_jwt).ok());
  CHECK(t.regime->authenticate(*long_lived).ok());
  const auto jwks = json::parse(t.regime->jwks());
  CHECK(jwks["keys"].size() == 2);

  // the retired key's private half is gone from storage
  auto stored = t.repository->list_signing_keys();
  REQUIRE(stored.ok());
  REQUIRE(stored->size() == 2);
  for (const auto& k : *stored) {
    if (k.kid == old_kid) {
      CHECK(k.retired.has_value());
      CHECK(k.secret_key.empty());
    } else {
      CHECK(k.kid == new_kid);
      CHECK_FALSE(k.retired.has_value());
      CHECK(k.secret_key.size() == iam::ed25519_secret_key_bytes);
    }
  }

  // grace = lifetime + leeway = 3660 s by default
  t.clock->advance(3600s);
  CHECK(t.regime->authenticate(old_jwt).ok());
  CHECK(t.regime->authenticate(*long_lived).ok());
  t.clock->advance(59s);
  CHECK(t.regime->authenticate(*long_lived).ok());
  t.clock->advance(1s);  // retired + grace
  CHECK(is_auth_failure(t.regime->authenticate(*long_lived)));
  CHECK(is_auth_failure(t.regime->authenticate(old_jwt)));
  CHECK(json::parse(t.regime->jwks())["keys"].size() == 1);
  const auto fresh = key_plaintext(t.login("alice", kPassword));
  CHECK(t.regime->authenticate(fresh).ok());

  // a later rotation drops keys past their grace from storage
  t.clock->advance(1s);
  REQUIRE(t.regime->rotate_signing_key(std::nullopt).ok());
  auto after = t.repository->list_signing_keys();
  REQUIRE(after.ok());
  for (const auto& k : *after) CHECK(k.kid != old_kid);
  CHECK(t.regime->authenticate(fresh).ok());
}

TEST_CASE("rotate-signing-key: needs iam:admin when an actor is named") {
  auto t = make_iam();
  const auto w = created_user_id(t.create_user("w", kPassword, {"writer"}, "default"));
  const auto kid = *t.regime->key_set().active_kid();
  CHECK(code_of(t.regime->rotate_signing_key(w)) == ErrorCode::operation_not_permitted);
  CHECK(*t.regime->key_set().active_kid() == kid);
  CHECK(t.regime->rotate_signing_key(t.admin_user_id).ok());
  CHECK(*t.regime->key_set().active_kid() != kid);
}

TEST_CASE("rotate-signing-key: concurrent rotations leave memory agreeing with storage") {
  auto t = make_iam();
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 25; ++j) CHECK(t.regime->rotate_signing_key(std::nullopt).ok());
    });
  for (auto& th : threads) th.join();
  auto stored = t.repository->list_signing_keys();
  REQUIRE(stored.ok());
  std::vector<std::string> active;
  for (const auto& k : *stored)
    if (!k.retired) active.push_back(k.kid);
  REQUIRE(active.size() == 1);
  CHECK(*t.regime->key_set().active_kid() == active.front());
  // and what this process signs, the store still has a private key for
  REQUIRE(t.create_user("alice", kPassword, {"reader"}, "ws-a").ok());
  const auto jwt = key_plaintext(t.login("alice", kPassword));
  CHECK(jwt_header(jwt)["kid"] == active.front());
}
