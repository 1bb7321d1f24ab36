// What iam-gateway and iamctl share: the flags that name a deployment (store, regime,
// bootstrap mode, JWT settings) and opening the regime they describe.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "iam/audit.h"
#include "iam/log.h"
#include "iam/regime.h"
#include "iam/oidc.h"
#include "iam/roles.h"
#include "iam/status.h"
#include "metered_repository.h"

namespace examples {

struct DeploymentOptions {
  std::string store = "sqlite:./iam.db";
  std::string regime = "roles";  // roles | noauth | oidc | roles+oidc
  std::string oidc_config;       // the OIDC regime's JSON file (docs/oidc.md); oidc modes only
  std::string bootstrap_mode;   // empty: $IAM_BOOTSTRAP_MODE
  std::string bootstrap_token;  // empty: $IAM_BOOTSTRAP_TOKEN
  int jwt_lifetime = 3600;
  int key_grace = 0;
  std::uint32_t password_iterations = iam::minimum_password_iterations;
  std::string key_file;  // empty: $IAM_KEY_ENCRYPTION_KEY_FILE, else beside a sqlite store
  std::shared_ptr<iam::AuditSink> audit;  // not a flag: where the regime reports (default: discard)
};

// The flags above, as both programs spell them. `store_note` is appended to --store's help.
void add_deployment_options(CLI::App& app, DeploymentOptions& options, const std::string& store_note = "");

struct Deployment {
  std::shared_ptr<iam::Regime> regime;
  std::shared_ptr<iam::RolesRegime> roles;  // the roles regime alone or in the chain; null for noauth and oidc
  std::shared_ptr<iam::OidcRegime> oidc;     // the OIDC regime alone or in the chain; null otherwise
  std::shared_ptr<StoreMeter> store_meter;   // calls that reached the store
  std::string created_key_file;              // set when this run created the key file
};

// The key-encryption key file that seals the store's private signing keys: --key-file, else
// $IAM_KEY_ENCRYPTION_KEY_FILE, else for sqlite:PATH the PATH with the extension ".key"
// (./iam.db: ./iam.key). Empty for the memory store. A postgres store has no "beside":
// invalid_argument unless the flag or the variable names the file.
iam::Result<std::string> key_file_path(const DeploymentOptions& options);

// Opens the store and makes the regime the options name: roles, noauth, oidc (the OIDC
// regime of --oidc-config; no store is opened), or roles+oidc (a chain: the OIDC regime
// takes the JWTs whose `iss` it trusts, the roles regime everything else). `fallback_mode` applies when
// neither --bootstrap-mode nor $IAM_BOOTSTRAP_MODE says one. Errors: invalid_argument for
// a usage problem (bad flag values, a refused configuration; a bad --oidc-config file is
// "--oidc-config FILE: " and the field at fault), internal_error when the
// store cannot be opened. The bootstrap token is moved out of `options` (and wiped there).
//
// KEY FILE: the store's private signing keys are sealed with the key in key_file_path().
// When that file does not exist and the store holds no encrypted keys (first use, or a store
// from before encryption), a random key is written there (mode 0600, 64 hex characters) and
// the store's keys are encrypted with it; Deployment::created_key_file then names it. When
// it does not exist and the store holds encrypted keys, nothing is created: invalid_argument
// saying the key file is missing.
iam::Result<Deployment> open_deployment(DeploymentOptions& options, std::optional<iam::BootstrapMode> fallback_mode,
                                        iam::Logger logger = {});

// Rotation of the key-encryption key (iamctl rotate-key-encryption-key): writes a new random
// key to "<key file>.new" (refused if that exists: an earlier rotation was interrupted),
// re-encrypts the store's private keys under it in one transaction, then renames it over the
// key file. Every other process using the store must be stopped first. Returns the key
// file's path. Errors as open_deployment's.
iam::Result<std::string> rotate_key_encryption_key(const DeploymentOptions& options);

}  // namespace examples
