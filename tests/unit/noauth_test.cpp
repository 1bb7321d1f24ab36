// The noauth regime (contract.md "The noauth regime"), directly and through JsonDispatcher.
#include <doctest/doctest.h>

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iam/noauth.h"
#include "iam/operation_table.h"
#include "iam/protocol.h"

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct Log {
  std::mutex mutex;
  std::vector<std::pair<iam::LogLevel, std::string>> lines;

  iam::Logger logger() {
    return [this](iam::LogLevel level, std::string_view message) {
      const std::lock_guard lock(mutex);
      lines.emplace_back(level, std::string(message));
    };
  }
  bool has(iam::LogLevel level, std::string_view text) {
    const std::lock_guard lock(mutex);
    for (const auto& [l, m] : lines)
      if (l == level && m.find(text) != std::string::npos) return true;
    return false;
  }
};

struct Fixture {
  Log log;
  std::shared_ptr<iam::ManualClock> clock = std::make_shared<iam::ManualClock>();
  std::vector<iam::WorkspaceRecord> created;
  std::shared_ptr<iam::Regime> regime;
  std::unique_ptr<iam::JsonDispatcher> dispatcher;

  explicit Fixture(iam::NoauthConfig config = {}) {
    config.logger = log.logger();
    config.clock = clock;
    if (!config.on_create_workspace)
      config.on_create_workspace = [this](const iam::WorkspaceRecord& record) { created.push_back(record); };
    regime = iam::make_noauth_regime(std::move(config));
    dispatcher = std::make_unique<iam::JsonDispatcher>(regime);
  }

  iam::Result<iam::OperationResponse> execute(std::string operation) const {
    iam::OperationRequest request;
    request.operation = std::move(operation);
    return admin().execute(request);
  }

  // The regime's administration, which noauth always has.
  iam::Administration& admin() const {
    iam::Administration* administration = regime->administration();
    REQUIRE(administration != nullptr);
    return *administration;
  }

  json call(const json& request) const {
    json out = json::parse(dispatcher->handle(request.dump()));
    REQUIRE(out.is_object());
    return out;
  }
};

void check_error(const json& out, std::string_view type) {
  CAPTURE(out.dump());
  REQUIRE(out.size() == 1);
  CHECK(out["error"]["type"] == type);
}

const std::string start_time = "2027-01-15T08:00:00Z";  // ManualClock's default start, 1.8e9 s

}  // namespace

TEST_CASE("noauth is named and warns at construction that everything is allowed") {
  Fixture f;
  CHECK(f.regime->name() == "noauth");
  CHECK(f.log.has(iam::LogLevel::warning, "every request is allowed"));
  CHECK(f.log.has(iam::LogLevel::warning, "'anonymous'"));
}

TEST_CASE("authenticate accepts any credential except a JWT-shaped one") {
  Fixture f;
  for (const std::string_view credential :
       {std::string_view("tg_whatever"), std::string_view(""), std::string_view("garbage"),
        std::string_view("one.dot"), std::string_view("three.dots.in.it"), std::string_view("..."),
        std::string_view("Basic abc")}) {
    CAPTURE(credential);
    auto identity = f.regime->authenticate(credential);
    REQUIRE(identity.ok());
    CHECK(identity->handle == "anonymous");
    CHECK(identity->workspace == "default");
    CHECK(identity->principal_id == "anonymous");
    CHECK(identity->source == iam::CredentialSource::anonymous);
    CHECK_FALSE(identity->expires.has_value());
  }
  for (const std::string_view credential : {"a.b.c", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln", ".."}) {
    CAPTURE(credential);
    auto refused = f.regime->authenticate(credential);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error() == iam::auth_failure());
  }
}

TEST_CASE("authenticate_anonymous gives the default identity; both are configurable") {
  iam::NoauthConfig config;
  config.user_id = "dev";
  config.workspace = "lab";
  Fixture f(std::move(config));
  auto identity = f.regime->authenticate_anonymous();
  REQUIRE(identity.ok());
  CHECK(identity->handle == "dev");
  CHECK(identity->workspace == "lab");
  CHECK(identity->source == iam::CredentialSource::anonymous);
  CHECK(f.regime->authenticate("tg_x")->handle == "dev");
  CHECK(f.log.has(iam::LogLevel::warning, "'dev'"));

  const json out = f.call(json{{"operation", "authenticate-anonymous"}});
  CHECK(out == json{{"resolved_user_id", "dev"},
                    {"resolved_workspace", "lab"},
                    {"resolved_default_workspace", "lab"},
                    {"resolved_roles", json::array({"admin"})}});
}

TEST_CASE("an empty configured identity falls back to the defaults, with a warning") {
  iam::NoauthConfig config;
  config.user_id = "";
  config.workspace = "";
  Fixture f(std::move(config));
  CHECK(f.regime->authenticate_anonymous()->handle == "anonymous");
  CHECK(f.regime->authenticate_anonymous()->workspace == "default");
  CHECK(f.log.has(iam::LogLevel::warning, "empty user_id or workspace"));
}

TEST_CASE("authorise always allows for an hour; authorise_many allows every check") {
  Fixture f;
  const iam::Identity nobody{"someone-else", "", "", iam::CredentialSource::jwt, std::nullopt};
  for (const std::string_view capability : {"graph:read", "users:admin", "no-such-capability", ""}) {
    CHECK(f.regime->authorise(nobody, capability, iam::Resource::flow("w", "f"), {}) == iam::Decision::allowed(3600s));
  }
  const std::vector<iam::AuthorisationCheck> checks = {
      {"graph:read", iam::Resource::workspace("w"), {}}, {"iam:admin", {}, {}}, {"x", {}, {{"workspace", "w"}}}};
  const auto decisions = f.regime->authorise_many(nobody, checks);
  REQUIRE(decisions.size() == 3);
  for (const auto& decision : decisions) CHECK(decision == iam::Decision::allowed(3600s));
  CHECK(f.regime->authorise_many(nobody, {}).empty());
}

TEST_CASE("authorise and authorise-many through the dispatcher") {
  Fixture f;
  CHECK(f.call(json{{"operation", "authorise"}, {"user_id", "anyone"}, {"capability", "users:admin"}}) ==
        json{{"decision_allow", true}, {"decision_ttl_seconds", 3600}});
  const json out = f.call(json{{"operation", "authorise-many"},
                               {"user_id", "anyone"},
                               {"authorise_checks", R"([{"capability":"graph:read","resource":{"workspace":"w"}},
                                                        {"resource":{}},
                                                        {"capability":"iam:admin"}])"}});
  CHECK(json::parse(out["decisions_json"].get<std::string>()) == json::array({{{"allow", true}, {"ttl", 3600}},
                                                                              {{"allow", false}, {"ttl", 0}},
                                                                              {{"allow", true}, {"ttl", 3600}}}));
}

TEST_CASE("resolve-api-key resolves any key to the default identity, roles admin") {
  Fixture f;
  iam::OperationRequest request;
  request.operation = "resolve-api-key";
  request.api_key = iam::SecretString(std::string_view("tg_anything"));
  auto response = f.admin().execute(request);
  REQUIRE(response.ok());
  CHECK(response->resolved_user_id == "anonymous");
  CHECK(response->resolved_workspace == "default");
  CHECK(response->resolved_roles == std::vector<std::string>{"admin"});

  CHECK(f.call(json{{"operation", "resolve-api-key"}, {"api_key", "tg_abc"}}) ==
        json{{"resolved_user_id", "anonymous"},
             {"resolved_workspace", "default"},
             {"resolved_default_workspace", "default"},
             {"resolved_roles", json::array({"admin"})}});
  // Like authenticate: noauth issues no JWTs, so a JWT-shaped value is refused.
  check_error(f.call(json{{"operation", "resolve-api-key"}, {"api_key", "a.b.c"}}), "auth-failed");
}

TEST_CASE("whoami and get-user answer a stub record of the default identity") {
  Fixture f;
  auto whoami = f.execute("whoami");
  REQUIRE(whoami.ok());
  REQUIRE(whoami->user.has_value());
  CHECK(whoami->user->id == "anonymous");
  CHECK(whoami->user->workspace == "default");
  CHECK(whoami->user->roles == std::vector<std::string>{"admin"});
  CHECK(whoami->user->enabled);
  CHECK_FALSE(whoami->user->must_change_password);

  const json expected_user = {{"id", "anonymous"},
                              {"workspace", "default"},
                              {"default_workspace", "default"},
                              {"username", "anonymous"},
                              {"name", "noauth"},
                              {"email", ""},
                              {"roles", json::array({"admin"})},
                              {"enabled", true},
                              {"must_change_password", false},
                              {"created", start_time}};
  CHECK(f.call(json{{"operation", "whoami"}, {"actor", "anonymous"}}) == json{{"user", expected_user}});
  CHECK(f.call(json{{"operation", "get-user"}, {"user_id", "anonymous"}}) == json{{"user", expected_user}});
  check_error(f.call(json{{"operation", "get-user"}}), "invalid-argument");
}

TEST_CASE("list-users answers one stub user; the other lists are empty") {
  Fixture f;
  for (const json& request : {json{{"operation", "list-users"}}, json{{"operation", "list-users"}, {"workspace", "default"}}}) {
    const json out = f.call(request);
    REQUIRE(out["users"].size() == 1);
    CHECK(out["users"][0]["id"] == "anonymous");
    CHECK(out["users"][0]["name"] == "noauth");
    CHECK(out["users"][0]["roles"] == json::array({"admin"}));
  }
  CHECK(f.call(json{{"operation", "list-workspaces"}}) == json{{"workspaces", json::array()}});
  CHECK(f.call(json{{"operation", "list-my-workspaces"}}) == json{{"workspaces", json::array()}});
  CHECK(f.call(json{{"operation", "list-api-keys"}, {"user_id", "anonymous"}}) == json{{"api_keys", json::array()}});
  CHECK(f.call(json{{"operation", "list-signing-keys"}}) == json{{"signing_keys", json::array()}});
}

TEST_CASE("login answers an empty response; bootstrap is unavailable") {
  Fixture f;
  CHECK(f.call(json{{"operation", "login"}, {"username", "x"}, {"password", "y"}}) == json::object());
  CHECK(f.call(json{{"operation", "bootstrap-status"}}) == json{{"bootstrap_available", false}});
  const json bootstrap = f.call(json{{"operation", "bootstrap"}});
  check_error(bootstrap, "auth-failed");
  CHECK(bootstrap["error"]["message"] == "auth failure");
  CHECK(f.call(json{{"operation", "change-password"}, {"password", "a"}, {"new_password", "b"}}) == json::object());
}

TEST_CASE("create-workspace succeeds, calls the hook and returns the record") {
  Fixture f;
  f.clock->advance(90s);
  const json out = f.call(json{{"operation", "create-workspace"}, {"workspace_record", {{"id", "research"}, {"name", "R&D"}}}});
  CHECK(out == json{{"workspace", {{"id", "research"}, {"name", "R&D"}, {"enabled", true}, {"created", "2027-01-15T08:01:30Z"}}}});
  REQUIRE(f.created.size() == 1);
  CHECK(f.created[0].id == "research");
  CHECK(f.created[0].name == "R&D");
  CHECK(f.created[0].enabled);

  // Idempotent like TrustGraph's: the hook is told again.
  const json again = f.call(json{{"operation", "create-workspace"}, {"workspace_record", {{"id", "research"}}}});
  CHECK(again["workspace"]["id"] == "research");
  CHECK(again["workspace"]["name"] == "research");  // no name: the id, as in the roles regime
  CHECK(f.created.size() == 2);

  for (const json& bad : {json{{"operation", "create-workspace"}},
                          json{{"operation", "create-workspace"}, {"workspace_record", {{"name", "x"}}}},
                          json{{"operation", "create-workspace"}, {"workspace_record", {{"id", ""}}}},
                          json{{"operation", "create-workspace"}, {"workspace_record", {{"id", "_system"}}}},
                          json{{"operation", "create-workspace"}, {"workspace_record", {{"id", "-dash"}}}},
                          json{{"operation", "create-workspace"}, {"workspace_record", {{"id", "has space"}}}},
                          json{{"operation", "create-workspace"}, {"workspace_record", {{"id", std::string(65, 'a')}}}}}) {
    CAPTURE(bad.dump());
    check_error(f.call(bad), "invalid-argument");
  }
  CHECK(f.created.size() == 2);
  CHECK(f.call(json{{"operation", "create-workspace"},
                    {"workspace_record", {{"id", "A1._-" + std::string(59, 'z')}, {"enabled", false}}}})["workspace"]
                   ["enabled"] == false);
}

TEST_CASE("a create-workspace hook that throws is internal-error; no hook is fine") {
  iam::NoauthConfig throwing;
  throwing.on_create_workspace = [](const iam::WorkspaceRecord&) { throw std::runtime_error("disk full"); };
  Fixture f(std::move(throwing));
  check_error(f.call(json{{"operation", "create-workspace"}, {"workspace_record", {{"id", "w"}}}}), "internal-error");
  CHECK(f.log.has(iam::LogLevel::error, "disk full"));

  iam::NoauthConfig plain;
  plain.logger = iam::null_logger();
  auto regime = iam::make_noauth_regime(std::move(plain));
  iam::OperationRequest request;
  request.operation = "create-workspace";
  request.workspace_record = iam::WorkspaceInput{"w", std::nullopt, std::nullopt};
  REQUIRE(regime->administration() != nullptr);
  auto response = regime->administration()->execute(request);
  REQUIRE(response.ok());
  CHECK(response->workspace->id == "w");
}

TEST_CASE("get-workspace answers an enabled stub for any valid id") {
  Fixture f;
  CHECK(f.call(json{{"operation", "get-workspace"}, {"workspace_record", {{"id", "anything"}}}}) ==
        json{{"workspace", {{"id", "anything"}, {"name", "anything"}, {"enabled", true}, {"created", start_time}}}});
  check_error(f.call(json{{"operation", "get-workspace"}}), "invalid-argument");
}

// Issue 15 item 5: TrustGraph's noauth answers the management operations with stubs, so
// tg-create-user, tg-create-api-key, tg-reset-password work in development.
TEST_CASE("management operations answer obviously fake stubs of the right shape, logged as noauth") {
  Fixture f;
  const std::string stub_id = "00000000-0000-0000-0000-000000000000";
  const json user_input = {{"username", "bob"}, {"password", "pw"}, {"roles", json::array({"reader"})}};

  const json created = f.call(json{{"operation", "create-user"}, {"workspace", "lab"}, {"user", user_input}});
  CAPTURE(created.dump());
  CHECK(created == json{{"user",
                         {{"id", stub_id},
                          {"workspace", "lab"},
                          {"default_workspace", "lab"},
                          {"username", "bob"},
                          {"name", "noauth"},
                          {"email", ""},
                          {"roles", json::array({"reader"})},
                          {"enabled", true},
                          {"must_change_password", false},
                          {"created", start_time}}}});
  CHECK(f.log.has(iam::LogLevel::warning, "noauth regime: create-user answered with a stub; nothing was stored"));

  for (const char* op : {"get-user", "update-user", "disable-user", "enable-user"}) {
    CAPTURE(op);
    const json out = f.call(json{{"operation", op}, {"user_id", "someone-else"}, {"user", {{"username", "bob"}}}});
    CAPTURE(out.dump());
    CHECK(out["user"]["id"] == stub_id);
    CHECK(out["user"]["name"] == "noauth");
    CHECK(out["user"]["username"] == "bob");
    CHECK(f.log.has(iam::LogLevel::warning, std::string("noauth regime: ") + op + " answered with a stub"));
    check_error(f.call(json{{"operation", op}}), "invalid-argument");  // no user_id
  }

  for (const char* op : {"delete-user", "change-password", "revoke-api-key", "disable-workspace", "rotate-signing-key"}) {
    CAPTURE(op);
    CHECK(f.call(json{{"operation", op}, {"user_id", "u"}, {"key_id", "k"}, {"workspace_record", {{"id", "w"}}}}) ==
          json::object());
    CHECK(f.log.has(iam::LogLevel::warning, std::string("noauth regime: ") + op + " answered with a stub"));
  }

  CHECK(f.call(json{{"operation", "reset-password"}, {"user_id", "u"}}) ==
        json{{"temporary_password", "noauth-stub-password"}});

  const json key = f.call(json{{"operation", "create-api-key"},
                               {"key", {{"user_id", "u1"}, {"name", "laptop"}, {"expires", "2031-12-31"}}}});
  CAPTURE(key.dump());
  CHECK(key == json{{"api_key_plaintext", "tg_NOAUTH-STUB-KEY-not-a-real-key00"},
                    {"api_key",
                     {{"id", stub_id},
                      {"user_id", "u1"},
                      {"name", "laptop"},
                      {"prefix", "tg_NOAU"},
                      {"expires", ""},
                      {"created", start_time},
                      {"last_used", ""}}}});
  // The stub key works like any other credential under noauth (every one does).
  CHECK(f.regime->authenticate(key["api_key_plaintext"].get<std::string>()).ok());

  CHECK(f.call(json{{"operation", "update-workspace"}, {"workspace_record", {{"id", "lab"}, {"name", "x"}}}}) ==
        json{{"workspace", {{"id", "lab"}, {"name", "lab"}, {"enabled", true}, {"created", start_time}}}});
  check_error(f.call(json{{"operation", "update-workspace"}}), "invalid-argument");

  // Nothing was stored: the lists are as before.
  CHECK(f.call(json{{"operation", "list-users"}})["users"].size() == 1);
  CHECK(f.call(json{{"operation", "list-api-keys"}, {"user_id", "u1"}}) == json{{"api_keys", json::array()}});
}

TEST_CASE("what has no stub is not-supported") {
  Fixture f;
  for (const char* op : {"get-signing-key-public", "create-group", "list-user-grants"}) {
    CAPTURE(op);
    check_error(f.call(json{{"operation", op}}), "not-supported");
    auto direct = f.execute(op);
    REQUIRE_FALSE(direct.ok());
    CHECK(direct.error().code == iam::ErrorCode::not_supported);
  }
  // execute is not the way to authorise.
  CHECK(f.execute("authorise").error().code == iam::ErrorCode::not_supported);
  CHECK(f.execute("authorise-many").error().code == iam::ErrorCode::not_supported);
  CHECK(f.execute("no-such-op").error().code == iam::ErrorCode::not_supported);
  check_error(f.call(json{{"operation", "no-such-op"}}), "invalid-argument");  // the dispatcher refuses first
}

TEST_CASE("every operation of the table has its noauth answer; none is an unexpected error") {
  Fixture f;
  for (const iam::OperationInfo& row : iam::operation_table()) {
    CAPTURE(row.name);
    // A request with the fields the stubs read, so each answers as listed in noauth_regime.cpp.
    const json out = f.call(json{{"operation", row.name},
                                 {"user_id", "anonymous"},
                                 {"key_id", "k"},
                                 {"api_key", "tg_x"},
                                 {"workspace_record", {{"id", "w"}}},
                                 {"user", {{"username", "u"}}},
                                 {"capability", "x"}});
    if (row.name == "bootstrap") {
      check_error(out, "auth-failed");
    } else if (row.group || row.name == "get-signing-key-public") {
      check_error(out, "not-supported");
    } else {
      CHECK_FALSE(out.contains("error"));
    }
  }
}

TEST_CASE("noauth never changes anything, so listeners are never told") {
  Fixture f;
  int told = 0;
  f.regime->add_invalidation_listener([&told](const iam::Invalidation&) { ++told; });
  for (const char* op : {"create-workspace", "change-password", "login", "disable-user", "revoke-api-key",
                         "rotate-signing-key", "delete-user"}) {
    f.call(json{{"operation", op}, {"workspace_record", {{"id", "w"}}}, {"user_id", "anonymous"}, {"key_id", "k"}});
  }
  CHECK(told == 0);
}
