// iamctl against a store opened in this process, through iam::JsonDispatcher.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "backend.h"
#include "deployment.h"
#include "iam/iam.h"
#include "iam/protocol.h"

namespace iamctl {

using StoreOptions = examples::DeploymentOptions;

class LocalBackend final : public Backend {
 public:
  // admin_default: administrator subcommands on a local store default to bootstrap mode
  // (which seeds nothing); the stdio service, like a gateway, needs the mode said.
  LocalBackend(StoreOptions& options, bool admin_default);

  // Later requests are made on behalf of the user this credential stands for
  // (self-service commands); false when the credential is not accepted.
  bool act_as(std::string_view token);

  Reply call(const nlohmann::json& request) override;
  Reply jwks() override;

  const iam::JsonDispatcher& dispatcher() const { return *dispatcher_; }

 private:
  std::unique_ptr<iam::JsonDispatcher> dispatcher_;
  std::shared_ptr<iam::RolesRegime> roles_;
  std::optional<std::string> actor_;
};

// `iamctl stdio`: one JSON request per stdin line, one response per stdout line, as a
// trusted internal caller (no actor).
int serve_stdio(StoreOptions& options);

}  // namespace iamctl
