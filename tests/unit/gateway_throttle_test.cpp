// The example gateway's per-address login throttle (examples/gateway/handler.cpp): HTTP
// and WebSocket password guesses from one client address share one budget, and a success
// never refunds it. Driven through gateway::Handler with a ManualClock, no server.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "../support/enforcer.h"
#include "../../examples/gateway/handler.h"
#include "iam/testing.h"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::string_view kAddress = "192.0.2.7";

struct Fixture {
  iam::testing::TestIam iam;
  std::shared_ptr<gateway::Handler> handler;
  std::string alice_id;

  Fixture() {
    iam::testing::TestIamOptions options;
    options.login_throttle.enabled = false;  // only the address throttle is under test here
    auto made = iam::testing::make_test_iam(options);
    REQUIRE(made.ok());
    iam = std::move(*made);
    auto alice = iam.create_user("alice", "alice-password", {"writer"});
    REQUIRE(alice.ok());
    alice_id = alice->id;
    REQUIRE(iam.create_user("mallory", "mallory-password", {"reader"}).ok());
    iam::ThrottleConfig address;
    address.free_failures = 2;
    address.first_delay = 10s;
    handler = std::make_shared<gateway::Handler>(iam.regime, test_support::enforcer_for(iam), std::make_shared<gateway::EchoBackend>(),
                                                 address);
  }

  // POST /api/v1/auth/login from `client`: the status.
  gateway::Response http_login(const std::string& username, const std::string& password,
                               std::string_view client = kAddress) const {
    const auto route = gateway::match_route("POST", "/api/v1/auth/login");
    auto begun = handler->begin(route, json{{"username", username}, {"password", password}}.dump(), std::nullopt,
                                client);
    if (auto* done = std::get_if<gateway::Response>(&begun)) return *done;
    return handler->complete(std::get<gateway::Pending>(begun));
  }

  // A login request frame on /api/v1/socket from `client`: the answer frame, parsed.
  json socket_login(const std::string& username, const std::string& password,
                    std::string_view client = kAddress) const {
    iam::WebSocketSession::Forward forward;
    forward.id_json = R"("l1")";
    forward.service = "iam";
    forward.operation = "login";
    forward.request = json{{"operation", "login"}, {"username", username}, {"password", password}}.dump();
    return json::parse(handler->socket_answer(forward, client));
  }
};

}  // namespace

TEST_CASE("socket logins count against the client address, and are refused by it, like HTTP logins") {
  Fixture f;
  const json wrong = f.socket_login("nobody-1", "wrong-password");
  CHECK(wrong == json{{"id", "l1"}, {"error", {{"message", "auth failure"}, {"type", "auth-failed"}}}, {"complete", true}});
  CHECK(f.socket_login("nobody-2", "wrong-password") == wrong);
  CHECK(f.socket_login("nobody-3", "wrong-password") == wrong);  // third failure: the address is locked

  // Locked: even the right password is refused, with the same masked answer, on both surfaces.
  CHECK(f.socket_login("alice", "alice-password") == wrong);
  const auto http = f.http_login("alice", "alice-password");
  CHECK(http.status == 401);
  CHECK(http.body == iam::masked::auth_failure);
  // Another address is not affected.
  CHECK(f.socket_login("alice", "alice-password", "198.51.100.1").contains("response"));

  f.iam.clock->advance(10s);
  CHECK(f.socket_login("alice", "alice-password").contains("response"));
}

TEST_CASE("HTTP login failures lock the address for socket logins too") {
  Fixture f;
  for (int i = 0; i < 3; ++i) CHECK(f.http_login("nobody-" + std::to_string(i), "wrong-password").status == 401);
  CHECK(f.http_login("alice", "alice-password").status == 401);
  CHECK(f.socket_login("alice", "alice-password").contains("error"));
}

TEST_CASE("a successful login does not clear its address's failures") {
  Fixture f;
  // The attacker interleaves logins to an account of their own with guesses at alice's.
  for (int round = 0; round < 2; ++round) {
    CHECK(f.http_login("alice", "guess-" + std::to_string(round)).status == 401);
    CHECK(f.http_login("mallory", "mallory-password").status == 200);
  }
  CHECK(f.http_login("alice", "guess-3").status == 401);  // third failure from the address: locked
  const auto refused = f.http_login("alice", "alice-password");
  CHECK(refused.status == 401);
  CHECK(refused.body == iam::masked::auth_failure);
  CHECK(f.http_login("mallory", "mallory-password").status == 401);  // the address, whatever the account
  // The same over the socket.
  CHECK(f.socket_login("mallory", "mallory-password").contains("error"));

  f.iam.clock->advance(10s);
  CHECK(f.http_login("alice", "alice-password").status == 200);
}

TEST_CASE("a wrong current password in change-password counts against the address") {
  Fixture f;
  auto jwt = f.iam.login("alice", "alice-password");
  REQUIRE(jwt.ok());
  const auto route = gateway::match_route("POST", "/api/v1/auth/change-password");
  auto change = [&](const std::string& current) {
    auto begun = f.handler->begin(route, json{{"current_password", current}, {"new_password", "new-password-1"}}.dump(),
                                  *jwt, kAddress);
    if (auto* done = std::get_if<gateway::Response>(&begun)) return *done;
    return f.handler->complete(std::get<gateway::Pending>(begun));
  };
  for (int i = 0; i < 3; ++i) CHECK(change("guess-" + std::to_string(i)).status == 401);
  const auto refused = change("alice-password");
  CHECK(refused.status == 401);
  CHECK(refused.body == iam::masked::auth_failure);
  CHECK(f.http_login("alice", "alice-password").status == 401);  // one budget per address

  f.iam.clock->advance(10s);
  CHECK(change("alice-password").status == 200);
}

TEST_CASE("IPv6 clients are throttled per /64, as one subscriber; IPv4-mapped ones as their IPv4 address") {
  Fixture f;
  // An attacker holding a /64 (one home connection) cannot take a fresh address per guess.
  for (const char* address : {"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff"})
    CHECK(f.http_login("nobody", "wrong-password", address).status == 401);
  CHECK(f.http_login("alice", "alice-password", "2001:db8:1:2:abcd::9").status == 401);
  CHECK(f.socket_login("alice", "alice-password", "2001:DB8:1:2::77").contains("error"));
  CHECK(f.http_login("alice", "alice-password", "2001:db8:1:3::1").status == 200);  // the next /64

  for (int i = 0; i < 3; ++i) CHECK(f.http_login("nobody", "wrong-password", "203.0.113.5").status == 401);
  CHECK(f.http_login("alice", "alice-password", "::ffff:203.0.113.5").status == 401);
  CHECK(f.http_login("alice", "alice-password", "203.0.113.6").status == 200);
}
