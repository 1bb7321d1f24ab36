// Internal: thin wrappers over libsodium and OpenSSL. Nothing here knows of JSON, storage
// or policy. All functions are thread-safe; none throws.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iam/random.h"
#include "iam/secret.h"
#include "iam/signing_key.h"

namespace iam::crypto {

using Bytes = std::vector<std::uint8_t>;
inline constexpr std::size_t sha256_bytes = 32;
using Sha256Digest = std::array<std::uint8_t, sha256_bytes>;

// Makes sure libsodium is initialised (idempotent, thread-safe).
void ensure_initialised();

inline std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}
inline std::string_view as_text(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// ---- encodings (libsodium codecs) ----
std::string base64_encode(std::span<const std::uint8_t> bytes);     // standard alphabet, padded
std::string base64url_encode(std::span<const std::uint8_t> bytes);  // URL alphabet, no padding
// Strict decoders: nullopt for a foreign character, wrong or misplaced padding (any '='
// in base64url), non-zero trailing bits, or an impossible length.
std::optional<Bytes> base64_decode(std::string_view text);
std::optional<Bytes> base64url_decode(std::string_view text);
std::string hex_encode(std::span<const std::uint8_t> bytes);  // lowercase
std::optional<Bytes> hex_decode(std::string_view text);

// ---- hashing ----
Sha256Digest sha256(std::span<const std::uint8_t> bytes);
std::string sha256_hex(std::string_view text);  // lowercase hex of SHA-256
// PBKDF2-HMAC-SHA256 through OpenSSL into `out`; false if OpenSSL refuses the parameters.
bool pbkdf2_sha256(std::string_view password, std::span<const std::uint8_t> salt,
                   std::uint32_t iterations, std::span<std::uint8_t> out);
// Constant-time equality of two equally long buffers (false when lengths differ).
bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// ---- Ed25519 (libsodium) ----
struct Ed25519KeyPair {
  PublicKey public_key{};
  SecretBytes secret_key;  // 64 bytes
};
Ed25519KeyPair ed25519_from_seed(std::span<const std::uint8_t, ed25519_seed_bytes> seed);
std::array<std::uint8_t, ed25519_signature_bytes> ed25519_sign(std::span<const std::uint8_t> message,
                                                                const SecretBytes& secret_key);
// Strict verification: rejects non-canonical S, small-order and non-canonical points.
bool ed25519_verify(std::span<const std::uint8_t> message, std::span<const std::uint8_t> signature,
                    std::span<const std::uint8_t> public_key);

// ---- identifiers ----
std::string uuid_v4(RandomSource& random);

}  // namespace iam::crypto
