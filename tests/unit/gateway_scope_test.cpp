// Workspace scope on the enforcement path (issue 14, items 9, 14, 16, 17): passthrough
// stays "any valid credential" but only inside the caller's scope, both generations of
// the workspace field name the authorised workspace, a disabled workspace is missing to
// the data plane, and operations reaching every workspace need a role reaching every
// workspace. The real roles regime where policy matters, the fake one to see what is asked.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "../support/enforcer.h"
#include "gateway_fakes.h"
#include "iam/protocol.h"
#include "iam/testing.h"

using namespace gateway_test;
using iam::Outcome;
using iam::Refusal;
using nlohmann::json;

namespace {

const std::string denied_body = R"({"error":"access denied"})";
const std::string missing_body = R"({"error":"workspace not found"})";

json body_of(const Outcome& outcome) { return json::parse(outcome.body); }

// The last thing the fake regime was asked (fails the test, rather than crashing, when
// authorise was never called).
template <class T>
T last(const std::vector<T>& asked) {
  REQUIRE_FALSE(asked.empty());
  return asked.back();
}

// The roles regime behind an enforcer, with a custom role table when given.
struct Real {
  iam::testing::TestIam t;
  std::shared_ptr<iam::Enforcer> enforcer;
  std::unique_ptr<iam::JsonDispatcher> dispatcher;

  explicit Real(iam::RoleTable roles = iam::default_role_table()) {
    iam::testing::TestIamOptions options;
    options.roles = std::move(roles);
    auto made = iam::testing::make_test_iam(std::move(options));
    REQUIRE(made.ok());
    t = std::move(*made);
    enforcer = test_support::enforcer_for(t);
    dispatcher = std::make_unique<iam::JsonDispatcher>(t.regime);
  }

  Outcome enforce(iam::Route route, std::string name, std::string flow, std::string body,
                  std::optional<std::string> credential) const {
    iam::Request request;
    request.route = route;
    request.name = std::move(name);
    request.flow = std::move(flow);
    request.body = std::move(body);
    request.credential = std::move(credential);
    return enforcer->enforce(request);
  }
  // POST /api/v1/iam end to end: enforce, then dispatch what was forwarded.
  iam::HttpAnswer iam(const json& body, const std::string& credential) const {
    const Outcome out = enforce(iam::Route::iam, {}, {}, body.dump(), credential);
    if (!out.forward()) return {out.status, out.body};
    return iam::answer_for_dispatcher_json(out.operation, dispatcher->handle(out.body));
  }
  Outcome thru(const std::string& workspace, const std::string& credential) const {
    return enforce(iam::Route::flow_service, "thru/v1/chat/completions", "f1",
                   json{{"workspace", workspace}, {"model", "m"}}.dump(), credential);
  }
  std::string key_for(const std::string& username, std::vector<std::string> roles, const std::string& workspace = "default") {
    auto user = t.create_user(username, "changeme1", std::move(roles), workspace);
    REQUIRE(user.ok());
    auto key = t.create_api_key(user->id);
    REQUIRE(key.ok());
    return *key;
  }
};

}  // namespace

// ------------------------------------------------------------------ item 9: passthrough scope

TEST_CASE("passthrough needs any valid credential, but only inside the caller's workspace scope") {
  Real r;
  const std::string writer = r.key_for("wendy", {"writer"});
  const std::string admin = r.t.admin_api_key;
  REQUIRE(r.iam({{"operation", "create-workspace"}, {"workspace_record", {{"id", "acme"}}}}, admin).status == 200);

  // Her own workspace (named or default-filled): forwarded as before.
  CHECK(r.thru("default", writer).forward());
  CHECK(r.enforce(iam::Route::flow_service, "thru/x", "f1", "{}", writer).forward());

  // Another workspace that exists, and one that does not: the same 403, byte for byte.
  const Outcome other = r.thru("acme", writer);
  const Outcome ghost = r.thru("ghost", writer);
  CHECK(other.status == 403);
  CHECK(other.body == denied_body);
  CHECK(ghost.status == other.status);
  CHECK(ghost.body == other.body);
  CHECK(ghost.refusal == other.refusal);

  // A role reaching every workspace passes; for it a missing workspace is 404 as usual.
  CHECK(r.thru("acme", admin).forward());
  CHECK(r.thru("ghost", admin).body == missing_body);
  // A bad credential is still 401 first.
  CHECK(r.thru("default", "tg_nobodynobodynobodynobodynobodyno").status == 401);
}

TEST_CASE("passthrough asks authorise IN-SCOPE for its {workspace, flow}; the regime decides") {
  FakeGateway gw;
  gw.regime->credentials.emplace("tg_alicealicealicealicealicealiceal", identity("alice"));
  gw.regime->decide = [](const iam::Identity&, std::string_view capability, const iam::Resource& resource,
                         const iam::Parameters&) {
    const bool ok = capability == "IN-SCOPE" && resource.workspace_id() == "default";
    return ok ? iam::Decision::allowed(60s) : iam::Decision::denied(60s);
  };
  auto out = gw.flow_service("f1", "thru/a/b", R"({"workspace":"acme"})", "tg_alicealicealicealicealicealiceal");
  CHECK(out.body == denied_body);
  CHECK(last(gw.regime->authorised_capabilities) == "IN-SCOPE");
  CHECK(last(gw.regime->authorised_resources) == iam::Resource::flow("acme", "f1"));
  CHECK(gw.flow_service("f1", "thru/a/b", "{}", "tg_alicealicealicealicealicealiceal").forward());
  CHECK(last(gw.regime->authorised_resources) == iam::Resource::flow("default", "f1"));
  // System-level AUTHENTICATED operations still skip authorise.
  const int calls = gw.regime->authorise_calls;
  CHECK(gw.iam_request(R"({"operation":"whoami"})", "tg_alicealicealicealicealicealiceal").forward());
  CHECK(gw.regime->authorise_calls == calls);
}

TEST_CASE("roles regime: IN-SCOPE is allowed where some role of the user reaches the workspace") {
  Real r;
  auto writer = r.t.create_user("wendy", "changeme1", {"writer"});
  REQUIRE(writer.ok());
  auto& g = *r.t.regime;
  const iam::Identity w{writer->id, "default", writer->id, iam::CredentialSource::api_key, std::nullopt};
  const iam::Identity a{r.t.admin_user_id, "default", r.t.admin_user_id, iam::CredentialSource::api_key, std::nullopt};
  CHECK(g.authorise(w, "IN-SCOPE", iam::Resource::flow("default", "f"), {}).allow);
  CHECK_FALSE(g.authorise(w, "IN-SCOPE", iam::Resource::flow("acme", "f"), {}).allow);
  CHECK_FALSE(g.authorise(w, "IN-SCOPE", iam::Resource::workspace("*"), {}).allow);
  CHECK(g.authorise(a, "IN-SCOPE", iam::Resource::flow("acme", "f"), {}).allow);
  CHECK_FALSE(g.authorise(a, "IN-SCOPE", {}, {}).allow);  // no workspace, no question: deny
  REQUIRE(g.disable_user(std::nullopt, writer->id, std::nullopt).ok());
  CHECK_FALSE(g.authorise(w, "IN-SCOPE", iam::Resource::flow("default", "f"), {}).allow);
}

// ------------------------------------------------------------------ item 14: default_workspace

TEST_CASE("default_workspace counts as workspace on service and flow routes, and is rewritten with it") {
  FakeGateway gw;
  const std::string alice = "tg_alicealicealicealicealicealiceal";
  const std::string root = "tg_adminadminadminadminadminadminad";
  gw.regime->credentials.emplace(alice, identity("alice", "default"));
  gw.regime->credentials.emplace(root, identity("root", "default"));
  gw.regime->decide = [](const iam::Identity& who, std::string_view, const iam::Resource& resource,
                         const iam::Parameters&) {
    const bool ok = who.handle == "root" || resource.workspace_id() == "default";
    return ok ? iam::Decision::allowed(60s) : iam::Decision::denied(60s);
  };

  // Only the older name, naming another workspace: that workspace is the one authorised.
  CHECK(gw.service("config", R"({"operation":"put","default_workspace":"acme"})", alice).body == denied_body);
  CHECK(last(gw.regime->authorised_resources) == iam::Resource::workspace("acme"));
  CHECK(gw.flow_service("f1", "agent", R"({"default_workspace":"acme"})", alice).body == denied_body);
  CHECK(last(gw.regime->authorised_resources) == iam::Resource::flow("acme", "f1"));

  // Allowed: both names carry the authorised workspace.
  auto out = gw.service("config", R"({"operation":"put","default_workspace":"acme"})", root);
  REQUIRE(out.forward());
  CHECK(body_of(out)["workspace"] == "acme");
  CHECK(body_of(out)["default_workspace"] == "acme");
  CHECK(out.workspace == "acme");
  out = gw.service("config", R"({"operation":"get","workspace":"default","default_workspace":""})", alice);
  REQUIRE(out.forward());
  CHECK(body_of(out)["default_workspace"] == "default");

  // Both named and different: refused, never forwarded beside the authorised one.
  out = gw.service("config", R"({"operation":"get","workspace":"default","default_workspace":"acme"})", alice);
  CHECK(out.status == 400);
  CHECK(out.body == R"({"error":{"type":"invalid-argument","message":"workspace and default_workspace disagree"}})");
  CHECK(gw.flow_service("f1", "agent", R"({"workspace":"default","default_workspace":"acme"})", root).status == 400);
  CHECK(gw.service("config", R"({"operation":"get","default_workspace":7})", alice).status == 400);

  // A WebSocket envelope's workspace wins over both inner fields.
  iam::Request frame;
  frame.route = iam::Route::service;
  frame.name = "config";
  frame.workspace = "default";
  frame.body = R"({"operation":"get","default_workspace":"acme"})";
  frame.credential = alice;
  out = gw.enforcer->enforce(frame);
  REQUIRE(out.forward());
  CHECK(body_of(out)["workspace"] == "default");
  CHECK(body_of(out)["default_workspace"] == "default");
}

// ------------------------------------------------------------------ item 16: disabled workspaces

TEST_CASE("a disabled workspace is missing to the data plane, even for an admin; managing it still works") {
  Real r;
  const std::string admin = r.t.admin_api_key;
  REQUIRE(r.iam({{"operation", "create-workspace"}, {"workspace_record", {{"id", "acme"}}}}, admin).status == 200);
  const auto put = [&] {
    return r.enforce(iam::Route::service, "librarian", {}, R"({"operation":"add-document","workspace":"acme"})", admin);
  };
  const auto agent = [&] { return r.enforce(iam::Route::flow_service, "agent", "f1", R"({"workspace":"acme"})", admin); };
  REQUIRE(put().forward());  // and now remembered as existing
  REQUIRE(agent().forward());

  REQUIRE(r.iam({{"operation", "disable-workspace"}, {"workspace_record", {{"id", "acme"}}}}, admin).status == 200);
  for (const Outcome& out : {put(), agent(), r.enforce(iam::Route::flow_import, "triples", "f1",
                                                       R"({"workspace":"acme"})", admin)}) {
    CHECK(out.refusal == Refusal::workspace_not_found);
    CHECK(out.status == 404);
    CHECK(out.body == missing_body);  // exactly a missing workspace's answer
  }

  // IAM management of the disabled workspace is system level: it keeps working.
  auto got = r.iam({{"operation", "get-workspace"}, {"workspace_record", {{"id", "acme"}}}}, admin);
  REQUIRE(got.status == 200);
  CHECK(json::parse(got.body)["workspace"]["enabled"] == false);
  REQUIRE(r.iam({{"operation", "update-workspace"}, {"workspace_record", {{"id", "acme"}, {"enabled", true}}}}, admin)
              .status == 200);
  CHECK(put().forward());
  CHECK(agent().forward());
}

TEST_CASE("workspace_exists_from_regime: found but disabled is false") {
  auto regime = std::make_shared<FakeRegime>();
  auto exists = iam::workspace_exists_from_regime(regime);
  REQUIRE(exists("acme").ok());
  CHECK(*exists("acme"));
  CHECK_FALSE(*exists("ghost"));
  regime->disabled_workspaces.insert("acme");
  REQUIRE(exists("acme").ok());
  CHECK_FALSE(*exists("acme"));
}

// ------------------------------------------------------------------ item 17: every workspace

TEST_CASE("all_workspaces operations are authorised against \"*\"") {
  FakeGateway gw;
  gw.regime->credentials.emplace("tg_alicealicealicealicealicealiceal", identity("alice"));
  CHECK(gw.service("config", R"({"operation":"getvalues-all-ws"})", "tg_alicealicealicealicealicealiceal").forward());
  CHECK(last(gw.regime->authorised_capabilities) == "config:read");
  CHECK(last(gw.regime->authorised_resources) == iam::Resource::workspace("*"));
  CHECK(gw.iam_request(R"({"operation":"list-workspaces"})", "tg_alicealicealicealicealicealiceal").forward());
  CHECK(last(gw.regime->authorised_resources) == iam::Resource::system());
  CHECK(last(gw.regime->authorised_parameters) == iam::Parameters{{"workspace", "*"}});
  // An ordinary workspace-level operation is unchanged.
  CHECK(gw.service("config", R"({"operation":"getvalues"})", "tg_alicealicealicealicealicealiceal").forward());
  CHECK(last(gw.regime->authorised_resources) == iam::Resource::workspace("default"));
}

TEST_CASE("roles regime: reaching every workspace needs a role whose scope is every workspace") {
  iam::RoleTable roles = iam::default_role_table();
  // A workspace-scoped operator holding the capabilities of the all-workspace operations.
  iam::RoleDefinition operator_role;
  operator_role.capabilities = {"config:read", "workspaces:admin", "iam:admin"};
  roles.emplace("operator", operator_role);
  Real r(roles);
  const std::string reader = r.key_for("rita", {"reader"});
  const std::string op = r.key_for("otto", {"operator"});
  const std::string admin = r.t.admin_api_key;

  const auto all_ws = [&](const std::string& key) {
    return r.enforce(iam::Route::service, "config", {}, R"({"operation":"getvalues-all-ws"})", key);
  };
  CHECK(all_ws(reader).body == denied_body);
  CHECK(all_ws(op).body == denied_body);
  CHECK(all_ws(admin).forward());
  // Its single-workspace sibling still works for the reader.
  CHECK(r.enforce(iam::Route::service, "config", {}, R"({"operation":"getvalues"})", reader).forward());

  const iam::HttpAnswer denied{403, denied_body};
  CHECK(r.iam({{"operation", "list-workspaces"}}, op) == denied);
  CHECK(r.iam({{"operation", "rotate-signing-key"}}, op) == denied);
  CHECK(r.iam({{"operation", "list-workspaces"}}, admin).status == 200);
  CHECK(r.iam({{"operation", "rotate-signing-key"}}, admin).status == 200);

  // The regime's own re-check of rotation, for callers that skip the gateway.
  auto otto = r.t.regime->list_users(std::nullopt, std::string_view("default"));
  REQUIRE(otto.ok());
  std::string otto_id;
  for (const auto& u : *otto)
    if (u.username == "otto") otto_id = u.id;
  REQUIRE_FALSE(otto_id.empty());
  const auto rotated = r.t.regime->rotate_signing_key(otto_id);
  REQUIRE_FALSE(rotated.ok());
  CHECK(rotated.error().code == iam::ErrorCode::operation_not_permitted);
  CHECK(r.t.regime->rotate_signing_key(r.t.admin_user_id).ok());
}

TEST_CASE("list-signing-keys through the gateway: iam:admin over every workspace, else the masked 403") {
  iam::RoleTable roles = iam::default_role_table();
  iam::RoleDefinition operator_role;  // iam:admin, but in one workspace only
  operator_role.capabilities = {"iam:admin"};
  roles.emplace("operator", operator_role);
  Real r(roles);
  const iam::HttpAnswer denied{403, denied_body};
  const json list{{"operation", "list-signing-keys"}};
  CHECK(r.iam(list, r.key_for("rita", {"reader"})) == denied);
  CHECK(r.iam(list, r.key_for("wendy", {"writer"})) == denied);
  CHECK(r.iam(list, r.key_for("otto", {"operator"})) == denied);
  CHECK(r.iam(list, "tg_notakeynotakeynotakeynotakeynotak").status == 401);

  const auto answer = r.iam(list, r.t.admin_api_key);
  REQUIRE(answer.status == 200);
  const json keys = json::parse(answer.body)["signing_keys"];
  REQUIRE(keys.size() == 2);  // the current key and the next one
  CHECK(keys[0]["status"] == "current");
  CHECK(keys[1]["status"] == "next");
}

TEST_CASE("roles regime: the workspace registry's readers stay inside the actor's workspaces:admin scope") {
  iam::RoleTable roles = iam::default_role_table();
  iam::RoleDefinition operator_role;
  operator_role.capabilities = {"workspaces:admin"};
  roles.emplace("operator", operator_role);
  Real r(roles);
  const std::string op = r.key_for("otto", {"operator"});
  const std::string admin = r.t.admin_api_key;
  const iam::HttpAnswer denied{403, denied_body};
  auto users = r.t.regime->list_users(std::nullopt, std::string_view("default"));
  REQUIRE(users.ok());
  std::string otto_id;
  for (const auto& u : *users)
    if (u.username == "otto") otto_id = u.id;
  REQUIRE_FALSE(otto_id.empty());

  // The list needs every workspace; a single record needs workspaces:admin in that
  // workspace, a missing one answering the same.
  const auto as_otto = [&](json request) {
    request["actor"] = otto_id;
    return json::parse(r.dispatcher->handle(request.dump()));
  };
  CHECK(as_otto({{"operation", "list-workspaces"}})["error"]["type"] == "operation-not-permitted");
  CHECK(json::parse(r.dispatcher->handle(json{{"operation", "list-workspaces"}, {"actor", r.t.admin_user_id}}.dump()))
            .contains("workspaces"));
  REQUIRE(r.iam({{"operation", "create-workspace"}, {"workspace_record", {{"id", "acme"}}}}, admin).status == 200);
  const auto other = r.iam({{"operation", "get-workspace"}, {"workspace_record", {{"id", "acme"}}}}, op);
  CHECK(other == denied);
  CHECK(r.iam({{"operation", "get-workspace"}, {"workspace_record", {{"id", "ghost"}}}}, op) == other);
  CHECK(r.iam({{"operation", "get-workspace"}, {"workspace_record", {{"id", "default"}}}}, op).status == 200);
  CHECK(r.iam({{"operation", "get-workspace"}, {"workspace_record", {{"id", "acme"}}}}, admin).status == 200);
}
