// regimes/oidc/cache_control.cpp — see cache_control.h.
#include "cache_control.h"

#include <cstdint>
#include <limits>

namespace iam::oidc {
namespace {

constexpr std::string_view whitespace = " \t";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(whitespace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(whitespace) - first + 1);
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// delta-seconds: one or more digits; saturates rather than overflowing.
std::optional<std::chrono::seconds> delta_seconds(std::string_view digits) {
  if (digits.size() >= 2 && digits.front() == '"' && digits.back() == '"') digits = digits.substr(1, digits.size() - 2);
  if (digits.empty()) return std::nullopt;
  constexpr std::int64_t cap = std::numeric_limits<std::int32_t>::max();  // about 68 years
  std::int64_t n = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n >= cap ? cap : n * 10 + (c - '0');
  }
  return std::chrono::seconds(n > cap ? cap : n);
}

}  // namespace

std::optional<std::chrono::seconds> parse_cache_control_max_age(std::string_view value) {
  bool no_cache = false;
  bool seen_max_age = false;
  std::optional<std::chrono::seconds> max_age;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const std::string_view directive = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    const auto equals = directive.find('=');
    const std::string_view name = directive.substr(0, equals);
    if (equals_ignoring_case(name, "no-cache") || equals_ignoring_case(name, "no-store")) {
      no_cache = true;
    } else if (equals_ignoring_case(name, "max-age") && !seen_max_age) {
      seen_max_age = true;
      if (equals != std::string_view::npos) max_age = delta_seconds(directive.substr(equals + 1));
    }
  }
  if (no_cache) return std::chrono::seconds(0);
  return max_age;
}

}  // namespace iam::oidc
