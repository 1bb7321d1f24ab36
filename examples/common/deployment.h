// What iam-gateway and iamctl share: the flags that name a deployment (store, regime,
// bootstrap mode, JWT settings) and opening the regime they describe.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "iam/log.h"
#include "iam/regime.h"
#include "iam/roles.h"
#include "iam/status.h"
#include "metered_repository.h"

namespace examples {

struct DeploymentOptions {
  std::string store = "sqlite:./iam.db";
  std::string regime = "roles";
  std::string bootstrap_mode;   // empty: $IAM_BOOTSTRAP_MODE
  std::string bootstrap_token;  // empty: $IAM_BOOTSTRAP_TOKEN
  int jwt_lifetime = 3600;
  int key_grace = 0;
  std::uint32_t password_iterations = iam::minimum_password_iterations;
};

// The flags above, as both programs spell them. `store_note` is appended to --store's help.
void add_deployment_options(CLI::App& app, DeploymentOptions& options, const std::string& store_note = "");

struct Deployment {
  std::shared_ptr<iam::Regime> regime;
  std::shared_ptr<iam::RolesRegime> roles;  // null for noauth
  std::shared_ptr<StoreMeter> store_meter;   // calls that reached the store
};

// Opens the store and makes the regime the options name. `fallback_mode` applies when
// neither --bootstrap-mode nor $IAM_BOOTSTRAP_MODE says one. Errors: invalid_argument for
// a usage problem (bad flag values, a refused configuration), internal_error when the
// store cannot be opened. The bootstrap token is moved out of `options` (and wiped there).
iam::Result<Deployment> open_deployment(DeploymentOptions& options, std::optional<iam::BootstrapMode> fallback_mode,
                                        iam::Logger logger = {});

}  // namespace examples
