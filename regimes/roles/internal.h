// Internal to the library: the test-only door of the roles regime. Only iam/testing.h's
// helper uses it; it lets a test set a PBKDF2 cost below the production minimum.
#pragma once

#include "iam/roles.h"

namespace iam::detail {

Result<std::shared_ptr<RolesRegime>> create_roles_regime_for_testing(RolesConfig config,
                                                                      std::uint32_t password_iterations);

}  // namespace iam::detail
