// Issue 14, items 1 and 2: every JSON text the library and its gateway kit read is bounded
// in size and nesting depth while it is parsed (src/core/bounded_json.h). A text nested
// 100 000 deep used to crash the process (stack exhaustion copying or serialising the
// tree); now it is refused as invalid input, and a WebSocket id is echoed only when it is
// a string or number of bounded length.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "crypto/crypto.h"
#include "iam/jwt.h"
#include "gateway/answers.h"
#include "gateway_fakes.h"
#include "iam/operation_registry.h"
#include "iam/protocol.h"
#include "iam/testing.h"
#include "iam/websocket_session.h"

using namespace gateway_test;
using iam::WebSocketSession;
using nlohmann::json;

namespace {

constexpr std::size_t attack_depth = 100'000;  // what crashed iam-gateway (issue 14)

// `depth` nested arrays around `inner`: nested(2, "1") is [[1]].
std::string nested(std::size_t depth, std::string_view inner = "") {
  std::string text(depth, '[');
  text += inner;
  text.append(depth, ']');
  return text;
}

// `depth` nested objects {"a":{"a":…}} around `inner` (depth counts the objects).
std::string nested_objects(std::size_t depth, std::string_view inner = "1") {
  std::string text;
  for (std::size_t i = 0; i < depth; ++i) text += R"({"a":)";
  text += inner;
  text.append(depth, '}');
  return text;
}

const std::string alice_key = "tg_alicealicealicealicealicealiceal";
const std::string bad_message = R"({"error":{"message":"bad message","type":"error"},"complete":true})";
const std::string invalid_json(iam::masked::invalid_json);

FakeGateway alice_gateway() {
  FakeGateway gw;
  gw.regime->credentials.emplace(alice_key, identity("alice", "default"));
  return gw;
}

iam::Outcome named(const FakeGateway& gw, std::string operation, std::string body) {
  iam::Request request;
  request.route = iam::Route::named;
  request.name = std::move(operation);
  request.body = std::move(body);
  return gw.enforcer->enforce(request);
}

std::string error_type(const std::string& answer) {
  const json parsed = json::parse(answer);
  return parsed.at("error").at("type").get<std::string>();
}

}  // namespace

// ------------------------------------------------------------------ the Enforcer (item 1)

TEST_CASE("enforcer: a login body nested 100 000 deep is 400 invalid json, not a crash") {
  const FakeGateway gw = alice_gateway();
  const std::string body = R"({"username":)" + nested(attack_depth) + R"(,"password":"x"})";
  const auto via_route = named(gw, "login", body);
  CHECK(via_route.status == 400);
  CHECK(via_route.refusal == iam::Refusal::bad_request);
  CHECK(via_route.body == invalid_json);
  const auto via_iam = gw.iam_request(R"({"operation":"login","username":)" + nested(attack_depth) + "}");
  CHECK(via_iam.status == 400);
  CHECK(via_iam.body == invalid_json);
  CHECK(gw.regime->execute_calls == 0);
}

TEST_CASE("enforcer: authenticated routes refuse a too-deep body alike") {
  const FakeGateway gw = alice_gateway();
  const auto out = gw.service("config", R"({"operation":"get","keys":)" + nested(attack_depth) + "}", alice_key);
  CHECK(out.status == 400);
  CHECK(out.body == invalid_json);
  const auto flow = gw.flow_service("f1", "agent", nested_objects(attack_depth), alice_key);
  CHECK(flow.status == 400);
  CHECK(flow.body == invalid_json);
  CHECK(gw.regime->authorise_calls == 0);
}

TEST_CASE("enforcer: the depth bound is exactly the default, and the size bound is configurable") {
  const FakeGateway gw = alice_gateway();
  // The body object itself is one level of the 64.
  const auto deepest = gw.flow_service("f1", "agent", nested_objects(iam::default_max_json_depth), alice_key);
  CHECK(deepest.forward());
  const auto over = gw.flow_service("f1", "agent", nested_objects(iam::default_max_json_depth + 1), alice_key);
  CHECK(over.status == 400);
  CHECK(over.body == invalid_json);

  FakeGateway small([](iam::GatewayConfig& config) {
    config.max_body_bytes = 64;
    config.max_json_depth = 3;
  });
  small.regime->credentials.emplace(alice_key, identity("alice", "default"));
  CHECK(small.flow_service("f1", "agent", R"({"a":{"b":[1]}})", alice_key).forward());
  CHECK(small.flow_service("f1", "agent", R"({"a":{"b":[[1]]}})", alice_key).body == invalid_json);
  const std::string large = R"({"a":")" + std::string(64, 'x') + R"("})";
  CHECK(small.flow_service("f1", "agent", large, alice_key).body == invalid_json);
}

TEST_CASE("enforcer: a configuration without bounds is refused") {
  // GatewayConfig spells the library's defaults out (public headers cannot include
  // src/core/bounded_json.h): they must not drift apart.
  CHECK(iam::GatewayConfig{}.max_body_bytes == iam::default_max_json_bytes);
  CHECK(iam::GatewayConfig{}.max_json_depth == iam::default_max_json_depth);
  CHECK_THROWS(FakeGateway([](iam::GatewayConfig& config) { config.max_json_depth = 0; }));
  CHECK_THROWS(FakeGateway([](iam::GatewayConfig& config) { config.max_body_bytes = 0; }));
}

// ------------------------------------------------------------------ the WebSocket session (item 2)

TEST_CASE("websocket: a first frame with an id nested 100 000 deep is a bad message, echoing nothing") {
  const FakeGateway gw = alice_gateway();
  WebSocketSession session(gw.enforcer);
  const auto reply = session.on_frame(R"({"id":)" + nested(attack_depth) + "}");
  REQUIRE(reply.frames.size() == 1);
  CHECK(reply.frames[0] == bad_message);
  CHECK_FALSE(reply.forward);
  // The session still works.
  const auto ok = session.on_frame(R"({"type":"auth","token":")" + alice_key + R"("})");
  REQUIRE(ok.frames.size() == 1);
  CHECK(json::parse(ok.frames[0])["type"] == "auth-ok");
}

TEST_CASE("websocket: only a string or number id of bounded length is echoed") {
  const FakeGateway gw = alice_gateway();
  WebSocketSession session(gw.enforcer);
  const auto answer = [&](const std::string& id) {
    const auto reply = session.on_frame(R"({"id":)" + id + R"(,"service":"iam","request":{"operation":"whoami"}})");
    REQUIRE(reply.frames.size() == 1);
    return reply.frames[0];
  };
  // Not a string or number: bad message, and the id is not repeated.
  for (const std::string& id : std::vector<std::string>{"[1]", R"({"a":"b"})", "true", "false", "[]", "{}", nested(3)}) {
    INFO(id);
    CHECK(answer(id) == bad_message);
  }
  const std::string longest(WebSocketSession::max_id_bytes, 'x');
  CHECK(json::parse(answer('"' + longest + '"'))["id"] == longest);
  CHECK(answer('"' + longest + "x\"") == bad_message);
  CHECK(json::parse(answer("7"))["id"] == 7);
  CHECK(json::parse(answer("-1.5"))["id"] == -1.5);
  CHECK(json::parse(answer(R"("r1")"))["id"] == "r1");
  CHECK(json::parse(answer(R"("r1")"))["error"]["type"] == "auth-required");
}

TEST_CASE("websocket: a request nested 100 000 deep after auth is a bad message; the session goes on") {
  const FakeGateway gw = alice_gateway();
  WebSocketSession session(gw.enforcer);
  REQUIRE(session.on_frame(R"({"type":"auth","token":")" + alice_key + R"("})").frames.size() == 1);
  REQUIRE(session.authenticated());
  const auto deep =
      session.on_frame(R"({"id":"r1","service":"config","request":{"operation":"get","keys":)" + nested(attack_depth) + "}}");
  REQUIRE(deep.frames.size() == 1);
  CHECK(deep.frames[0] == bad_message);
  CHECK_FALSE(deep.forward);
  // What the HTTP route accepts (an object whose members nest 63 more levels) is forwarded.
  const std::string inner = R"({"operation":"get","keys":)" + nested(iam::default_max_json_depth - 1) + "}";
  const auto fine = session.on_frame(R"({"id":"r2","service":"config","request":)" + inner + "}");
  CHECK(fine.frames.empty());
  REQUIRE(fine.forward);
  CHECK(fine.forward->id_json == R"("r2")");
}

TEST_CASE("websocket: the frame builders refuse a deep id or response instead of crashing") {
  const std::string deep = nested(attack_depth);
  const auto response = json::parse(WebSocketSession::response_frame(deep, R"({"ok":true})", true));
  CHECK_FALSE(response.contains("id"));
  CHECK(response["response"]["ok"] == true);
  const auto internal = json::parse(WebSocketSession::response_frame(R"("r1")", R"({"a":)" + deep + "}", true));
  CHECK(internal["id"] == "r1");
  CHECK(internal["error"]["type"] == "internal-error");
  const auto error = json::parse(WebSocketSession::error_frame(deep, iam::Error{iam::ErrorCode::not_found, "x"}));
  CHECK_FALSE(error.contains("id"));
  const auto iam_answer = json::parse(WebSocketSession::iam_response_frame(R"("r1")", "whoami", R"({"error":)" + deep + "}"));
  CHECK(iam_answer["error"]["type"] == "internal-error");
}

// ------------------------------------------------------------------ the JSON dispatcher and its texts

TEST_CASE("dispatcher: a request nested 100 000 deep is invalid-argument") {
  auto made = iam::testing::make_test_iam();
  REQUIRE(made);
  const iam::JsonDispatcher dispatcher(made->regime);
  const auto answer = dispatcher.handle(R"({"operation":"whoami","user":)" + nested(attack_depth) + "}");
  CHECK(error_type(answer) == "invalid-argument");
  CHECK(error_type(dispatcher.handle(std::string(iam::default_max_json_bytes + 1, ' '))) == "invalid-argument");
}

TEST_CASE("dispatcher: authorise's resource, parameters and checks texts are bounded too") {
  auto made = iam::testing::make_test_iam();
  REQUIRE(made);
  const iam::JsonDispatcher dispatcher(made->regime);
  const std::string deep = nested_objects(attack_depth);
  for (const char* field : {"resource_json", "parameters_json"}) {
    INFO(field);
    const json request = {{"operation", "authorise"}, {"user_id", "admin"}, {"capability", "users:read"}, {field, deep}};
    CHECK(error_type(dispatcher.handle(request.dump())) == "invalid-argument");
  }
  const json many = {{"operation", "authorise-many"}, {"user_id", "admin"}, {"authorise_checks", nested(attack_depth)}};
  CHECK(error_type(dispatcher.handle(many.dump())) == "invalid-argument");
}

TEST_CASE("gateway answers: a deep dispatcher answer is an internal error") {
  const auto error = iam::gateway::dispatcher_error(R"({"error":)" + nested(attack_depth) + "}");
  REQUIRE(error);
  CHECK(error->code == iam::ErrorCode::internal_error);
  const auto plain = iam::gateway::dispatcher_error(R"({"users":)" + nested(attack_depth) + "}");
  REQUIRE(plain);
  CHECK(plain->code == iam::ErrorCode::internal_error);
  CHECK_FALSE(iam::gateway::dispatcher_error(R"({"users":[]})"));
}

TEST_CASE("operation registry: a document nested too deeply is invalid-argument") {
  const auto registry = iam::OperationRegistry::from_json(R"({"operations":)" + nested(attack_depth) + "}");
  REQUIRE_FALSE(registry);
  CHECK(registry.error().code == iam::ErrorCode::invalid_argument);
}

// ------------------------------------------------------------------ the bounded parser itself

TEST_CASE("parse_json_bounded: depth and size are refused at the bound, not before") {
  using iam::JsonLimits;
  CHECK(iam::parse_json_bounded(nested(64)));
  const auto deep = iam::parse_json_bounded(nested(65));
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == iam::ErrorCode::invalid_argument);
  CHECK(deep.error().message == "JSON nested too deeply");
  CHECK(iam::parse_json_bounded(nested(attack_depth)).error().message == "JSON nested too deeply");
  CHECK(iam::parse_json_bounded(nested_objects(64)));
  CHECK_FALSE(iam::parse_json_bounded(nested_objects(65)));
  CHECK(iam::parse_json_bounded("1", JsonLimits{0, 16}));
  CHECK_FALSE(iam::parse_json_bounded("[]", JsonLimits{0, 16}));

  CHECK(iam::parse_json_bounded(R"("abcd")", JsonLimits{8, 6}));
  const auto large = iam::parse_json_bounded(R"("abcde")", JsonLimits{8, 6});
  REQUIRE_FALSE(large);
  CHECK(large.error().message == "JSON text too large");

  for (const char* bad : {"", "{", "[1,]", "{} {}", "[1] x", "\"\xff\"", "1e999", "{\"a\" 1}"}) {
    INFO(bad);
    const auto refused = iam::parse_json_bounded(bad);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message == "malformed JSON");
    CHECK_FALSE(iam::json_accepted_bounded(bad));
  }
  CHECK(*iam::parse_json_bounded(R"({"b":[1,{"c":null}],"a":"x"})") == json::parse(R"({"b":[1,{"c":null}],"a":"x"})"));
  CHECK(iam::parse_ordered_json_bounded(R"({"b":1,"a":2})")->dump() == R"({"b":1,"a":2})");
  CHECK(iam::json_accepted_bounded(nested(64)));
  CHECK_FALSE(iam::json_accepted_bounded(nested(65)));
  CHECK_FALSE(iam::json_accepted_bounded(R"("abcde")", JsonLimits{8, 6}));
  CHECK_FALSE(iam::parse_ordered_json_bounded(nested(attack_depth)));
}

// ------------------------------------------------------------------ JWT and JWK texts

TEST_CASE("jwt: a JWK or token header nested too deeply is refused") {
  const std::string x(43, 'A');  // 32 zero bytes, base64url
  const std::string jwk = R"({"kty":"OKP","crv":"Ed25519","x":")" + x + R"(","extra":)";
  CHECK(iam::public_key_from_jwk(jwk + "1}"));
  const auto deep = iam::public_key_from_jwk(jwk + nested(attack_depth) + "}");
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == iam::ErrorCode::invalid_argument);
  CHECK_FALSE(iam::public_key_from_jwk(jwk + nested(iam::default_max_json_depth) + "}"));

  iam::KeySet keys(iam::JwtConfig{}, std::make_shared<iam::ManualClock>());
  const auto token = [](const std::string& header) {
    const std::string signature(64, '\0');
    return iam::crypto::base64url_encode(iam::crypto::as_bytes(header)) + "." +
           iam::crypto::base64url_encode(iam::crypto::as_bytes(std::string_view(R"({"sub":"a"})"))) + "." +
           iam::crypto::base64url_encode(iam::crypto::as_bytes(signature));
  };
  std::string reason;
  const std::string header = R"({"alg":"EdDSA","kid":"k","x":)";
  CHECK_FALSE(keys.verify_with_reason(token(header + nested(iam::default_max_json_depth - 1) + "}"), &reason));
  CHECK(reason == "unknown kid");  // within the bound: read, then refused for its kid
  CHECK_FALSE(keys.verify_with_reason(token(header + nested(iam::default_max_json_depth) + "}"), &reason));
  CHECK(reason == "header is not a JSON object without duplicate keys");
}
