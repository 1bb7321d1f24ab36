// Credential extraction (gateway.md "Authenticating a request", step 1; the shape of step 2
// is iam/credential_shape.h, defined with the API key format in src/credentials).
#include <cctype>

#include "iam/gateway.h"

namespace iam {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> credential_from_authorization(std::optional<std::string_view> header_value) {
  if (!header_value) return std::nullopt;
  const std::string_view value = trim(*header_value);
  constexpr std::string_view scheme = "Bearer";
  if (value.size() < scheme.size() || !equals_ignoring_case(value.substr(0, scheme.size()), scheme))
    return std::nullopt;  // another scheme (Basic, ...): no credential
  const std::string_view rest = value.substr(scheme.size());
  if (!rest.empty() && !is_space(rest.front())) return std::nullopt;  // "Bearerx": not the Bearer scheme
  const std::string_view token = trim(rest);
  if (token.empty()) return std::nullopt;  // an empty Bearer: no credential
  return std::string(token);
}

std::optional<std::string> credential_from_query(std::string_view query) {
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != "token" || eq == std::string_view::npos) continue;
    const std::string_view raw = pair.substr(eq + 1);
    std::string decoded;
    decoded.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '%' && i + 2 < raw.size() && hex_value(raw[i + 1]) >= 0 && hex_value(raw[i + 2]) >= 0) {
        decoded.push_back(static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2])));
        i += 2;
      } else {
        decoded.push_back(raw[i]);  // a stray '%' stays: the shape check will reject it
      }
    }
    if (decoded.empty()) return std::nullopt;
    return decoded;
  }
  return std::nullopt;
}

}  // namespace iam
