#include "local.h"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include "iam/noauth.h"
#include "iam/store.h"

namespace iamctl {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxLineBytes = 1 << 20;

}  // namespace

LocalBackend::LocalBackend(StoreOptions& o, bool admin_default) {
  auto repository = iam::open_repository(o.store);
  if (!repository) {
    if (repository.error().code == iam::ErrorCode::internal_error) throw std::runtime_error(repository.error().message);
    throw UsageError{repository.error().message};
  }
  if (o.regime == "noauth") {
    dispatcher_ = std::make_unique<iam::JsonDispatcher>(iam::make_noauth_regime(iam::NoauthConfig{}));
    return;
  }
  if (o.regime != "roles") throw UsageError{"unknown regime '" + o.regime + "' (roles | noauth)"};
  iam::RolesConfig config;
  config.repository = std::move(*repository);
  if (!o.bootstrap_mode.empty()) {
    config.bootstrap_mode = iam::parse_bootstrap_mode(o.bootstrap_mode);
    if (!config.bootstrap_mode) throw UsageError{"--bootstrap-mode must be token or bootstrap"};
  } else if (admin_default && !std::getenv("IAM_BOOTSTRAP_MODE")) {
    config.bootstrap_mode = iam::BootstrapMode::bootstrap;
  }
  if (!o.bootstrap_token.empty()) config.bootstrap_token = iam::SecretString(std::move(o.bootstrap_token));
  config.jwt.lifetime = std::chrono::seconds(o.jwt_lifetime);
  config.jwt.grace = std::chrono::seconds(o.key_grace);
  config.password_iterations = o.password_iterations;
  auto regime = iam::RolesRegime::create(std::move(config));
  if (!regime) {
    if (regime.error().code == iam::ErrorCode::internal_error) throw std::runtime_error(regime.error().message);
    throw UsageError{regime.error().message};
  }
  roles_ = *regime;
  dispatcher_ = std::make_unique<iam::JsonDispatcher>(std::move(*regime));
}

bool LocalBackend::act_as(std::string_view token) {
  auto identity = dispatcher_->regime()->authenticate(token);
  if (!identity) return false;
  actor_ = identity->handle;
  return true;
}

Reply LocalBackend::call(const json& request) {
  json sent = request;
  if (actor_) sent["actor"] = *actor_;
  std::string text = sent.dump();
  Reply reply;
  reply.body = json::parse(dispatcher_->handle(text));
  iam::wipe(text);  // it may have held a password
  if (reply.body.contains("error")) {
    const json& error = reply.body["error"];
    const bool internal = !error.is_object() || error.value("type", "internal-error") == "internal-error";
    reply.outcome = internal ? Outcome::internal : Outcome::refused;
  }
  return reply;
}

Reply LocalBackend::jwks() {
  Reply reply;
  if (roles_) {
    reply.body = json::parse(roles_->jwks());
  } else {
    reply.outcome = Outcome::refused;
    reply.body = {{"error", {{"type", "not-supported"}, {"message", "this regime has no signing keys"}}}};
  }
  return reply;
}

int serve_stdio(StoreOptions& options) {
  const LocalBackend backend(options, /*admin_default=*/false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines are not requests
    std::string response = line.size() > kMaxLineBytes
                               ? R"({"error":{"type":"invalid-argument","message":"request line too long"}})"
                               : backend.dispatcher().handle(line);
    iam::wipe(line);  // it may have held a password
    response += '\n';
    std::cout << response << std::flush;
  }
  return 0;
}

}  // namespace iamctl
