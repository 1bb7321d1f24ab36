// The example gateway's route table (examples/gateway/handler.cpp): docs/gateway.md "HTTP
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

// Issue 15 item 3: TrustGraph's bulk clients send ?token=…&workspace=….
TEST_CASE("import/export streams read the workspace from the query") {
  auto exported = match_route("GET", "/api/v1/flow/f2/export/triples?token=tg_secret&workspace=acme");
  CHECK(exported.kind == Kind::stream);
  CHECK(exported.request.workspace == "acme");
  CHECK(match_route("GET", "/api/v1/flow/f2/import/triples?workspace=r%26d&token=x").request.workspace == "r&d");
  CHECK(match_route("GET", "/api/v1/flow/f2/import/triples?token=x").request.workspace.empty());
  CHECK(match_route("GET", "/api/v1/flow/f2/import/triples?workspace=").request.workspace.empty());
  CHECK(match_route("GET", "/api/v1/flow/f2/import/triples?xworkspace=a&workspace=b").request.workspace == "b");
  // No workspace id is longer than 64 characters: a longer one is refused before anything else.
  CHECK_FALSE(match_route("GET", "/api/v1/flow/f/export/t?workspace=" + std::string(64, 'w')).bad_query);
  auto long_one = match_route("GET", "/api/v1/flow/f/export/t?workspace=" + std::string(65, 'w'));
  CHECK(long_one.bad_query);
  CHECK(long_one.request.workspace.empty());
  CHECK(match_route("GET", "/api/v1/document-stream?workspace=" + std::string(300, 'w')).bad_query);
}

// Issue 15 item 6: the endpoints TrustGraph gates outside its registry reach the backend.
TEST_CASE("routes gated outside TrustGraph's registry go to the backend, with their method") {
  const struct {
    const char* method;
    const char* target;
    const char* name;
  } routes[] = {
      {"POST", "/api/v1/import-core", "http:import-core"},
      {"GET", "/api/v1/export-core?id=c1", "http:export-core"},
      {"GET", "/api/v1/document-stream?document-id=d", "http:document-stream"},
      {"GET", "/api/metrics", "http:metrics"},
      {"GET", "/api/metrics/query?query=up", "http:metrics"},
      {"GET", "/api/metrics/a/b/c", "http:metrics"},
      {"GET", "/api/v1/i18n/packs/en", "http:i18n-packs"},
  };
  for (const auto& r : routes) {
    CAPTURE(r.target);
    auto route = match_route(r.method, r.target);
    CHECK(route.kind == Kind::enforced);
    CHECK(route.request.route == iam::Route::named);
    CHECK(route.request.name == r.name);
    CHECK(route.to_backend);
    CHECK(route.ignore_body);
    CHECK_FALSE(route.iam_route);
    CHECK(match_route(std::string(r.method) == "GET" ? "POST" : "GET", r.target).kind == Kind::bad_method);
  }
  CHECK(match_route("GET", "/api/v1/document-stream?workspace=acme").request.workspace == "acme");
  CHECK(match_route("GET", "/api/v1/i18n/packs").kind == Kind::not_found);
  CHECK(match_route("GET", "/api/v1/i18n/packs/en/x").kind == Kind::not_found);
  CHECK(match_route("GET", "/api/v2/metrics").kind == Kind::not_found);
  CHECK_FALSE(match_route("POST", "/api/v1/iam").to_backend);
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

TEST_CASE("the echo backend answers a JSON object describing the forwarded request") {
  gateway::EchoBackend echo;
  gateway::Forwarded forwarded{"config:get", "acme", "", R"({"actor":"u-1","keys":["a\"b"],"operation":"get"})", {}};
  forwarded.identity.handle = "u-1";

  SUBCASE("a JSON body is echoed as that JSON value") {
    for (const char* body : {R"({"actor":"u-1","keys":["a\"b"],"operation":"get"})", "[1,2]", " 3 "}) {
      CAPTURE(body);
      forwarded.body = body;
      const auto answer = echo.call(forwarded);
      CHECK(answer.status == 200);
      const auto out = nlohmann::json::parse(answer.body);
      CHECK(out["echo-backend"] == true);
      CHECK(out["operation"] == "config:get");
      CHECK(out["actor"] == "u-1");
      CHECK(out["workspace"] == "acme");
      CHECK_FALSE(out.contains("flow"));
      CHECK(out["request"] == nlohmann::json::parse(body));
    }
  }
  SUBCASE("anything else is echoed as a string, and the answer stays valid JSON") {
    for (const char* body : {"", "{\"unterminated\":", "{} {}", "{\"a\":1}}", "\"quoted\\\n", "caf\xc3"}) {
      CAPTURE(body);
      forwarded.body = body;
      const auto answer = echo.call(forwarded);
      REQUIRE(nlohmann::json::accept(answer.body));
      const auto echoed = nlohmann::json::parse(answer.body)["request"];
      REQUIRE(echoed.is_string());
      if (std::string_view(body) != "caf\xc3") CHECK(echoed == body);  // invalid UTF-8 is replaced
    }
  }
  SUBCASE("a stream's frames: its flow, the frame as JSON or as a string") {
    forwarded.flow = "f-1";
    const auto opened = nlohmann::json::parse(*echo.stream_opened(forwarded));
    CHECK(opened["flow"] == "f-1");
    CHECK(opened["echo-backend"] == true);
    CHECK(nlohmann::json::parse(*echo.stream_frame(forwarded, R"({"n":1})"))["received"]["n"] == 1);
    CHECK(nlohmann::json::parse(*echo.stream_frame(forwarded, "not json"))["received"] == "not json");
  }
}
