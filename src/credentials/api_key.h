// Internal: API key format (protocol.md "Credentials"). Thread-safe; no storage, no policy.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "iam/credential_shape.h"
#include "iam/random.h"
#include "iam/secret.h"

namespace iam::credentials {

inline constexpr std::string_view api_key_prefix = "tg_";
inline constexpr std::size_t api_key_random_bytes = 24;
inline constexpr std::size_t api_key_length = 35;          // "tg_" + 32 base64url characters
inline constexpr std::size_t api_key_display_length = 7;  // what ApiKeyRecord.prefix shows

// "tg_" + base64url (no padding) of 24 random bytes.
SecretString generate_api_key(RandomSource& random);
// What storage keeps: lowercase hex SHA-256 of the plaintext.
std::string api_key_hash(std::string_view plaintext);
// The recognisable, non-secret start of a key ("tg_" + 4 characters).
std::string api_key_display_prefix(std::string_view plaintext);

// Bounds of any API key's text, generated (35 characters) or an operator's bootstrap token.
inline constexpr std::size_t api_key_min_length = 20;
inline constexpr std::size_t api_key_max_length = 256;

// Could `text` be an API key: "tg_", 20 to 256 characters, no space or control character.
bool is_api_key_text(std::string_view text) noexcept;

}  // namespace iam::credentials
