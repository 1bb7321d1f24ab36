// iam/signing_key.h — Ed25519 signing keys and their public halves in PEM: the key types
// that storage keeps and the JWT key set uses, without the JWT machinery (iam/jwt.h).
//
// THREAD SAFETY: plain values and pure functions.
// OWNERSHIP: a SigningKey owns its private half in a SecretBytes that wipes itself; copying
// is explicit (copy()).
// ERRORS: as documented per function (invalid_argument for bad input).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "iam/clock.h"
#include "iam/export.h"
#include "iam/random.h"
#include "iam/secret.h"
#include "iam/status.h"

namespace iam {

inline constexpr std::size_t ed25519_public_key_bytes = 32;
inline constexpr std::size_t ed25519_secret_key_bytes = 64;  // libsodium's seed || public key
inline constexpr std::size_t ed25519_seed_bytes = 32;
inline constexpr std::size_t ed25519_signature_bytes = 64;

using PublicKey = std::array<std::uint8_t, ed25519_public_key_bytes>;

// An Ed25519 key with its id, in one of three states (protocol.md "Signing key rotation"):
//   next     (no `activated`, no `retired`): published in the JWKS, verifies, never signs;
//            the key the next rotation promotes, so clients hold it before it signs.
//   current  (`activated`, no `retired`): signs; at most one.
//   retired  (`retired`): no private half (destroyed at retirement); verifies until
//            retired + grace.
struct IAM_EXPORT SigningKey {
  std::string kid;
  PublicKey public_key{};
  SecretBytes secret_key;  // empty once retired
  TimePoint created{};
  // When the key began signing; nullopt for the next key.
  std::optional<TimePoint> activated;
  std::optional<TimePoint> retired;

  bool is_next() const noexcept { return !activated && !retired; }
  bool is_current() const noexcept { return activated && !retired; }

  // A new key with a random id (a UUIDv4) created now, current from now (activated =
  // created); reset `activated` to make it a next key.
  static SigningKey generate(RandomSource& random, const Clock& clock);
  // A key from a 32-byte seed (deterministic; for tests and key import); current from
  // `created`, as generate.
  static Result<SigningKey> from_seed(std::string kid, std::span<const std::uint8_t> seed, TimePoint created);
  SigningKey copy() const;
};

// The public key as a SubjectPublicKeyInfo PEM, for standard JWT libraries.
IAM_EXPORT std::string public_key_to_pem(const PublicKey& key);
// invalid_argument unless `pem` is an Ed25519 SubjectPublicKeyInfo.
IAM_EXPORT Result<PublicKey> public_key_from_pem(std::string_view pem);

}  // namespace iam
