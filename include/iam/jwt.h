// iam/jwt.h — Ed25519 (EdDSA) JSON Web Tokens: a key set with staged rotation (a next key
// published before it signs) and a grace period,
// signing and verification (protocol.md "JWT"), and the JWK form of a public key. The keys
// themselves are iam/signing_key.h.
//
// THREAD SAFETY: KeySet is safe to share: any number of threads may sign and verify while
// another rotates; readers hold a lock only to copy a pointer.
// OWNERSHIP: a KeySet owns copies of the keys it is given.
// ERRORS: verify answers auth_failure() for every rejected token (the reason is never
// visible to the caller); other calls answer invalid_argument or not_found as documented.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iam/clock.h"
#include "iam/export.h"
#include "iam/signing_key.h"
#include "iam/status.h"

namespace iam {

// The JWK form of a public key (RFC 8037 OKP JSON, with use/alg/kid); its PEM form is in
// iam/signing_key.h.
IAM_EXPORT std::string public_key_to_jwk(const PublicKey& key, std::string_view kid);
// invalid_argument unless kty OKP, crv Ed25519, and no private part.
IAM_EXPORT Result<PublicKey> public_key_from_jwk(std::string_view jwk_json);

struct IAM_EXPORT JwtConfig {
  std::string issuer = "trustgraph-iam";
  std::chrono::seconds lifetime{3600};
  std::chrono::seconds leeway{60};
  // How long a retired key keeps verifying. Raised to lifetime + leeway when below it, so
  // no token issued before a rotation dies early. Zero means exactly that minimum.
  std::chrono::seconds grace{0};
  std::size_t max_token_bytes = 8 * 1024;

  std::chrono::seconds effective_grace() const;
  Status validate() const;  // invalid_argument for an empty issuer or non-positive lifetime
};

struct JwtClaims {
  std::string issuer;
  std::string subject;    // the user id
  std::string workspace;  // written as both `workspace` and `default_workspace`
  TimePoint issued_at{};
  TimePoint expires_at{};
  // The user's credentials epoch when the token was issued (StoredUser::credentials_epoch):
  // the private claim `credentials_epoch`, written only when non-zero; absent reads as 0.
  std::uint64_t credentials_epoch = 0;
  // The key that verified the token (set by verify; ignored by sign).
  std::string kid{};
};

class IAM_EXPORT KeySet {
 public:
  KeySet(JwtConfig config, std::shared_ptr<const Clock> clock);
  ~KeySet();
  KeySet(const KeySet&) = delete;
  KeySet& operator=(const KeySet&) = delete;

  // Replaces the whole set (for example with what storage holds). At most one key may be
  // current and one next (iam/signing_key.h), each with its private half; invalid_argument
  // otherwise.
  Status load(std::vector<SigningKey> keys);
  // Publishes `key` as the next key (its `activated` is cleared): in the JWKS and verifying
  // from now, signing only after rotate(). duplicate when the set holds a next key or the
  // kid; invalid_argument without a kid or a private half.
  Status publish_next(SigningKey key);
  // The staged rotation: the published next key becomes current (activated now), the
  // current key is retired now and its private half wiped, and `next` is published in its
  // place. Keys past their grace are dropped. not_found when the set holds no next key.
  Status rotate(SigningKey next);

  // Signs `subject`/`workspace` with the active key: iss from the config, iat now,
  // exp now + lifetime. not_found without an active key.
  Result<std::string> sign(std::string_view subject, std::string_view workspace) const;
  // Signs arbitrary claims with the active key (tests and tools).
  Result<std::string> sign(const JwtClaims& claims) const;
  // Every rule of protocol.md "JWT"; any failure is auth_failure().
  Result<JwtClaims> verify(std::string_view token) const;
  // As verify, and also tells the operator-facing reason on failure (never show it to a caller).
  Result<JwtClaims> verify_with_reason(std::string_view token, std::string* reason) const;

  // PEM of the active (current) key; not_found without one.
  Result<std::string> active_public_pem() const;
  // {"keys":[…]} of every key still verifying: the next key, the current key and the
  // retired keys within their grace.
  std::string jwks() const;
  std::optional<std::string> active_kid() const;
  // When the active key began signing; nullopt without one.
  std::optional<TimePoint> active_since() const;
  std::optional<std::string> next_kid() const;
  const JwtConfig& config() const noexcept { return config_; }

 private:
  struct State;
  // The current State and the locks around it, defined in jwt.cpp where its members carry
  // clang thread-safety annotations (a public header cannot include src/core/mutex.h).
  struct Snapshots;
  JwtConfig config_;
  std::shared_ptr<const Clock> clock_;
  std::unique_ptr<Snapshots> snapshots_;
  std::shared_ptr<const State> snapshot() const;
};

}  // namespace iam
