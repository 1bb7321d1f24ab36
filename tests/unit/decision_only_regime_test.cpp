// The contract's decision half alone: a regime with name, authenticate and authorise and no
// administration, as the JSON dispatcher and the gateway kit see it.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iam/gateway.h"
#include "iam/operation_table.h"
#include "iam/protocol.h"
#include "../support/wire_checks.h"

using nlohmann::json;
using test_support::check_error;
using namespace std::chrono_literals;

namespace {

// Only what Regime requires: name, authenticate, authorise. No administration.
class DecisionOnlyRegime final : public iam::Regime {
 public:
  std::string_view name() const noexcept override { return "decision-only"; }
  iam::Result<iam::Identity> authenticate(std::string_view credential) override {
    if (credential != "good") return iam::auth_failure();
    return iam::Identity{"u-1", "ws1", "u-1", iam::CredentialSource::api_key, std::nullopt};
  }
  iam::Decision authorise(const iam::Identity&, std::string_view capability, const iam::Resource& resource,
                          const iam::Parameters&) override {
    return capability == "graph:read" && resource.workspace_id() == "ws1" ? iam::Decision::allowed(9s)
                                                                           : iam::Decision::denied(3s);
  }
};

}  // namespace

TEST_CASE("a decision-only regime implements three methods; the defaults fit it") {
  DecisionOnlyRegime regime;
  CHECK(regime.administration() == nullptr);
  CHECK(regime.authenticate("good").ok());
  CHECK(regime.authenticate_anonymous().error() == iam::auth_failure());
  regime.add_invalidation_listener([](const iam::Invalidation&) { FAIL("never called"); });
  // authorise_many asks authorise once per check, in order.
  const std::vector<iam::AuthorisationCheck> checks = {{"graph:read", iam::Resource::workspace("ws1"), {}},
                                                       {"graph:read", iam::Resource::workspace("ws2"), {}},
                                                       {"graph:write", iam::Resource::workspace("ws1"), {}}};
  CHECK(regime.authorise_many(iam::Identity{}, checks) ==
        std::vector<iam::Decision>{iam::Decision::allowed(9s), iam::Decision::denied(3s), iam::Decision::denied(3s)});
  CHECK(regime.authorise_many(iam::Identity{}, {}).empty());
}

TEST_CASE("the dispatcher answers a decision-only regime's management operations not-supported") {
  iam::JsonDispatcher dispatcher(std::make_shared<DecisionOnlyRegime>());
  int management = 0;
  for (const iam::OperationInfo& row : iam::operation_table()) {
    if (row.answer != iam::OperationAnswer::administration) continue;
    ++management;
    CAPTURE(row.name);
    const json out = json::parse(dispatcher.handle(json{{"operation", row.name}}.dump()));
    check_error(out, "not-supported");
  }
  CHECK(management == 42);
  check_error(json::parse(dispatcher.handle(R"({"operation":"no-such-op"})")), "invalid-argument");

  // The decisions still work.
  CHECK(json::parse(dispatcher.handle(
            R"({"operation":"authorise","user_id":"u-1","capability":"graph:read","resource_json":"{\"workspace\":\"ws1\"}"})")) ==
        json{{"decision_allow", true}, {"decision_ttl_seconds", 9}});
  const json many = json::parse(dispatcher.handle(
      R"({"operation":"authorise-many","user_id":"u-1","authorise_checks":"[{\"capability\":\"graph:read\",\"resource\":{\"workspace\":\"ws1\"}},{\"capability\":\"x\"}]"})"));
  CHECK(json::parse(many["decisions_json"].get<std::string>()) ==
        json::array({{{"allow", true}, {"ttl", 9}}, {{"allow", false}, {"ttl", 3}}}));
}

TEST_CASE("the gateway's default workspace lookup needs administration: not-supported without it") {
  auto exists = iam::workspace_exists_from_regime(std::make_shared<DecisionOnlyRegime>());
  auto answer = exists("ws1");
  REQUIRE_FALSE(answer.ok());
  CHECK(answer.error().code == iam::ErrorCode::not_supported);
}

