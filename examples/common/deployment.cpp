#include "deployment.h"

#include <sodium.h>

#include <chrono>
#include <cstdlib>

#include "iam/noauth.h"
#include "iam/store.h"

namespace examples {

void add_deployment_options(CLI::App& app, DeploymentOptions& o, const std::string& store_note) {
  app.add_option("--store", o.store, "memory | sqlite:PATH | postgres:CONNINFO" + store_note)->capture_default_str();
  app.add_option("--regime", o.regime, "roles | noauth (noauth: development only, allows everything)")
      ->capture_default_str();
  app.add_option("--bootstrap-mode", o.bootstrap_mode, "token | bootstrap (default: $IAM_BOOTSTRAP_MODE)");
  app.add_option("--bootstrap-token", o.bootstrap_token,
                 "admin API key for token mode (prefer $IAM_BOOTSTRAP_TOKEN: arguments show in ps)");
  app.add_option("--jwt-lifetime", o.jwt_lifetime, "seconds a login JWT lives")->capture_default_str();
  app.add_option("--key-grace", o.key_grace, "seconds a retired signing key keeps verifying (min lifetime+60)");
  app.add_option("--password-iterations", o.password_iterations, "PBKDF2 iterations for new hashes (>= 600000)")
      ->capture_default_str();
}

iam::Result<Deployment> open_deployment(DeploymentOptions& o, std::optional<iam::BootstrapMode> fallback_mode,
                                        iam::Logger logger) {
  auto opened = iam::open_repository(o.store);
  if (!opened) return opened.error();
  auto meter = std::make_shared<StoreMeter>();
  std::shared_ptr<iam::Repository> repository = std::make_shared<MeteredRepository>(std::move(*opened), meter);
  if (o.regime == "noauth") return Deployment{iam::make_noauth_regime(iam::NoauthConfig{}), nullptr, meter};
  if (o.regime != "roles") return iam::Error{iam::ErrorCode::invalid_argument, "--regime must be roles or noauth"};

  iam::RolesConfig config;
  config.repository = std::move(repository);
  if (!o.bootstrap_mode.empty()) {
    config.bootstrap_mode = iam::parse_bootstrap_mode(o.bootstrap_mode);
    if (!config.bootstrap_mode)
      return iam::Error{iam::ErrorCode::invalid_argument, "--bootstrap-mode must be token or bootstrap"};
  } else if (fallback_mode && !std::getenv("IAM_BOOTSTRAP_MODE")) {
    config.bootstrap_mode = fallback_mode;
  }
  if (!o.bootstrap_token.empty()) {
    config.bootstrap_token = iam::SecretString(std::string_view(o.bootstrap_token));
    sodium_memzero(o.bootstrap_token.data(), o.bootstrap_token.size());
    o.bootstrap_token.clear();
  }
  config.jwt.lifetime = std::chrono::seconds(o.jwt_lifetime);
  config.jwt.grace = std::chrono::seconds(o.key_grace);
  config.password_iterations = o.password_iterations;
  if (logger) config.logger = std::move(logger);
  auto roles = iam::RolesRegime::create(std::move(config));
  if (!roles) return roles.error();
  return Deployment{*roles, *roles, meter};
}

}  // namespace examples
