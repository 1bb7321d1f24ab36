// A consumer of the installed iam-testing library (pkg-config iam-testing, CMake iam::testing):
// make_test_iam gives a working roles regime with a cheap password hash, while the
// production factory still refuses a cost below the minimum.
#include <iam/memory_store.h>
#include <iam/roles.h>
#include <iam/testing.h>

#include <cstdio>
#include <string>

int main() {
  auto iam = iam::testing::make_test_iam();
  if (!iam) {
    std::printf("make_test_iam failed: %s\n", iam.error().message.c_str());
    return 1;
  }
  if (!iam->create_user("wendy", "wendy-password", {"writer"})) {
    std::puts("create_user failed");
    return 1;
  }
  const auto jwt = iam->login("wendy", "wendy-password");
  if (!jwt) {
    std::puts("login failed");
    return 1;
  }
  const auto identity = iam->regime->authenticate(*jwt);
  if (!identity || identity->workspace != "default") {
    std::puts("the login's JWT did not authenticate");
    return 1;
  }
  if (iam->login("wendy", "wrong-password")) {
    std::puts("a wrong password logged in");
    return 1;
  }

  // The low cost is the helper's alone: make_roles_regime keeps the production minimum.
  iam::RolesConfig config;
  config.repository = iam::make_memory_repository();
  config.bootstrap_mode = iam::BootstrapMode::bootstrap;
  config.read_environment = false;
  config.password_iterations = 1000;
  const auto cheap = iam::make_roles_regime(std::move(config));
  if (cheap || cheap.error().code != iam::ErrorCode::invalid_argument) {
    std::puts("make_roles_regime accepted a cost below the minimum");
    return 1;
  }
  std::printf("make_test_iam: logged in as %s; the production factory refuses 1000 iterations\n",
              identity->handle.c_str());
  return 0;
}
