// make_test_iam (iam/testing.h), built into the iam-testing library only: it is the one
// caller of the roles regime's low-iteration door, which libiam neither exports nor keeps.
#include "iam/testing.h"

#include "regimes/roles/internal.h"

namespace iam::testing {

Result<TestIam> make_test_iam(TestIamOptions options) {
  TestIam t;
  t.clock = std::make_shared<ManualClock>();
  t.repository = make_memory_repository();
  RolesConfig config;
  config.repository = t.repository;
  config.bootstrap_mode = BootstrapMode::bootstrap;
  config.read_environment = false;
  config.jwt = options.jwt;
  config.roles = std::move(options.roles);
  config.password_rules = options.password_rules;
  config.login_throttle = options.login_throttle;
  config.clock = t.clock;
  config.audit = options.audit;
  config.logger = options.logger;
  auto regime = detail::create_roles_regime_for_testing(std::move(config), options.password_iterations);
  if (!regime) return std::move(regime).error();
  t.regime = std::move(*regime);
  if (options.bootstrap) {
    auto admin = t.regime->bootstrap();
    if (!admin) return std::move(admin).error();
    t.admin_user_id = admin->admin_user_id;
    t.admin_api_key = std::string(admin->admin_api_key.view());
  }
  return t;
}

Result<UserRecord> TestIam::create_user(const std::string& username, const std::string& password,
                                        std::vector<std::string> roles, const std::string& workspace) {
  WorkspaceInput ws;
  ws.id = workspace;
  if (auto w = regime->create_workspace(std::nullopt, ws); !w) return std::move(w).error();
  UserInput user;
  user.username = username;
  user.password = SecretString(std::string_view(password));
  user.roles = std::move(roles);
  return regime->create_user(std::nullopt, workspace, user);
}

Result<std::string> TestIam::create_api_key(const std::string& user_id, const std::string& name) {
  KeyInput key;
  key.user_id = user_id;
  key.name = name;
  auto created = regime->create_api_key(std::nullopt, key, std::nullopt);
  if (!created) return std::move(created).error();
  return std::string(created->plaintext.view());
}

Result<std::string> TestIam::login(const std::string& username, const std::string& password) {
  auto result = regime->login(username, password, std::nullopt);
  if (!result) return std::move(result).error();
  return std::string(result->jwt.view());
}

}  // namespace iam::testing
