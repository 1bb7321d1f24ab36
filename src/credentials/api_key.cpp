#include "credentials/api_key.h"

#include <algorithm>
#include <array>

#include "crypto/crypto.h"

namespace iam::credentials {

SecretString generate_api_key(RandomSource& random) {
  SecretBytes bytes(api_key_random_bytes);
  random.fill(bytes.span());
  std::string text(api_key_prefix);
  std::string encoded = crypto::base64url_encode(bytes.span());
  text += encoded;
  wipe(encoded);
  return SecretString(std::move(text));
}

std::string api_key_hash(std::string_view plaintext) { return crypto::sha256_hex(plaintext); }

std::string api_key_display_prefix(std::string_view plaintext) {
  return std::string(plaintext.substr(0, api_key_display_length));
}

CredentialShape credential_shape(std::string_view credential) noexcept {
  if (credential.starts_with(api_key_prefix)) return CredentialShape::api_key;
  if (std::count(credential.begin(), credential.end(), '.') == 2) return CredentialShape::jwt;
  return CredentialShape::malformed;
}

}  // namespace iam::credentials
