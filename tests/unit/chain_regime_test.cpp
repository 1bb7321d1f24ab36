// The chain regime (iam/chain.h): routing by recognises and issued with scripted members,
// then the roles regime and the OIDC regime side by side.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "iam/chain.h"
#include "iam/testing.h"
#include "oidc_test_support.h"

using namespace oidc_test;

namespace {

// A member that recognises credentials and issued handles starting with its prefix, and
// records what reached it.
class ScriptedMember final : public iam::Regime, public iam::Administration {
 public:
  ScriptedMember(std::string prefix, bool with_administration, std::set<std::string> operations = {"whoami"})
      : prefix_(std::move(prefix)), with_administration_(with_administration), operations_(std::move(operations)) {}

  std::string_view name() const noexcept override { return std::string_view(prefix_).substr(0, prefix_.size() - 1); }
  bool recognises(std::string_view credential) const override { return starts(credential); }
  bool issued(const iam::Identity& identity) const override { return starts(identity.handle); }

  iam::Result<iam::Identity> authenticate(std::string_view credential) override {
    calls.push_back("authenticate");
    return iam::Identity{std::string(credential), "ws", std::string(credential), iam::CredentialSource::jwt, std::nullopt};
  }
  iam::Result<iam::Identity> authenticate_anonymous() override {
    calls.push_back("anonymous");
    return iam::Identity{prefix_ + "anonymous", "ws", "", iam::CredentialSource::anonymous, std::nullopt};
  }
  iam::Decision authorise(const iam::Identity&, std::string_view, const iam::Resource&,
                          const iam::Parameters&) override {
    calls.push_back("authorise");
    return iam::Decision::allowed(std::chrono::seconds(7));
  }
  std::vector<iam::Decision> authorise_many(const iam::Identity&, std::span<const iam::AuthorisationCheck> checks) override {
    calls.push_back("authorise_many");
    return std::vector<iam::Decision>(checks.size(), iam::Decision::allowed(std::chrono::seconds(7)));
  }
  void add_invalidation_listener(iam::InvalidationListener) override { calls.push_back("listener"); }
  iam::Administration* administration() noexcept override { return with_administration_ ? this : nullptr; }
  iam::Result<iam::OperationResponse> execute(const iam::OperationRequest& request) override {
    calls.push_back("execute " + request.operation);
    if (!operations_.count(request.operation)) return iam::Error{iam::ErrorCode::not_supported, "no"};
    iam::OperationResponse out;
    out.user = iam::UserRecord{};
    out.user->id = prefix_;
    return out;
  }

  std::vector<std::string> calls;

 private:
  bool starts(std::string_view text) const { return text.substr(0, prefix_.size()) == prefix_; }

  std::string prefix_;
  bool with_administration_;
  std::set<std::string> operations_;
};

struct Scripted {
  std::shared_ptr<ScriptedMember> a = std::make_shared<ScriptedMember>("a:", true);
  std::shared_ptr<ScriptedMember> b = std::make_shared<ScriptedMember>("b:", true, std::set<std::string>{"whoami", "login"});
  std::shared_ptr<ScriptedMember> c = std::make_shared<ScriptedMember>("c:", false);
  std::shared_ptr<iam::Regime> chain;

  Scripted() {
    auto made = iam::make_chain_regime({a, b, c});
    REQUIRE(made.ok());
    chain = std::move(made).value();
  }

  iam::Result<iam::OperationResponse> execute(std::string operation, std::optional<std::string> actor,
                                              std::optional<std::string> user_id = std::nullopt) {
    iam::OperationRequest request;
    request.operation = std::move(operation);
    request.actor = std::move(actor);
    request.user_id = std::move(user_id);
    return chain->administration()->execute(request);
  }
};

iam::Identity handle(std::string h) { return iam::Identity{std::move(h), "", "", iam::CredentialSource::jwt, std::nullopt}; }

}  // namespace

TEST_CASE("a chain needs members, none of them null") {
  CHECK(iam::make_chain_regime({}).error().code == iam::ErrorCode::invalid_argument);
  auto a = std::make_shared<ScriptedMember>("a:", true);
  const auto with_null = iam::make_chain_regime({a, nullptr});
  REQUIRE_FALSE(with_null.ok());
  CHECK(with_null.error().message == "chain member 1 is null");
}

TEST_CASE("a credential goes to the first member that recognises it, and to no other") {
  Scripted s;
  CHECK(s.chain->name() == "a+b+c");
  CHECK(s.chain->authenticate("b:token")->handle == "b:token");
  CHECK(s.a->calls.empty());
  CHECK(s.b->calls == std::vector<std::string>{"authenticate"});
  CHECK(masked_failure(s.chain->authenticate("z:token")));
  CHECK(s.chain->recognises("c:x"));
  CHECK_FALSE(s.chain->recognises("z:x"));
  CHECK(s.b->calls.size() == 1);
  CHECK(s.c->calls.empty());
  // A request without a credential: the first member answers.
  CHECK(s.chain->authenticate_anonymous()->handle == "a:anonymous");
}

TEST_CASE("authorise goes to the member that issued the identity; an identity no one issued is denied") {
  Scripted s;
  CHECK(s.chain->authorise(handle("c:u"), "x", {}, {}) == iam::Decision::allowed(std::chrono::seconds(7)));
  CHECK(s.c->calls == std::vector<std::string>{"authorise"});
  const std::vector<iam::AuthorisationCheck> checks(2);
  CHECK(s.chain->authorise_many(handle("b:u"), checks).size() == 2);
  CHECK(s.b->calls == std::vector<std::string>{"authorise_many"});
  CHECK(s.chain->authorise(handle("z:u"), "x", {}, {}) == iam::Decision::denied(std::chrono::seconds(0)));
  CHECK(s.chain->authorise_many(handle("z:u"), checks) ==
        std::vector<iam::Decision>(2, iam::Decision::denied(std::chrono::seconds(0))));
  CHECK(s.chain->issued(handle("a:u")));
  CHECK_FALSE(s.chain->issued(handle("z:u")));
  CHECK(s.a->calls.empty());
}

TEST_CASE("invalidation listeners are registered with every member") {
  Scripted s;
  s.chain->add_invalidation_listener([](const iam::Invalidation&) {});
  for (const auto* member : {s.a.get(), s.b.get(), s.c.get()}) CHECK(member->calls == std::vector<std::string>{"listener"});
}

TEST_CASE("management goes to the member that issued the actor, and to no other") {
  Scripted s;
  CHECK(s.execute("whoami", "b:u")->user->id == "b:");
  CHECK(s.a->calls.empty());
  // The issuing member's answer stands, even not_supported: no other member is asked.
  CHECK(s.execute("create-user", "b:u").error().code == iam::ErrorCode::not_supported);
  CHECK(s.a->calls.empty());
  // An actor no member issued: the masked auth failure.
  CHECK(s.execute("whoami", "z:u").error() == iam::auth_failure());
  // The issuing member has no administration.
  CHECK(s.execute("whoami", "c:u").error().code == iam::ErrorCode::not_supported);
  CHECK(s.c->calls.empty());
}

TEST_CASE("a trusted request goes to the member that issued the user it names, else the first that supports it") {
  Scripted s;
  CHECK(s.execute("whoami", std::nullopt, "b:u")->user->id == "b:");
  CHECK(s.a->calls.empty());
  CHECK(s.execute("login", std::nullopt)->user->id == "b:");
  CHECK(s.a->calls == std::vector<std::string>{"execute login"});
  CHECK(s.execute("whoami", std::nullopt)->user->id == "a:");
  const auto nobody = s.execute("bootstrap", std::nullopt);
  REQUIRE_FALSE(nobody.ok());
  CHECK(nobody.error().code == iam::ErrorCode::not_supported);
  CHECK(nobody.error().message == "no regime of the chain supports 'bootstrap'");
}

TEST_CASE("a chain of decision-only members has no administration") {
  auto c = std::make_shared<ScriptedMember>("c:", false);
  auto chain = iam::make_chain_regime({c});
  REQUIRE(chain.ok());
  CHECK((*chain)->administration() == nullptr);
}

// ---- the roles regime beside the OIDC regime ----

namespace {

const Provider& idp() {
  static const Provider provider{"https://idp.example/realms/main", 1};
  return provider;
}

struct RolesAndOidc {
  iam::testing::TestIam roles;
  Fixture oidc{{&idp()}};
  std::shared_ptr<iam::Regime> chain;

  RolesAndOidc() {
    auto t = iam::testing::make_test_iam();
    REQUIRE(t.ok());
    roles = std::move(t).value();
    auto made = iam::make_chain_regime({oidc.regime, roles.regime});
    REQUIRE(made.ok());
    chain = std::move(made).value();
  }

  iam::Result<iam::OperationResponse> execute(std::string operation, std::string actor) {
    iam::OperationRequest request;
    request.operation = std::move(operation);
    request.actor = std::move(actor);
    request.workspace = "default";
    request.user_id = roles.admin_user_id;
    return chain->administration()->execute(request);
  }
};

}  // namespace

TEST_CASE("API keys and our JWTs still work beside an identity provider's tokens") {
  RolesAndOidc r;
  CHECK(r.chain->name() == "oidc+roles");
  const auto by_key = r.chain->authenticate(r.roles.admin_api_key);
  REQUIRE(by_key.ok());
  CHECK(by_key->handle == r.roles.admin_user_id);
  CHECK(r.chain->authorise(*by_key, "users:admin", iam::Resource::workspace("default"), {}).allow);

  auto user = r.roles.create_user("writer-1", "correct horse battery", {"writer"});
  REQUIRE(user.ok());
  const auto jwt = r.roles.login("writer-1", "correct horse battery");
  REQUIRE(jwt.ok());
  const auto by_jwt = r.chain->authenticate(*jwt);
  REQUIRE(by_jwt.ok());
  CHECK(by_jwt->handle == user->id);
  CHECK(r.chain->authorise(*by_jwt, "documents:write", iam::Resource::workspace("default"), {}).allow);
  CHECK(r.execute("whoami", user->id)->user->username == "writer-1");

  const auto by_idp = r.chain->authenticate(idp().sign(r.oidc.claims(idp(), "idp-user", {"idp-writer"})));
  REQUIRE(by_idp.ok());
  CHECK(by_idp->handle.rfind("oidc:", 0) == 0);
  CHECK(r.chain->authorise(*by_idp, "documents:write", iam::Resource::workspace("ws-default"), {}).allow);
  CHECK_FALSE(r.chain->authorise(*by_idp, "documents:write", iam::Resource::workspace("default"), {}).allow);
  // What the roles regime recognises: its API keys and its own JWTs, nothing else.
  CHECK(r.roles.regime->recognises(r.roles.admin_api_key));
  CHECK(r.roles.regime->recognises(*jwt));
  CHECK_FALSE(r.roles.regime->recognises(idp().sign(r.oidc.claims(idp(), "idp-user", {}))));
  CHECK_FALSE(r.roles.regime->recognises("not a credential"));
  CHECK_FALSE(r.roles.regime->recognises("a.b.c"));
  // A trusted request about no one reaches the roles regime past the OIDC regime.
  iam::OperationRequest status;
  status.operation = "bootstrap-status";
  CHECK(r.chain->administration()->execute(status)->bootstrap_available == false);
}

TEST_CASE("an identity provider's token never acts as a roles user, whatever its claims say") {
  RolesAndOidc r;
  // The provider's user claims the roles administrator's id as sub and name as username.
  json claims = r.oidc.claims(idp(), r.roles.admin_user_id, {});
  claims["preferred_username"] = "admin";
  const auto impostor = r.chain->authenticate(idp().sign(claims));
  REQUIRE(impostor.ok());
  CHECK(impostor->handle != r.roles.admin_user_id);
  CHECK_FALSE(r.chain->authorise(*impostor, "users:admin", iam::Resource::workspace("default"), {}).allow);
  CHECK_FALSE(r.chain->authorise(*impostor, "documents:read", iam::Resource::workspace("default"), {}).allow);
  for (const char* operation : {"list-users", "create-user", "get-user", "create-api-key", "rotate-signing-key",
                                "reset-password", "list-workspaces"}) {
    CAPTURE(operation);
    CHECK(r.execute(operation, impostor->handle).error().code == iam::ErrorCode::not_supported);
  }
  const auto whoami = r.execute("whoami", impostor->handle);
  REQUIRE(whoami.ok());
  CHECK(whoami->user->id == impostor->handle);
  CHECK(whoami->user->roles.empty());

  // Signed by the provider but claiming our own issuer: the roles regime takes it and
  // its signature fails there.
  claims["iss"] = r.roles.regime->key_set().config().issuer;
  CHECK(masked_failure(r.chain->authenticate(idp().sign(claims))));

  // With the roles regime first (the wrong order), the provider's identities reach it
  // and are denied: the chain fails closed.
  auto reversed = iam::make_chain_regime({r.roles.regime, r.oidc.regime});
  REQUIRE(reversed.ok());
  json fresh = r.oidc.claims(idp(), "someone", {"idp-admin"});
  const auto routed = (*reversed)->authenticate(idp().sign(fresh));
  REQUIRE(routed.ok());
  CHECK_FALSE((*reversed)->authorise(*routed, "documents:read", iam::Resource::workspace("ws-default"), {}).allow);
}
