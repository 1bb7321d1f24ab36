// The roles regime's authorisation (contract.md "The roles regime's policy"): authorise
// and authorise_many with the role table and scope rules.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "iam/forwarding_repository.h"
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

bool allows(iam::RolesRegime& regime, const std::string& user_id, std::string_view capability,
            const Resource& resource = {}, const iam::Parameters& parameters = {}) {
  return regime.authorise(identity_of(user_id), capability, resource, parameters).allow;
}

}  // namespace

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

TEST_CASE("Resource::get: the named component, with a few components and with many") {
  Resource r = Resource::flow("ws-a", "f1");
  CHECK(r.get("workspace") == "ws-a");
  CHECK(r.get("flow") == "f1");
  CHECK(r.get("collection").empty());
  CHECK(r.get("workspac").empty());
  CHECK(r.get("workspace ").empty());
  for (const char* name : {"collection", "document", "a", "z"}) r.set(name, std::string("v-") + name);
  REQUIRE(r.components().size() == 6);  // more than a few: the map's own lookup
  CHECK(r.get("workspace") == "ws-a");
  CHECK(r.get("document") == "v-document");
  CHECK(r.get("z") == "v-z");
  CHECK(r.get("b").empty());
  CHECK(Resource::system().get("workspace").empty());
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

namespace {
// A store whose authorisation read (the one authorise makes) fails while `fail` is set.
class FailingAuthorisationReads final : public iam::ForwardingRepository {
 public:
  using ForwardingRepository::ForwardingRepository;
  std::atomic<bool> fail{false};
  iam::Status read_user_authorisation(std::string_view id,
                                      iam::FunctionRef<void(const iam::UserAuthorisationView&)> read) override {
    if (fail) return iam::Error{ErrorCode::internal_error, "injected failure"};
    return ForwardingRepository::read_user_authorisation(id, read);
  }
};
}  // namespace

TEST_CASE("authorise: a store failure denies, with no TTL (an error is not worth caching)") {
  auto store = std::make_shared<FailingAuthorisationReads>(iam::make_memory_repository());
  iam::RolesConfig config;
  config.repository = store;
  config.bootstrap_mode = iam::BootstrapMode::bootstrap;
  config.read_environment = false;
  config.clock = std::make_shared<iam::ManualClock>();
  config.logger = iam::null_logger();
  auto made = iam::detail::create_roles_regime_for_testing(std::move(config), 1000);
  REQUIRE(made.ok());
  const std::shared_ptr<iam::RolesRegime> regime = std::move(made).value();
  REQUIRE(regime->bootstrap().ok());
  const auto created = regime->create_user(std::nullopt, "default", user_input("u", kPassword, std::vector<std::string>{"reader"}));
  REQUIRE(created.ok());
  const std::string uid = created->id;
  const std::vector<iam::AuthorisationCheck> checks = {{"graph:read", Resource::workspace("default"), {}},
                                                       {"config:read", {}, {{"workspace", "default"}}}};
  REQUIRE(allows(*regime, uid, "graph:read"));

  store->fail = true;
  const auto d = regime->authorise(identity_of(uid), "graph:read", Resource::workspace("default"), {});
  CHECK_FALSE(d.allow);
  CHECK(d.ttl == 0s);
  const auto many = regime->authorise_many(identity_of(uid), checks);
  REQUIRE(many.size() == checks.size());
  for (const auto& answer : many) {
    CHECK_FALSE(answer.allow);
    CHECK(answer.ttl == 0s);
  }

  store->fail = false;
  CHECK(allows(*regime, uid, "graph:read"));
  for (const auto& answer : regime->authorise_many(identity_of(uid), checks)) CHECK(answer.allow);
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
