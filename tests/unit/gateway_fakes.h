// A small scriptable Regime for the gateway kit's tests: failure injection and call counts.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "iam/gateway.h"
#include "iam/regime.h"

namespace gateway_test {

using namespace std::chrono_literals;

inline iam::Identity identity(std::string handle, std::string workspace = "default",
                              iam::CredentialSource source = iam::CredentialSource::api_key,
                              std::optional<iam::TimePoint> expires = std::nullopt) {
  return iam::Identity{handle, std::move(workspace), handle, source, expires};
}

class FakeRegime final : public iam::Regime, public iam::Administration {
 public:
  // credential → what authenticate answers. Unknown credentials: auth_failure(), or, when
  // accept_any_api_key, an identity whose handle is the credential.
  std::map<std::string, iam::Result<iam::Identity>, std::less<>> credentials;
  bool accept_any_api_key = false;
  iam::Result<iam::Identity> anonymous = iam::auth_failure();
  // The policy; default: allow for 60 s.
  std::function<iam::Decision(const iam::Identity&, std::string_view, const iam::Resource&, const iam::Parameters&)>
      decide;
  std::set<std::string, std::less<>> workspaces{"default", "acme"};
  std::set<std::string, std::less<>> disabled_workspaces;  // found by get-workspace, enabled false
  bool refuse_listeners = false;  // add_invalidation_listener throws
  // Called inside authenticate (e.g. to fire an invalidation mid-flight).
  std::function<void()> during_authenticate;
  // Called inside execute (e.g. to throw, as a badly behaved application regime might).
  std::function<void()> during_execute;

  std::atomic<int> authenticate_calls{0};
  std::atomic<int> anonymous_calls{0};
  std::atomic<int> authorise_calls{0};
  std::atomic<int> execute_calls{0};
  std::mutex mutex;
  std::vector<iam::Identity> authorised_identities;
  std::vector<std::string> authorised_capabilities;
  std::vector<iam::Resource> authorised_resources;
  std::vector<iam::Parameters> authorised_parameters;
  std::vector<iam::InvalidationListener> listeners;

  std::string_view name() const noexcept override { return "fake"; }

  iam::Result<iam::Identity> authenticate(std::string_view credential) override {
    ++authenticate_calls;
    if (during_authenticate) during_authenticate();
    const std::lock_guard lock(mutex);
    if (auto found = credentials.find(credential); found != credentials.end()) return found->second;
    if (accept_any_api_key && credential.starts_with("tg_")) return identity(std::string(credential));
    return iam::auth_failure();
  }

  iam::Result<iam::Identity> authenticate_anonymous() override {
    ++anonymous_calls;
    return anonymous;
  }

  iam::Decision authorise(const iam::Identity& who, std::string_view capability, const iam::Resource& resource,
                          const iam::Parameters& parameters) override {
    ++authorise_calls;
    {
      const std::lock_guard lock(mutex);
      authorised_identities.push_back(who);
      authorised_capabilities.emplace_back(capability);
      authorised_resources.push_back(resource);
      authorised_parameters.push_back(parameters);
    }
    if (decide) return decide(who, capability, resource, parameters);
    return iam::Decision::allowed(60s);
  }

  std::vector<iam::Decision> authorise_many(const iam::Identity& who,
                                            std::span<const iam::AuthorisationCheck> checks) override {
    std::vector<iam::Decision> out;
    for (const auto& check : checks) out.push_back(authorise(who, check.capability, check.resource, check.parameters));
    return out;
  }

  iam::Administration* administration() noexcept override { return this; }

  iam::Result<iam::OperationResponse> execute(const iam::OperationRequest& request) override {
    ++execute_calls;
    if (during_execute) during_execute();
    if (request.operation == "get-workspace") {
      const std::string id = request.workspace_record && request.workspace_record->id ? *request.workspace_record->id : "";
      if (!workspaces.count(id)) return iam::Error{iam::ErrorCode::not_found, "workspace not found"};
      iam::OperationResponse response;
      response.workspace = iam::WorkspaceRecord{id, id, !disabled_workspaces.count(id), {}};
      return response;
    }
    return iam::Error{iam::ErrorCode::not_supported, "fake"};
  }

  void add_invalidation_listener(iam::InvalidationListener listener) override {
    if (refuse_listeners) throw std::runtime_error("no listeners here");
    listeners.push_back(std::move(listener));
  }

  void fire(iam::Invalidation::Kind kind, std::string id = {}) {
    for (const auto& listener : listeners) listener(iam::Invalidation{kind, id});
  }

  int last_authorise_index() {
    const std::lock_guard lock(mutex);
    return static_cast<int>(authorised_resources.size()) - 1;
  }
};

struct FakeGateway {
  std::shared_ptr<iam::ManualClock> clock = std::make_shared<iam::ManualClock>();
  std::shared_ptr<FakeRegime> regime = std::make_shared<FakeRegime>();
  std::shared_ptr<iam::Enforcer> enforcer;

  explicit FakeGateway(std::function<void(iam::GatewayConfig&)> adjust = {}) {
    iam::GatewayConfig config;
    config.regime = regime;
    config.clock = clock;
    config.logger = iam::null_logger();
    if (adjust) adjust(config);
    auto created = iam::make_enforcer(std::move(config));
    if (!created) throw std::runtime_error("enforcer: " + created.error().message);
    enforcer = std::move(*created);
  }

  iam::Outcome iam_request(std::string body, std::optional<std::string> credential = std::nullopt) const {
    iam::Request request;
    request.route = iam::Route::iam;
    request.body = std::move(body);
    request.credential = std::move(credential);
    return enforcer->enforce(request);
  }
  iam::Outcome service(std::string kind, std::string body, std::optional<std::string> credential) const {
    iam::Request request;
    request.route = iam::Route::service;
    request.name = std::move(kind);
    request.body = std::move(body);
    request.credential = std::move(credential);
    return enforcer->enforce(request);
  }
  iam::Outcome flow_service(std::string flow, std::string kind, std::string body,
                            std::optional<std::string> credential) const {
    iam::Request request;
    request.route = iam::Route::flow_service;
    request.name = std::move(kind);
    request.flow = std::move(flow);
    request.body = std::move(body);
    request.credential = std::move(credential);
    return enforcer->enforce(request);
  }
};

}  // namespace gateway_test
