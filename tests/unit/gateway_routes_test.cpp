// The example gateway's route table (examples/gateway/handler.cpp): gateway.md "HTTP
// surface", method and path to route, without any server.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "../../examples/gateway/handler.h"
#include "gateway_fakes.h"

namespace {

using gateway::match_route;
using Kind = gateway::RouteMatch::Kind;

}  // namespace

TEST_CASE("IAM and auth routes") {
  auto iam = match_route("POST", "/api/v1/iam");
  CHECK(iam.kind == Kind::enforced);
  CHECK(iam.request.route == iam::Route::iam);
  CHECK(iam.iam_route);
  CHECK_FALSE(iam.ignore_body);

  for (const char* name : {"login", "bootstrap", "bootstrap-status", "change-password"}) {
    auto route = match_route("POST", std::string("/api/v1/auth/") + name);
    CHECK(route.kind == Kind::enforced);
    CHECK(route.request.route == iam::Route::named);
    CHECK(route.request.name == name);
    CHECK(route.iam_route);
  }
  CHECK(match_route("POST", "/api/v1/auth/bootstrap").ignore_body);
  CHECK(match_route("POST", "/api/v1/auth/bootstrap-status").ignore_body);
  CHECK_FALSE(match_route("POST", "/api/v1/auth/login").ignore_body);
  CHECK(match_route("GET", "/api/v1/auth/jwks").kind == Kind::jwks);
  CHECK(match_route("POST", "/api/v1/auth/whoami").kind == Kind::not_found);
  CHECK(match_route("POST", "/api/v1/auth").kind == Kind::not_found);
}

TEST_CASE("service, flow service, passthrough and streams") {
  auto config = match_route("POST", "/api/v1/config");
  CHECK(config.kind == Kind::enforced);
  CHECK(config.request.route == iam::Route::service);
  CHECK(config.request.name == "config");
  CHECK_FALSE(config.iam_route);

  // The `flow` service itself (list-flows, start-flow, ...) is not a flow-level path.
  auto flow = match_route("POST", "/api/v1/flow");
  CHECK(flow.kind == Kind::enforced);
  CHECK(flow.request.route == iam::Route::service);
  CHECK(flow.request.name == "flow");
  CHECK(match_route("POST", "/api/v1/flow/").request.route == iam::Route::service);
  CHECK(match_route("GET", "/api/v1/flow").kind == Kind::bad_method);
  CHECK(match_route("POST", "/api/v1/flow/f1").kind == Kind::not_found);
  CHECK(match_route("POST", "/api/v1/flow/f1/service").kind == Kind::not_found);

  auto agent = match_route("POST", "/api/v1/flow/f1/service/agent");
  CHECK(agent.request.route == iam::Route::flow_service);
  CHECK(agent.request.flow == "f1");
  CHECK(agent.request.name == "agent");

  auto thru = match_route("POST", "/api/v1/flow/f1/service/thru/a/b/c");
  CHECK(thru.request.route == iam::Route::flow_service);
  CHECK(thru.request.name == "thru/a/b/c");

  auto export_route = match_route("GET", "/api/v1/flow/f2/export/triples?token=tg_secret");
  CHECK(export_route.kind == Kind::stream);
  CHECK(export_route.request.route == iam::Route::flow_export);
  CHECK(export_route.request.flow == "f2");
  CHECK(export_route.request.name == "triples");
  CHECK(match_route("GET", "/api/v1/flow/f2/import/triples").request.route == iam::Route::flow_import);
  CHECK(match_route("GET", "/api/v1/socket").kind == Kind::socket);
  CHECK(match_route("GET", "/api/v1/flow/f2/other/triples").kind == Kind::not_found);
}

TEST_CASE("wrong methods, unknown paths, and what reaches a log") {
  CHECK(match_route("GET", "/api/v1/iam").kind == Kind::bad_method);
  CHECK(match_route("GET", "/api/v1/iam").iam_route);  // the small body limit still applies
  CHECK(match_route("POST", "/api/v1/socket").kind == Kind::bad_method);
  CHECK(match_route("POST", "/api/v1/auth/jwks").kind == Kind::bad_method);
  CHECK(match_route("POST", "/").kind == Kind::not_found);
  CHECK(match_route("POST", "/api/v2/iam").kind == Kind::not_found);
  CHECK(match_route("POST", "/api/v1/a/b").kind == Kind::not_found);
  // A base URL with a trailing slash gives a doubled one: still the same route.
  CHECK(match_route("POST", "//api/v1/iam").request.route == iam::Route::iam);
  CHECK(match_route("POST", "/api/v1/iam/").request.route == iam::Route::iam);
  // The query (where ?token= travels) is never part of the logged path.
  CHECK(gateway::path_of("/api/v1/flow/f/export/k?token=tg_secret") == "/api/v1/flow/f/export/k");
  CHECK(gateway::path_of("/api/v1/iam") == "/api/v1/iam");
}

TEST_CASE("password-hashing operations are the ones kept off the I/O threads") {
  for (const char* slow : {"login", "change-password", "reset-password", "create-user"})
    CHECK(gateway::Handler::is_slow_operation(slow));
  for (const char* fast : {"whoami", "list-users", "bootstrap-status", "revoke-api-key"})
    CHECK_FALSE(gateway::Handler::is_slow_operation(fast));
}

TEST_CASE("POST /api/v1/flow (list-flows, start-flow, ...) reaches the backend") {
  gateway_test::FakeGateway gw;
  gw.regime->accept_any_api_key = true;
  const gateway::Handler handler(gw.regime, gw.enforcer, std::make_shared<gateway::EchoBackend>());
  for (const char* operation : {"list-flows", "start-flow"}) {
    CAPTURE(operation);
    auto begun = handler.begin(match_route("POST", "/api/v1/flow"),
                               nlohmann::json{{"operation", operation}}.dump(), "tg_callercallercallercallercaller");
    REQUIRE(std::holds_alternative<gateway::Pending>(begun));
    const auto& pending = std::get<gateway::Pending>(begun);
    CHECK(pending.to_backend);
    const auto response = handler.complete(pending);
    CHECK(response.status == 200);
    CHECK(response.operation == std::string("flow:") + operation);
    CHECK(nlohmann::json::parse(response.body)["operation"] == std::string("flow:") + operation);
  }
}
