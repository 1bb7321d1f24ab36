// make_curl_getter in a build without libcurl (meson option oidc off): there is no HTTP
// client, so it answers nullptr and make_oidc_regime answers not_supported.
#include "regimes/oidc/jwks_client.h"

namespace iam::oidc {

std::shared_ptr<HttpGetter> make_curl_getter(HttpLimits) { return nullptr; }

}  // namespace iam::oidc
