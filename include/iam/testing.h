// iam/testing.h — a working roles regime for an application's own tests, in one call.
//
// make_test_iam() gives a roles regime on in-memory storage with a ManualClock the test
// moves by hand, a low PBKDF2 cost (1,000 iterations by default: only this helper can go
// below the production minimum), and an administrator already bootstrapped. Never use it
// in production: the low cost makes stolen password hashes cheap to crack.
//
// It lives in its own library, iam-testing (pkg-config iam-testing, CMake iam::testing):
// libiam plus this helper. Link an application's tests against it instead of libiam; the
// production libiam has neither the helper nor a way to go below the minimum cost.
//
// THREAD SAFETY: TestIam's members are the shared, thread-safe objects they wrap; the
// helper methods may be called from many threads.
// OWNERSHIP: TestIam owns (shares) the clock, repository and regime.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "iam/clock.h"
#include "iam/export.h"
#include "iam/memory_store.h"
#include "iam/roles.h"

namespace iam::testing {

struct TestIamOptions {
  std::uint32_t password_iterations = 1000;
  bool bootstrap = true;  // run the bootstrap operation, so an admin and a signing key exist
  JwtConfig jwt;
  RoleTable roles = default_role_table();
  PasswordRules password_rules;
  ThrottleConfig login_throttle;  // as in production: on
  std::shared_ptr<AuditSink> audit;
  Logger logger = null_logger();
};

struct IAM_EXPORT TestIam {
  std::shared_ptr<ManualClock> clock;
  std::shared_ptr<Repository> repository;
  std::shared_ptr<RolesRegime> regime;
  std::string admin_user_id;  // empty unless bootstrapped
  std::string admin_api_key;  // plaintext, for tests only

  // A user in `workspace` (created if missing) with the given roles and password.
  Result<UserRecord> create_user(const std::string& username, const std::string& password,
                                 std::vector<std::string> roles = {"reader"}, const std::string& workspace = "default");
  // A new API key for the user; returns the plaintext.
  Result<std::string> create_api_key(const std::string& user_id, const std::string& name = "test");
  // Logs in and returns the JWT.
  Result<std::string> login(const std::string& username, const std::string& password);
};

IAM_EXPORT Result<TestIam> make_test_iam(TestIamOptions options = {});

}  // namespace iam::testing
