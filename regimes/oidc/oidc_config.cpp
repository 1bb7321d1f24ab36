// The OIDC regime's configuration file (iam/oidc.h): strict parsing, then validation.
// Every error names the field it is about ("issuers[0].role_mapp: unknown key"), so a bad
// file is a clear start-up error.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "core/text.h"
#include "iam/oidc.h"
#include "regimes/oidc/jwk.h"

namespace iam {
namespace {

using nlohmann::json;

// Bounds of the two durations (docs/decisions.md).
constexpr std::chrono::seconds kMaxLeeway{300};
constexpr std::chrono::seconds kMaxMinRefresh{24 * 3600};
// A configuration file is small; these bounds are far above any real one.
constexpr JsonLimits kConfigLimits{8, 1u << 20};
constexpr std::size_t kMaxUrlBytes = 2048;
constexpr std::size_t kMaxEchoedBytes = 64;

Error invalid(std::string message) { return Error{ErrorCode::invalid_argument, std::move(message)}; }

// A name taken from the file, safe for a terminal or a log line, and short.
std::string shown(std::string_view name) {
  if (name.size() > kMaxEchoedBytes) return text::escape_controls(name.substr(0, kMaxEchoedBytes)) + "...";
  return text::escape_controls(name);
}

// ---- typed reads, each naming its field on error ----

Status check_keys(const json& object, std::string_view where, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end())
      return invalid(std::string(where) + (where.empty() ? "" : ".") + shown(key) + ": unknown key");
  }
  return {};
}

Result<std::string> read_string(const json& value, const std::string& field) {
  if (!value.is_string()) return invalid(field + ": must be a string");
  return value.get<std::string>();
}

Result<std::vector<std::string>> read_strings(const json& value, const std::string& field) {
  if (!value.is_array()) return invalid(field + ": must be an array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    IAM_ASSIGN_OR_RETURN(std::string s, read_string(value[i], field + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::chrono::seconds> read_seconds(const json& value, const std::string& field) {
  if (value.is_number_unsigned()) {
    const auto n = value.get<std::uint64_t>();
    if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()))
      return invalid(field + ": out of range");
    return std::chrono::seconds(static_cast<std::int64_t>(n));
  }
  if (value.is_number_integer()) return std::chrono::seconds(value.get<std::int64_t>());  // negative: validate says
  return invalid(field + ": must be an integer number of seconds");
}

// Reads member `name` of `object` into `out` (a T or an optional<T>) when present;
// absent leaves `out` as it is, or is an error when `required`.
template <class T, class Out>
Status read_member(const json& object, const std::string& where, std::string_view name, bool required, Out& out) {
  const std::string field = where + "." + std::string(name);
  const auto it = object.find(name);
  if (it == object.end()) return required ? Status(invalid(field + ": is required")) : Status();
  if constexpr (std::is_same_v<T, std::string>) {
    IAM_ASSIGN_OR_RETURN(out, read_string(*it, field));
  } else {
    IAM_ASSIGN_OR_RETURN(out, read_strings(*it, field));
  }
  return {};
}

Result<OidcIssuer> read_issuer(const json& value, const std::string& where) {
  if (!value.is_object()) return invalid(where + ": must be an object");
  IAM_RETURN_IF_ERROR(check_keys(value, where,
                                 {"issuer", "jwks_uri", "audiences", "algorithms", "username_claim", "roles_claim",
                                  "role_map", "workspace_claim", "default_workspace"}));
  using Strings = std::vector<std::string>;
  OidcIssuer out;
  IAM_RETURN_IF_ERROR(read_member<std::string>(value, where, "issuer", true, out.issuer));
  IAM_RETURN_IF_ERROR(read_member<std::string>(value, where, "jwks_uri", false, out.jwks_uri));
  IAM_RETURN_IF_ERROR(read_member<Strings>(value, where, "audiences", true, out.audiences));
  IAM_RETURN_IF_ERROR(read_member<Strings>(value, where, "algorithms", true, out.algorithms));
  IAM_RETURN_IF_ERROR(read_member<std::string>(value, where, "username_claim", false, out.username_claim));
  IAM_RETURN_IF_ERROR(read_member<std::string>(value, where, "roles_claim", true, out.roles_claim));
  if (const auto it = value.find("role_map"); it != value.end()) {
    const std::string field = where + ".role_map";
    if (!it->is_object()) return invalid(field + ": must be an object of strings");
    for (const auto& [from, to] : it->items()) {
      IAM_ASSIGN_OR_RETURN(out.role_map[from], read_string(to, field + "." + shown(from)));
    }
  }
  IAM_RETURN_IF_ERROR(read_member<std::string>(value, where, "workspace_claim", false, out.workspace_claim));
  IAM_RETURN_IF_ERROR(read_member<std::string>(value, where, "default_workspace", false, out.default_workspace));
  return out;
}

// ---- validation ----

// An absolute http(s) URL with a host, plain text, bounded.
bool is_http_url(std::string_view url) {
  if (url.size() > kMaxUrlBytes || !text::is_plain(url)) return false;
  if (url.find_first_of(" \t") != std::string_view::npos) return false;
  for (std::string_view scheme : {"https://", "http://"}) {
    if (url.substr(0, scheme.size()) != scheme) continue;
    const std::string_view rest = url.substr(scheme.size());
    return !rest.empty() && rest.front() != '/' && rest.front() != '?' && rest.front() != '#';
  }
  return false;
}

// A dotted claim path: non-empty segments of plain text.
bool is_claim_path(std::string_view path) {
  if (path.empty() || path.size() > kMaxEchoedBytes * 4 || !text::is_plain(path)) return false;
  return path.front() != '.' && path.back() != '.' && path.find("..") == std::string_view::npos;
}

Status validate_issuer(const OidcIssuer& issuer, const std::string& where, const RoleTable& roles) {
  if (!is_http_url(issuer.issuer)) return invalid(where + ".issuer: must be an http or https URL");
  if (issuer.jwks_uri && !is_http_url(*issuer.jwks_uri))
    return invalid(where + ".jwks_uri: must be an http or https URL");
  if (issuer.audiences.empty()) return invalid(where + ".audiences: at least one audience is required");
  for (std::size_t i = 0; i < issuer.audiences.size(); ++i)
    if (issuer.audiences[i].empty() || !text::is_plain(issuer.audiences[i]))
      return invalid(where + ".audiences[" + std::to_string(i) + "]: must be non-empty plain text");
  if (issuer.algorithms.empty()) return invalid(where + ".algorithms: at least one algorithm is required");
  for (const auto& name : issuer.algorithms)
    if (!oidc::algorithm_from_name(name))
      return invalid(where + ".algorithms: " + shown(name) +
                     " is not allowed (RS256, RS384, RS512, PS256, ES256, ES384, EdDSA)");
  if (!is_claim_path(issuer.username_claim))
    return invalid(where + ".username_claim: must be a claim name or dotted path");
  if (!is_claim_path(issuer.roles_claim)) return invalid(where + ".roles_claim: must be a claim name or dotted path");
  if (issuer.workspace_claim && !is_claim_path(*issuer.workspace_claim))
    return invalid(where + ".workspace_claim: must be a claim name or dotted path");
  for (const auto& [from, to] : issuer.role_map) {
    if (from.empty()) return invalid(where + ".role_map: a provider value must not be empty");
    if (roles.find(to) == roles.end())
      return invalid(where + ".role_map." + shown(from) + ": " + shown(to) + " is not a role of the role table");
  }
  if (issuer.default_workspace.empty() || !text::is_plain(issuer.default_workspace))
    return invalid(where + ".default_workspace: must be non-empty plain text");
  return {};
}

}  // namespace

Status OidcConfig::validate(const RoleTable& roles) const {
  if (issuers.empty()) return invalid("issuers: at least one issuer is required");
  for (std::size_t i = 0; i < issuers.size(); ++i) {
    const std::string where = "issuers[" + std::to_string(i) + "]";
    IAM_RETURN_IF_ERROR(validate_issuer(issuers[i], where, roles));
    for (std::size_t j = 0; j < i; ++j)
      if (issuers[j].issuer == issuers[i].issuer)
        return invalid(where + ".issuer: the same issuer as issuers[" + std::to_string(j) + "]");
  }
  if (leeway.count() < 0 || leeway > kMaxLeeway)
    return invalid("leeway_seconds: must be between 0 and " + std::to_string(kMaxLeeway.count()));
  // At least a second: 0 would let a provider that never answers be retried in a loop.
  if (jwks_min_refresh.count() < 1 || jwks_min_refresh > kMaxMinRefresh)
    return invalid("jwks_min_refresh_seconds: must be between 1 and " + std::to_string(kMaxMinRefresh.count()));
  return {};
}

Result<OidcConfig> parse_oidc_config(std::string_view json_text, const RoleTable& roles) {
  auto parsed = parse_json_bounded_unique_keys(json_text, kConfigLimits);
  if (!parsed) return invalid("OIDC configuration: " + parsed.error().message);
  const json& root = *parsed;
  if (!root.is_object()) return invalid("OIDC configuration: must be a JSON object");
  IAM_RETURN_IF_ERROR(check_keys(root, "", {"issuers", "leeway_seconds", "jwks_min_refresh_seconds"}));

  OidcConfig config;
  const auto issuers = root.find("issuers");
  if (issuers == root.end()) return invalid("issuers: is required");
  if (!issuers->is_array()) return invalid("issuers: must be an array of objects");
  for (std::size_t i = 0; i < issuers->size(); ++i) {
    IAM_ASSIGN_OR_RETURN(OidcIssuer issuer, read_issuer((*issuers)[i], "issuers[" + std::to_string(i) + "]"));
    config.issuers.push_back(std::move(issuer));
  }
  if (const auto it = root.find("leeway_seconds"); it != root.end()) {
    IAM_ASSIGN_OR_RETURN(config.leeway, read_seconds(*it, "leeway_seconds"));
  }
  if (const auto it = root.find("jwks_min_refresh_seconds"); it != root.end()) {
    IAM_ASSIGN_OR_RETURN(config.jwks_min_refresh, read_seconds(*it, "jwks_min_refresh_seconds"));
  }
  IAM_RETURN_IF_ERROR(config.validate(roles));
  return config;
}

}  // namespace iam
