// EdDSA compact JWS and the key set (protocol.md "JWT").
#include "iam/jwt.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "crypto/crypto.h"

namespace iam {
namespace {

using nlohmann::json;

// Parses a JSON object, refusing duplicate keys at any depth (nlohmann would silently keep
// the last one, and two parsers disagreeing about a claim is how confusions start).
std::optional<json> parse_object_strict(std::string_view text) {
  bool duplicate = false;
  std::vector<std::vector<std::string>> seen;
  json::parser_callback_t check = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: seen.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!seen.empty()) seen.pop_back();
        break;
      case json::parse_event_t::key: {
        auto& keys = seen.back();
        const auto& key = parsed.get_ref<const std::string&>();
        if (std::find(keys.begin(), keys.end(), key) != keys.end()) duplicate = true;
        keys.push_back(key);
        break;
      }
      default: break;
    }
    return true;
  };
  json value = json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/false);
  if (value.is_discarded() || duplicate || !value.is_object()) return std::nullopt;
  return value;
}

// A NumericDate claim as whole seconds; nullopt when absent-or-not-a-number.
std::optional<std::int64_t> numeric_date(const json& claims, const char* name) {
  const auto it = claims.find(name);
  if (it == claims.end() || !it->is_number()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    return v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
               ? std::numeric_limits<std::int64_t>::max()
               : static_cast<std::int64_t>(v);
  }
  if (it->is_number_integer()) return it->get<std::int64_t>();
  const double d = it->get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  if (d >= 9.2e18) return std::numeric_limits<std::int64_t>::max();
  if (d <= -9.2e18) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(std::floor(d));
}

// Present → must be a non-empty string. Absent → empty optional. Wrong type → failure flag.
bool optional_string_claim(const json& claims, const char* name, std::optional<std::string>& out) {
  const auto it = claims.find(name);
  if (it == claims.end()) return true;
  if (!it->is_string() || it->get_ref<const std::string&>().empty()) return false;
  out = it->get<std::string>();
  return true;
}

std::string encode_segment(const json& value) { return crypto::base64url_encode(crypto::as_bytes(value.dump())); }

}  // namespace

// ---------------------------------------------------------------- keys

SigningKey SigningKey::generate(RandomSource& random, const Clock& clock) {
  SecretBytes seed(ed25519_seed_bytes);
  random.fill(seed.span());
  auto key = from_seed(crypto::uuid_v4(random), seed.span(), clock.now());
  return std::move(key).value();
}

Result<SigningKey> SigningKey::from_seed(std::string kid, std::span<const std::uint8_t> seed, TimePoint created) {
  if (seed.size() != ed25519_seed_bytes) return Error{ErrorCode::invalid_argument, "an Ed25519 seed is 32 bytes"};
  if (kid.empty()) return Error{ErrorCode::invalid_argument, "a signing key needs a kid"};
  auto pair = crypto::ed25519_from_seed(seed.first<ed25519_seed_bytes>());
  SigningKey key;
  key.kid = std::move(kid);
  key.public_key = pair.public_key;
  key.secret_key = std::move(pair.secret_key);
  key.created = created;
  return key;
}

SigningKey SigningKey::copy() const {
  SigningKey k;
  k.kid = kid;
  k.public_key = public_key;
  k.secret_key = secret_key.copy();
  k.created = created;
  k.retired = retired;
  return k;
}

std::string public_key_to_jwk(const PublicKey& key, std::string_view kid) {
  json jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", crypto::base64url_encode(key)},
              {"use", "sig"}, {"alg", "EdDSA"}};
  if (!kid.empty()) jwk["kid"] = std::string(kid);
  return jwk.dump();
}

Result<PublicKey> public_key_from_jwk(std::string_view jwk_json) {
  const auto jwk = parse_object_strict(jwk_json);
  if (!jwk) return Error{ErrorCode::invalid_argument, "JWK is not a JSON object"};
  const auto field = [&](const char* name) -> std::string {
    const auto it = jwk->find(name);
    return it != jwk->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (field("kty") != "OKP" || field("crv") != "Ed25519")
    return Error{ErrorCode::invalid_argument, "JWK is not an Ed25519 OKP key"};
  if (jwk->contains("d")) return Error{ErrorCode::invalid_argument, "JWK holds a private key"};
  const auto x = crypto::base64url_decode(field("x"));
  if (!x || x->size() != ed25519_public_key_bytes)
    return Error{ErrorCode::invalid_argument, "JWK x is not a 32-byte base64url value"};
  PublicKey key{};
  std::copy(x->begin(), x->end(), key.begin());
  return key;
}

// ---------------------------------------------------------------- config

std::chrono::seconds JwtConfig::effective_grace() const { return std::max(grace, lifetime + leeway); }

Status JwtConfig::validate() const {
  if (issuer.empty()) return Error{ErrorCode::invalid_argument, "JWT issuer must not be empty"};
  if (lifetime.count() <= 0) return Error{ErrorCode::invalid_argument, "JWT lifetime must be positive"};
  if (leeway.count() < 0) return Error{ErrorCode::invalid_argument, "JWT leeway must not be negative"};
  if (grace.count() < 0) return Error{ErrorCode::invalid_argument, "key grace must not be negative"};
  if (max_token_bytes < 64) return Error{ErrorCode::invalid_argument, "maximum token size is too small"};
  return {};
}

// ---------------------------------------------------------------- key set

struct KeySet::State {
  std::vector<SigningKey> keys;  // at most one without `retired`: the active key
  const SigningKey* active() const {
    for (const auto& k : keys)
      if (!k.retired) return &k;
    return nullptr;
  }
};

KeySet::KeySet(JwtConfig config, std::shared_ptr<const Clock> clock)
    : config_(std::move(config)),
      clock_(clock ? std::move(clock) : system_clock()),
      state_(std::make_shared<const State>()),
      writer_(std::make_unique<std::mutex>()) {
  crypto::ensure_initialised();
}

KeySet::~KeySet() = default;

Status KeySet::load(std::vector<SigningKey> keys) {
  int active = 0;
  for (auto& k : keys) {
    if (k.kid.empty()) return Error{ErrorCode::invalid_argument, "signing key without kid"};
    if (k.retired) {
      k.secret_key.clear();  // a retired key never signs again
    } else {
      ++active;
      if (k.secret_key.size() != ed25519_secret_key_bytes)
        return Error{ErrorCode::invalid_argument, "the active signing key has no private half"};
    }
  }
  if (active > 1) return Error{ErrorCode::invalid_argument, "more than one active signing key"};
  auto next = std::make_shared<State>();
  next->keys = std::move(keys);
  std::lock_guard lock(*writer_);
  state_.store(std::move(next));
  return {};
}

Status KeySet::rotate(SigningKey key) {
  if (key.kid.empty() || key.secret_key.size() != ed25519_secret_key_bytes || key.retired)
    return Error{ErrorCode::invalid_argument, "a new active key needs a kid and a private half"};
  std::lock_guard lock(*writer_);
  const auto current = state_.load();
  const TimePoint now = clock_->now();
  auto next = std::make_shared<State>();
  for (const auto& k : current->keys) {
    if (k.kid == key.kid) return Error{ErrorCode::duplicate, "a signing key with this kid exists"};
    if (k.retired && *k.retired + config_.effective_grace() <= now) continue;  // past grace: gone
    SigningKey kept = k.copy();
    if (!kept.retired) {
      kept.retired = now;
      kept.secret_key.clear();
    }
    next->keys.push_back(std::move(kept));
  }
  next->keys.push_back(std::move(key));
  state_.store(std::move(next));
  return {};
}

Result<std::string> KeySet::sign(std::string_view subject, std::string_view workspace) const {
  const TimePoint now = clock_->now();
  return sign(JwtClaims{config_.issuer, std::string(subject), std::string(workspace), now, now + config_.lifetime});
}

Result<std::string> KeySet::sign(const JwtClaims& claims) const {
  const auto snapshot = state_.load();
  const SigningKey* key = snapshot->active();
  if (!key) return Error{ErrorCode::not_found, "no active signing key"};
  const json header = {{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", key->kid}};
  const json payload = {{"iss", claims.issuer},
                        {"sub", claims.subject},
                        {"workspace", claims.workspace},
                        {"default_workspace", claims.workspace},
                        {"iat", unix_seconds(claims.issued_at)},
                        {"exp", unix_seconds(claims.expires_at)}};
  std::string token = encode_segment(header) + '.' + encode_segment(payload);
  const auto signature = crypto::ed25519_sign(crypto::as_bytes(token), key->secret_key);
  token += '.';
  token += crypto::base64url_encode(signature);
  return token;
}

Result<JwtClaims> KeySet::verify(std::string_view token) const { return verify_with_reason(token, nullptr); }

Result<JwtClaims> KeySet::verify_with_reason(std::string_view token, std::string* reason) const {
  const auto fail = [reason](const char* why) -> Result<JwtClaims> {
    if (reason) *reason = why;
    return auth_failure();
  };
  if (token.size() > config_.max_token_bytes) return fail("token too large");
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return fail("not three segments");
  const std::string_view signed_part = token.substr(0, dot2);
  const auto header_bytes = crypto::base64url_decode(token.substr(0, dot1));
  const auto payload_bytes = crypto::base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  const auto signature = crypto::base64url_decode(token.substr(dot2 + 1));
  if (!header_bytes || !payload_bytes || !signature) return fail("segment is not canonical base64url");

  const auto header = parse_object_strict(crypto::as_text(*header_bytes));
  if (!header) return fail("header is not a JSON object without duplicate keys");
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || alg->get_ref<const std::string&>() != "EdDSA")
    return fail("alg is not EdDSA");
  if (header->contains("crit")) return fail("crit header present");
  const auto kid = header->find("kid");
  if (kid == header->end() || !kid->is_string()) return fail("kid missing");

  const auto snapshot = state_.load();
  const TimePoint now = clock_->now();
  const SigningKey* key = nullptr;
  for (const auto& k : snapshot->keys) {
    if (k.kid != kid->get_ref<const std::string&>()) continue;
    if (k.retired && *k.retired + config_.effective_grace() <= now) return fail("kid past its grace period");
    key = &k;
    break;
  }
  if (!key) return fail("unknown kid");
  if (!crypto::ed25519_verify(crypto::as_bytes(signed_part), *signature, key->public_key))
    return fail("bad signature");

  const auto claims = parse_object_strict(crypto::as_text(*payload_bytes));
  if (!claims) return fail("payload is not a JSON object without duplicate keys");
  const std::int64_t now_s = unix_seconds(now);
  const std::int64_t leeway = config_.leeway.count();
  const auto exp = numeric_date(*claims, "exp");
  if (!exp) return fail("exp missing");
  if (*exp <= now_s - leeway) return fail("expired");
  for (const char* name : {"nbf", "iat"}) {
    if (!claims->contains(name)) continue;
    const auto t = numeric_date(*claims, name);
    if (!t) return fail("nbf or iat is not a number");
    if (*t > now_s + leeway) return fail("nbf or iat in the future");
  }
  const auto iss = claims->find("iss");
  if (iss == claims->end() || !iss->is_string() || iss->get_ref<const std::string&>() != config_.issuer)
    return fail("wrong issuer");
  std::optional<std::string> sub, workspace, default_workspace;
  if (!optional_string_claim(*claims, "sub", sub) || !sub) return fail("sub missing");
  if (!optional_string_claim(*claims, "workspace", workspace) ||
      !optional_string_claim(*claims, "default_workspace", default_workspace))
    return fail("workspace claim is not a non-empty string");
  if (!workspace && !default_workspace) return fail("no workspace claim");
  if (workspace && default_workspace && *workspace != *default_workspace)
    return fail("workspace claims disagree");

  JwtClaims out;
  out.issuer = config_.issuer;
  out.subject = std::move(*sub);
  out.workspace = workspace ? std::move(*workspace) : std::move(*default_workspace);
  out.issued_at = from_unix_seconds(numeric_date(*claims, "iat").value_or(0));
  out.expires_at = from_unix_seconds(*exp);
  return out;
}

Result<std::string> KeySet::active_public_pem() const {
  const auto snapshot = state_.load();
  const SigningKey* key = snapshot->active();
  if (!key) return Error{ErrorCode::not_found, "no signing key yet"};
  return public_key_to_pem(key->public_key);
}

std::string KeySet::jwks() const {
  const auto snapshot = state_.load();
  const TimePoint now = clock_->now();
  json keys = json::array();
  for (const auto& k : snapshot->keys) {
    if (k.retired && *k.retired + config_.effective_grace() <= now) continue;
    keys.push_back(json::parse(public_key_to_jwk(k.public_key, k.kid)));
  }
  return json{{"keys", keys}}.dump();
}

std::optional<std::string> KeySet::active_kid() const {
  const auto snapshot = state_.load();
  const SigningKey* key = snapshot->active();
  if (!key) return std::nullopt;
  return key->kid;
}

}  // namespace iam
