// iam/oidc.h in a build without libcurl (meson feature `oidc` off): every entry point
// answers not_supported, so applications link either way and say why at start-up.
#include "iam/oidc.h"

namespace iam {
namespace {
Error unavailable() {
  return Error{ErrorCode::not_supported, "this build of the library has no OIDC regime (built without libcurl)"};
}
}  // namespace

Status OidcConfig::validate(const RoleTable&) const { return unavailable(); }
Result<OidcConfig> parse_oidc_config(std::string_view, const RoleTable&) { return unavailable(); }
Result<std::shared_ptr<OidcRegime>> make_oidc_regime(OidcConfig, OidcOptions) { return unavailable(); }

}  // namespace iam
