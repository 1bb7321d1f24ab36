// The regime contract end to end, in one process: bootstrap a roles regime on in-memory
// storage, create a user, log in (a JWT is issued), authenticate the JWT, authorise two
// operations, and print each step.
#include <iostream>

#include "iam/iam.h"

int main() {
  iam::RolesConfig config;
  config.repository = iam::make_memory_repository();
  config.bootstrap_mode = iam::BootstrapMode::bootstrap;
  config.logger = iam::null_logger();
  auto created = iam::make_roles_regime(std::move(config));
  if (!created) {
    std::cerr << "cannot start: " << created.error().message << "\n";
    return 1;
  }
  std::shared_ptr<iam::RolesRegime> regime = *created;
  auto admin = regime->bootstrap();
  if (!admin) return 1;
  std::cout << "bootstrapped admin " << admin->admin_user_id << "\n";

  iam::UserInput alice;
  alice.username = "alice";
  alice.password = iam::SecretString(std::string_view("correct horse battery"));
  alice.roles = std::vector<std::string>{"writer"};
  auto user = regime->create_user(admin->admin_user_id, "default", alice);
  if (!user) return 1;
  std::cout << "created user alice (" << user->id << ") as writer in workspace default\n";

  auto login = regime->login("alice", "correct horse battery", std::nullopt);
  if (!login) return 1;
  std::cout << "login issued a JWT of " << login->jwt.view().size() << " bytes, expiring "
            << iam::format_rfc3339(login->expires) << "\n";

  // What a gateway does on every request: authenticate, then authorise.
  iam::Regime& contract = *regime;
  auto identity = contract.authenticate(login->jwt.view());
  if (!identity) return 1;
  std::cout << "authenticated: handle " << identity->handle << ", workspace " << identity->workspace << ", source "
            << iam::credential_source_name(identity->source) << "\n";
  for (const char* capability : {"graph:write", "users:admin"}) {
    const iam::Decision d = contract.authorise(*identity, capability, iam::Resource::workspace("default"), {});
    std::cout << "authorise " << capability << " on workspace default: " << (d.allow ? "allow" : "deny")
              << " (cache for " << d.ttl.count() << " s)\n";
  }
  auto forged = contract.authenticate("tg_not-a-real-key-at-all-xxxxxxxxxxx");
  std::cout << "a forged API key: " << (forged ? "accepted" : forged.error().message) << "\n";
  return forged ? 1 : 0;
}
