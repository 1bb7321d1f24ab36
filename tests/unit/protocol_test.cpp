// JsonDispatcher and the JSON wire format (protocol.md), driven against a fake regime that
// records what it received and answers what the test tells it to.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iam/gateway.h"
#include "iam/operation_table.h"
#include "iam/protocol.h"
#include "protocol/json_protocol.h"
#include "../support/wire_checks.h"

using nlohmann::json;
using test_support::check_error;
using namespace std::chrono_literals;

// ---- allocation failure injection, to reach the dispatcher's last-resort catch ----
//
// Regime's methods are noexcept, so a regime cannot throw into the dispatcher; what can
// throw inside it is allocation. Arming makes the next allocation of exactly `size` bytes
// throw bad_alloc, once. (Failing allocations at random would also hit nlohmann::json's
// destructor, which allocates and is noexcept, and so terminates.)
namespace {
std::atomic<std::size_t> failing_allocation_size{0};  // 0: never fail
}  // namespace

// noinline: when GCC inlines the replacements it mistakes the malloc/free pairing for a
// new/free mismatch (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(std::size_t size) {
  std::size_t armed = size;
  if (size != 0 && failing_allocation_size.compare_exchange_strong(armed, 0)) throw std::bad_alloc();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

// OperationRequest holds SecretStrings and so cannot be copied implicitly.
iam::UserInput copy_user(const iam::UserInput& in) {
  iam::UserInput out;
  out.username = in.username;
  out.name = in.name;
  out.email = in.email;
  if (in.password) out.password = in.password->copy();
  out.roles = in.roles;
  out.enabled = in.enabled;
  out.must_change_password = in.must_change_password;
  out.workspace = in.workspace;
  return out;
}

iam::OperationRequest copy_request(const iam::OperationRequest& in) {
  iam::OperationRequest out;
  out.operation = in.operation;
  out.workspace = in.workspace;
  out.actor = in.actor;
  out.user_id = in.user_id;
  out.username = in.username;
  out.key_id = in.key_id;
  if (in.api_key) out.api_key = in.api_key->copy();
  if (in.password) out.password = in.password->copy();
  if (in.new_password) out.new_password = in.new_password->copy();
  if (in.user) out.user = copy_user(*in.user);
  out.workspace_record = in.workspace_record;
  out.key = in.key;
  out.check = in.check;
  out.checks = in.checks;
  return out;
}

class FakeRegime final : public iam::Regime, public iam::Administration {
 public:
  using Responder = std::function<iam::Result<iam::OperationResponse>(const iam::OperationRequest&)>;
  using ManyResponder = std::function<std::vector<iam::Decision>(std::span<const iam::AuthorisationCheck>)>;

  // What execute answers; `{}` unless a test sets it.
  Responder respond = [](const iam::OperationRequest&) { return iam::Result<iam::OperationResponse>(iam::OperationResponse{}); };
  // What authorise_many answers; by default one allow per check, TTL 10 + position.
  ManyResponder respond_many = [](std::span<const iam::AuthorisationCheck> checks) {
    std::vector<iam::Decision> out;
    for (std::size_t i = 0; i < checks.size(); ++i)
      out.push_back(iam::Decision::allowed(std::chrono::seconds(10 + static_cast<long>(i))));
    return out;
  };
  iam::Decision decision = iam::Decision::allowed(42s);
  bool record = true;  // off for the allocation-failure test (recording allocates)

  int execute_calls = 0;
  int authorise_calls = 0;
  int authorise_many_calls = 0;
  std::optional<iam::OperationRequest> received;
  iam::Identity identity;
  std::string capability;
  iam::Resource resource;
  iam::Parameters parameters;
  std::vector<iam::AuthorisationCheck> checks;

  std::string_view name() const noexcept override { return "fake"; }
  iam::Result<iam::Identity> authenticate(std::string_view) override { return iam::auth_failure(); }
  iam::Result<iam::Identity> authenticate_anonymous() override { return iam::auth_failure(); }

  iam::Decision authorise(const iam::Identity& who, std::string_view what, const iam::Resource& on,
                          const iam::Parameters& with) override {
    ++authorise_calls;
    identity = who;
    capability = std::string(what);
    resource = on;
    parameters = with;
    return decision;
  }

  std::vector<iam::Decision> authorise_many(const iam::Identity& who,
                                            std::span<const iam::AuthorisationCheck> batch) override {
    ++authorise_many_calls;
    identity = who;
    checks.assign(batch.begin(), batch.end());
    return respond_many(batch);
  }

  iam::Administration* administration() noexcept override { return this; }

  iam::Result<iam::OperationResponse> execute(const iam::OperationRequest& request) override {
    ++execute_calls;
    if (record) received = copy_request(request);
    return respond(request);
  }

  void add_invalidation_listener(iam::InvalidationListener) override {}
};

struct Fixture {
  std::shared_ptr<FakeRegime> regime = std::make_shared<FakeRegime>();
  iam::JsonDispatcher dispatcher{regime};

  // The dispatcher's answer, which must always be one JSON object.
  json call_text(std::string_view request) const {
    const std::string text = dispatcher.handle(request);
    json out = json::parse(text);
    REQUIRE(out.is_object());
    return out;
  }
  json call(const json& request) const { return call_text(request.dump()); }

  void answer(std::function<iam::OperationResponse()> make) {
    regime->respond = [make](const iam::OperationRequest&) { return iam::Result<iam::OperationResponse>(make()); };
  }
};

// An error object with nothing else in it.

const iam::TimePoint t1 = iam::from_unix_seconds(1'795'342'500);  // 2026-11-22T10:15:00Z
const iam::TimePoint t2 = iam::from_unix_seconds(1'795'346'100);  // 2026-11-22T11:15:00Z

iam::UserRecord sample_user() {
  iam::UserRecord user;
  user.id = "u-1";
  user.workspace = "ws1";
  user.username = "alice";
  user.name = "Alice";
  user.email = "alice@example.com";
  user.roles = {"reader", "writer"};
  user.enabled = true;
  user.must_change_password = true;
  user.created = t1;
  return user;
}

const json sample_user_json = {
    {"id", "u-1"},
    {"workspace", "ws1"},
    {"default_workspace", "ws1"},
    {"username", "alice"},
    {"name", "Alice"},
    {"email", "alice@example.com"},
    {"roles", {"reader", "writer"}},
    {"enabled", true},
    {"must_change_password", true},
    {"created", "2026-11-22T10:15:00Z"},
};

}  // namespace

// ---------------------------------------------------------------- requests

TEST_CASE("every request field reaches the regime typed") {
  Fixture f;
  const json request = {
      {"operation", "update-user"},
      {"workspace", "ws1"},
      {"actor", "admin-id"},
      {"user_id", "u-1"},
      {"username", "alice"},
      {"key_id", "k-1"},
      {"api_key", "tg_secretkey"},
      {"password", "old-pass"},
      {"new_password", "new-pass"},
      {"user",
       {{"username", "alice"},
        {"name", "Alice"},
        {"email", "a@example.com"},
        {"password", "user-pass"},
        {"roles", {"admin", "reader"}},
        {"enabled", false},
        {"must_change_password", true},
        {"default_workspace", "ws2"}}},
      {"workspace_record", {{"id", "ws9"}, {"name", "Nine"}, {"enabled", false}}},
      {"key", {{"user_id", "u-2"}, {"name", "ci"}, {"expires", "2027-01-01T00:00:00Z"}}},
      {"capability", "users:read"},
      {"resource_json", "{}"},
      {"parameters_json", "{\"workspace\":\"ws1\"}"},
      {"authorise_checks", "[]"},
  };
  CHECK(f.call(request) == json::object());
  REQUIRE(f.regime->execute_calls == 1);
  const iam::OperationRequest& r = *f.regime->received;
  CHECK(r.operation == "update-user");
  CHECK(r.workspace == "ws1");
  CHECK(r.actor == "admin-id");
  CHECK(r.user_id == "u-1");
  CHECK(r.username == "alice");
  CHECK(r.key_id == "k-1");
  CHECK(r.api_key->view() == "tg_secretkey");
  CHECK(r.password->view() == "old-pass");
  CHECK(r.new_password->view() == "new-pass");
  REQUIRE(r.user.has_value());
  CHECK(r.user->username == "alice");
  CHECK(r.user->name == "Alice");
  CHECK(r.user->email == "a@example.com");
  CHECK(r.user->password->view() == "user-pass");
  CHECK(r.user->roles == std::vector<std::string>{"admin", "reader"});
  CHECK(r.user->enabled == false);
  CHECK(r.user->must_change_password == true);
  CHECK(r.user->workspace == "ws2");
  REQUIRE(r.workspace_record.has_value());
  CHECK(r.workspace_record->id == "ws9");
  CHECK(r.workspace_record->name == "Nine");
  CHECK(r.workspace_record->enabled == false);
  REQUIRE(r.key.has_value());
  CHECK(r.key->user_id == "u-2");
  CHECK(r.key->name == "ci");
  CHECK(r.key->expires == "2027-01-01T00:00:00Z");
  // The authorise fields are type-checked for every operation but read only by the two
  // operations that use them.
  CHECK_FALSE(r.check.has_value());
  CHECK_FALSE(r.checks.has_value());
}

TEST_CASE("omitted fields are absent, JSON null counts as omitted, unknown fields are ignored") {
  Fixture f;
  f.call(json{{"operation", "list-users"},
              {"workspace", nullptr},
              {"user", nullptr},
              {"password", nullptr},
              {"shoe_size", 44},
              {"nested_unknown", {{"a", {1, 2}}}},
              {"user_id", "u-1"}});
  REQUIRE(f.regime->execute_calls == 1);
  const iam::OperationRequest& r = *f.regime->received;
  CHECK(r.operation == "list-users");
  CHECK_FALSE(r.workspace.has_value());
  CHECK_FALSE(r.user.has_value());
  CHECK_FALSE(r.password.has_value());
  CHECK_FALSE(r.actor.has_value());
  CHECK_FALSE(r.key.has_value());
  CHECK(r.user_id == "u-1");

  // Unknown fields inside nested objects too.
  f.call(json{{"operation", "create-user"}, {"user", {{"username", "bob"}, {"favourite_colour", 7}}}});
  CHECK(f.regime->received->user->username == "bob");
  CHECK_FALSE(f.regime->received->user->roles.has_value());
  CHECK_FALSE(f.regime->received->user->enabled.has_value());
}

TEST_CASE("the home workspace is read under either generation's name") {
  Fixture f;
  SUBCASE("top level") {
    f.call(json{{"operation", "create-user"}, {"workspace", "old"}});
    CHECK(f.regime->received->workspace == "old");
    f.call(json{{"operation", "create-user"}, {"default_workspace", "new"}});
    CHECK(f.regime->received->workspace == "new");
    f.call(json{{"operation", "create-user"}, {"workspace", "same"}, {"default_workspace", "same"}});
    CHECK(f.regime->received->workspace == "same");
    // TrustGraph's schema sends "" for unset strings: an empty one does not disagree.
    f.call(json{{"operation", "create-user"}, {"workspace", ""}, {"default_workspace", "new"}});
    CHECK(f.regime->received->workspace == "new");
    f.call(json{{"operation", "create-user"}, {"workspace", "old"}, {"default_workspace", ""}});
    CHECK(f.regime->received->workspace == "old");
    CHECK(f.regime->execute_calls == 5);

    const json out = f.call(json{{"operation", "create-user"}, {"workspace", "a"}, {"default_workspace", "b"}});
    check_error(out, "invalid-argument");
    CHECK(f.regime->execute_calls == 5);
  }
  SUBCASE("inside user") {
    f.call(json{{"operation", "create-user"}, {"user", {{"workspace", "old"}}}});
    CHECK(f.regime->received->user->workspace == "old");
    f.call(json{{"operation", "create-user"}, {"user", {{"default_workspace", "new"}}}});
    CHECK(f.regime->received->user->workspace == "new");
    f.call(json{{"operation", "create-user"}, {"user", {{"workspace", "x"}, {"default_workspace", "x"}}}});
    CHECK(f.regime->received->user->workspace == "x");
    CHECK(f.regime->execute_calls == 3);

    const json out =
        f.call(json{{"operation", "create-user"}, {"user", {{"workspace", "a"}, {"default_workspace", "b"}}}});
    check_error(out, "invalid-argument");
    CHECK(out["error"]["message"].get<std::string>().find("user.") != std::string::npos);
    CHECK(f.regime->execute_calls == 3);
  }
}

TEST_CASE("a field of the wrong type is invalid-argument and never reaches the regime") {
  // Each entry: a valid request with one field replaced by a value of the wrong type.
  const std::vector<json> requests = {
      {{"operation", 5}},
      {{"operation", json::array({"login"})}},
      {{"operation", "login"}, {"workspace", 1}},
      {{"operation", "login"}, {"default_workspace", true}},
      {{"operation", "login"}, {"actor", 1.5}},
      {{"operation", "login"}, {"user_id", 7}},
      {{"operation", "login"}, {"username", {{"a", 1}}}},
      {{"operation", "login"}, {"key_id", false}},
      {{"operation", "login"}, {"api_key", 12345}},
      {{"operation", "login"}, {"password", 12345}},
      {{"operation", "login"}, {"new_password", json::array({"x"})}},
      {{"operation", "authorise"}, {"capability", 3}},
      {{"operation", "authorise"}, {"resource_json", {{"workspace", "w"}}}},
      {{"operation", "authorise"}, {"parameters_json", 4}},
      {{"operation", "authorise-many"}, {"authorise_checks", json::array()}},
      {{"operation", "create-user"}, {"user", "alice"}},
      {{"operation", "create-user"}, {"user", json::array({"alice"})}},
      {{"operation", "create-user"}, {"user", {{"username", 1}}}},
      {{"operation", "create-user"}, {"user", {{"name", false}}}},
      {{"operation", "create-user"}, {"user", {{"email", 2}}}},
      {{"operation", "create-user"}, {"user", {{"password", 3}}}},
      {{"operation", "create-user"}, {"user", {{"roles", "admin"}}}},
      {{"operation", "create-user"}, {"user", {{"roles", {"admin", 1}}}}},
      {{"operation", "create-user"}, {"user", {{"roles", {{{"name", "admin"}}}}}}},
      {{"operation", "create-user"}, {"user", {{"enabled", "true"}}}},
      {{"operation", "create-user"}, {"user", {{"enabled", 1}}}},
      {{"operation", "create-user"}, {"user", {{"must_change_password", "no"}}}},
      {{"operation", "create-user"}, {"user", {{"workspace", 1}}}},
      {{"operation", "create-user"}, {"user", {{"default_workspace", 1}}}},
      {{"operation", "create-workspace"}, {"workspace_record", "ws1"}},
      {{"operation", "create-workspace"}, {"workspace_record", {{"id", 1}}}},
      {{"operation", "create-workspace"}, {"workspace_record", {{"name", 1}}}},
      {{"operation", "create-workspace"}, {"workspace_record", {{"enabled", "false"}}}},
      {{"operation", "create-api-key"}, {"key", json::array()}},
      {{"operation", "create-api-key"}, {"key", {{"user_id", 1}}}},
      {{"operation", "create-api-key"}, {"key", {{"name", true}}}},
      {{"operation", "create-api-key"}, {"key", {{"expires", 1700000000}}}},
  };
  for (const json& request : requests) {
    Fixture f;
    CAPTURE(request.dump());
    check_error(f.call(request), "invalid-argument");
    CHECK(f.regime->execute_calls == 0);
    CHECK(f.regime->authorise_calls == 0);
    CHECK(f.regime->authorise_many_calls == 0);
  }
}

TEST_CASE("malformed JSON, non-object JSON, missing and unknown operations") {
  Fixture f;
  for (const std::string_view text :
       {"", "{", "{\"operation\":", "{\"operation\":\"login\"", "not json", "{\"operation\":\"login\"} {}",
        "{'operation':'login'}", "{\"operation\":\"login\",}"}) {
    CAPTURE(text);
    check_error(f.call_text(text), "invalid-argument");
  }
  for (const std::string_view text : {"[]", "[{\"operation\":\"login\"}]", "\"login\"", "42", "null", "true"}) {
    CAPTURE(text);
    check_error(f.call_text(text), "invalid-argument");
  }
  check_error(f.call_text("{}"), "invalid-argument");
  check_error(f.call(json{{"user_id", "u"}}), "invalid-argument");

  const json unknown = f.call(json{{"operation", "drop-tables"}});
  check_error(unknown, "invalid-argument");
  CHECK(unknown["error"]["message"] == "unknown operation");
  check_error(f.call(json{{"operation", "LOGIN"}}), "invalid-argument");
  check_error(f.call(json{{"operation", ""}}), "invalid-argument");
  CHECK(f.regime->execute_calls == 0);
}

TEST_CASE("every operation of protocol.md's table, and the group/grant operations, reach the regime") {
  Fixture f;
  int expected_calls = 0;
  for (const char* op :
       {"bootstrap", "bootstrap-status", "login", "whoami", "authenticate-anonymous", "resolve-api-key",
        "get-signing-key-public", "rotate-signing-key", "list-signing-keys", "change-password", "reset-password", "create-user",
        "list-users", "get-user", "update-user", "disable-user", "enable-user", "delete-user", "create-workspace",
        "list-workspaces", "list-my-workspaces", "get-workspace", "update-workspace", "disable-workspace",
        "create-api-key", "list-api-keys", "revoke-api-key", "create-group", "list-group-grants",
        "resolve-effective-permissions"}) {
    CAPTURE(op);
    CHECK(f.call(json{{"operation", op}}) == json::object());
    CHECK(f.regime->execute_calls == ++expected_calls);
    CHECK(f.regime->received->operation == op);
  }
  // authorise and authorise-many are answered by the dispatcher, not execute.
  f.call(json{{"operation", "authorise"}, {"user_id", "u"}, {"capability", "graph:read"}});
  f.call(json{{"operation", "authorise-many"}, {"user_id", "u"}, {"authorise_checks", "[]"}});
  CHECK(f.regime->execute_calls == expected_calls);
  CHECK(f.regime->authorise_calls == 1);
  CHECK(f.regime->authorise_many_calls == 1);
}

// ---------------------------------------------------------------- responses

TEST_CASE("records have the exact wire shape, with both names of the home workspace") {
  Fixture f;
  f.answer([] {
    iam::OperationResponse response;
    response.user = sample_user();
    return response;
  });
  CHECK(f.call(json{{"operation", "get-user"}}) == json{{"user", sample_user_json}});

  f.answer([] {
    iam::OperationResponse response;
    response.workspace = iam::WorkspaceRecord{"ws1", "Workspace one", false, t1};
    return response;
  });
  CHECK(f.call(json{{"operation", "get-workspace"}}) ==
        json{{"workspace", {{"id", "ws1"}, {"name", "Workspace one"}, {"enabled", false}, {"created", "2026-11-22T10:15:00Z"}}}});

  f.answer([] {
    iam::OperationResponse response;
    response.api_key_plaintext = iam::SecretString(std::string_view("tg_abcdEFGHijklMNOPqrstUVWXyz0123456"));
    response.api_key = iam::ApiKeyRecord{"k-1", "u-1", "ci", "tg_abcd", t2, t1, std::nullopt};
    return response;
  });
  CHECK(f.call(json{{"operation", "create-api-key"}}) ==
        json{{"api_key_plaintext", "tg_abcdEFGHijklMNOPqrstUVWXyz0123456"},
             {"api_key",
              {{"id", "k-1"},
               {"user_id", "u-1"},
               {"name", "ci"},
               {"prefix", "tg_abcd"},
               {"expires", "2026-11-22T11:15:00Z"},
               {"created", "2026-11-22T10:15:00Z"},
               {"last_used", ""}}}});
}

TEST_CASE("absent timestamps are empty strings") {
  Fixture f;
  f.answer([] {
    iam::OperationResponse response;
    response.api_keys = std::vector<iam::ApiKeyRecord>{{"k-1", "u-1", "n", "tg_abcd", std::nullopt, {}, std::nullopt},
                                                       {"k-2", "u-1", "m", "tg_efgh", std::nullopt, t1, t2}};
    return response;
  });
  const json out = f.call(json{{"operation", "list-api-keys"}});
  REQUIRE(out["api_keys"].size() == 2);
  CHECK(out["api_keys"][0]["expires"] == "");
  CHECK(out["api_keys"][0]["created"] == "");
  CHECK(out["api_keys"][0]["last_used"] == "");
  CHECK(out["api_keys"][1]["created"] == "2026-11-22T10:15:00Z");
  CHECK(out["api_keys"][1]["last_used"] == "2026-11-22T11:15:00Z");
}

TEST_CASE("lists: a present empty list is [], an absent one is left out") {
  Fixture f;
  f.answer([] {
    iam::OperationResponse response;
    response.users.emplace();
    response.workspaces.emplace();
    response.api_keys.emplace();
    return response;
  });
  CHECK(f.call(json{{"operation", "list-users"}}) ==
        json{{"users", json::array()}, {"workspaces", json::array()}, {"api_keys", json::array()}});

  f.answer([] {
    iam::OperationResponse response;
    response.users = std::vector<iam::UserRecord>{sample_user()};
    response.workspaces = std::vector<iam::WorkspaceRecord>{{"a", "A", true, t1}, {"b", "", false, {}}};
    return response;
  });
  CHECK(f.call(json{{"operation", "list-users"}}) ==
        json{{"users", json::array({sample_user_json})},
             {"workspaces",
              {{{"id", "a"}, {"name", "A"}, {"enabled", true}, {"created", "2026-11-22T10:15:00Z"}},
               {{"id", "b"}, {"name", ""}, {"enabled", false}, {"created", ""}}}}});

  // Nothing returned: {}.
  f.answer([] { return iam::OperationResponse{}; });
  CHECK(f.call(json{{"operation", "delete-user"}}) == json::object());
  CHECK(f.dispatcher.handle(R"({"operation":"delete-user"})") == "{}");
}

TEST_CASE("every scalar response field has its wire name") {
  Fixture f;
  f.answer([] {
    iam::OperationResponse response;
    response.jwt = iam::SecretString(std::string_view("a.b.c"));
    response.jwt_expires = t2;
    return response;
  });
  CHECK(f.call(json{{"operation", "login"}}) == json{{"jwt", "a.b.c"}, {"jwt_expires", "2026-11-22T11:15:00Z"}});

  f.answer([] {
    iam::OperationResponse response;
    response.signing_key_public = "-----BEGIN PUBLIC KEY-----\nMCo=\n-----END PUBLIC KEY-----\n";
    return response;
  });
  CHECK(f.call(json{{"operation", "get-signing-key-public"}}) ==
        json{{"signing_key_public", "-----BEGIN PUBLIC KEY-----\nMCo=\n-----END PUBLIC KEY-----\n"}});

  f.answer([] {
    iam::OperationResponse response;
    response.resolved_user_id = "u-1";
    response.resolved_workspace = "ws1";
    response.resolved_roles = std::vector<std::string>{"admin"};
    return response;
  });
  CHECK(f.call(json{{"operation", "resolve-api-key"}}) == json{{"resolved_user_id", "u-1"},
                                                              {"resolved_workspace", "ws1"},
                                                              {"resolved_default_workspace", "ws1"},
                                                              {"resolved_roles", json::array({"admin"})}});

  f.answer([] {
    iam::OperationResponse response;
    response.temporary_password = iam::SecretString(std::string_view("AAAAAAAAAAAAAAAA"));
    return response;
  });
  CHECK(f.call(json{{"operation", "reset-password"}}) == json{{"temporary_password", "AAAAAAAAAAAAAAAA"}});

  f.answer([] {
    iam::OperationResponse response;
    response.bootstrap_admin_user_id = "u-admin";
    response.bootstrap_admin_api_key = iam::SecretString(std::string_view("tg_bootstrap"));
    return response;
  });
  CHECK(f.call(json{{"operation", "bootstrap"}}) ==
        json{{"bootstrap_admin_user_id", "u-admin"}, {"bootstrap_admin_api_key", "tg_bootstrap"}});

  f.answer([] {
    iam::OperationResponse response;
    response.bootstrap_available = false;
    return response;
  });
  CHECK(f.call(json{{"operation", "bootstrap-status"}}) == json{{"bootstrap_available", false}});

  f.answer([] {
    iam::OperationResponse response;
    response.decision = iam::Decision::allowed(30s);
    response.decisions = std::vector<iam::Decision>{};
    return response;
  });
  CHECK(f.call(json{{"operation", "whoami"}}) ==
        json{{"decision_allow", true}, {"decision_ttl_seconds", 30}, {"decisions_json", "[]"}});
  f.answer([] {
    iam::OperationResponse response;
    response.decisions = std::vector<iam::Decision>{iam::Decision::allowed(5s), iam::Decision::denied(0s)};
    return response;
  });
  // Byte for byte: TrustGraph's decisions_json is compact JSON text inside a string.
  CHECK(f.dispatcher.handle(R"({"operation":"whoami"})") ==
        R"({"decisions_json":"[{\"allow\":true,\"ttl\":5},{\"allow\":false,\"ttl\":0}]"})");
}

TEST_CASE("a regime error becomes an error object with no other field") {
  Fixture f;
  for (const auto code :
       {iam::ErrorCode::invalid_argument, iam::ErrorCode::not_found, iam::ErrorCode::duplicate,
        iam::ErrorCode::auth_failed, iam::ErrorCode::weak_password, iam::ErrorCode::disabled,
        iam::ErrorCode::operation_not_permitted, iam::ErrorCode::not_supported, iam::ErrorCode::internal_error}) {
    f.regime->respond = [code](const iam::OperationRequest&) {
      return iam::Result<iam::OperationResponse>(code, "the reason");
    };
    const json out = f.call(json{{"operation", "get-user"}});
    check_error(out, iam::error_type_name(code));
    CHECK(out["error"]["message"] == "the reason");
  }
  CHECK(iam::protocol::error_to_json({iam::ErrorCode::duplicate, "taken"}) ==
        json{{"error", {{"type", "duplicate"}, {"message", "taken"}}}});
}

TEST_CASE("no secret is echoed by a failing request") {
  Fixture f;
  const std::string secret = "hunter2-Sup3rS3cret";
  const std::vector<std::string> requests = {
      // malformed right after the secret: the JSON parser's own message would quote it
      R"({"operation":"login","password":")" + secret + R"(" x})",
      R"({"operation":"login","password":")" + secret,
      R"({"operation":"login","password":)" + secret + "}",
      R"({"operation":"login","api_key":)" + secret + "}",
      // a valid secret next to a wrong-typed field
      R"({"operation":"login","username":5,"password":")" + secret + R"("})",
      R"({"operation":"create-user","user":{"password":")" + secret + R"(","roles":"admin"}})",
      R"({"operation":"change-password","password":")" + secret + R"(","new_password":7})",
      // the secret itself in a wrong type
      R"({"operation":"login","password":[")" + secret + R"("]})",
      R"({"operation":"create-user","user":{"password":{"v":")" + secret + R"("}}})",
      // an unknown operation, a disagreement
      R"({"operation":"log-in","password":")" + secret + R"("})",
      R"({"operation":"login","workspace":"a","default_workspace":"b","password":")" + secret + R"("})",
  };
  for (const std::string& request : requests) {
    CAPTURE(request);
    const std::string out = f.dispatcher.handle(request);
    CHECK(out.find("hunter2") == std::string::npos);
    check_error(json::parse(out), "invalid-argument");
  }
  CHECK(f.regime->execute_calls == 0);
}

// ---------------------------------------------------------------- authorise

TEST_CASE("authorise is answered through Regime::authorise") {
  Fixture f;
  f.regime->decision = iam::Decision::allowed(42s);
  const json out = f.call(json{{"operation", "authorise"},
                               {"user_id", "u-1"},
                               {"capability", "graph:read"},
                               {"resource_json", R"({"workspace":"ws1","flow":"f1"})"},
                               {"parameters_json", R"({"workspace":"ws1","limit":5,"deep":{"x":"y"},"tag":"t"})"}});
  CHECK(out == json{{"decision_allow", true}, {"decision_ttl_seconds", 42}});
  REQUIRE(f.regime->authorise_calls == 1);
  CHECK(f.regime->execute_calls == 0);
  CHECK(f.regime->identity.handle == "u-1");
  CHECK(f.regime->capability == "graph:read");
  CHECK(f.regime->resource == iam::Resource::flow("ws1", "f1"));
  CHECK(f.regime->parameters == iam::Parameters{{"tag", "t"}, {"workspace", "ws1"}});

  f.regime->decision = iam::Decision::denied(7s);
  CHECK(f.call(json{{"operation", "authorise"}, {"user_id", "u-1"}, {"capability", "users:admin"}}) ==
        json{{"decision_allow", false}, {"decision_ttl_seconds", 7}});
  CHECK(f.regime->resource == iam::Resource::system());
  CHECK(f.regime->parameters.empty());
}

TEST_CASE("authorise takes the handle from user_id, else actor") {
  Fixture f;
  f.call(json{{"operation", "authorise"}, {"actor", "actor-1"}, {"capability", "graph:read"}});
  CHECK(f.regime->identity.handle == "actor-1");
  f.call(json{{"operation", "authorise"}, {"user_id", "u-1"}, {"actor", "actor-1"}, {"capability", "graph:read"}});
  CHECK(f.regime->identity.handle == "u-1");
  f.call(json{{"operation", "authorise"}, {"user_id", ""}, {"actor", "actor-1"}, {"capability", "graph:read"}});
  CHECK(f.regime->identity.handle == "actor-1");
  CHECK(f.regime->authorise_calls == 3);
  check_error(f.call(json{{"operation", "authorise"}, {"capability", "graph:read"}}), "invalid-argument");
  CHECK(f.regime->authorise_calls == 3);
}

TEST_CASE("a malformed authorise request is invalid-argument") {
  const std::vector<json> requests = {
      {{"operation", "authorise"}, {"user_id", "u"}},
      {{"operation", "authorise"}, {"user_id", "u"}, {"capability", ""}},
      {{"operation", "authorise"}, {"user_id", "u"}, {"capability", "graph:read"}, {"resource_json", "{"}},
      {{"operation", "authorise"}, {"user_id", "u"}, {"capability", "graph:read"}, {"resource_json", "[]"}},
      {{"operation", "authorise"}, {"user_id", "u"}, {"capability", "graph:read"}, {"resource_json", "\"ws\""}},
      {{"operation", "authorise"}, {"user_id", "u"}, {"capability", "graph:read"}, {"resource_json", R"({"workspace":1})"}},
      {{"operation", "authorise"}, {"user_id", "u"}, {"capability", "graph:read"}, {"parameters_json", "nope"}},
      {{"operation", "authorise"}, {"user_id", "u"}, {"capability", "graph:read"}, {"parameters_json", "[1]"}},
  };
  for (const json& request : requests) {
    Fixture f;
    CAPTURE(request.dump());
    check_error(f.call(request), "invalid-argument");
    CHECK(f.regime->authorise_calls == 0);
  }
}

TEST_CASE("authorise-many: one regime call, malformed entries denied in place") {
  Fixture f;
  const json checks = json::array({
      {{"capability", "graph:read"}, {"resource", {{"workspace", "ws1"}}}, {"parameters", {{"k", "v"}, {"n", 1}}}},
      "not an object",
      {{"resource", {{"workspace", "ws1"}}}},                                // no capability
      {{"capability", 5}},                                                   // capability not a string
      {{"capability", "graph:write"}, {"resource", {{"workspace", 1}}}},     // component not a string
      {{"capability", "graph:write"}, {"resource", "ws1"}},                  // resource not an object
      {{"capability", "graph:write"}, {"parameters", "x"}},                  // parameters not an object
      {{"capability", "config:read"}},                                       // resource and parameters optional
      {{"capability", "flows:read"}, {"resource", {{"workspace", "w"}, {"flow", "f"}}}, {"junk", true}},
  });
  const json out = f.call(json{{"operation", "authorise-many"}, {"user_id", "u-1"}, {"authorise_checks", checks.dump()}});
  REQUIRE(out.size() == 1);
  REQUIRE(out["decisions_json"].is_string());
  const json decisions = json::parse(out["decisions_json"].get<std::string>());
  CHECK(decisions == json::array({{{"allow", true}, {"ttl", 10}},
                                  {{"allow", false}, {"ttl", 0}},
                                  {{"allow", false}, {"ttl", 0}},
                                  {{"allow", false}, {"ttl", 0}},
                                  {{"allow", false}, {"ttl", 0}},
                                  {{"allow", false}, {"ttl", 0}},
                                  {{"allow", false}, {"ttl", 0}},
                                  {{"allow", true}, {"ttl", 11}},
                                  {{"allow", true}, {"ttl", 12}}}));
  CHECK(f.regime->authorise_many_calls == 1);
  CHECK(f.regime->authorise_calls == 0);
  CHECK(f.regime->identity.handle == "u-1");
  REQUIRE(f.regime->checks.size() == 3);
  CHECK(f.regime->checks[0].capability == "graph:read");
  CHECK(f.regime->checks[0].resource == iam::Resource::workspace("ws1"));
  CHECK(f.regime->checks[0].parameters == iam::Parameters{{"k", "v"}});
  CHECK(f.regime->checks[1].capability == "config:read");
  CHECK(f.regime->checks[1].resource == iam::Resource::system());
  CHECK(f.regime->checks[2].resource == iam::Resource::flow("w", "f"));
}

TEST_CASE("authorise-many edge cases") {
  Fixture f;
  // Absent or empty: an empty batch, as TrustGraph reads it.
  CHECK(f.call(json{{"operation", "authorise-many"}, {"user_id", "u"}}) == json{{"decisions_json", "[]"}});
  CHECK(f.call(json{{"operation", "authorise-many"}, {"actor", "u"}, {"authorise_checks", ""}}) ==
        json{{"decisions_json", "[]"}});
  CHECK(f.regime->authorise_many_calls == 2);
  // The batch itself malformed, or no identity: invalid-argument.
  check_error(f.call(json{{"operation", "authorise-many"}, {"user_id", "u"}, {"authorise_checks", "[{"}}), "invalid-argument");
  check_error(f.call(json{{"operation", "authorise-many"}, {"user_id", "u"}, {"authorise_checks", "{}"}}), "invalid-argument");
  check_error(f.call(json{{"operation", "authorise-many"}, {"authorise_checks", "[]"}}), "invalid-argument");
  CHECK(f.regime->authorise_many_calls == 2);

  // A regime that answers too few decisions fails closed for the rest.
  f.regime->respond_many = [](std::span<const iam::AuthorisationCheck>) {
    return std::vector<iam::Decision>{iam::Decision::allowed(5s)};
  };
  const json out = f.call(json{{"operation", "authorise-many"},
                               {"user_id", "u"},
                               {"authorise_checks", R"([{"capability":"a"},{"capability":"b"}])"}});
  CHECK(json::parse(out["decisions_json"].get<std::string>()) ==
        json::array({{{"allow", true}, {"ttl", 5}}, {{"allow", false}, {"ttl", 0}}}));
}

// ---------------------------------------------------------------- typed entry point, failures

TEST_CASE("the typed overload dispatches the same way") {
  Fixture f;
  iam::OperationRequest request;
  request.operation = "no-such-op";
  auto unknown = f.dispatcher.handle(request);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == iam::ErrorCode::invalid_argument);

  request.operation = "authorise";
  request.user_id = "u-1";
  auto no_check = f.dispatcher.handle(request);
  REQUIRE_FALSE(no_check.ok());
  CHECK(no_check.error().code == iam::ErrorCode::invalid_argument);
  request.check = iam::AuthorisationCheck{"graph:read", iam::Resource::workspace("ws1"), {}};
  auto decision = f.dispatcher.handle(request);
  REQUIRE(decision.ok());
  CHECK(decision->decision == iam::Decision::allowed(42s));
  CHECK(f.regime->resource == iam::Resource::workspace("ws1"));

  // authorise-many: a check without a capability is denied in place, the rest asked at once.
  request.operation = "authorise-many";
  request.checks = std::vector<iam::AuthorisationCheck>{{"a", {}, {}}, {}, {"b", {}, {}}};
  auto many = f.dispatcher.handle(request);
  REQUIRE(many.ok());
  REQUIRE(many->decisions.has_value());
  CHECK(*many->decisions == std::vector<iam::Decision>{iam::Decision::allowed(10s), iam::Decision::denied(0s),
                                                       iam::Decision::allowed(11s)});
  REQUIRE(f.regime->checks.size() == 2);
  CHECK(f.regime->checks[1].capability == "b");
  request.checks.reset();
  auto none = f.dispatcher.handle(request);
  REQUIRE(none.ok());
  CHECK(none->decisions == std::vector<iam::Decision>{});

  request.operation = "whoami";
  CHECK(f.dispatcher.handle(request).ok());
  CHECK(f.regime->execute_calls == 1);
}

TEST_CASE("no regime is internal-error, not a crash") {
  iam::JsonDispatcher dispatcher(nullptr);
  const json out = json::parse(dispatcher.handle(R"({"operation":"whoami"})"));
  check_error(out, "internal-error");
}

TEST_CASE("an exception inside the dispatcher is internal-error, never a throw") {
  Fixture f;
  f.regime->record = false;
  // A response field of a length nothing else in the call has: copying it into the
  // response JSON is the allocation made to fail.
  const std::size_t length = 5000;
  auto canned = std::make_shared<iam::OperationResponse>();
  canned->signing_key_public = std::string(length, 'k');
  f.regime->respond = [canned](const iam::OperationRequest&) {
    // Moved, not copied: the regime's execute is noexcept and must not be where it fails.
    return iam::Result<iam::OperationResponse>(std::move(*canned));
  };

  failing_allocation_size.store(length + 1);
  const std::string out = f.dispatcher.handle(R"({"operation":"get-signing-key-public"})");
  const bool failure_happened = failing_allocation_size.load() == 0;
  failing_allocation_size.store(0);
  REQUIRE(failure_happened);
  check_error(json::parse(out), "internal-error");

  // Nothing is left broken: the next call answers normally.
  canned->signing_key_public = std::string(length, 'k');
  const json again = json::parse(f.dispatcher.handle(R"({"operation":"get-signing-key-public"})"));
  CHECK(again["signing_key_public"].get<std::string>().size() == length);
}
