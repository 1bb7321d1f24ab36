// regimes/oidc/jwk.h — an identity provider's public keys (RFC 7517 JWK / JWKS) and the
// signature algorithms the OIDC regime accepts (internal header).
//
// Keys are parsed once into OpenSSL EVP_PKEYs and verified through EVP: no hand-written RSA
// or ECDSA. Only the seven algorithms below exist here: `none`, every HMAC algorithm and
// anything else have no Algorithm value, so no configuration or token can select them.
//
// THREAD SAFETY: a PublicJwk is immutable after parsing; share it freely (verify is const
// and safe to call from many threads at once). OWNERSHIP: a PublicJwk owns its EVP_PKEY.
// ERRORS: parse functions return invalid_argument with a message that never repeats the
// input; verify answers false for any failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iam/status.h"

namespace iam::oidc {

enum class Algorithm { rs256, rs384, rs512, ps256, es256, es384, eddsa };
// "RS256", ..., "EdDSA"; nullopt for every other name (none, HS256, ES512, lower case, ...).
std::optional<Algorithm> algorithm_from_name(std::string_view name) noexcept;
std::string_view algorithm_name(Algorithm algorithm) noexcept;

enum class KeyKind { rsa, ec_p256, ec_p384, ed25519 };

// Bounds applied before anything is built from a JWKS document.
inline constexpr std::size_t max_jwks_bytes = 512 * 1024;
inline constexpr std::size_t max_jwks_keys = 100;
inline constexpr std::size_t min_rsa_bits = 2048;
inline constexpr std::size_t max_rsa_bits = 8192;

class PublicJwk {
 public:
  const std::string& kid() const noexcept;   // empty when the JWK has none
  KeyKind kind() const noexcept;
  std::optional<Algorithm> alg() const noexcept;  // the JWK's own "alg", when it names one

  // True when this key may verify `algorithm`: the key kind fits (RS*/PS* → RSA, ES256 →
  // P-256, ES384 → P-384, EdDSA → Ed25519) and the JWK's own "alg", when present, is the
  // same algorithm.
  bool fits(Algorithm algorithm) const noexcept;
  // Checks `signature` over `signing_input` (the token's "header.payload" bytes). ES*
  // signatures are JOSE's fixed-size r||s. False for any failure, including !fits.
  bool verify(Algorithm algorithm, std::string_view signing_input,
              std::span<const std::uint8_t> signature) const noexcept;

  struct State;  // OpenSSL handles; defined in jwk.cpp
  explicit PublicJwk(std::shared_ptr<const State> state) noexcept;

 private:
  std::shared_ptr<const State> state_;
};

// One JWK object's text. Refuses private keys (an RSA "d", an EC/OKP "d"), "use" other than
// "sig", unknown kty or crv, RSA outside [min_rsa_bits, max_rsa_bits], EC points not on
// the curve, and malformed base64url.
Result<PublicJwk> parse_jwk(std::string_view jwk_json);

// A JWKS document ({"keys":[...]}, at most max_jwks_bytes / max_jwks_keys, no duplicate
// JSON keys). Keys this library cannot use (other kty, "use":"enc", a private key, bad
// parameters) are left out, not an error, as providers publish encryption keys beside
// signing keys; a document that is not a JWKS at all, or two usable keys with one kid,
// is an error.
Result<std::vector<PublicJwk>> parse_jwks(std::string_view jwks_json);

}  // namespace iam::oidc
