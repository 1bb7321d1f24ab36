// The WebSocket first-frame authentication state machine, frame by frame (docs/gateway.md
// "WebSocket first-frame authentication").
#include <doctest/doctest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "../support/enforcer.h"
#include "gateway_fakes.h"
#include "iam/protocol.h"
#include "iam/testing.h"
#include "iam/websocket_session.h"

using namespace gateway_test;
using iam::WebSocketSession;
using nlohmann::json;

namespace {

const std::string alice_key = "tg_alicealicealicealicealicealiceal";
const std::string root_key = "tg_rootrootrootrootrootrootrootroot";

const std::string bad_message = R"({"error":{"message":"bad message","type":"error"},"complete":true})";
const std::string auth_failed = R"({"type":"auth-failed","error":"auth failure"})";

std::string auth(const std::string& token) { return json{{"type", "auth"}, {"token", token}}.dump(); }

std::string error_frame(const std::string& id, const std::string& message, const std::string& type) {
  return R"({"id":")" + id + R"(","error":{"message":")" + message + R"(","type":")" + type + R"("},"complete":true})";
}

// One frame in, exactly one frame out.
std::string one(WebSocketSession& session, const std::string& frame) {
  auto reply = session.on_frame(frame);
  REQUIRE(reply.frames.size() == 1);
  CHECK_FALSE(reply.forward.has_value());
  return reply.frames.front();
}

// One frame in, a forward out and nothing to send.
WebSocketSession::Forward forwarded(WebSocketSession& session, const std::string& frame) {
  auto reply = session.on_frame(frame);
  CHECK(reply.frames.empty());
  REQUIRE(reply.forward.has_value());
  return std::move(*reply.forward);
}

struct Socket {
  FakeGateway gw;
  WebSocketSession session{nullptr};

  Socket() {
    gw.regime->credentials.emplace(alice_key, identity("alice", "default"));
    gw.regime->credentials.emplace(root_key, identity("root", "acme"));
    gw.regime->decide = [](const iam::Identity& who, std::string_view capability, const iam::Resource& resource,
                           const iam::Parameters&) {
      if (who.handle == "root") return iam::Decision::allowed(60s);
      const bool ok = (capability == "config:read" || capability == "agent") &&
                      (resource.workspace_id().empty() || resource.workspace_id() == "default");
      return ok ? iam::Decision::allowed(60s) : iam::Decision::denied(60s);
    };
    session = WebSocketSession(gw.enforcer);
  }
};

}  // namespace

TEST_CASE("bad frames: not JSON, not an object, or no id and not an auth frame") {
  Socket s;
  CHECK(one(s.session, "{nope") == bad_message);
  CHECK(one(s.session, "[1]") == bad_message);
  CHECK(one(s.session, "\"auth\"") == bad_message);
  CHECK(one(s.session, R"({"service":"iam","request":{"operation":"whoami"}})") == bad_message);
  CHECK(one(s.session, R"({"type":"hello"})") == bad_message);
  CHECK(one(s.session, R"({"id":null,"service":"iam"})") == bad_message);
}

TEST_CASE("request frames before auth are answered auth-required and reach no backend") {
  Socket s;
  CHECK(one(s.session, R"({"id":"r1","service":"iam","request":{"operation":"whoami"}})") ==
        error_frame("r1", "auth failure", "auth-required"));
  CHECK(one(s.session, R"({"id":7,"service":"config","request":{"operation":"get"}})") ==
        R"({"id":7,"error":{"message":"auth failure","type":"auth-required"},"complete":true})");
  CHECK(s.gw.regime->authorise_calls == 0);
  CHECK_FALSE(s.session.authenticated());
}

TEST_CASE("auth frame: success and failure, and the socket stays open") {
  Socket s;
  CHECK(one(s.session, auth("tg_wrong")) == auth_failed);
  CHECK(one(s.session, auth("garbage")) == auth_failed);
  CHECK(one(s.session, R"({"type":"auth","token":42})") == auth_failed);
  CHECK(one(s.session, R"({"type":"auth"})") == auth_failed);  // anonymous: refused by this regime
  CHECK_FALSE(s.session.authenticated());

  CHECK(one(s.session, auth(alice_key)) == R"({"type":"auth-ok","workspace":"default","default_workspace":"default"})");
  CHECK(s.session.authenticated());
}

TEST_CASE("re-auth replaces the identity; a failed re-auth leaves the socket unauthenticated") {
  Socket s;
  one(s.session, auth(alice_key));
  CHECK(forwarded(s.session, R"({"id":"a","service":"iam","request":{"operation":"whoami"}})").identity.handle ==
        "alice");

  CHECK(one(s.session, auth(root_key)) == R"({"type":"auth-ok","workspace":"acme","default_workspace":"acme"})");
  CHECK(forwarded(s.session, R"({"id":"b","service":"iam","request":{"operation":"whoami"}})").identity.handle ==
        "root");

  CHECK(one(s.session, auth("tg_wrong")) == auth_failed);
  CHECK_FALSE(s.session.authenticated());
  CHECK(one(s.session, R"({"id":"c","service":"iam","request":{"operation":"whoami"}})") ==
        error_frame("c", "auth failure", "auth-required"));
}

TEST_CASE("request frames are authorised per frame and forwarded rewritten") {
  Socket s;
  one(s.session, auth(alice_key));

  SUBCASE("service iam: the bare IAM operation") {
    auto f = forwarded(s.session, R"({"id":"r1","service":"iam","request":{"operation":"whoami","actor":"root"}})");
    CHECK(f.id_json == R"("r1")");
    CHECK(f.operation == "whoami");
    CHECK(f.service == "iam");
    CHECK(json::parse(f.request) == json{{"operation", "whoami"}, {"actor", "alice"}});
  }
  SUBCASE("without flow: <service>:<request.operation>, workspace default-filled") {
    auto f = forwarded(s.session, R"({"id":"r2","service":"config","request":{"operation":"get","keys":[]}})");
    CHECK(f.operation == "config:get");
    CHECK(f.workspace == "default");
    CHECK(json::parse(f.request) ==
          json{{"operation", "get"}, {"keys", json::array()}, {"workspace", "default"}, {"actor", "alice"}});
    CHECK(s.gw.regime->authorised_resources.back() == iam::Resource::workspace("default"));
  }
  SUBCASE("with flow: flow-service:<service> on {workspace, flow}") {
    auto f = forwarded(s.session, R"({"id":"r3","service":"agent","flow":"f1","request":{"question":"q"}})");
    CHECK(f.operation == "flow-service:agent");
    CHECK(f.flow == "f1");
    CHECK(s.gw.regime->authorised_capabilities.back() == "agent");
    CHECK(s.gw.regime->authorised_resources.back() == iam::Resource::flow("default", "f1"));
    CHECK(json::parse(f.request)["workspace"] == "default");
  }
  SUBCASE("the envelope's workspace is authorised and written into the inner request") {
    auto f = forwarded(s.session,
                       R"({"id":"r4","service":"config","workspace":"default","request":{"operation":"get","workspace":"acme"}})");
    CHECK(json::parse(f.request)["workspace"] == "default");
    CHECK(one(s.session,
              R"({"id":"r5","service":"config","workspace":"acme","request":{"operation":"get","workspace":"default"}})") ==
          error_frame("r5", "access denied", "access-denied"));
  }
  SUBCASE("a numeric id is echoed as it came") {
    auto f = forwarded(s.session, R"({"id":12,"service":"iam","request":{"operation":"whoami"}})");
    CHECK(f.id_json == "12");
  }
}

TEST_CASE("request frame errors carry the id and complete:true") {
  Socket s;
  one(s.session, auth(alice_key));
  CHECK(one(s.session, R"({"id":"u1","service":"nope","request":{"operation":"get"}})") ==
        error_frame("u1", "unknown service", "unknown-service"));
  CHECK(one(s.session, R"({"id":"u2","service":"config","request":{"operation":"nope"}})") ==
        error_frame("u2", "unknown service", "unknown-service"));
  CHECK(one(s.session, R"({"id":"u3","service":"nope","flow":"f1","request":{}})") ==
        error_frame("u3", "unknown service", "unknown-service"));
  CHECK(one(s.session, R"({"id":"u4","service":"iam","request":{"operation":"no-such"}})") ==
        error_frame("u4", "unknown service", "unknown-service"));
  CHECK(one(s.session, R"({"id":"u5","service":"iam","flow":"f1","request":{"operation":"whoami"}})") ==
        error_frame("u5", "unknown service", "unknown-service"));
  CHECK(one(s.session, R"({"id":"d1","service":"config","request":{"operation":"put"}})") ==
        error_frame("d1", "access denied", "access-denied"));
  CHECK(one(s.session, R"({"id":"b1","service":"config"})") ==
        R"({"id":"b1","error":{"message":"bad message","type":"error"},"complete":true})");
  CHECK(one(s.session, R"({"id":"b2","service":3,"request":{}})") ==
        R"({"id":"b2","error":{"message":"bad message","type":"error"},"complete":true})");
  CHECK(one(s.session, R"({"id":"b3","service":"config","request":{"operation":"get","workspace":5}})") ==
        R"({"id":"b3","error":{"message":"workspace must be a string","type":"invalid-argument"},"complete":true})");

  // An unknown workspace, for a caller allowed to name it.
  one(s.session, auth(root_key));
  CHECK(one(s.session, R"({"id":"w1","service":"config","workspace":"ghost","request":{"operation":"get"}})") ==
        error_frame("w1", "workspace not found", "workspace-not-found"));
}

TEST_CASE("an identity that expires mid-session stops authorising frames") {
  Socket s;
  const std::string jwt = "h.p.s";
  s.gw.regime->credentials.emplace(jwt, identity("alice", "default", iam::CredentialSource::jwt,
                                                 s.gw.clock->now() + 10s));
  CHECK(one(s.session, auth(jwt)) == R"({"type":"auth-ok","workspace":"default","default_workspace":"default"})");
  forwarded(s.session, R"({"id":"1","service":"iam","request":{"operation":"whoami"}})");
  s.gw.clock->advance(10s);
  s.gw.regime->credentials.insert_or_assign(jwt, iam::auth_failure());  // what the regime says after exp
  CHECK(one(s.session, R"({"id":"2","service":"iam","request":{"operation":"whoami"}})") ==
        error_frame("2", "auth failure", "auth-required"));
  CHECK_FALSE(s.session.authenticated());
}

TEST_CASE("anonymous sessions when the regime accepts anonymous (noauth-like)") {
  Socket s;
  s.gw.regime->anonymous = identity("anonymous", "default", iam::CredentialSource::anonymous);
  CHECK(one(s.session, R"({"type":"auth","token":""})") ==
        R"({"type":"auth-ok","workspace":"default","default_workspace":"default"})");
  CHECK(forwarded(s.session, R"({"id":"1","service":"iam","request":{"operation":"whoami"}})").identity.handle ==
        "anonymous");
}

TEST_CASE("response and error frames") {
  CHECK(WebSocketSession::response_frame(R"("r1")", R"({"b":1,"a":2})", false) ==
        R"({"id":"r1","response":{"b":1,"a":2},"complete":false})");
  CHECK(WebSocketSession::response_frame("3", "{}", true) == R"({"id":3,"response":{},"complete":true})");
  CHECK(WebSocketSession::response_frame(R"("r1")", "oops", true) ==
        R"({"id":"r1","error":{"message":"internal error","type":"internal-error"},"complete":true})");

  CHECK(WebSocketSession::error_frame(R"("e")", {iam::ErrorCode::operation_not_permitted, "target elsewhere"}) ==
        error_frame("e", "access denied", "access-denied"));
  CHECK(WebSocketSession::error_frame(R"("e")", {iam::ErrorCode::auth_failed, "wrong password"}) ==
        error_frame("e", "auth failure", "auth-failed"));
  CHECK(WebSocketSession::error_frame(R"("e")", {iam::ErrorCode::internal_error, "disk"}) ==
        error_frame("e", "internal error", "internal-error"));
  CHECK(WebSocketSession::error_frame(R"("e")", {iam::ErrorCode::invalid_argument, "key.name is required"}) ==
        error_frame("e", "key.name is required", "invalid-argument"));
  CHECK(WebSocketSession::error_frame(R"("e")", {iam::ErrorCode::not_found, "user 7"}) ==
        error_frame("e", "not found", "not-found"));

  CHECK(WebSocketSession::iam_response_frame(R"("i")", "whoami", R"({"user":{"id":"u"}})") ==
        R"({"id":"i","response":{"user":{"id":"u"}},"complete":true})");
  CHECK(WebSocketSession::iam_response_frame(R"("i")", "login",
                                             R"({"error":{"message":"username is required","type":"invalid-argument"}})") ==
        error_frame("i", "auth failure", "auth-failed"));
}

TEST_CASE("roles regime: a session through the real kit; revocation takes effect mid-session") {
  auto t = iam::testing::make_test_iam();
  REQUIRE(t.ok());
  auto alice = t->create_user("alice", "changeme1", {"writer"});
  REQUIRE(alice.ok());
  auto key = t->create_api_key(alice->id);
  REQUIRE(key.ok());
  const auto enforcer = test_support::enforcer_for(*t);
  const iam::JsonDispatcher dispatcher(t->regime);

  WebSocketSession session(enforcer);
  CHECK(one(session, auth(*key)) == R"({"type":"auth-ok","workspace":"default","default_workspace":"default"})");
  auto f = forwarded(session, R"({"id":"w","service":"iam","request":{"operation":"whoami"}})");
  const auto frame = json::parse(WebSocketSession::iam_response_frame(f.id_json, f.operation, dispatcher.handle(f.request)));
  CHECK(frame["response"]["user"]["username"] == "alice");

  CHECK(one(session, R"({"id":"x","service":"iam","request":{"operation":"list-users"}})") ==
        error_frame("x", "access denied", "access-denied"));

  auto keys = t->regime->list_api_keys(std::nullopt, alice->id, std::nullopt);
  REQUIRE(keys.ok());
  REQUIRE(t->regime->revoke_api_key(std::nullopt, keys->front().id, std::nullopt).ok());
  CHECK(one(session, R"({"id":"y","service":"iam","request":{"operation":"whoami"}})") ==
        error_frame("y", "auth failure", "auth-required"));

  // JWT: expires mid-session (past exp and the verifier's leeway).
  auto jwt = t->login("alice", "changeme1");
  REQUIRE(jwt.ok());
  CHECK(one(session, auth(*jwt)).find("auth-ok") != std::string::npos);
  forwarded(session, R"({"id":"z","service":"config","request":{"operation":"get"}})");
  t->clock->advance(std::chrono::hours(2));
  CHECK(one(session, R"({"id":"z2","service":"config","request":{"operation":"get"}})") ==
        error_frame("z2", "auth failure", "auth-required"));
}

// Issue 15 item 2: TrustGraph's SocketClient always sends an envelope workspace (its own
// session's), so it must never move an IAM request to another workspace.
TEST_CASE("system-level IAM frames ignore the envelope workspace; the inner request stands") {
  auto t = iam::testing::make_test_iam();
  REQUIRE(t.ok());
  REQUIRE(t->create_user("acme-writer", "changeme1", {"writer"}, "acme").ok());  // creates workspace acme
  const auto enforcer = test_support::enforcer_for(*t);
  const iam::JsonDispatcher dispatcher(t->regime);

  WebSocketSession session(enforcer);
  REQUIRE(one(session, auth(t->admin_api_key)).find("auth-ok") != std::string::npos);

  // The frame tg's SocketClient sends for create-user while its session is on "acme".
  auto f = forwarded(session, R"({"id":"req-1","workspace":"acme","service":"iam","request":)"
                              R"({"operation":"create-user","workspace":"default",)"
                              R"("user":{"username":"bob","password":"changeme1","roles":["reader"]}}})");
  CHECK(json::parse(f.request)["workspace"] == "default");
  const auto created = json::parse(WebSocketSession::iam_response_frame(f.id_json, f.operation, dispatcher.handle(f.request)));
  CAPTURE(created.dump());
  CHECK(created["response"]["user"]["workspace"] == "default");

  // list-users of "default" from an "acme" socket lists default's users, not acme's.
  f = forwarded(session, R"({"id":"req-2","workspace":"acme","service":"iam","request":{"operation":"list-users","workspace":"default"}})");
  CHECK(json::parse(f.request)["workspace"] == "default");
  const auto listed = json::parse(WebSocketSession::iam_response_frame(f.id_json, f.operation, dispatcher.handle(f.request)));
  std::vector<std::string> names;
  for (const auto& user : listed["response"]["users"]) names.push_back(user["username"]);
  CHECK(std::find(names.begin(), names.end(), "bob") != names.end());
  CHECK(std::find(names.begin(), names.end(), "acme-writer") == names.end());

  // An IAM request without a workspace is not given the envelope's either.
  f = forwarded(session, R"({"id":"req-3","workspace":"acme","service":"iam","request":{"operation":"whoami"}})");
  CHECK_FALSE(json::parse(f.request).contains("workspace"));

  // Authorisation follows the body, as over HTTP: a writer of acme naming acme in the
  // envelope still may not list default's users.
  auto writer_key = t->create_api_key(t->create_user("acme-writer2", "changeme1", {"writer"}, "acme")->id);
  REQUIRE(writer_key.ok());
  REQUIRE(one(session, auth(*writer_key)).find("auth-ok") != std::string::npos);
  CHECK(one(session, R"({"id":"req-4","workspace":"acme","service":"iam","request":{"operation":"list-users","workspace":"default"}})") ==
        error_frame("req-4", "access denied", "access-denied"));

  // Workspace-level services still take the envelope's workspace.
  f = forwarded(session, R"({"id":"req-5","workspace":"acme","service":"config","request":{"operation":"get","workspace":"default"}})");
  CHECK(f.workspace == "acme");
  CHECK(json::parse(f.request)["workspace"] == "acme");
}
