// An identity provider's public keys as OpenSSL EVP_PKEYs, and JOSE signature checks
// through EVP_DigestVerify (jwk.h).
#include "regimes/oidc/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "crypto/crypto.h"

namespace iam::oidc {

struct PublicJwk::State {
  std::string kid;
  KeyKind kind = KeyKind::rsa;
  std::optional<Algorithm> alg;
  std::shared_ptr<EVP_PKEY> key;
};

namespace {

using nlohmann::json;

// unique_ptr deleters calling OpenSSL's free functions.
template <auto free_function>
struct Free {
  template <class T>
  void operator()(T* p) const noexcept {
    free_function(p);
  }
};
using Bn = std::unique_ptr<BIGNUM, Free<BN_free>>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Free<OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Free<OSSL_PARAM_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, Free<ECDSA_SIG_free>>;

constexpr std::array<std::pair<Algorithm, std::string_view>, 7> algorithm_names{{
    {Algorithm::rs256, "RS256"},
    {Algorithm::rs384, "RS384"},
    {Algorithm::rs512, "RS512"},
    {Algorithm::ps256, "PS256"},
    {Algorithm::es256, "ES256"},
    {Algorithm::es384, "ES384"},
    {Algorithm::eddsa, "EdDSA"},
}};

Error invalid(std::string message) { return {ErrorCode::invalid_argument, std::move(message)}; }

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* key) { return {key, EVP_PKEY_free}; }

// A member that must be a non-empty base64url string, decoded.
Result<crypto::Bytes> base64url_member(const json& jwk, const char* name) {
  const auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return invalid(std::string("JWK member ") + name + " missing");
  auto bytes = crypto::base64url_decode(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) return invalid(std::string("JWK member ") + name + " is not base64url");
  return std::move(*bytes);
}

// A key of `type` ("RSA", "EC") from public parameters.
Result<std::shared_ptr<EVP_PKEY>> key_from_params(const char* type, OSSL_PARAM_BLD* builder) {
  const Params params(OSSL_PARAM_BLD_to_param(builder));
  const PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return invalid("OpenSSL refused the key's parameters");
  return own(key);
}

Result<std::shared_ptr<EVP_PKEY>> rsa_key(const json& jwk) {
  auto n = base64url_member(jwk, "n");
  if (!n) return n.error();
  auto e = base64url_member(jwk, "e");
  if (!e) return e.error();
  const Bn modulus(BN_bin2bn(n->data(), static_cast<int>(n->size()), nullptr));
  const Bn exponent(BN_bin2bn(e->data(), static_cast<int>(e->size()), nullptr));
  if (!modulus || !exponent) return invalid("OpenSSL refused the key's parameters");
  const auto bits = static_cast<std::size_t>(BN_num_bits(modulus.get()));
  if (bits < min_rsa_bits || bits > max_rsa_bits) return invalid("RSA modulus size out of bounds");
  if (!BN_is_odd(modulus.get())) return invalid("RSA modulus is even");
  // An odd exponent of at least 3 that OpenSSL's verifier takes for any modulus size.
  if (!BN_is_odd(exponent.get()) || BN_is_one(exponent.get()) || BN_num_bits(exponent.get()) > 64)
    return invalid("RSA exponent out of bounds");
  const ParamBld builder(OSSL_PARAM_BLD_new());
  if (!builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1)
    return invalid("OpenSSL refused the key's parameters");
  return key_from_params("RSA", builder.get());
}

// The size in bytes of a coordinate (and of r and s in a JOSE signature) on each curve.
constexpr std::size_t p256_bytes = 32;
constexpr std::size_t p384_bytes = 48;

Result<std::shared_ptr<EVP_PKEY>> ec_key(const json& jwk, KeyKind& kind) {
  const auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string()) return invalid("EC JWK without crv");
  const char* group = nullptr;
  std::size_t coordinate_bytes = 0;
  if (*crv == "P-256") {
    group = "prime256v1";
    coordinate_bytes = p256_bytes;
    kind = KeyKind::ec_p256;
  } else if (*crv == "P-384") {
    group = "secp384r1";
    coordinate_bytes = p384_bytes;
    kind = KeyKind::ec_p384;
  } else {
    return invalid("unsupported EC curve");
  }
  auto x = base64url_member(jwk, "x");
  if (!x) return x.error();
  auto y = base64url_member(jwk, "y");
  if (!y) return y.error();
  // RFC 7518 §6.2.1.2: each coordinate is exactly the curve's size.
  if (x->size() != coordinate_bytes || y->size() != coordinate_bytes) return invalid("EC coordinate of the wrong size");
  crypto::Bytes point{0x04};  // SEC 1 uncompressed point: 04 || x || y
  point.insert(point.end(), x->begin(), x->end());
  point.insert(point.end(), y->begin(), y->end());
  const ParamBld builder(OSSL_PARAM_BLD_new());
  if (!builder || OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
    return invalid("OpenSSL refused the key's parameters");
  auto key = key_from_params("EC", builder.get());
  if (!key) return invalid("EC point is not on the curve");
  // OpenSSL's full public-key check: on the curve, not the point at infinity, right order.
  const PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return invalid("EC point is not on the curve");
  return key;
}

Result<std::shared_ptr<EVP_PKEY>> okp_key(const json& jwk) {
  const auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string() || *crv != "Ed25519") return invalid("unsupported OKP curve");
  auto x = base64url_member(jwk, "x");
  if (!x) return x.error();
  if (x->size() != 32) return invalid("Ed25519 key of the wrong size");
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, x->data(), x->size());
  if (!key) return invalid("OpenSSL refused the key's parameters");
  return own(key);
}

// A string member that may be absent; an error when present with another type.
Result<std::optional<std::string>> optional_string(const json& jwk, const char* name) {
  const auto it = jwk.find(name);
  if (it == jwk.end()) return std::optional<std::string>();
  if (!it->is_string()) return invalid(std::string("JWK member ") + name + " is not a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<PublicJwk> jwk_from_json(const json& jwk) {
  if (!jwk.is_object()) return invalid("JWK is not an object");
  // Checked first: a private key published by mistake is refused whatever else it says.
  for (const char* private_member : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
    if (jwk.contains(private_member)) return invalid("JWK is a private key");
  auto kty = optional_string(jwk, "kty");
  if (!kty) return kty.error();
  auto kid = optional_string(jwk, "kid");
  if (!kid) return kid.error();
  auto use = optional_string(jwk, "use");
  if (!use) return use.error();
  if (*use && **use != "sig") return invalid("JWK use is not sig");
  if (const auto ops = jwk.find("key_ops"); ops != jwk.end()) {
    // RFC 7517 §4.3: a key limited to other operations is not for verifying.
    if (!ops->is_array() || std::find(ops->begin(), ops->end(), "verify") == ops->end())
      return invalid("JWK key_ops lacks verify");
  }
  auto alg_name = optional_string(jwk, "alg");
  if (!alg_name) return alg_name.error();
  std::optional<Algorithm> alg;
  if (*alg_name) {
    alg = algorithm_from_name(**alg_name);
    if (!alg) return invalid("JWK alg is not a supported signature algorithm");
  }

  auto state = std::make_shared<PublicJwk::State>();
  state->kid = kid->value_or("");
  state->alg = alg;
  Result<std::shared_ptr<EVP_PKEY>> key = invalid("unsupported kty");
  if (*kty == "RSA") {
    state->kind = KeyKind::rsa;
    key = rsa_key(jwk);
  } else if (*kty == "EC") {
    key = ec_key(jwk, state->kind);
  } else if (*kty == "OKP") {
    state->kind = KeyKind::ed25519;
    key = okp_key(jwk);
  }
  if (!key) return key.error();
  state->key = std::move(*key);
  PublicJwk out(std::move(state));
  if (alg && !out.fits(*alg)) return invalid("JWK alg does not fit its key type");
  return out;
}

const EVP_MD* digest_of(Algorithm algorithm) noexcept {
  switch (algorithm) {
    case Algorithm::rs256:
    case Algorithm::ps256:
    case Algorithm::es256: return EVP_sha256();
    case Algorithm::rs384:
    case Algorithm::es384: return EVP_sha384();
    case Algorithm::rs512: return EVP_sha512();
    case Algorithm::eddsa: return nullptr;  // Ed25519 hashes inside the algorithm
  }
  return nullptr;
}

// JOSE's ECDSA signature r||s (RFC 7518 §3.4) as the DER ECDSA-Sig-Value OpenSSL verifies.
// Empty when it is not exactly 2 × `coordinate_bytes` long.
crypto::Bytes ecdsa_der(std::span<const std::uint8_t> signature, std::size_t coordinate_bytes) {
  if (signature.size() != 2 * coordinate_bytes) return {};
  const int half = static_cast<int>(coordinate_bytes);
  EcdsaSig sig(ECDSA_SIG_new());
  Bn r(BN_bin2bn(signature.data(), half, nullptr));
  Bn s(BN_bin2bn(signature.data() + half, half, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return {};
  r.release();  // owned by sig now
  s.release();
  const int size = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (size <= 0) return {};
  crypto::Bytes der(static_cast<std::size_t>(size));
  std::uint8_t* out = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &out) != size) return {};
  return der;
}

}  // namespace

std::optional<Algorithm> algorithm_from_name(std::string_view name) noexcept {
  for (const auto& [algorithm, text] : algorithm_names)
    if (text == name) return algorithm;
  return std::nullopt;
}

std::string_view algorithm_name(Algorithm algorithm) noexcept {
  for (const auto& [a, text] : algorithm_names)
    if (a == algorithm) return text;
  return {};
}

PublicJwk::PublicJwk(std::shared_ptr<const State> state) noexcept : state_(std::move(state)) {}

const std::string& PublicJwk::kid() const noexcept { return state_->kid; }
KeyKind PublicJwk::kind() const noexcept { return state_->kind; }
std::optional<Algorithm> PublicJwk::alg() const noexcept { return state_->alg; }

bool PublicJwk::fits(Algorithm algorithm) const noexcept {
  if (state_->alg && *state_->alg != algorithm) return false;
  switch (algorithm) {
    case Algorithm::rs256:
    case Algorithm::rs384:
    case Algorithm::rs512:
    case Algorithm::ps256: return state_->kind == KeyKind::rsa;
    case Algorithm::es256: return state_->kind == KeyKind::ec_p256;
    case Algorithm::es384: return state_->kind == KeyKind::ec_p384;
    case Algorithm::eddsa: return state_->kind == KeyKind::ed25519;
  }
  return false;
}

bool PublicJwk::verify(Algorithm algorithm, std::string_view signing_input,
                       std::span<const std::uint8_t> signature) const noexcept {
  if (!fits(algorithm)) return false;
  EVP_PKEY* const key = state_->key.get();
  crypto::Bytes der;  // ES*: the signature in the form OpenSSL takes
  switch (state_->kind) {
    case KeyKind::rsa:
      // RFC 7518 §3.3: the signature is exactly as long as the modulus.
      if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key))) return false;
      break;
    case KeyKind::ec_p256:
    case KeyKind::ec_p384:
      try {
        der = ecdsa_der(signature, state_->kind == KeyKind::ec_p256 ? p256_bytes : p384_bytes);
      } catch (...) {  // std::bad_alloc: fail closed
        return false;
      }
      if (der.empty()) return false;
      signature = der;
      break;
    case KeyKind::ed25519:
      if (signature.size() != 64) return false;
      break;
  }
  const MdCtx ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, digest_of(algorithm), nullptr, key) != 1) return false;
  if (algorithm == Algorithm::ps256) {
    // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1)
      return false;
  } else if (state_->kind == KeyKind::rsa) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
  }
  const auto message = crypto::as_bytes(signing_input);
  return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size()) == 1;
}

Result<PublicJwk> parse_jwk(std::string_view jwk_json) {
  auto doc = parse_json_bounded_unique_keys(jwk_json, JsonLimits{default_max_json_depth, max_jwks_bytes});
  if (!doc) return invalid("JWK is not JSON without duplicate keys");
  return jwk_from_json(*doc);
}

Result<std::vector<PublicJwk>> parse_jwks(std::string_view jwks_json) {
  auto doc = parse_json_bounded_unique_keys(jwks_json, JsonLimits{default_max_json_depth, max_jwks_bytes});
  if (!doc) return invalid("JWKS is not JSON without duplicate keys, or too large");
  if (!doc->is_object()) return invalid("JWKS is not an object");
  const auto keys = doc->find("keys");
  if (keys == doc->end() || !keys->is_array()) return invalid("JWKS has no keys array");
  if (keys->size() > max_jwks_keys) return invalid("JWKS has too many keys");
  std::vector<PublicJwk> out;
  std::set<std::string, std::less<>> kids;
  for (const json& entry : *keys) {
    if (!entry.is_object()) return invalid("JWKS key is not an object");
    auto key = jwk_from_json(entry);
    if (!key) continue;  // an encryption key, another kty, ...: not ours to use
    if (!kids.insert(key->kid()).second) return invalid("JWKS has two usable keys with one kid");
    out.push_back(std::move(*key));
  }
  return out;
}

}  // namespace iam::oidc
