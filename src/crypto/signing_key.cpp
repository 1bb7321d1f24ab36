// SigningKey (iam/signing_key.h): Ed25519 keys from a seed, with their ids.
#include <utility>

#include "crypto/crypto.h"
#include "iam/signing_key.h"

namespace iam {

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
  key.activated = created;
  return key;
}

SigningKey SigningKey::copy() const {
  SigningKey k;
  k.kid = kid;
  k.public_key = public_key;
  k.secret_key = secret_key.copy();
  k.created = created;
  k.activated = activated;
  k.retired = retired;
  return k;
}

}  // namespace iam
