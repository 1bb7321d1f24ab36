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

namespace {
bool is_base64url_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}
}  // namespace

bool is_api_key_text(std::string_view text) noexcept {
  if (!text.starts_with(api_key_prefix) || text.size() < api_key_min_length || text.size() > api_key_max_length)
    return false;
  return std::none_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f;  // controls and space
  });
}

}  // namespace iam::credentials

namespace iam {

// Strict shapes, so that random or truncated strings are refused before any storage
// lookup or signature check.
CredentialShape credential_shape(std::string_view credential) noexcept {
  if (credential.starts_with(credentials::api_key_prefix))
    return credentials::is_api_key_text(credential) ? CredentialShape::api_key : CredentialShape::malformed;
  std::size_t dots = 0;
  std::size_t segment = 0;  // length of the current segment
  for (const char c : credential) {
    if (c == '.') {
      if (segment == 0 || ++dots > 2) return CredentialShape::malformed;
      segment = 0;
    } else if (credentials::is_base64url_char(c)) {
      ++segment;
    } else {
      return CredentialShape::malformed;
    }
  }
  return dots == 2 && segment > 0 ? CredentialShape::jwt : CredentialShape::malformed;
}

}  // namespace iam
