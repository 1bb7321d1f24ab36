// Verifying an identity provider's compact JWS and reading its claims (oidc_token.h).
#include "regimes/oidc/oidc_token.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "core/bounded_json.h"
#include "crypto/crypto.h"

namespace iam::oidc {
namespace {

using nlohmann::json;

// The three segments of a compact JWS, decoded; `signing_input` is "header.payload".
struct Segments {
  std::string_view signing_input;
  crypto::Bytes header;
  crypto::Bytes payload;
  crypto::Bytes signature;
};

// Size bound, exactly three segments, strict base64url (no padding, zero trailing bits).
std::optional<Segments> split(std::string_view token, std::string& why) {
  if (token.size() > max_token_bytes) {
    why = "token too large";
    return std::nullopt;
  }
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    why = "not three segments";
    return std::nullopt;
  }
  auto header = crypto::base64url_decode(token.substr(0, dot1));
  auto payload = crypto::base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = crypto::base64url_decode(token.substr(dot2 + 1));
  if (!header || !payload || !signature) {
    why = "segment is not canonical base64url";
    return std::nullopt;
  }
  return Segments{token.substr(0, dot2), std::move(*header), std::move(*payload), std::move(*signature)};
}

// A JSON object with no duplicate key at any depth, within the token's bounds.
std::optional<json> strict_object(const crypto::Bytes& text) {
  auto value = parse_json_bounded_unique_keys(crypto::as_text(text), JsonLimits{default_max_json_depth, max_token_bytes});
  if (!value || !value->is_object()) return std::nullopt;
  return std::move(*value);
}

// A NumericDate (RFC 7519 §2) as whole seconds, saturated; nullopt when not a number.
std::optional<std::int64_t> numeric_date(const json& value) {
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  constexpr auto min = std::numeric_limits<std::int64_t>::min();
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    return v > static_cast<std::uint64_t>(max) ? max : static_cast<std::int64_t>(v);
  }
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    if (d >= 9.2e18) return max;
    if (d <= -9.2e18) return min;
    return static_cast<std::int64_t>(std::floor(d));
  }
  return std::nullopt;
}

bool names_an_audience(const json& aud, const std::vector<std::string>& audiences) {
  const auto ours = [&](const json& v) {
    return v.is_string() && std::find(audiences.begin(), audiences.end(), v.get_ref<const std::string&>()) != audiences.end();
  };
  if (aud.is_string()) return ours(aud);
  return aud.is_array() && std::any_of(aud.begin(), aud.end(), ours);
}

// The claim checks after the signature; empty when they pass, else the reason.
std::string check_claims(const json& claims, const TokenRules& rules, TimePoint now) {
  const auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string() || *iss != rules.issuer) return "wrong issuer";
  const auto aud = claims.find("aud");
  if (aud == claims.end()) return "aud missing";
  if (!names_an_audience(*aud, rules.audiences)) return "wrong audience";
  const std::int64_t now_s = unix_seconds(now);
  const std::int64_t leeway = rules.leeway.count();
  const auto exp_member = claims.find("exp");
  if (exp_member == claims.end()) return "exp missing";
  const auto exp = numeric_date(*exp_member);
  if (!exp) return "exp is not a number";
  if (*exp <= now_s - leeway) return "expired";
  if (const auto nbf = claims.find("nbf"); nbf != claims.end()) {
    const auto t = numeric_date(*nbf);
    if (!t) return "nbf is not a number";
    if (*t > now_s + leeway) return "not yet valid";
  }
  if (const auto iat = claims.find("iat"); iat != claims.end()) {
    const auto t = numeric_date(*iat);
    if (!t) return "iat is not a number";
    if (*t > now_s + leeway) return "issued in the future";
  }
  const auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string() || sub->get_ref<const std::string&>().empty()) return "sub missing";
  return {};
}

}  // namespace

std::optional<std::string> peek_issuer(std::string_view token) {
  std::string why;
  const auto segments = split(token, why);
  if (!segments) return std::nullopt;
  const auto claims = strict_object(segments->payload);
  if (!claims) return std::nullopt;
  const auto iss = claims->find("iss");
  if (iss == claims->end() || !iss->is_string()) return std::nullopt;
  return iss->get<std::string>();
}

Result<VerifiedToken> verify_token(std::string_view token, const TokenRules& rules, const KeyLookup& keys,
                                   TimePoint now, std::string* reason) {
  const auto fail = [reason](std::string why) -> Result<VerifiedToken> {
    if (reason) *reason = std::move(why);
    return auth_failure();
  };
  std::string why;
  const auto segments = split(token, why);
  if (!segments) return fail(why);

  const auto header = strict_object(segments->header);
  if (!header) return fail("header is not a JSON object without duplicate keys");
  const auto alg_member = header->find("alg");
  if (alg_member == header->end() || !alg_member->is_string()) return fail("alg missing");
  const auto alg = algorithm_from_name(alg_member->get_ref<const std::string&>());
  if (!alg) return fail("alg not supported");  // none, HS256, ...: never, whatever the key
  if (std::find(rules.algorithms.begin(), rules.algorithms.end(), *alg) == rules.algorithms.end())
    return fail("alg not allowed for this issuer");
  if (header->contains("crit")) return fail("crit header present");
  std::string_view kid;
  if (const auto member = header->find("kid"); member != header->end()) {
    if (!member->is_string()) return fail("kid is not a string");
    kid = member->get_ref<const std::string&>();
  }

  const auto key = keys ? keys(kid) : nullptr;
  if (!key) return fail("no key for kid");
  if (!key->fits(*alg)) return fail("key does not fit alg");
  if (!key->verify(*alg, segments->signing_input, segments->signature)) return fail("bad signature");

  auto claims = strict_object(segments->payload);
  if (!claims) return fail("payload is not a JSON object without duplicate keys");
  if (auto problem = check_claims(*claims, rules, now); !problem.empty()) return fail(std::move(problem));

  VerifiedToken out;
  out.issuer = rules.issuer;
  out.subject = claims->at("sub").get<std::string>();
  out.expires = from_unix_seconds(*numeric_date(claims->at("exp")));
  out.claims = std::move(*claims);
  return out;
}

const json* find_claim(const json& claims, std::string_view dotted_path) noexcept {
  if (dotted_path.empty()) return nullptr;
  const json* at = &claims;
  while (true) {
    const auto dot = dotted_path.find('.');
    const std::string_view name = dotted_path.substr(0, dot);
    if (name.empty() || !at->is_object()) return nullptr;
    // Compared member by member: no key string is built, so nothing here can throw.
    const json* next = nullptr;
    for (const auto& [key, value] : at->items()) {
      if (key == name) {
        next = &value;
        break;
      }
    }
    if (!next) return nullptr;
    at = next;
    if (dot == std::string_view::npos) return at;
    dotted_path.remove_prefix(dot + 1);
  }
}

std::vector<std::string> claim_strings(const json& claims, std::string_view dotted_path) {
  const json* value = find_claim(claims, dotted_path);
  std::vector<std::string> out;
  if (!value) return out;
  if (value->is_string()) {
    out.push_back(value->get<std::string>());
  } else if (value->is_array()) {
    for (const json& element : *value)
      if (element.is_string()) out.push_back(element.get<std::string>());
  }
  return out;
}

}  // namespace iam::oidc
