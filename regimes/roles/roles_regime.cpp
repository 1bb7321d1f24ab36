// The roles regime (contract.md "The roles regime's policy", protocol.md "Operations"):
// configuration, construction, and the invalidation of what a change made stale.
#include <cstdlib>

#include "credentials/api_key.h"
#include "crypto/crypto.h"
#include "regimes/roles/internal.h"
#include "regimes/roles/roles_regime_impl.h"

namespace iam {
namespace {

// Fills the defaults of `config` and checks it: invalid_argument says what is wrong.
Result<BootstrapMode> complete_config(RolesConfig& config) {
  if (!config.repository) return Error{ErrorCode::invalid_argument, "the roles regime needs a repository"};
  if (!config.clock) config.clock = system_clock();
  if (!config.random) config.random = system_random();
  if (!config.audit) config.audit = null_audit_sink();
  if (!config.logger) config.logger = stderr_logger();
  IAM_RETURN_IF_ERROR(config.jwt.validate());
  if (config.decision_ttl.count() < 0) return Error{ErrorCode::invalid_argument, "decision_ttl must not be negative"};

  if (!config.bootstrap_mode && config.read_environment) {
    if (const char* env = std::getenv("IAM_BOOTSTRAP_MODE"); env && *env) {
      config.bootstrap_mode = parse_bootstrap_mode(env);
      if (!config.bootstrap_mode)
        return Error{ErrorCode::invalid_argument,
                     "IAM_BOOTSTRAP_MODE must be 'token' or 'bootstrap', not '" + std::string(env) + "'"};
    }
  }
  if (!config.bootstrap_mode)
    return Error{ErrorCode::invalid_argument,
                 "no bootstrap mode: configure 'token' or 'bootstrap' (or set IAM_BOOTSTRAP_MODE)"};
  if (!config.bootstrap_token && config.read_environment) {
    if (const char* env = std::getenv("IAM_BOOTSTRAP_TOKEN"); env && *env)
      config.bootstrap_token = SecretString(std::string_view(env));
  }
  const BootstrapMode mode = *config.bootstrap_mode;
  if (mode == BootstrapMode::bootstrap && config.bootstrap_token)
    return Error{ErrorCode::invalid_argument, "bootstrap mode refuses a bootstrap token (use token mode)"};
  if (mode == BootstrapMode::token) {
    if (!config.bootstrap_token || config.bootstrap_token->empty())
      return Error{ErrorCode::invalid_argument, "token mode needs a bootstrap token (IAM_BOOTSTRAP_TOKEN)"};
    if (!credentials::is_api_key_text(config.bootstrap_token->view()))
      return Error{ErrorCode::invalid_argument,
                   "the bootstrap token must start with 'tg_', be 20 to 256 characters and have no spaces"};
  }
  return mode;
}

Result<std::shared_ptr<RolesRegime>> create_regime(RolesConfig config, std::uint32_t iterations) {
  crypto::ensure_initialised();
  IAM_ASSIGN_OR_RETURN(const BootstrapMode mode, complete_config(config));
  auto regime = std::make_shared<RolesRegimeImpl>(std::move(config), mode, iterations);
  IAM_RETURN_IF_ERROR(regime->start());
  return std::shared_ptr<RolesRegime>(std::move(regime));
}

}  // namespace

Result<std::shared_ptr<RolesRegime>> make_roles_regime(RolesConfig config) {
  if (config.password_iterations < minimum_password_iterations)
    return Error{ErrorCode::invalid_argument, "password_iterations below the minimum of 600000"};
  const auto iterations = config.password_iterations;
  return create_regime(std::move(config), iterations);
}

Result<std::shared_ptr<RolesRegime>> detail::create_roles_regime_for_testing(RolesConfig config,
                                                                              std::uint32_t password_iterations) {
  if (password_iterations == 0) return Error{ErrorCode::invalid_argument, "password iterations must be positive"};
  return create_regime(std::move(config), password_iterations);
}

RolesRegimeImpl::RolesRegimeImpl(RolesConfig config, BootstrapMode mode, std::uint32_t iterations)
    : cfg_(std::move(config)),
      mode_(mode),
      iterations_(iterations),
      policy_(std::move(cfg_.roles), cfg_.logger),
      keys_(cfg_.jwt, cfg_.clock),
      audit_on_(cfg_.audit != null_audit_sink()),
      login_throttle_(cfg_.login_throttle, cfg_.clock) {
  password_policy_.min_characters = cfg_.password_rules.min_characters;
  password_policy_.max_bytes = cfg_.password_rules.max_bytes;
  password_policy_.forbid_username = cfg_.password_rules.forbid_username;
}

RolesRegimeImpl::~RolesRegimeImpl() {
  const MutexLock lock(relay_->mutex);
  relay_->regime = nullptr;
}

Status RolesRegimeImpl::start() {
  if (mode_ == BootstrapMode::token) IAM_RETURN_IF_ERROR(seed_from_token());
  IAM_RETURN_IF_ERROR(reload_keys());
  // A populated store without a current or next key (an older version's store, keys
  // deleted by hand): add them.
  auto empty = repo().is_empty();
  if (!empty) return storage_error(empty.error());
  if (!*empty) IAM_RETURN_IF_ERROR(complete_key_set());
  {
    const MutexLock lock(relay_->mutex);
    relay_->regime = this;
  }
  repo().add_change_listener([relay = relay_](const Invalidation& event) {
    const MutexLock lock(relay->mutex);
    if (relay->regime) relay->regime->on_external_change(event);
  });
  return {};
}

void RolesRegimeImpl::log(LogLevel level, std::string_view message) const {
  try {
    if (cfg_.logger) cfg_.logger(level, message);
  } catch (...) {
  }
}

Status RolesRegimeImpl::apply(const Change& change) {
  auto s = repo().apply(change);
  if (!s.ok() && s.error().code == ErrorCode::internal_error) return storage_error(s.error());
  return s;
}

std::string OperationTarget::invalidation_id(Invalidation::Kind kind) const {
  switch (kind) {
    case Invalidation::Kind::user: return identity;
    case Invalidation::Kind::workspace: return workspace;
    case Invalidation::Kind::api_key: return api_key_hash;
    case Invalidation::Kind::signing_keys:
    case Invalidation::Kind::everything: break;
  }
  return "";
}

// ------------------------------------------------------------------ invalidation

void RolesRegimeImpl::add_invalidation_listener(InvalidationListener listener) {
  const MutexLock lock(listeners_mutex_);
  listeners_.push_back(std::move(listener));
}

void RolesRegimeImpl::invalidate(Invalidation::Kind kind, std::string id) {
  const Invalidation event{kind, std::move(id)};
  notify_listeners(event);
  cfg_.repository->publish(event);
}

void RolesRegimeImpl::on_external_change(const Invalidation& event) {
  if (event.kind == Invalidation::Kind::signing_keys || event.kind == Invalidation::Kind::everything)
    (void)reload_keys();
  notify_listeners(event);
}

void RolesRegimeImpl::notify_listeners(const Invalidation& event) {
  const MutexLock lock(listeners_mutex_);
  for (const auto& listener : listeners_) {
    try {
      listener(event);
    } catch (...) {
    }
  }
}

}  // namespace iam
