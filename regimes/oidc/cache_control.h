// regimes/oidc/cache_control.h — the max-age of an HTTP Cache-Control header (internal).
//
// THREAD SAFETY: pure function.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace iam::oidc {

// The freshness lifetime a Cache-Control field value gives (RFC 9111 §5.2.2): `max-age=N`
// (N digits, or "N" quoted; the first one counts), 0 s for `no-cache` or `no-store` (refetch
// as soon as allowed), nullopt when it says nothing usable. Directive names are case
// insensitive; a lifetime too large for the type saturates. Several Cache-Control lines
// are one value joined by commas.
std::optional<std::chrono::seconds> parse_cache_control_max_age(std::string_view value);

}  // namespace iam::oidc
