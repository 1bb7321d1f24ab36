// The gateway kit's enforcement path (docs/gateway.md "Authorising a request", "Then, per
// request") and what callers see ("What callers see"), with a fake regime for failure
// injection and the real roles regime (make_test_iam) for realistic flows.
#include <doctest/doctest.h>

#include <stdexcept>

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

const std::string alice_key = "tg_alicealicealicealicealicealiceal";
const std::string admin_key = "tg_adminadminadminadminadminadminad";

json body_of(const Outcome& outcome) { return json::parse(outcome.body); }

// A fake gateway with an admin-ish "root" (every workspace) and "alice" of workspace default
// whose policy is: capabilities in `alice_can` on her own workspace only.
struct Policy {
  FakeGateway gw;
  std::set<std::string> alice_can{"config:read", "agent", "users:read"};

  Policy() {
    gw.regime->credentials.emplace(alice_key, identity("alice", "default"));
    gw.regime->credentials.emplace(admin_key, identity("root", "default"));
    gw.regime->decide = [this](const iam::Identity& who, std::string_view capability, const iam::Resource& resource,
                               const iam::Parameters& parameters) {
      if (who.handle == "root") return iam::Decision::allowed(60s);
      std::string target(resource.workspace_id());
      if (target.empty())
        if (auto p = parameters.find("workspace"); p != parameters.end()) target = p->second;
      const bool ok = alice_can.count(std::string(capability)) && (target.empty() || target == "default");
      return ok ? iam::Decision::allowed(60s) : iam::Decision::denied(60s);
    };
  }
};

}  // namespace

// ------------------------------------------------------------------ credentials

TEST_CASE("credential from an Authorization header") {
  using iam::credential_from_authorization;
  CHECK(credential_from_authorization("Bearer tg_abc") == "tg_abc");
  CHECK(credential_from_authorization("bearer a.b.c") == "a.b.c");
  CHECK(credential_from_authorization("  BEARER   tg_abc  ") == "tg_abc");
  CHECK(credential_from_authorization("Bearer\ttg_abc") == "tg_abc");
  CHECK(credential_from_authorization("Bearer garbage") == "garbage");  // present, so not anonymous
  // No credential: no header, an empty Bearer, another scheme.
  CHECK_FALSE(credential_from_authorization(std::nullopt).has_value());
  CHECK_FALSE(credential_from_authorization("").has_value());
  CHECK_FALSE(credential_from_authorization("Bearer").has_value());
  CHECK_FALSE(credential_from_authorization("Bearer    ").has_value());
  CHECK_FALSE(credential_from_authorization("Basic YWxpY2U6c2VjcmV0").has_value());
  CHECK_FALSE(credential_from_authorization("Bearertg_abc").has_value());
  CHECK_FALSE(credential_from_authorization("tg_abc").has_value());
}

TEST_CASE("credential from a ?token= query parameter") {
  using iam::credential_from_query;
  CHECK(credential_from_query("?token=tg_abc") == "tg_abc");
  CHECK(credential_from_query("format=json&token=a.b.c&x=1") == "a.b.c");
  CHECK(credential_from_query("token=a%2Eb%2ec") == "a.b.c");
  CHECK(credential_from_query("token=50%") == "50%");
  CHECK_FALSE(credential_from_query("").has_value());
  CHECK_FALSE(credential_from_query("?tokens=x&atoken=y").has_value());
  CHECK_FALSE(credential_from_query("token=").has_value());
  CHECK_FALSE(credential_from_query("token").has_value());
}

TEST_CASE("credential shapes are told apart without storage") {
  using iam::CredentialShape;
  CHECK(iam::credential_shape("tg_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX") == CredentialShape::api_key);
  CHECK(iam::credential_shape("tg_abc") == CredentialShape::malformed);  // too short for any key
  CHECK(iam::credential_shape("aaa.bbb.ccc") == CredentialShape::jwt);
  CHECK(iam::credential_shape("..") == CredentialShape::malformed);
  CHECK(iam::credential_shape("") == CredentialShape::malformed);
  CHECK(iam::credential_shape("a.b") == CredentialShape::malformed);
  CHECK(iam::credential_shape("a.b.c.d") == CredentialShape::malformed);
  CHECK(iam::credential_shape("sk-1234") == CredentialShape::malformed);
}

// ------------------------------------------------------------------ the steps

TEST_CASE("step 1: an unknown operation is 400 before authentication") {
  FakeGateway gw;
  for (std::string body : {R"({"operation":"no-such-op"})", R"({})", R"({"operation":7})",
                           R"({"operation":"config:get"})", R"({"operation":"authorise"})"}) {
    CAPTURE(body);
    const Outcome out = gw.iam_request(body, "garbage");
    CHECK(out.refusal == Refusal::unknown_operation);
    CHECK(out.status == 400);
    CHECK(out.body == R"({"error":"unknown operation"})");
  }
  // A known kind with an unknown operation, and a flow route's operation on a workspace route.
  CHECK(gw.service("config", R"({"operation":"nope"})", alice_key).body == R"({"error":"unknown operation"})");
  CHECK(gw.service("config", R"({})", alice_key).status == 400);
  CHECK(gw.regime->authenticate_calls == 0);
  CHECK(gw.regime->anonymous_calls == 0);
}

TEST_CASE("step 1: an unknown kind in a URL is 404") {
  FakeGateway gw;
  for (const Outcome& out : {gw.service("nope", R"({"operation":"get"})", alice_key),
                             gw.service("flow-service", R"({"operation":"agent"})", alice_key),
                             gw.flow_service("f1", "nope", "{}", alice_key)}) {
    CHECK(out.refusal == Refusal::unknown_kind);
    CHECK(out.status == 404);
    CHECK(out.body == R"({"error":"unknown kind"})");
  }
  iam::Request stream;
  stream.route = iam::Route::flow_export;
  stream.name = "rows";  // flow-import:rows exists, flow-export:rows does not
  stream.flow = "f1";
  CHECK(gw.enforcer->enforce(stream).body == R"({"error":"unknown kind"})");
  CHECK(gw.regime->authenticate_calls == 0);
}

TEST_CASE("bodies: invalid JSON and non-objects are 400") {
  FakeGateway gw;
  auto out = gw.iam_request("{not json", alice_key);
  CHECK(out.status == 400);
  CHECK(out.body == R"({"error":"invalid json"})");
  out = gw.iam_request("[1,2]", alice_key);
  CHECK(out.status == 400);
  CHECK(out.body == R"({"error":"request must be a JSON object"})");
  CHECK(gw.regime->authenticate_calls == 0);
}

TEST_CASE("step 2: PUBLIC needs no credential and ignores any sent") {
  FakeGateway gw;
  for (std::optional<std::string> credential : {std::optional<std::string>{}, std::optional<std::string>{"garbage"},
                                                std::optional<std::string>{alice_key}}) {
    const Outcome out = gw.iam_request(R"({"operation":"login","username":"a","password":"p","actor":"evil"})",
                                       credential);
    REQUIRE(out.forward());
    CHECK_FALSE(out.identity.has_value());
    const json body = body_of(out);
    CHECK(body["username"] == "a");
    CHECK_FALSE(body.contains("actor"));  // nobody acts on a PUBLIC operation
  }
  CHECK(gw.regime->authenticate_calls == 0);
  CHECK(gw.regime->anonymous_calls == 0);

  // A fixed route (/api/v1/auth/bootstrap) with an empty body.
  iam::Request bootstrap;
  bootstrap.route = iam::Route::named;
  bootstrap.name = "bootstrap";
  const Outcome out = gw.enforcer->enforce(bootstrap);
  REQUIRE(out.forward());
  CHECK(out.body == R"({"operation":"bootstrap"})");
}

TEST_CASE("step 2: otherwise authenticate; a malformed or rejected credential is 401, never anonymous") {
  FakeGateway gw;
  gw.regime->anonymous = identity("anonymous", "default", iam::CredentialSource::anonymous);
  for (std::string credential : {"garbage", "a.b", "tg_short", "a..c", "tg_unknown_unknown_unknown"}) {
    const Outcome out = gw.iam_request(R"({"operation":"whoami"})", credential);
    CHECK(out.refusal == Refusal::auth_failure);
    CHECK(out.status == 401);
    CHECK(out.body == R"({"error":"auth failure"})");
  }
  CHECK(gw.regime->anonymous_calls == 0);
  CHECK(gw.regime->authenticate_calls == 1);  // only tg_unknown_… had the shape to reach it

  // No credential: authenticate-anonymous decides (noauth-like here).
  const Outcome out = gw.iam_request(R"({"operation":"whoami"})");
  REQUIRE(out.forward());
  CHECK(out.identity->handle == "anonymous");
  CHECK(gw.regime->anonymous_calls == 1);
}

TEST_CASE("step 2: a regime that cannot decide is 503 internal error, not 401") {
  FakeGateway gw;
  gw.regime->credentials.emplace(alice_key, iam::Error{iam::ErrorCode::internal_error, "storage down"});
  const Outcome out = gw.iam_request(R"({"operation":"whoami"})", alice_key);
  CHECK(out.refusal == Refusal::internal_error);
  CHECK(out.status == 503);
  CHECK(out.body == R"({"error":"internal error"})");
  CHECK(out.reason.find("storage down") != std::string::npos);  // for the log only
}

TEST_CASE("a regime that throws fails closed: never forwarded, a masked 500, no crash") {
  FakeGateway gw;
  gw.regime->credentials.emplace(alice_key, identity("alice"));
  gw.regime->during_authenticate = [] { throw std::runtime_error("regime bug"); };
  Outcome out = gw.iam_request(R"({"operation":"whoami"})", alice_key);
  CHECK_FALSE(out.forward());
  CHECK(out.status == 500);
  CHECK(out.body == R"({"error":"internal error"})");
  CHECK_FALSE(gw.enforcer->authenticate(std::string_view(alice_key)).ok());

  gw.regime->during_authenticate = nullptr;
  gw.regime->decide = [](auto&&...) -> iam::Decision { throw std::runtime_error("policy bug"); };
  out = gw.service("config", R"({"operation":"get"})", alice_key);
  CHECK_FALSE(out.forward());
  CHECK(out.body == R"({"error":"internal error"})");
  CHECK_FALSE(gw.enforcer->authorise(identity("alice"), "config:read", iam::Resource::system(), {}).allow);

  // The JSON dispatcher turns an exception from execute into internal-error.
  gw.regime->during_execute = [] { throw 42; };
  const iam::JsonDispatcher dispatcher(gw.regime);
  CHECK(json::parse(dispatcher.handle(R"({"operation":"list-workspaces"})"))["error"]["type"] == "internal-error");
}

TEST_CASE("step 3: AUTHENTICATED is allowed without authorise; others are authorised, deny is 403") {
  Policy p;
  auto out = p.gw.iam_request(R"({"operation":"whoami"})", alice_key);
  REQUIRE(out.forward());
  CHECK(p.gw.regime->authorise_calls == 0);
  CHECK(out.identity->handle == "alice");

  out = p.gw.iam_request(R"({"operation":"create-workspace","workspace_record":{"id":"x"}})", alice_key);
  CHECK(out.refusal == Refusal::access_denied);
  CHECK(out.status == 403);
  CHECK(out.body == R"({"error":"access denied"})");
  CHECK(p.gw.regime->authorised_capabilities.back() == "workspaces:admin");
  CHECK(p.gw.regime->authorised_resources.back() == iam::Resource::system());
  CHECK(p.gw.regime->authorised_parameters.back().empty());  // extractor none
}

TEST_CASE("step 3: a regime error is a deny (fail closed) and is not cached") {
  FakeGateway gw;
  gw.regime->credentials.emplace(alice_key, identity("alice"));
  gw.regime->decide = [](auto&&...) { return iam::Decision::denied(0s); };  // what regimes answer on error
  for (int i = 0; i < 2; ++i)
    CHECK(gw.service("config", R"({"operation":"get"})", alice_key).body == R"({"error":"access denied"})");
  CHECK(gw.regime->authorise_calls == 2);
}

TEST_CASE("step 4: workspace-level operations are default-filled and forward the authorised workspace") {
  Policy p;
  auto out = p.gw.service("config", R"({"operation":"get","keys":[]})", alice_key);
  REQUIRE(out.forward());
  CHECK(p.gw.regime->authorised_capabilities.back() == "config:read");
  CHECK(p.gw.regime->authorised_resources.back() == iam::Resource::workspace("default"));
  json body = body_of(out);
  CHECK(body["workspace"] == "default");
  CHECK(body["operation"] == "get");
  CHECK(out.workspace == "default");
  CHECK(out.operation == "config:get");

  // Naming another workspace: that one is authorised (and denied here).
  out = p.gw.service("config", R"({"operation":"get","workspace":"acme"})", alice_key);
  CHECK(out.status == 403);
  CHECK(p.gw.regime->authorised_resources.back() == iam::Resource::workspace("acme"));

  // An admin naming it gets exactly that workspace forwarded.
  out = p.gw.service("config", R"({"operation":"put","workspace":"acme"})", admin_key);
  REQUIRE(out.forward());
  CHECK(body_of(out)["workspace"] == "acme");

  // An empty workspace counts as omitted; a non-string one is invalid.
  out = p.gw.service("config", R"({"operation":"get","workspace":""})", alice_key);
  REQUIRE(out.forward());
  CHECK(body_of(out)["workspace"] == "default");
  out = p.gw.service("config", R"({"operation":"get","workspace":7})", alice_key);
  CHECK(out.status == 400);
  CHECK(out.body == R"({"error":{"type":"invalid-argument","message":"workspace must be a string"}})");
}

TEST_CASE("step 4: flow-level operations use {workspace, flow} from the address") {
  Policy p;
  auto out = p.gw.flow_service("f1", "agent", R"({"question":"hi"})", alice_key);
  REQUIRE(out.forward());
  CHECK(p.gw.regime->authorised_capabilities.back() == "agent");
  CHECK(p.gw.regime->authorised_resources.back() == iam::Resource::flow("default", "f1"));
  CHECK(out.flow == "f1");
  CHECK(body_of(out)["workspace"] == "default");

  out = p.gw.flow_service("f1", "triples", "{}", alice_key);
  CHECK(out.status == 403);  // triples:read not granted here

  // No flow: no default-fill for flow.
  out = p.gw.flow_service("", "agent", "{}", alice_key);
  CHECK(out.status == 400);

  // Streaming endpoints.
  iam::Request stream;
  stream.route = iam::Route::flow_import;
  stream.name = "triples";
  stream.flow = "f1";
  stream.credential = admin_key;
  out = p.gw.enforcer->enforce(stream);
  REQUIRE(out.forward());
  CHECK(out.operation == "flow-import:triples");
  CHECK(p.gw.regime->authorised_capabilities.back() == "triples:write");
}

TEST_CASE("flow-service:thru/<anything> is an AUTHENTICATED passthrough") {
  Policy p;
  p.alice_can.insert("IN-SCOPE");  // no capability, only her workspace scope
  auto out = p.gw.flow_service("f1", "thru/v1/chat/completions", R"({"model":"m"})", alice_key);
  REQUIRE(out.forward());
  CHECK(out.operation == "flow-service:thru/v1/chat/completions");
  // Only the scope is asked (gateway_scope_test.cpp has the rest).
  REQUIRE(p.gw.regime->authorise_calls == 1);
  CHECK(p.gw.regime->authorised_capabilities.back() == "IN-SCOPE");
  CHECK(body_of(out)["actor"] == "alice");
  CHECK(p.gw.flow_service("f1", "thru/x", "{}", "tg_nobody").status == 401);
}

TEST_CASE("step 4: create-user is default-filled with the home workspace it will write") {
  Policy p;
  auto out = p.gw.iam_request(R"({"operation":"create-user","user":{"username":"bob"}})", admin_key);
  REQUIRE(out.forward());
  CHECK(body_of(out)["workspace"] == "default");
  CHECK(p.gw.regime->authorised_capabilities.back() == "users:admin");
  CHECK(p.gw.regime->authorised_resources.back() == iam::Resource::system());
  CHECK(p.gw.regime->authorised_parameters.back() == iam::Parameters{{"workspace", "default"}});

  // default_workspace counts as workspace, and the parameter follows it.
  out = p.gw.iam_request(R"({"operation":"create-user","default_workspace":"acme","user":{}})", admin_key);
  REQUIRE(out.forward());
  CHECK(body_of(out)["workspace"] == "acme");
  CHECK(body_of(out)["default_workspace"] == "acme");
  CHECK(p.gw.regime->authorised_parameters.back() == iam::Parameters{{"workspace", "acme"}});

  // user.workspace when the request has none.
  out = p.gw.iam_request(R"({"operation":"create-user","user":{"workspace":"acme"}})", admin_key);
  REQUIRE(out.forward());
  CHECK(body_of(out)["workspace"] == "acme");
  CHECK(p.gw.regime->authorised_parameters.back() == iam::Parameters{{"workspace", "acme"}});

  // The request's workspace is what is checked, never a different user.workspace.
  p.gw.enforcer->clear_caches();  // the same decision as above would be a cache hit
  out = p.gw.iam_request(R"({"operation":"create-user","workspace":"default","user":{"workspace":"acme"}})", admin_key);
  REQUIRE(out.forward());
  CHECK(p.gw.regime->authorised_parameters.back() == iam::Parameters{{"workspace", "default"}});

  out = p.gw.iam_request(R"({"operation":"create-user","workspace":"a","default_workspace":"b"})", admin_key);
  CHECK(out.status == 400);
  CHECK(body_of(out)["error"]["type"] == "invalid-argument");
}

TEST_CASE("workspace_parameter reads user.workspace, workspace_record.id, workspace, else the identity's") {
  Policy p;
  auto parameters = [&](const std::string& body) {
    auto out = p.gw.iam_request(body, admin_key);
    REQUIRE(out.forward());
    return p.gw.regime->authorised_parameters.back();
  };
  using P = iam::Parameters;
  CHECK(parameters(R"({"operation":"get-user","user_id":"u"})") == P{{"workspace", "default"}});
  CHECK(parameters(R"({"operation":"get-user","workspace":"acme"})") == P{{"workspace", "acme"}});
  CHECK(parameters(R"({"operation":"update-user","workspace":"x","user":{"workspace":"acme"}})") ==
        P{{"workspace", "acme"}});
  // Only workspace-level operations and create-user are default-filled in the body: other
  // operations keep the regime's integrity check optional.
  auto out = p.gw.iam_request(R"({"operation":"get-user","user_id":"u"})", admin_key);
  CHECK_FALSE(body_of(out).contains("workspace"));
  CHECK(out.workspace.empty());
}

TEST_CASE("step 4: a workspace that does not exist is 404, checked after authorisation") {
  Policy p;
  // Unprivileged: 403 whether or not the workspace exists, so nothing can be probed.
  CHECK(p.gw.service("config", R"({"operation":"get","workspace":"ghost"})", alice_key).body ==
        R"({"error":"access denied"})");
  CHECK(p.gw.service("config", R"({"operation":"get","workspace":"acme"})", alice_key).body ==
        R"({"error":"access denied"})");
  CHECK(p.gw.regime->execute_calls == 0);
  // Privileged: 404.
  auto out = p.gw.service("config", R"({"operation":"get","workspace":"ghost"})", admin_key);
  CHECK(out.refusal == Refusal::workspace_not_found);
  CHECK(out.status == 404);
  CHECK(out.body == R"({"error":"workspace not found"})");
  out = p.gw.flow_service("f1", "agent", R"({"workspace":"ghost"})", admin_key);
  CHECK(out.body == R"({"error":"workspace not found"})");

  // Existing workspaces are remembered; missing ones are asked again (they may appear).
  const int calls = p.gw.regime->execute_calls;
  CHECK(p.gw.service("config", R"({"operation":"get","workspace":"acme"})", admin_key).forward());
  CHECK(p.gw.service("config", R"({"operation":"get","workspace":"acme"})", admin_key).forward());
  CHECK(p.gw.regime->execute_calls == calls + 1);
  p.gw.regime->workspaces.insert("ghost");
  CHECK(p.gw.service("config", R"({"operation":"get","workspace":"ghost"})", admin_key).forward());
}

TEST_CASE("the application's workspace_exists callback; its errors and exceptions fail closed") {
  std::function<iam::Result<bool>(std::string_view)> callback;
  FakeGateway gw([&](iam::GatewayConfig& c) {
    c.workspace_exists = [&](std::string_view w) { return callback(w); };
  });
  gw.regime->credentials.emplace(admin_key, identity("root"));
  callback = [](std::string_view w) -> iam::Result<bool> { return w == "mine"; };
  CHECK(gw.service("config", R"({"operation":"get","workspace":"mine"})", admin_key).forward());
  CHECK(gw.service("config", R"({"operation":"get","workspace":"other"})", admin_key).status == 404);
  CHECK(gw.regime->execute_calls == 0);

  callback = [](std::string_view) -> iam::Result<bool> { return iam::Error{iam::ErrorCode::internal_error, "down"}; };
  auto out = gw.service("config", R"({"operation":"get","workspace":"x"})", admin_key);
  CHECK(out.status == 500);
  CHECK(out.body == R"({"error":"internal error"})");

  callback = [](std::string_view) -> iam::Result<bool> { throw std::runtime_error("boom"); };
  out = gw.service("config", R"({"operation":"get","workspace":"y"})", admin_key);
  CHECK(out.status == 500);
  CHECK(out.body == R"({"error":"internal error"})");
}

TEST_CASE("step 5: actor is the identity's handle, overwriting the client's") {
  Policy p;
  auto out = p.gw.iam_request(R"({"operation":"whoami","actor":"root"})", alice_key);
  REQUIRE(out.forward());
  CHECK(body_of(out)["actor"] == "alice");
  out = p.gw.service("config", R"({"operation":"get","actor":{"x":1}})", alice_key);
  REQUIRE(out.forward());
  CHECK(body_of(out)["actor"] == "alice");
}

TEST_CASE("a named route sets the operation (change-password is AUTHENTICATED)") {
  Policy p;
  iam::Request request;
  request.route = iam::Route::named;
  request.name = "change-password";
  request.body = R"({"operation":"delete-user","password":"a","new_password":"b"})";
  request.credential = alice_key;
  auto out = p.gw.enforcer->enforce(request);
  REQUIRE(out.forward());
  CHECK(body_of(out)["operation"] == "change-password");
  CHECK(body_of(out)["actor"] == "alice");
  request.name = "no-such";
  CHECK(p.gw.enforcer->enforce(request).body == R"({"error":"unknown operation"})");
}

TEST_CASE("make_enforcer validates its configuration") {
  iam::GatewayConfig config;
  CHECK(iam::make_enforcer(config).error().code == iam::ErrorCode::invalid_argument);
  config.regime = std::make_shared<FakeRegime>();
  config.decision_ttl = -1s;
  CHECK_FALSE(iam::make_enforcer(config).ok());
  config.decision_ttl = 60s;
  config.decision_cache_entries = 0;
  CHECK_FALSE(iam::make_enforcer(config).ok());
  config.decision_cache_entries = 10;
  config.cache_shards = 0;
  CHECK_FALSE(iam::make_enforcer(config).ok());
  config.cache_shards = 4;
  config.logger = iam::null_logger();
  auto refusing = std::make_shared<FakeRegime>();
  refusing->refuse_listeners = true;
  config.regime = refusing;
  CHECK(iam::make_enforcer(config).error().code == iam::ErrorCode::internal_error);
  config.regime = std::make_shared<FakeRegime>();
  auto ok = iam::make_enforcer(config);
  REQUIRE(ok.ok());
  CHECK((*ok)->registry().size() == 117);
}

// ------------------------------------------------------------------ what callers see

TEST_CASE("failure mapping: every row of the masking table") {
  using iam::ErrorCode;
  using iam::HttpAnswer;
  auto answer = [](ErrorCode code, std::string message) { return iam::answer_for_error({code, std::move(message)}); };

  CHECK(answer(ErrorCode::auth_failed, "wrong password for alice") == HttpAnswer{401, R"({"error":"auth failure"})"});
  CHECK(answer(ErrorCode::operation_not_permitted, "target in acme") == HttpAnswer{403, R"({"error":"access denied"})"});
  CHECK(answer(ErrorCode::invalid_argument, "key.name is required") ==
        HttpAnswer{400, R"({"error":{"type":"invalid-argument","message":"key.name is required"}})"});
  CHECK(answer(ErrorCode::weak_password, "password shorter than 8 characters") ==
        HttpAnswer{400, R"({"error":{"type":"weak-password","message":"password shorter than 8 characters"}})"});
  CHECK(answer(ErrorCode::not_found, "user 42 not found in table users") ==
        HttpAnswer{404, R"({"error":{"type":"not-found","message":"not found"}})"});
  CHECK(answer(ErrorCode::duplicate, "username already exists") ==
        HttpAnswer{409, R"({"error":{"type":"duplicate","message":"already exists"}})"});
  CHECK(answer(ErrorCode::disabled, "the user is disabled") ==
        HttpAnswer{403, R"({"error":{"type":"disabled","message":"disabled"}})"});
  CHECK(answer(ErrorCode::not_supported, "the roles regime does not support 'create-group'") ==
        HttpAnswer{501, R"({"error":{"type":"not-supported","message":"not supported"}})"});
  CHECK(answer(ErrorCode::internal_error, "sqlite: disk I/O error at /var/lib/iam.db") ==
        HttpAnswer{500, R"({"error":"internal error"})"});

  // Same class, same bytes, whatever the cause.
  CHECK(answer(ErrorCode::not_found, "a").body == answer(ErrorCode::not_found, "b").body);
  CHECK(answer(ErrorCode::auth_failed, "a").body == answer(ErrorCode::auth_failed, "b").body);
}

TEST_CASE("failure mapping of IAM responses, typed and as the dispatcher's JSON") {
  using iam::HttpAnswer;
  iam::OperationResponse ok;
  ok.bootstrap_available = true;
  CHECK(iam::answer_for_response("bootstrap-status", std::move(ok)) == HttpAnswer{200, R"({"bootstrap_available":true})"});
  CHECK(iam::answer_for_response("whoami", iam::Result<iam::OperationResponse>(iam::ErrorCode::operation_not_permitted,
                                                                                "x")) ==
        HttpAnswer{403, R"({"error":"access denied"})"});
  CHECK(iam::answer_for_response("bootstrap", iam::Result<iam::OperationResponse>(iam::auth_failure())) ==
        HttpAnswer{401, R"({"error":"auth failure"})"});
  // login: any failure is 401.
  CHECK(iam::answer_for_response("login", iam::Result<iam::OperationResponse>(iam::ErrorCode::invalid_argument,
                                                                               "username is required")) ==
        HttpAnswer{401, R"({"error":"auth failure"})"});
  CHECK(iam::answer_for_response("login", iam::Result<iam::OperationResponse>(iam::ErrorCode::internal_error, "x"))
            .status == 500);

  CHECK(iam::answer_for_dispatcher_json("list-users", R"({"users":[]})") == HttpAnswer{200, R"({"users":[]})"});
  CHECK(iam::answer_for_dispatcher_json("get-user", R"({"error":{"message":"user not found","type":"not-found"}})") ==
        HttpAnswer{404, R"({"error":{"type":"not-found","message":"not found"}})"});
  CHECK(iam::answer_for_dispatcher_json("get-user",
                                        R"({"error":{"message":"target elsewhere","type":"operation-not-permitted"}})") ==
        HttpAnswer{403, R"({"error":"access denied"})"});
  CHECK(iam::answer_for_dispatcher_json("change-password", R"({"error":{"message":"wrong","type":"auth-failed"}})") ==
        HttpAnswer{401, R"({"error":"auth failure"})"});
  CHECK(iam::answer_for_dispatcher_json("x", R"({"error":{"type":"mystery"}})").status == 500);
  CHECK(iam::answer_for_dispatcher_json("x", "not json").status == 500);
  // Answers without an "error" key are validated, not trusted: a broken or non-object
  // answer is still an internal error, and an escaped key spelling "error" still counts.
  CHECK(iam::answer_for_dispatcher_json("x", R"({"users":[)").status == 500);
  CHECK(iam::answer_for_dispatcher_json("x", R"([1,2])").status == 500);
  CHECK(iam::answer_for_dispatcher_json("x", "").status == 500);
  CHECK(iam::answer_for_dispatcher_json("x", R"( {"user":{"name":"errors"}} )").status == 200);
  CHECK(iam::answer_for_dispatcher_json("get-user", R"({"\u0065rror":{"message":"m","type":"not-found"}})").status ==
        404);
}

// ------------------------------------------------------------------ with the roles regime

namespace {

struct Real {
  iam::testing::TestIam t;
  std::shared_ptr<iam::Enforcer> enforcer;
  std::unique_ptr<iam::JsonDispatcher> dispatcher;

  Real() {
    auto made = iam::testing::make_test_iam();
    REQUIRE(made.ok());
    t = std::move(*made);
    enforcer = test_support::enforcer_for(t);
    dispatcher = std::make_unique<iam::JsonDispatcher>(t.regime);
  }

  // POST /api/v1/iam end to end: enforce, then dispatch what was forwarded.
  iam::HttpAnswer iam(const std::string& body, std::optional<std::string> credential) const {
    iam::Request request;
    request.body = body;
    request.credential = std::move(credential);
    const Outcome out = enforcer->enforce(request);
    if (!out.forward()) return {out.status, out.body};
    return iam::answer_for_dispatcher_json(out.operation, dispatcher->handle(out.body));
  }
  Outcome config_get(const std::string& workspace, const std::string& credential) const {
    iam::Request request;
    request.route = iam::Route::service;
    request.name = "config";
    request.body = json{{"operation", "get"}, {"workspace", workspace}}.dump();
    request.credential = credential;
    return enforcer->enforce(request);
  }
};

}  // namespace

TEST_CASE("roles regime: the operator scenario through the kit") {
  Real r;
  const auto admin = r.t.admin_api_key;

  CHECK(r.iam(R"({"operation":"list-users"})", std::nullopt) == iam::HttpAnswer{401, R"({"error":"auth failure"})"});

  auto created = r.iam(R"({"operation":"create-user","user":{"username":"alice","password":"changeme1","roles":["writer"]}})",
                       admin);
  REQUIRE(created.status == 200);
  const json alice = json::parse(created.body)["user"];
  CHECK(alice["workspace"] == "default");  // default-filled from the admin's identity

  auto issued = r.iam(json{{"operation", "create-api-key"}, {"key", {{"user_id", alice["id"]}, {"name", "laptop"}}}}.dump(),
                      admin);
  REQUIRE(issued.status == 200);
  const std::string alice_api_key = json::parse(issued.body)["api_key_plaintext"];
  const std::string key_id = json::parse(issued.body)["api_key"]["id"];

  auto whoami = r.iam(R"({"operation":"whoami"})", alice_api_key);
  REQUIRE(whoami.status == 200);
  CHECK(json::parse(whoami.body)["user"]["username"] == "alice");
  CHECK(r.iam(R"({"operation":"list-users"})", alice_api_key) == iam::HttpAnswer{403, R"({"error":"access denied"})"});

  // A writer may read config in her workspace, not in another one (which the admin creates).
  CHECK(r.config_get("default", alice_api_key).forward());
  REQUIRE(r.iam(R"({"operation":"create-workspace","workspace_record":{"id":"acme"}})", admin).status == 200);
  CHECK(r.config_get("acme", alice_api_key).status == 403);
  CHECK(r.config_get("acme", admin).forward());
  CHECK(r.config_get("ghost", admin).status == 404);
  CHECK(r.config_get("ghost", alice_api_key).status == 403);

  // Revocation takes effect at once through the same kit (the identity was cached).
  REQUIRE(r.iam(json{{"operation", "revoke-api-key"}, {"key_id", key_id}}.dump(), admin).status == 200);
  CHECK(r.iam(R"({"operation":"whoami"})", alice_api_key) == iam::HttpAnswer{401, R"({"error":"auth failure"})"});

  // Login failures are all the same 401.
  CHECK(r.iam(R"({"operation":"login","username":"alice","password":"nope-nope"})", std::nullopt) ==
        iam::HttpAnswer{401, R"({"error":"auth failure"})"});
  CHECK(r.iam(R"({"operation":"login","username":"nobody","password":"whatever1"})", std::nullopt) ==
        iam::HttpAnswer{401, R"({"error":"auth failure"})"});
  CHECK(r.iam(R"({"operation":"login"})", std::nullopt) == iam::HttpAnswer{401, R"({"error":"auth failure"})"});
  CHECK(r.iam(R"({"operation":"bootstrap"})", std::nullopt) == iam::HttpAnswer{401, R"({"error":"auth failure"})"});
  CHECK(r.iam(R"({"operation":"get-signing-key-public"})", "garbage").status == 200);

  // The roles regime answers group operations not-supported.
  CHECK(r.iam(R"({"operation":"list-groups"})", admin).status == 501);
}

TEST_CASE("roles regime: 401 bodies are byte-identical whatever the cause") {
  Real r;
  auto alice = r.t.create_user("alice", "changeme1", {"writer"});
  REQUIRE(alice.ok());
  auto revoked = r.t.create_api_key(alice->id, "old");
  REQUIRE(revoked.ok());
  auto keys = r.t.regime->list_api_keys(std::nullopt, alice->id, std::nullopt);
  REQUIRE(keys.ok());
  REQUIRE(r.t.regime->revoke_api_key(std::nullopt, keys->front().id, std::nullopt).ok());

  auto jwt = r.t.login("alice", "changeme1");
  REQUIRE(jwt.ok());
  std::string bad_signature = *jwt;
  const auto sig = bad_signature.rfind('.') + 10;
  bad_signature[sig] = bad_signature[sig] == 'A' ? 'B' : 'A';

  auto carol = r.t.create_user("carol", "changeme1", {"reader"});
  REQUIRE(carol.ok());
  auto carol_jwt = r.t.login("carol", "changeme1");
  REQUIRE(carol_jwt.ok());
  REQUIRE(r.t.regime->disable_user(std::nullopt, carol->id, std::nullopt).ok());

  auto dave = r.t.create_user("dave", "changeme1", {"reader"}, "acme");
  REQUIRE(dave.ok());
  auto dave_key = r.t.create_api_key(dave->id);
  REQUIRE(dave_key.ok());
  REQUIRE(r.t.regime->disable_workspace(std::nullopt, "acme").ok());

  auto erin = r.t.create_user("erin", "changeme1", {"reader"});
  REQUIRE(erin.ok());
  auto expiring = r.t.login("erin", "changeme1");
  REQUIRE(expiring.ok());

  std::vector<std::pair<std::string, std::optional<std::string>>> causes{
      {"no credential", std::nullopt},
      {"malformed", "not-a-credential"},
      {"unknown key", "tg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
      {"revoked key", *revoked},
      {"bad signature", bad_signature},
      {"disabled user", *carol_jwt},
      {"disabled workspace", *dave_key},
  };
  for (const auto& [cause, credential] : causes) {
    const auto& cause_ = cause;  // clang 14 cannot capture a structured binding
    CAPTURE(cause_);
    CHECK(r.iam(R"({"operation":"whoami"})", credential) == iam::HttpAnswer{401, R"({"error":"auth failure"})"});
  }
  CHECK(r.iam(R"({"operation":"whoami"})", *expiring).status == 200);  // cached now
  r.t.clock->advance(std::chrono::hours(2));                          // past exp and the leeway
  CHECK(r.iam(R"({"operation":"whoami"})", *expiring) == iam::HttpAnswer{401, R"({"error":"auth failure"})"});
}

TEST_CASE("roles regime: 403 bodies are byte-identical whatever the cause") {
  Real r;
  auto alice = r.t.create_user("alice", "changeme1", {"reader"});
  REQUIRE(alice.ok());
  auto key = r.t.create_api_key(alice->id);
  REQUIRE(key.ok());
  auto helpdesk = r.t.create_user("bob", "changeme1", {"admin"}, "acme");
  REQUIRE(helpdesk.ok());

  const iam::HttpAnswer denied{403, R"({"error":"access denied"})"};
  // Capability not in role.
  CHECK(r.iam(R"({"operation":"list-users"})", *key) == denied);
  // Workspace out of scope.
  const Outcome out = r.config_get("acme", *key);
  CHECK(iam::HttpAnswer{out.status, out.body} == denied);
  // operation-not-permitted from the regime itself (change-password for someone else).
  CHECK(r.iam(json{{"operation", "change-password"}, {"user_id", helpdesk->id}, {"password", "changeme1"},
                   {"new_password", "n3wer-pass"}}
                  .dump(),
              *key) == denied);
}

TEST_CASE("a refusal quotes the caller's text bounded and escaped, for the log only") {
  FakeGateway gw;
  const std::string hostile = "x\x1b[2J\n" + std::string(100000, 'k');
  const Outcome out = gw.service(hostile, R"({"operation":"get"})", alice_key);
  CHECK(out.status == 404);
  CHECK(out.body == R"({"error":"unknown kind"})");
  CHECK(out.operation.size() <= 128);
  CHECK(out.reason.size() < 200);
  CHECK(out.reason.find('\x1b') == std::string::npos);
  CHECK(out.reason.find('\n') == std::string::npos);
  CHECK(out.reason.find("100006 bytes") != std::string::npos);
}
